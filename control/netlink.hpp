// The kernel side of the mirror, through libnl-3 route: bring TAPs up and
// give them (and take back) addresses. Errors are exceptions with the
// kernel's reason; callers on the control thread decide what to do.
#pragma once

#include "config/address.hpp"

#include <optional>
#include <string>

struct nl_sock;

namespace haplane::control {

class Netlink {
public:
    Netlink();
    ~Netlink();
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;

    int ifindex(const std::string& ifname);
    void set_link_up(const std::string& ifname);
    // Adding an address that is already there is not an error.
    void add_address(const std::string& ifname, const IpPrefix& prefix);
    // Removing an address that is not there is not an error.
    void remove_address(const std::string& ifname, const IpPrefix& prefix);
    // A route in the main table out of `ifname`, via `gateway` if given
    // (replaced if present; removing an absent one is not an error).
    void add_route(const std::string& ifname, const IpPrefix& destination, const std::optional<IpAddress>& gateway);
    void remove_route(const std::string& ifname, const IpPrefix& destination, const std::optional<IpAddress>& gateway);

private:
    nl_sock* sock_ = nullptr;
};

} // namespace haplane::control
