// The state document of CONTRACT.md ("status --json"), built from the
// config and the counters; the same document feeds SIGUSR1's dump.
#pragma once

#include "config/config.hpp"
#include "dataplane/counters.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace haplane::control {

struct PortStatus {
    std::string name;
    std::string mac;
    bool link_up = false;
    dataplane::PortStats stats;
};

// `vrrp`: the VRRP engine's list; without it, instances are reported as
// configured, in INIT.
// `virtual_servers`: the load balancer's list with its counters; without
// it, virtual servers are reported as configured, with zero counters.
nlohmann::json status_document(const config::Config& config, const std::vector<PortStatus>& ports,
                               const nlohmann::json* vrrp = nullptr,
                               const nlohmann::json* virtual_servers = nullptr);

} // namespace haplane::control
