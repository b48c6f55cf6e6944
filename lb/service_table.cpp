#include "lb/service_table.hpp"

#include "lb/backend.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <stdexcept>

namespace haplane::lb {

namespace {

uint32_t whole_seconds(config::Duration d) {
    auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
    if (s <= 0) return 0;
    return s > (int64_t{1} << 30) ? (1u << 30) : static_cast<uint32_t>(s);
}

size_t s_index(int32_t i) { return static_cast<size_t>(i); }

uint8_t proto_number(config::Protocol p) { return p == config::Protocol::tcp ? kProtoTcp : kProtoUdp; }

// The port a VIP lives on: the VRRP instance that carries it, else the port
// whose prefixes contain it, else the first.
uint16_t vip_port_of(const config::Config& config, const std::vector<PortView>& ports, const IpAddress& vip) {
    for (const auto& vi : config.vrrp_instances)
        for (const auto& v : vi.virtual_ipaddresses)
            if (v.address == vip)
                for (size_t i = 0; i < ports.size(); ++i)
                    if (ports[i].name == vi.port) return static_cast<uint16_t>(i);
    const uint16_t p = ServiceTable::port_for(ports, vip);
    return p == kNoPort ? 0 : p;
}

std::optional<IpAddress> tunnel_source(const PortView& port, const IpAddress& target) {
    std::optional<IpAddress> first;
    for (const auto& a : port.addresses) {
        if (a.address.family != target.family) continue;
        if (a.contains(target)) return a.address;
        if (!first) first = a.address;
    }
    return first;
}

} // namespace

uint16_t ServiceTable::port_for(const std::vector<PortView>& ports, const IpAddress& a) {
    // The longest prefix wins when several ports could reach it.
    int best = -1;
    unsigned best_len = 0;
    for (size_t i = 0; i < ports.size(); ++i)
        for (const auto& p : ports[i].addresses)
            if (p.contains(a) && (best < 0 || p.length > best_len)) {
                best = static_cast<int>(i);
                best_len = p.length;
            }
    return best < 0 ? kNoPort : static_cast<uint16_t>(best);
}

ServiceTable::Map ServiceTable::make_map(size_t entries) {
    return Map(std::bit_ceil(entries * 2 + 2));
}

void ServiceTable::insert(Map& m, const FlowKey& k, int32_t value) {
    const size_t mask = m.size() - 1;
    for (size_t i = hash_flow(k, kSeed) & mask;; i = (i + 1) & mask) {
        if (m[i].value < 0) {
            m[i] = Slot{k, value};
            return;
        }
        if (m[i].key == k) return;
    }
}

int ServiceTable::find_neighbour(uint16_t port, const IpAddress& address) const {
    for (size_t i = 0; i < neighbour_slots_.size(); ++i)
        if (neighbour_slots_[i].port == port && neighbour_slots_[i].address == address) return static_cast<int>(i);
    return -1;
}

std::unique_ptr<ServiceTable> ServiceTable::build(const config::Config& config, const std::vector<PortView>& ports,
                                                  unsigned workers, std::vector<std::string>* warnings,
                                                  const TableLayout* layout) {
    if (config.virtual_servers.size() > 65535)
        throw std::invalid_argument("at most 65535 virtual services");
    auto warn = [&](std::string w) {
        if (warnings) warnings->push_back(std::move(w));
    };
    auto t = std::unique_ptr<ServiceTable>(new ServiceTable());
    t->ports_ = ports;
    t->workers_ = workers == 0 ? 1 : workers;
    t->timeouts_ = config.global.timeouts;
    auto at = [](const auto& v, size_t i, auto fallback) { return i < v.size() ? v[i] : fallback; };

    size_t nat_sources = 0, lips = 0;
    for (const auto& vs : config.virtual_servers) {
        if (vs.method == config::Method::nat) nat_sources += vs.real_servers.size();
        if (vs.method == config::Method::fnat) lips += vs.local_addresses.size();
    }
    t->services_map_ = make_map(config.virtual_servers.size());
    t->nat_sources_ = make_map(nat_sources);
    t->local_addresses_ = make_map(lips);

    std::vector<std::unique_ptr<Scheduler>> prototypes;
    for (const auto& vs : config.virtual_servers) {
        const auto index = static_cast<int32_t>(t->services_.size());
        Service s;
        s.name = vs.name;
        s.family = vs.vip.family;
        s.vip = vs.vip;
        s.port = vs.port;
        s.proto = proto_number(vs.protocol);
        s.method = vs.method;
        s.scheduler = vs.scheduler;
        s.persistence_s = whole_seconds(vs.persistence_timeout);
        s.vip_port = vip_port_of(config, ports, vs.vip);
        if (layout) s.draining = at(layout->draining, s_index(index), false);
        if (vs.method == config::Method::fnat)
            for (const auto& a : vs.local_addresses)
                if (a.family == vs.vip.family) s.local_addresses.push_back(a);

        std::vector<Backend> backends = make_backends(vs);
        for (size_t r = 0; r < vs.real_servers.size(); ++r) {
            const auto& rs = vs.real_servers[r];
            RealServerSlot slot;
            slot.address = rs.address;
            slot.port = rs.port ? rs.port : vs.port;
            slot.port_net = net16(slot.port);
            slot.weight = rs.weight;
            uint16_t egress = port_for(ports, rs.address);
            IpAddress next_hop = rs.address;
            if (egress == kNoPort && layout) {
                // Not on a port's link: the longest route that holds it.
                const Route* best = nullptr;
                for (const auto& route : layout->routes)
                    if (route.port < ports.size() && route.destination.contains(rs.address) &&
                        (!best || route.destination.length > best->destination.length))
                        best = &route;
                if (best) {
                    egress = best->port;
                    if (best->gateway) next_hop = *best->gateway;
                }
            }
            if (egress == kNoPort) {
                egress = s.vip_port;
                warn("virtual server " + vs.name + ": real server " + rs.address.str() +
                     " is in no port's prefix and no virtual route's; reaching it on port " +
                     (egress < ports.size() ? ports[egress].name : std::string("?")) + " as a neighbour");
            }
            slot.egress_port = egress;
            slot.stats_index = static_cast<uint32_t>(t->real_server_count_++);
            if (layout && s_index(index) < layout->stats_index.size())
                slot.stats_index = at(layout->stats_index[s_index(index)], r, slot.stats_index);
            if (layout && s_index(index) < layout->expire_flows.size())
                slot.expire_flows = at(layout->expire_flows[s_index(index)], r, false);
            if (rs.address.family != vs.vip.family) {
                slot.usable = false;
                warn("virtual server " + vs.name + ": real server " + rs.address.str() +
                     " is of another family than the VIP; fnat across families is not supported, it gets no flows");
            }
            if (vs.method == config::Method::tun && egress < ports.size()) {
                slot.tunnel_source = tunnel_source(ports[egress], rs.address);
                if (!slot.tunnel_source) {
                    slot.usable = false;
                    warn("virtual server " + vs.name + ": port " + ports[egress].name + " has no " +
                         (rs.address.is_v4() ? "IPv4" : "IPv6") + " address to tunnel to " + rs.address.str() +
                         " from; it gets no flows");
                }
            }
            if (vs.method == config::Method::fnat && s.local_addresses.empty() && slot.usable) {
                slot.usable = false;
                warn("virtual server " + vs.name + ": no local address of the VIP's family; real server " +
                     rs.address.str() + " gets no flows");
            }
            int n = t->find_neighbour(egress, next_hop);
            if (n < 0) {
                n = static_cast<int>(t->neighbour_slots_.size());
                t->neighbour_slots_.push_back({egress, next_hop});
            }
            slot.neighbour = static_cast<uint32_t>(n);
            if (!slot.usable) backends[r].weight = 0;
            if (vs.method == config::Method::nat)
                insert(t->nat_sources_, key(rs.address.family, rs.address.bytes.data(), slot.port_net, s.proto), index);
            s.real_servers.push_back(std::move(slot));
        }
        for (const auto& a : s.local_addresses)
            insert(t->local_addresses_, key(a.family, a.bytes.data(), 0, s.proto), index);
        if (vs.method == config::Method::nat || vs.method == config::Method::fnat) t->has_reply_services_ = true;
        prototypes.push_back(make_scheduler(vs.scheduler, std::move(backends)));
        t->services_.push_back(std::move(s));
    }

    // A draining service shares its key with its successor, if any (say the
    // method changed): the one taking new flows goes in first and wins.
    for (bool draining : {false, true})
        for (size_t i = 0; i < t->services_.size(); ++i) {
            const Service& s = t->services_[i];
            if (s.draining == draining && !(s.draining && s.real_servers.empty()))
                insert(t->services_map_, key(s.family, s.vip.bytes.data(), net16(s.port), s.proto),
                       static_cast<int32_t>(i));
        }
    if (layout) {
        t->real_server_count_ = std::max(t->real_server_count_, layout->stats_slots);
        for (const auto& s : t->services_)
            for (const auto& rs : s.real_servers)
                t->real_server_count_ = std::max<size_t>(t->real_server_count_, rs.stats_index + size_t{1});
    }
    t->macs_ = std::make_unique<std::atomic<uint64_t>[]>(t->neighbour_slots_.size() + 1);
    for (size_t i = 0; i <= t->neighbour_slots_.size(); ++i) t->macs_[i].store(0, std::memory_order_relaxed);
    t->schedulers_.resize(t->workers_);
    for (auto& per_worker : t->schedulers_)
        for (const auto& p : prototypes) per_worker.push_back(p->clone());
    return t;
}

} // namespace haplane::lb
