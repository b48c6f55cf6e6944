#include "control/netlink.hpp"

#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include <linux/if_addr.h>
#include <net/if.h>
#include <stdexcept>

namespace haplane::control {

namespace {

[[noreturn]] void nl_fail(const std::string& what, int err) {
    throw std::runtime_error(what + ": " + nl_geterror(err));
}

template <typename T, void (*Free)(T*)>
struct Owned {
    T* p = nullptr;
    ~Owned() { if (p) Free(p); }
};

void free_link(rtnl_link* l) { rtnl_link_put(l); }
void free_addr(rtnl_addr* a) { rtnl_addr_put(a); }
void free_nladdr(nl_addr* a) { nl_addr_put(a); }

// A rtnl_addr for (ifname, prefix): what add and delete both describe.
void describe(rtnl_addr* addr, int ifindex, const IpPrefix& prefix) {
    Owned<nl_addr, free_nladdr> local;
    int family = prefix.address.is_v4() ? AF_INET : AF_INET6;
    local.p = nl_addr_build(family, prefix.address.bytes.data(), prefix.address.size());
    if (!local.p) throw std::runtime_error("out of memory building a netlink address");
    nl_addr_set_prefixlen(local.p, prefix.length);
    rtnl_addr_set_ifindex(addr, ifindex);
    rtnl_addr_set_local(addr, local.p);
    rtnl_addr_set_prefixlen(addr, prefix.length);
}

} // namespace

Netlink::Netlink() {
    sock_ = nl_socket_alloc();
    if (!sock_) throw std::runtime_error("cannot allocate a netlink socket");
    int rc = nl_connect(sock_, NETLINK_ROUTE);
    if (rc < 0) {
        nl_socket_free(sock_);
        nl_fail("cannot connect to rtnetlink", rc);
    }
}

Netlink::~Netlink() { nl_socket_free(sock_); }

int Netlink::ifindex(const std::string& ifname) {
    Owned<rtnl_link, free_link> link;
    int rc = rtnl_link_get_kernel(sock_, 0, ifname.c_str(), &link.p);
    if (rc < 0) nl_fail("no interface " + ifname, rc);
    return rtnl_link_get_ifindex(link.p);
}

void Netlink::set_link_up(const std::string& ifname) {
    Owned<rtnl_link, free_link> link, change;
    int rc = rtnl_link_get_kernel(sock_, 0, ifname.c_str(), &link.p);
    if (rc < 0) nl_fail("no interface " + ifname, rc);
    change.p = rtnl_link_alloc();
    rtnl_link_set_flags(change.p, IFF_UP);
    rc = rtnl_link_change(sock_, link.p, change.p, 0);
    if (rc < 0) nl_fail("cannot bring " + ifname + " up", rc);
}

void Netlink::add_address(const std::string& ifname, const IpPrefix& prefix) {
    Owned<rtnl_addr, free_addr> addr;
    addr.p = rtnl_addr_alloc();
    describe(addr.p, ifindex(ifname), prefix);
    // The mirror's addresses are the appliance's own: no duplicate address
    // detection delay before local services can use an IPv6 one.
    if (!prefix.address.is_v4()) rtnl_addr_set_flags(addr.p, IFA_F_NODAD);
    int rc = rtnl_addr_add(sock_, addr.p, NLM_F_REPLACE);
    if (rc < 0 && rc != -NLE_EXIST) nl_fail("cannot add " + prefix.str() + " to " + ifname, rc);
}

void Netlink::remove_address(const std::string& ifname, const IpPrefix& prefix) {
    Owned<rtnl_addr, free_addr> addr;
    addr.p = rtnl_addr_alloc();
    describe(addr.p, ifindex(ifname), prefix);
    int rc = rtnl_addr_delete(sock_, addr.p, 0);
    if (rc < 0 && rc != -NLE_NOADDR && rc != -NLE_OBJ_NOTFOUND)
        nl_fail("cannot remove " + prefix.str() + " from " + ifname, rc);
}

namespace {

void free_route(rtnl_route* r) { rtnl_route_put(r); }

// The route (ifname, destination, gateway) describes, for add and delete alike.
rtnl_route* describe_route(int ifindex, const IpPrefix& destination, const std::optional<IpAddress>& gateway) {
    const int family = destination.address.is_v4() ? AF_INET : AF_INET6;
    rtnl_route* route = rtnl_route_alloc();
    Owned<nl_addr, free_nladdr> dst;
    dst.p = nl_addr_build(family, destination.address.bytes.data(), destination.address.size());
    nl_addr_set_prefixlen(dst.p, destination.length);
    rtnl_route_set_family(route, static_cast<uint8_t>(family));
    rtnl_route_set_dst(route, dst.p);
    rtnl_route_set_table(route, RT_TABLE_MAIN);
    rtnl_route_set_protocol(route, RTPROT_STATIC);
    rtnl_route_set_scope(route, gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    rtnl_route_nh_set_ifindex(nh, ifindex);
    if (gateway) {
        Owned<nl_addr, free_nladdr> gw;
        gw.p = nl_addr_build(family, gateway->bytes.data(), gateway->size());
        rtnl_route_nh_set_gateway(nh, gw.p);
    }
    rtnl_route_add_nexthop(route, nh);   // the route owns it now
    return route;
}

} // namespace

void Netlink::add_route(const std::string& ifname, const IpPrefix& destination,
                        const std::optional<IpAddress>& gateway) {
    Owned<rtnl_route, free_route> route;
    route.p = describe_route(ifindex(ifname), destination, gateway);
    int rc = rtnl_route_add(sock_, route.p, NLM_F_CREATE | NLM_F_REPLACE);
    if (rc < 0) nl_fail("cannot add route " + destination.str() + " on " + ifname, rc);
}

void Netlink::remove_route(const std::string& ifname, const IpPrefix& destination,
                           const std::optional<IpAddress>& gateway) {
    Owned<rtnl_route, free_route> route;
    route.p = describe_route(ifindex(ifname), destination, gateway);
    int rc = rtnl_route_delete(sock_, route.p, 0);
    if (rc < 0 && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NOADDR)
        nl_fail("cannot remove route " + destination.str() + " from " + ifname, rc);
}

} // namespace haplane::control
