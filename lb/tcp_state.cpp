#include "lb/tcp_state.hpp"

#include <algorithm>
#include <chrono>

namespace haplane::lb {

const char* to_string(ConnState s) {
    switch (s) {
    case ConnState::syn_recv: return "SYN_RECV";
    case ConnState::established: return "ESTABLISHED";
    case ConnState::fin_wait: return "FIN_WAIT";
    case ConnState::close_wait: return "CLOSE_WAIT";
    case ConnState::time_wait: return "TIME_WAIT";
    case ConnState::close: return "CLOSE";
    case ConnState::udp: return "UDP";
    case ConnState::count_: break;
    }
    return "?";
}

ConnState initial_tcp_state(uint8_t flags) {
    if (flags & tcp_flag::rst) return ConnState::close;
    if (flags & tcp_flag::fin) return ConnState::fin_wait;
    if ((flags & tcp_flag::syn) && !(flags & tcp_flag::ack)) return ConnState::syn_recv;
    return ConnState::established;
}

ConnState next_tcp_state(ConnState s, uint8_t flags, Direction dir) {
    if (s == ConnState::udp) return s;
    if (flags & tcp_flag::rst) return ConnState::close;
    const bool syn = flags & tcp_flag::syn;
    const bool ack = flags & tcp_flag::ack;
    const bool fin = flags & tcp_flag::fin;
    const bool in = dir == Direction::in;
    switch (s) {
    case ConnState::syn_recv:
        if (fin) return in ? ConnState::fin_wait : ConnState::close_wait;
        if (syn) return s;                          // retransmitted SYN, or the SYN-ACK
        if (ack) return ConnState::established;     // the handshake's last ACK
        return s;
    case ConnState::established:
        if (fin) return in ? ConnState::fin_wait : ConnState::close_wait;
        return s;
    case ConnState::fin_wait:
        return fin && !in ? ConnState::time_wait : s;
    case ConnState::close_wait:
        return fin && in ? ConnState::time_wait : s;
    case ConnState::time_wait:
    case ConnState::close:
        // A new connection reusing the tuple: keep the server, restart.
        return syn && !ack && in ? ConnState::syn_recv : s;
    case ConnState::udp:
    case ConnState::count_:
        break;
    }
    return s;
}

namespace {
uint32_t whole_seconds(config::Duration d) {
    auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
    return static_cast<uint32_t>(std::clamp<int64_t>(s, 1, int64_t{1} << 30));
}
} // namespace

StateTimeouts::StateTimeouts(const config::Timeouts& t) {
    auto set = [&](ConnState s, uint32_t v) { seconds_[static_cast<size_t>(s)] = v; };
    const uint32_t fin = whole_seconds(t.tcp_fin);
    set(ConnState::syn_recv, whole_seconds(t.tcp_syn));
    set(ConnState::established, whole_seconds(t.tcp));
    set(ConnState::fin_wait, fin);
    set(ConnState::close_wait, fin);
    set(ConnState::time_wait, fin);
    set(ConnState::close, std::min<uint32_t>(10, fin));   // IPVS's CLOSE lifetime
    set(ConnState::udp, whole_seconds(t.udp));
}

} // namespace haplane::lb
