// Which worker owns a packet's flow, when several workers share a port
// (one RX queue each, filled by RSS or any other spreading the PMD does).
// Connection tables are per worker, so every packet of a nat/fnat flow, in
// both directions, and every ICMP error about it, must be handled by the
// worker that created it. Pure (no DPDK): the worker loop hands a packet
// whose owner is another worker to that worker's ring (dataplane/worker.cpp).
//
// The rules, computable from either direction with no shared state:
// - a nat or fnat flow belongs to client_owner(client address, client
//   port): the forward packet carries them as its source, a nat reply as
//   its destination, an ICMP error in the packet it quotes;
// - an fnat reply is addressed to local address:local port instead; each
//   worker hands out local ports from its own range (local_port_range), so
//   the port names the owner (the same worker: it created the flow);
// - dr and tun flows have no reply through us: they stay where they land.
#pragma once

#include "dataplane/wire.hpp"
#include "lb/flow.hpp"

#include <cstdint>
#include <cstring>

namespace haplane::lb {

class ServiceTable;

// Worker `worker`'s fnat local ports, [first, last] in host order: the
// ports from 1024 up, split evenly between `workers`.
inline void local_port_range(unsigned worker, unsigned workers, uint16_t& first, uint16_t& last) {
    if (workers == 0) workers = 1;
    const uint32_t span = (65536u - 1024u) / workers;
    first = static_cast<uint16_t>(1024u + worker * span);
    last = static_cast<uint16_t>(1024u + (worker + 1) * span - 1);
}

inline constexpr int kNoOwner = -1;

// The worker whose range holds `port_host`; kNoOwner for ports no worker
// hands out (below 1024, or the few left over above the last range).
inline int local_port_owner(uint16_t port_host, unsigned workers) {
    if (workers <= 1) return 0;
    if (port_host < 1024) return kNoOwner;
    const uint32_t span = (65536u - 1024u) / workers;
    const uint32_t w = (port_host - 1024u) / span;
    return w < workers ? static_cast<int>(w) : kNoOwner;
}

// The worker that owns the nat/fnat flows of the client addr:port (address
// of family f, 4 or 16 bytes; port in network order). A seeded 64-bit mix,
// mapped onto 0..workers-1 without a division; the same seed on every
// worker (clients cannot aim at one worker without knowing it).
inline unsigned client_owner(Family f, const uint8_t* addr, uint16_t port_net, unsigned workers, uint64_t seed) {
    if (workers <= 1) return 0;
    auto mix = [](uint64_t x) {   // splitmix64's finaliser
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebull;
        return x ^ (x >> 31);
    };
    uint64_t h = seed ^ port_net;
    if (f == Family::v4) {
        uint32_t a;
        std::memcpy(&a, addr, 4);
        h = mix(h ^ (uint64_t{a} << 16));
    } else {
        uint64_t hi, lo;
        std::memcpy(&hi, addr, 8);
        std::memcpy(&lo, addr + 8, 8);
        h = mix(mix(h ^ hi) ^ lo);
    }
    return static_cast<unsigned>(((h >> 32) * workers) >> 32);
}

// The tuple of the packet an ICMP error (IPv4 types 3, 4, 11, 12; ICMPv6
// 1 to 4) quotes, if it quotes a TCP/UDP packet's ports. `frame` as parsed
// into `p` (IPv4 or IPv6, protocol ICMP / ICMPv6).
bool quoted_flow(const uint8_t* frame, const wire::Parsed& p, FlowKey& out);

// The same, with where the error and the quoted packet lie in the frame
// (offsets from its start, so a caller holding the frame writable can
// rewrite them): the one parser of quoted packets, for steering and for
// LbWorker's ICMP translation alike.
struct QuotedPacket {
    size_t icmp = 0, icmp_len = 0;   // the ICMP message
    size_t ip = 0, l4 = 0;           // the quoted IP header and its TCP/UDP header
    size_t l4_avail = 0;             // quoted bytes from l4 on (at least 8)
    FlowKey key;                     // the quoted packet's 5-tuple, as it was sent
};
bool parse_quoted(const uint8_t* frame, const wire::Parsed& p, QuotedPacket& out);

// The worker that must handle this packet (claimed by the load balancer,
// as parsed into `p`) for `table`'s services: a worker number, or kNoOwner
// when any worker may (dr, tun, nothing of ours).
int flow_owner(const ServiceTable& table, const uint8_t* frame, const wire::Parsed& p, unsigned workers,
               uint64_t seed);

} // namespace haplane::lb
