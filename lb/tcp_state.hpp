// Connection states and their IPVS-like transitions on TCP flags, and how
// long each state lives (global.timeouts). Pure functions, no table.
#pragma once

#include "config/config.hpp"

#include <array>
#include <cstdint>

namespace haplane::lb {

enum class ConnState : uint8_t {
    syn_recv,      // client SYN seen, handshake not finished        (tcp_syn)
    established,   // handshake done                                 (tcp)
    fin_wait,      // the client closed first                        (tcp_fin)
    close_wait,    // the server closed first (seen only with NAT)   (tcp_fin)
    time_wait,     // both sides closed                              (tcp_fin)
    close,         // reset                                          (min(10s, tcp_fin))
    udp,           // any UDP flow                                   (udp)
    count_
};
const char* to_string(ConnState s);

// IPVS counts established TCP connections as "active", everything else
// (UDP included, as ipvsadm shows) as "inactive".
inline bool is_active(ConnState s) { return s == ConnState::established; }

// TCP header flag bits.
namespace tcp_flag {
inline constexpr uint8_t fin = 0x01;
inline constexpr uint8_t syn = 0x02;
inline constexpr uint8_t rst = 0x04;
inline constexpr uint8_t ack = 0x10;
}

// in: client -> virtual service; out: real server -> client (only NAT/FNAT
// see this direction; with DR/TUN the machine works on `in` alone).
enum class Direction : uint8_t { in, out };

// State of a flow first seen with these flags: a SYN opens a handshake, a
// mid-stream packet (e.g. after a failover without connection sync) is
// taken as established so the flow continues.
ConnState initial_tcp_state(uint8_t flags);
ConnState next_tcp_state(ConnState s, uint8_t flags, Direction dir);

// Per-state lifetimes in whole seconds (rounded up, at least 1).
class StateTimeouts {
public:
    StateTimeouts() : StateTimeouts(config::Timeouts{}) {}
    explicit StateTimeouts(const config::Timeouts& t);
    uint32_t of(ConnState s) const { return seconds_[static_cast<size_t>(s)]; }

private:
    std::array<uint32_t, static_cast<size_t>(ConnState::count_)> seconds_{};
};

} // namespace haplane::lb
