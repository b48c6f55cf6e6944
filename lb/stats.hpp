// Load-balancer counters: per worker (one writer each, relaxed atomics, so
// plain stores on x86), per real server, summed by the control thread on
// read. Per-service figures are the sums over the service's real servers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace haplane::lb {

class StatCounter {
public:
    void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

// Why the load balancer dropped a packet it had claimed.
enum class LbDrop : uint8_t {
    no_service,        // no conn and no service (a reply without its flow, a stray)
    no_real_server,    // every real server has weight 0 (or none is usable)
    table_full,        // the connection table is full: new flow refused
    no_neighbour,      // the next hop's MAC did not resolve in time
    no_local_port,     // fnat: no free local port (or a nat reply tuple is taken)
    ttl_exceeded,      // TTL / hop limit would reach 0 (nat, fnat)
    too_big,           // a tunnel would exceed the MTU and the packet may not be fragmented
    fragment,          // a later IP fragment whose datagram's first fragment was not seen (lb/frag_table.hpp)
    hop_table_full,    // nat/fnat: too many distinct client-side next hops
    dead_server,       // a flow to a dead or removed server, ended (global.expire_nodest_conn)
    handoff_full,      // several workers: the flow's owner had no room in its handoff ring
    count_
};
const char* to_string(LbDrop d);

struct alignas(64) RealServerCounters {
    StatCounter connections;               // flows scheduled to it, ever
    StatCounter in_packets, in_bytes;      // client -> server
    StatCounter out_packets, out_bytes;    // server -> client (nat, fnat)
    StatCounter active, inactive;          // gauges: this worker's flows now
};

struct WorkerStats {
    explicit WorkerStats(size_t real_servers) : real_servers(real_servers) {}
    std::vector<RealServerCounters> real_servers;   // by RealServerSlot::stats_index
    std::array<StatCounter, static_cast<size_t>(LbDrop::count_)> drops;
    // Several workers: packets of other workers' flows handed to them, and
    // packets other workers handed to this one (lb/steer.hpp).
    StatCounter handoffs_sent, handoffs_received;
    // Gauge, set every round: entries in the worker's connection table
    // (a nat/fnat flow takes two), against connections_per_lcore.
    StatCounter table_entries;
};

// A plain snapshot of the sums.
struct RealServerStats {
    uint64_t connections = 0, in_packets = 0, in_bytes = 0, out_packets = 0, out_bytes = 0;
    uint64_t active = 0, inactive = 0;

    void add(const RealServerCounters& c) {
        connections += c.connections.get();
        in_packets += c.in_packets.get();
        in_bytes += c.in_bytes.get();
        out_packets += c.out_packets.get();
        out_bytes += c.out_bytes.get();
        active += c.active.get();
        inactive += c.inactive.get();
    }
    void add(const RealServerStats& o) {
        connections += o.connections;
        in_packets += o.in_packets;
        in_bytes += o.in_bytes;
        out_packets += o.out_packets;
        out_bytes += o.out_bytes;
        active += o.active;
        inactive += o.inactive;
    }
};

} // namespace haplane::lb
