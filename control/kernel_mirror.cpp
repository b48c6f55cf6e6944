#include "control/kernel_mirror.hpp"

#include <algorithm>
#include <stdexcept>

namespace haplane::control {

KernelMirror::KernelMirror(Netlink& netlink, Log& log, const std::vector<config::Port>& ports)
    : netlink_(netlink), log_(log) {
    for (const auto& port : ports) {
        if (!port.kernel_mirror) continue;
        netlink_.set_link_up(*port.kernel_mirror);
        for (const auto& prefix : port.addresses) add(*port.kernel_mirror, prefix);
        log_.info("Kernel mirror {} of port {} is up", *port.kernel_mirror, port.name);
    }
}

KernelMirror::~KernelMirror() {
    for (auto it = routes_.rbegin(); it != routes_.rend(); ++it) {
        try {
            netlink_.remove_route(it->ifname, it->destination, it->gateway);
        } catch (const std::exception& e) {
            log_.warning("{}", e.what());
        }
    }
    // The TAPs go away with the dataplane; removing first keeps the kernel's
    // routes and neighbours clean if they do not.
    for (auto it = installed_.rbegin(); it != installed_.rend(); ++it) {
        try {
            netlink_.remove_address(it->first, it->second);
        } catch (const std::exception& e) {
            log_.warning("{}", e.what());
        }
    }
}

void KernelMirror::add(const std::string& ifname, const IpPrefix& prefix) {
    netlink_.add_address(ifname, prefix);
    installed_.emplace_back(ifname, prefix);
    log_.detail("Added {} to {}", prefix.str(), ifname);
}

void KernelMirror::add_route(const std::string& ifname, const IpPrefix& destination,
                             const std::optional<IpAddress>& gateway) {
    netlink_.add_route(ifname, destination, gateway);
    routes_.push_back({ifname, destination, gateway});
    log_.detail("Added route {}{} on {}", destination.str(), gateway ? " via " + gateway->str() : "", ifname);
}

void KernelMirror::remove_route(const std::string& ifname, const IpPrefix& destination,
                                const std::optional<IpAddress>& gateway) {
    netlink_.remove_route(ifname, destination, gateway);
    Route r{ifname, destination, gateway};
    routes_.erase(std::remove(routes_.begin(), routes_.end(), r), routes_.end());
}

void KernelMirror::remove(const std::string& ifname, const IpPrefix& prefix) {
    netlink_.remove_address(ifname, prefix);
    installed_.erase(std::remove(installed_.begin(), installed_.end(), std::make_pair(ifname, prefix)),
                     installed_.end());
    log_.detail("Removed {} from {}", prefix.str(), ifname);
}

} // namespace haplane::control
