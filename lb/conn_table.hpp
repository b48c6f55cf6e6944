// The per-lcore connection table: which real server each flow went to, its
// TCP state, and when it expires (global.timeouts per state). Owned by one
// worker; no locks. Allocates only in the constructor. Time is whole
// seconds of the caller's monotonic clock, passed in (no clock reads here).
//
// Memory: one 64-byte node per flow plus a hash index of 8 bytes x the next
// power of two >= 2 x capacity, i.e. about 81 bytes per flow at the default
// 1,000,000 connections_per_lcore (64 MB + 16 MB).
#pragma once

#include "config/config.hpp"
#include "lb/conn_record.hpp"
#include "lb/flow.hpp"
#include "lb/flow_table.hpp"
#include "lb/tcp_state.hpp"

#include <cstddef>
#include <cstdint>

namespace haplane::lb {

struct StateChange {
    ConnState from;
    ConnState to;
    bool changed() const { return from != to; }
};

class ConnTable {
public:
    explicit ConnTable(uint32_t capacity = 1000000, const config::Timeouts& timeouts = {}, uint32_t now = 0,
                       uint64_t seed = FlowTable::kDefaultSeed);

    // The flow, its expiry pushed to now + its state's timeout; nullptr if unknown.
    Conn* lookup(const FlowKey& key, uint32_t now) {
        Conn* c = flows_.find(key);
        if (c) flows_.set_deadline(c, now + timeouts_.of(c->entry.state));
        return c;
    }
    // The key's hash (FlowTable::hash): computed once per packet, then
    // the burst hints (FlowTable::prefetch_slot / prefetch_node), find and
    // insert take it.
    uint64_t hash(const FlowKey& key) const { return flows_.hash(key); }
    void prefetch_slot(uint64_t h) const { flows_.prefetch_slot(h); }
    void prefetch_node(uint64_t h) const { flows_.prefetch_node(h); }
    // Without refreshing (control plane, tests; the fast path refreshes by
    // its TCP state or touch()).
    Conn* find(const FlowKey& key) { return flows_.find(key); }
    Conn* find(const FlowKey& key, uint64_t h) { return flows_.find(key, h); }

    // A new flow in entry.state (see initial_tcp_state; ConnState::udp for
    // UDP). nullptr when full: the flow is dropped and full_drops() counts
    // it; flows already in the table are unaffected. An existing key is
    // overwritten.
    Conn* insert(const FlowKey& key, const ConnEntry& entry, uint32_t now) {
        return flows_.insert(key, entry, now + timeouts_.of(entry.state));
    }
    Conn* insert(const FlowKey& key, uint64_t h, const ConnEntry& entry, uint32_t now) {   // h = hash(key)
        return flows_.insert(key, h, entry, now + timeouts_.of(entry.state));
    }

    // A TCP packet of the flow: next state from its flags, expiry from the
    // new state's timeout. The caller adjusts its RealServerCounts with the result.
    StateChange on_tcp(Conn* c, uint8_t flags, Direction dir, uint32_t now) {
        const ConnState from = c->entry.state;
        // Most packets: an established flow's segment without FIN or RST,
        // which changes nothing (next_tcp_state, without the call).
        const ConnState to = from == ConnState::established && !(flags & (tcp_flag::fin | tcp_flag::rst))
                                 ? from
                                 : next_tcp_state(from, flags, dir);
        if (to != from) c->entry.state = to;   // no store when unchanged (FlowTable::set_deadline)
        flows_.set_deadline(c, now + timeouts_.of(to));
        return {from, to};
    }

    void remove(Conn* c) { flows_.remove(c); }

    // Pushes the flow's expiry to now + its state's timeout.
    void touch(Conn* c, uint32_t now) { flows_.set_deadline(c, now + timeouts_.of(c->entry.state)); }

    // An entry that never expires by itself: its owner removes it (the
    // reply-direction entry of a NAT flow goes with its forward entry).
    static constexpr uint32_t kNever = 0xffffffffu;
    Conn* insert_pinned(const FlowKey& key, const ConnEntry& entry) { return flows_.insert(key, entry, kNever); }

    uint32_t index_of(const Conn* c) const { return flows_.index_of(c); }
    Conn* at(uint32_t n) { return flows_.at(n); }

    // See FlowTable::expire: on_expired(const Conn&) for each expired flow.
    template <class OnExpired>
    size_t expire(uint32_t now, size_t max_work, OnExpired&& on_expired) {
        return flows_.expire(now, max_work, on_expired);
    }

    // Reload: new timeouts apply from each flow's next packet on.
    void set_timeouts(const config::Timeouts& timeouts) { timeouts_ = StateTimeouts(timeouts); }
    const StateTimeouts& timeouts() const { return timeouts_; }

    // HA sync: a flow as a record, and a record from the peer into the table
    // (inserted or overwritten; nullptr when full).
    ConnRecord record(const Conn& c, uint32_t now) const;
    Conn* import(const ConnRecord& r, uint32_t now) {
        return flows_.insert(r.key, r.entry, now + r.remaining);
    }

    template <class Fn>
    void for_each(Fn&& fn) const { flows_.for_each(fn); }

    uint32_t size() const { return flows_.size(); }
    uint32_t capacity() const { return flows_.capacity(); }
    uint64_t full_drops() const { return flows_.full_drops(); }
    uint64_t expire_visits() const { return flows_.expire_visits(); }
    uint64_t expired() const { return flows_.expired(); }
    size_t memory_bytes() const { return flows_.memory_bytes(); }

private:
    FlowTable flows_;
    StateTimeouts timeouts_;
};

} // namespace haplane::lb
