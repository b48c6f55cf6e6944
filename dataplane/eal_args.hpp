// What EAL is told: derived from the config alone, so it is unit-tested
// without DPDK. The daemon appends what follows "--" on its command line.
#pragma once

#include "config/config.hpp"

#include <optional>
#include <string>
#include <vector>

namespace haplane::dataplane {

// The EAL name of a port's device: "net_af_packet0,iface=x" -> "net_af_packet0",
// "03:00.1" -> "0000:03:00.1" (how the PCI bus names it).
std::string device_name(const config::Port& port);

// The device arguments a vdev gets: "net_af_packet0,iface=x" -> "iface=x",
// plus what haplane needs (qpairs= for af_packet with several workers).
std::string vdev_arguments(const config::Port& port, unsigned workers);

std::vector<std::string> eal_arguments(const config::Config& config,
                                       const std::vector<std::string>& extra,
                                       bool detailed_logs);

} // namespace haplane::dataplane
