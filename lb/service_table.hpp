// The virtual services as the workers see them: one immutable snapshot,
// built by the control thread from config.virtual_servers and the ports,
// published with RCU and replaced as a whole. Lookups are small open-
// addressing hash tables over FlowKeys: no allocation, no locks.
//
// Two things inside are written after publication, both lock-free:
// - next-hop MACs (one atomic word per neighbour slot), set by the control
//   thread as ARP/ND answers arrive, read by the workers per packet;
// - each worker's scheduler clones (schedulers[w][service]), used only by
//   worker w.
#pragma once

#include "config/config.hpp"
#include "dataplane/wire.hpp"
#include "lb/flow.hpp"
#include "lb/scheduler.hpp"

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace haplane::lb {

// What the table needs to know of a dataplane port.
struct PortView {
    std::string name;
    wire::Mac mac{};
    std::vector<IpPrefix> addresses;   // the appliance's own, from the config
};

inline constexpr uint16_t kNoPort = 0xffff;

struct RealServerSlot {
    IpAddress address;
    uint16_t port = 0;             // host order; 0 = the packet's destination port
    uint16_t port_net = 0;         // network order
    uint32_t weight = 1;
    uint16_t egress_port = 0;      // port index the server is reached through
    uint32_t neighbour = 0;        // index of its next-hop MAC slot
    uint32_t stats_index = 0;      // flat index over every service's servers
    // tun: the outer source (an own address of the egress port, the
    // server's family); unset = cannot tunnel to it.
    std::optional<IpAddress> tunnel_source;
    bool usable = true;            // false: never scheduled (see ServiceTable::build's warnings)
    // Its flows end on their next packet (dead or removed, with
    // global.expire_nodest_conn): dropped so the client's retry is scheduled anew.
    bool expire_flows = false;
};

struct Service {
    std::string name;
    Family family = Family::v4;
    IpAddress vip;
    uint16_t port = 0;             // host order, 0 = all ports
    uint8_t proto = kProtoTcp;
    config::Method method = config::Method::dr;
    config::Scheduler scheduler = config::Scheduler::wlc;
    uint32_t persistence_s = 0;    // 0 = off
    uint16_t vip_port = 0;         // port index where the VIP (and so the clients) live
    std::vector<RealServerSlot> real_servers;
    std::vector<IpAddress> local_addresses;   // fnat, of the servers' family
    // Removed by a reload: its flows go on until they end, new ones are refused.
    bool draining = false;
};

// A route of the dataplane's table (virtual_routes of the MASTER
// instances): real servers outside every port's prefixes are reached
// through the longest one that holds them, via its gateway.
struct Route {
    IpPrefix destination;
    std::optional<IpAddress> gateway;   // none: on-link through `port`
    uint16_t port = 0;
    bool operator==(const Route&) const = default;
};

// How a rebuilt table lines up with the one before (reloads): connections
// name services and real servers by index, so the control thread keeps each
// one's index for as long as flows may use it. Empty vectors: defaults.
struct TableLayout {
    std::vector<bool> draining;                          // by service
    std::vector<std::vector<uint32_t>> stats_index;      // [service][real server]
    std::vector<std::vector<bool>> expire_flows;         // [service][real server]
    size_t stats_slots = 0;                              // real_server_count() at least this
    std::vector<Route> routes;                           // the dataplane's route table
};

// A neighbour: the MAC of `address` as seen on port `port`.
struct NeighbourSlot {
    uint16_t port = 0;
    IpAddress address;
};

class ServiceTable {
public:
    // Throws std::invalid_argument only for impossible inputs (more than
    // 65535 services or real servers per service). `warnings` gets one line
    // per thing that cannot work as configured (no tunnel source, fnat
    // across families, a real server reached through no port).
    static std::unique_ptr<ServiceTable> build(const config::Config& config, const std::vector<PortView>& ports,
                                               unsigned workers, std::vector<std::string>* warnings = nullptr,
                                               const TableLayout* layout = nullptr);

    const std::vector<Service>& services() const { return services_; }
    const std::vector<PortView>& ports() const { return ports_; }
    unsigned workers() const { return workers_; }
    size_t real_server_count() const { return real_server_count_; }   // stats slots over all services
    // global.timeouts: a worker adopting the table applies them (from each
    // flow's next packet on).
    const config::Timeouts& timeouts() const { return timeouts_; }
    // Tells tables apart where an address cannot: a worker that slept
    // through two publishes may find the newest at the address of the one
    // it last adopted. Set by the publisher (0 for tables never published).
    uint64_t generation() const { return generation_; }
    void set_generation(uint64_t g) { generation_ = g; }
    // Some service sees its replies come back through us (nat, fnat).
    bool has_reply_services() const { return has_reply_services_; }

    // The service for a packet to (dst, dst_port, proto): exact port first,
    // then a port-0 service on that address. -1: none.
    int find_service(Family f, const uint8_t* dst, uint16_t dst_port_net, uint8_t proto) const {
        int s = probe(services_map_, key(f, dst, dst_port_net, proto));
        return s >= 0 ? s : probe(services_map_, key(f, dst, 0, proto));
    }
    // Is src:port a NAT service's real server (replies to SNAT back)?
    bool is_nat_source(Family f, const uint8_t* src, uint16_t src_port_net, uint8_t proto) const {
        return probe(nat_sources_, key(f, src, src_port_net, proto)) >= 0 ||
               probe(nat_sources_, key(f, src, 0, proto)) >= 0;
    }
    // Is dst an fnat local address (replies from a server)?
    bool is_local_address(Family f, const uint8_t* dst, uint8_t proto) const {
        return probe(local_addresses_, key(f, dst, 0, proto)) >= 0;
    }

    // Next hops. A MAC is "known" once learnt; it stays until replaced.
    const std::vector<NeighbourSlot>& neighbours() const { return neighbour_slots_; }
    bool neighbour_known(uint32_t slot) const { return macs_[slot].load(std::memory_order_relaxed) >> 63; }
    // The known MAC written straight into a frame (dst: 6 bytes); false: unknown.
    bool write_neighbour_mac(uint32_t slot, uint8_t* dst) const {
        const uint64_t v = macs_[slot].load(std::memory_order_relaxed);
        if (!(v >> 63)) return false;
        if constexpr (std::endian::native == std::endian::little) {
            const uint64_t bytes = __builtin_bswap64(v << 16);
            std::memcpy(dst, &bytes, 6);
        } else {
            for (int i = 0; i < 6; ++i) dst[i] = static_cast<uint8_t>(v >> (40 - 8 * i));
        }
        return true;
    }
    bool neighbour_mac(uint32_t slot, wire::Mac& out) const {
        const uint64_t v = macs_[slot].load(std::memory_order_relaxed);
        if (!(v >> 63)) return false;
        if constexpr (std::endian::native == std::endian::little) {   // per packet: one store, not six
            const uint64_t bytes = __builtin_bswap64(v << 16);
            std::memcpy(out.data(), &bytes, 6);
        } else {
            for (int i = 0; i < 6; ++i) out[i] = static_cast<uint8_t>(v >> (40 - 8 * i));
        }
        return true;
    }
    // Control thread only.
    void set_neighbour_mac(uint32_t slot, const wire::Mac& mac) const {
        uint64_t v = uint64_t{1} << 63;
        for (int i = 0; i < 6; ++i) v |= uint64_t{mac[i]} << (40 - 8 * i);
        macs_[slot].store(v, std::memory_order_relaxed);
    }
    int find_neighbour(uint16_t port, const IpAddress& address) const;

    // Worker w's own scheduler for service s.
    Scheduler& scheduler(unsigned worker, size_t service) const { return *schedulers_[worker][service]; }

    // The port whose own prefixes contain `a` (kNoPort: none).
    static uint16_t port_for(const std::vector<PortView>& ports, const IpAddress& a);

private:
    struct Slot {
        FlowKey key;
        int32_t value = -1;
    };
    using Map = std::vector<Slot>;   // power-of-two size, linear probing, never full

    // The same bytes as setting family, dst, dst_port and proto of a zero
    // key; through FlowKey::v4/v6, which build it without store-forwarding
    // stalls (this runs per packet, in claims()).
    static FlowKey key(Family f, const uint8_t* addr, uint16_t port_net, uint8_t proto) {
        if (f == Family::v4) {
            uint32_t a;
            std::memcpy(&a, addr, 4);
            return FlowKey::v4(0, a, 0, port_net, proto);
        }
        static constexpr uint8_t kZero[16] = {};
        return FlowKey::v6(kZero, addr, 0, port_net, proto);
    }
    static int probe(const Map& m, const FlowKey& k) {
        const size_t mask = m.size() - 1;
        for (size_t i = hash_flow(k, kSeed) & mask;; i = (i + 1) & mask) {
            if (m[i].value < 0) return -1;
            if (m[i].key == k) return m[i].value;
        }
    }
    static void insert(Map& m, const FlowKey& k, int32_t value);   // first insert wins
    static Map make_map(size_t entries);

    static constexpr uint64_t kSeed = 0x7365727669636573ull;

    std::vector<Service> services_;
    std::vector<PortView> ports_;
    unsigned workers_ = 1;
    size_t real_server_count_ = 0;
    config::Timeouts timeouts_;
    uint64_t generation_ = 0;
    bool has_reply_services_ = false;
    Map services_map_, nat_sources_, local_addresses_;
    std::vector<NeighbourSlot> neighbour_slots_;
    std::unique_ptr<std::atomic<uint64_t>[]> macs_;
    std::vector<std::vector<std::unique_ptr<Scheduler>>> schedulers_;   // [worker][service]
};

} // namespace haplane::lb
