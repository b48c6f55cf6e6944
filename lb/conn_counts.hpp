// Active/inactive connection counts per real server: what lc and wlc read.
// Each worker counts its own flows (no sharing), so least-connection
// decisions are per lcore, which with RSS-spread flows approximates the
// global picture without any cross-core traffic.
#pragma once

#include "lb/tcp_state.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace haplane::lb {

// A read-only view, indexed by real server; missing entries count as 0.
struct ConnCounts {
    std::span<const uint32_t> active;
    std::span<const uint32_t> inactive;

    uint32_t active_of(size_t i) const { return i < active.size() ? active[i] : 0; }
    uint32_t inactive_of(size_t i) const { return i < inactive.size() ? inactive[i] : 0; }
    // IPVS's ip_vs_dest_conn_overhead: an active connection costs 256 idle ones.
    uint64_t overhead(size_t i) const { return (uint64_t{active_of(i)} << 8) + inactive_of(i); }
};

// The counts of one virtual service on one worker, kept in step with the
// connection table's inserts, state changes and expiries.
class RealServerCounts {
public:
    explicit RealServerCounts(size_t real_servers) : active_(real_servers, 0), inactive_(real_servers, 0) {}

    // Out-of-range servers are ignored: a flow may outlive a shrinking reload.
    void add(uint16_t rs, ConnState s) {
        if (rs < active_.size()) ++slot(rs, s);
    }
    void remove(uint16_t rs, ConnState s) {
        if (rs >= active_.size()) return;
        uint32_t& c = slot(rs, s);
        if (c > 0) --c;
    }
    void change(uint16_t rs, ConnState from, ConnState to) {
        if (is_active(from) == is_active(to)) return;
        remove(rs, from);
        add(rs, to);
    }
    // Room for `real_servers` (a reload added some); counts kept.
    void ensure(size_t real_servers) {
        if (active_.size() < real_servers) {
            active_.resize(real_servers, 0);
            inactive_.resize(real_servers, 0);
        }
    }
    ConnCounts view() const { return ConnCounts{active_, inactive_}; }

private:
    uint32_t& slot(uint16_t rs, ConnState s) { return is_active(s) ? active_[rs] : inactive_[rs]; }

    std::vector<uint32_t> active_;
    std::vector<uint32_t> inactive_;
};

} // namespace haplane::lb
