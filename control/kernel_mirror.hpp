// The appliance's own addresses on the kernel side of each port's TAP, so the
// host's stack (ssh, local services, health checks) uses them as on a kernel
// box. Added on construction, removed on destruction.
#pragma once

#include "config/config.hpp"
#include "control/log.hpp"
#include "control/netlink.hpp"

#include <string>
#include <utility>
#include <vector>

namespace haplane::control {

class KernelMirror {
public:
    KernelMirror(Netlink& netlink, Log& log, const std::vector<config::Port>& ports);
    ~KernelMirror();
    KernelMirror(const KernelMirror&) = delete;
    KernelMirror& operator=(const KernelMirror&) = delete;

    // For later features (VIPs while MASTER, virtual routes).
    void add(const std::string& ifname, const IpPrefix& prefix);
    void remove(const std::string& ifname, const IpPrefix& prefix);
    // virtual_routes while MASTER.
    void add_route(const std::string& ifname, const IpPrefix& destination, const std::optional<IpAddress>& gateway);
    void remove_route(const std::string& ifname, const IpPrefix& destination,
                      const std::optional<IpAddress>& gateway);

private:
    Netlink& netlink_;
    Log& log_;
    std::vector<std::pair<std::string, IpPrefix>> installed_;
    struct Route {
        std::string ifname;
        IpPrefix destination;
        std::optional<IpAddress> gateway;
        bool operator==(const Route&) const = default;
    };
    std::vector<Route> routes_;
};

} // namespace haplane::control
