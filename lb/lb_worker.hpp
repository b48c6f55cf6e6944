// One worker's load balancer: the fast path behind the to_lb verdict.
//
// Per packet: the 5-tuple is looked up in this worker's connection table.
// - A forward flow (client -> VIP) goes to its real server by the
//   service's method: dr (new Ethernet addresses), nat (destination
//   rewritten to the server), fnat (destination and source rewritten; the
//   source is a local address and a port from this worker's range), tun
//   (IPIP / IPv6-in-IPv6 to the server).
// - A reply entry (nat: server -> client; fnat: server -> local address)
//   names its forward flow; the reply is rewritten back to come from
//   VIP:port and sent to the client's next hop out of the port the request
//   came in on.
// - Unknown: the first packet of a flow to a virtual service is
//   scheduled (persistence first), both entries are created, then as above.
// - ICMP errors (unreachable, too big, time exceeded, parameter problem)
//   quoting a tracked flow's packet are translated like the packet they
//   quote and sent to the other party: from the server side back to the
//   client (from the VIP), from the client side on to the real server.
//
// No allocation, locks, system calls or exceptions per packet; all state is
// this worker's. Pure C++ (no DPDK): unit-tested with crafted frames.
#pragma once

#include "config/config.hpp"
#include "dataplane/forwarder.hpp"
#include "lb/claim_index.hpp"
#include "lb/conn_counts.hpp"
#include "lb/conn_dump.hpp"
#include "lb/conn_table.hpp"
#include "lb/frag_table.hpp"
#include "lb/hop_table.hpp"
#include "lb/persistence.hpp"
#include "lb/service_table.hpp"
#include "lb/stats.hpp"

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

namespace haplane::lb {

// ConnEntry::flags bit of a reply-direction entry. Its service and
// real_server fields hold the forward flow's node number (high, low 16
// bits), local_port the client-side hop (HopTable) and local_address the
// port index the client is on.
inline constexpr uint8_t kConnReverse = 0x80;
// ConnRecord::entry.flags of a persistence template in a connection listing
// (LbWorker::conn_dump): key.src the client, key.dst_port the service
// index, entry.real_server where the client sticks.
inline constexpr uint8_t kConnTemplate = 0x40;

class LbWorker final : public dataplane::Forwarder {
public:
    struct Options {
        uint32_t connections = 1000000;     // flows (nat/fnat take two entries each)
        uint32_t persistence = 1;           // persistence templates
        config::Timeouts timeouts;
        uint16_t mtu = 1500;                // egress IP MTU (tunnels)
        uint64_t seed = FlowTable::kDefaultSeed;
    };

    // worker: this worker's number (0..workers-1: its scheduler clones and
    // its slice of fnat ports). `table` outlives the worker; every table
    // published through it has the same number of workers.
    LbWorker(unsigned worker, const std::atomic<const ServiceTable*>* table, WorkerStats* stats,
             const Options& options, uint32_t now_s = 0);

    void begin_round(uint32_t now_s) override;
    bool claims(const uint8_t* frame, const wire::Parsed& p) const override;
    void forward(dataplane::LbPacket* pkts, uint16_t n) override;
    void held_dropped(uint16_t n) override;
    uint16_t steer(dataplane::LbPacket* pkts, uint16_t n) override;   // lb/steer.cpp
    void handoff_counts(uint32_t sent, uint32_t ring_full, uint32_t received) override;

    // The fnat source ports this worker hands out: [first, last]
    // (local_port_range: replies find their worker by it, lb/steer.hpp).
    static void port_range(unsigned worker, unsigned workers, uint16_t& first, uint16_t& last);

    // The control thread asks here for the worker's flows (forward
    // entries: one per connection), then its persistence templates
    // (flagged kConnTemplate); answered between bursts. Entry numbers run
    // to dump_entries().
    ConnDump& conn_dump() { return dump_; }
    uint32_t dump_entries() const { return conns_.capacity() + persistence_.capacity(); }

    // Inspection (tests, control thread with the worker stopped).
    ConnTable& conns() { return conns_; }
    const HopTable& hops() const { return hops_; }

private:
    struct Tuple;
    struct IcmpError;

    bool claims_other(const uint8_t* frame, const wire::Parsed& p) const;
    bool claims_fragment(const uint8_t* frame, const wire::Parsed& p) const;
    static bool flow_key(const dataplane::LbPacket& p, FlowKey& key);
    // key, hash: the packet's flow and conns_.hash(key) (TCP/UDP, not a fragment).
    [[gnu::always_inline]] inline void forward_flow(dataplane::LbPacket& p, const FlowKey& key, uint64_t hash);
    void forward_other(dataplane::LbPacket& p);
    bool server_of(const Conn* c, const Service*& s, const RealServerSlot*& rs) const;
    void remember_fragment(const dataplane::LbPacket& p, const FlowKey& datagram, const FlowKey& key, uint64_t hash);
    void forward_fragment(dataplane::LbPacket& p);
    void fragment_to_client(dataplane::LbPacket& p, const Tuple& t, Conn* reply);
    void forward_icmp(dataplane::LbPacket& p, const Tuple& outer, IcmpError& e);
    void new_flow(dataplane::LbPacket& p, const Tuple& t);
    [[gnu::always_inline]] inline void to_server(dataplane::LbPacket& p, const Tuple& t, const Conn* c, const Service& s,
                                                 const RealServerSlot& rs);   // per packet
    bool rewrite_to_server(dataplane::LbPacket& p, const Tuple& t, const Conn* c, const Service& s,
                           const RealServerSlot& rs, const wire::Mac& src_mac);
    void to_client(dataplane::LbPacket& p, const Tuple& t, Conn* reply);
    void send_to_client(dataplane::LbPacket& p, const ConnEntry& reply, const Conn* c, const Service& s,
                        uint16_t ip_len);
    Conn* forward_of(const Conn* reply, const FlowKey& key);
    bool encapsulate(dataplane::LbPacket& p, const Tuple& t, const RealServerSlot& rs, const wire::Mac& mac,
                     const wire::Mac& src_mac);
    bool pick_local_port(const Service& s, size_t service, const RealServerSlot& rs, const FlowKey& flow,
                         ConnEntry& e);
    [[gnu::always_inline]] inline void track(Conn* c, const Tuple& t, Direction dir);   // per packet
    void update_gauges(uint16_t service, uint16_t rs);
    void on_expired(const Conn& c);
    void end_flow(Conn* c);
    void drop(dataplane::LbPacket& p, LbDrop why) {
        p.out_port = dataplane::LbPacket::kDrop;
        stats_->drops[static_cast<size_t>(why)].add();
    }
    void adopt(const ServiceTable* t);
    void serve_dump();

    unsigned worker_;
    const std::atomic<const ServiceTable*>* table_ptr_;
    const ServiceTable* table_ = nullptr;
    WorkerStats* stats_;
    Options options_;
    ConnTable conns_;
    PersistenceTable persistence_;
    HopTable hops_;
    FragTable frags_;                              // fragments follow their datagram's first
    std::vector<RealServerCounts> counts_;        // per service
    std::vector<uint16_t> fnat_next_;              // per service: next port to try
    ClaimIndexV4 claim_v4_;                        // claims(): IPv4 VIP:port, from table_
    uint16_t port_first_ = 1024, port_last_ = 65535;
    uint32_t now_ = 0;
    std::optional<config::Timeouts> table_timeouts_;   // of the tables seen
    uint64_t generation_ = 0;                      // of table_
    ConnDump dump_;

    // forward()'s per-burst work space (keys are 40 bytes: not zeroed per call).
    static constexpr uint16_t kChunk = 32;
    FlowKey chunk_keys_[kChunk];
    uint64_t chunk_hashes_[kChunk] = {};
    bool chunk_ok_[kChunk] = {};

    struct Pending {
        FlowKey key;
        uint32_t forward;
    };
    static constexpr size_t kExpireBatch = 64;
    Pending pending_[kExpireBatch];
    size_t n_pending_ = 0;
};

} // namespace haplane::lb
