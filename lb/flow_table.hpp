// The storage engine under the connection and persistence tables: a
// fixed-capacity hash table of FlowKey -> ConnEntry with a timer wheel for
// expiry. Single-threaded by design: each worker lcore owns its tables, so
// there are no locks. Everything is allocated by the constructor; find,
// insert, refresh, remove and expire never allocate, throw or call the OS.
//
// Index: open addressing with linear probing over {32-bit hash tag, node
// index} pairs at load <= 1/2, deletion by backward shift (no tombstones, so
// a table that churns for months probes as short as a fresh one).
//
// Expiry: a wheel of 1-second slots, each an intrusive doubly linked list of
// nodes (uint32 indices; the slot heads are sentinel nodes after the pool).
// A node sits in the slot of some time <= its deadline. Refreshing only
// moves the deadline later and leaves the node where it is; when its slot
// comes round, a node whose deadline has not passed is re-filed at its
// deadline. So expire() touches only due slots, each node at most once per
// lifetime of the wheel (an hour), and a packet's refresh is one store.
#pragma once

#include "lb/flow.hpp"
#include "lb/tcp_state.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <type_traits>

namespace haplane::lb {

// A cache hint. Not __builtin_prefetch: GCC 12 at -O2 deletes it when the
// address comes out of hash_flow (the table's very use), so on x86 the
// instruction is written out, as DPDK's rte_prefetch0 does.
inline void prefetch(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p);
#endif
}

// What the dataplane keeps per flow. 10 bytes: with the key and the wheel
// links a node is exactly one 64-byte cache line.
struct ConnEntry {
    uint16_t real_server = 0;     // index in the virtual service's real servers
    uint16_t service = 0;         // virtual service index
    uint16_t local_port = 0;      // fnat: source port towards the server, network order
    uint8_t local_address = 0;    // fnat: index in the service's local_addresses
    uint8_t flags = 0;            // free for the dataplane (e.g. "synced to peer")
    // Read freely; change only through ConnTable::on_tcp, which also moves
    // the expiry to the new state's timeout.
    ConnState state = ConnState::udp;
    uint8_t reserved_ = 0;

    bool operator==(const ConnEntry&) const = default;
};
static_assert(sizeof(ConnEntry) == 10);

class FlowTable;

// One flow. Its address is stable while the flow lives.
class Conn {
public:
    FlowKey key;
    ConnEntry entry;

    uint32_t deadline() const { return deadline_; }   // expires when now >= deadline

private:
    friend class FlowTable;
    uint16_t wheel_slot_ = kFree;
    uint32_t deadline_ = 0;
    uint32_t prev_ = 0;           // wheel list links (next_: free list while unused)
    uint32_t next_ = 0;

    static constexpr uint16_t kFree = 0xffff;
};
static_assert(sizeof(Conn) == 64, "one cache line per flow");
static_assert(std::is_trivially_destructible_v<Conn>, "freed without destructors (FlowTable::nodes_)");

class FlowTable {
public:
    static constexpr uint32_t kWheelSlots = 4096;     // seconds; > the 900 s default TCP timeout
    static constexpr uint32_t kMaxCapacity = 1u << 30;
    static constexpr uint64_t kDefaultSeed = 0x636f6e6e2d746162ull;

    // `now`: the current time in seconds of a monotonic clock whose epoch is
    // the caller's (e.g. seconds since start). `seed`: hash seed; pass a
    // random one in production so clients cannot aim at one probe chain.
    // Throws std::invalid_argument for capacity 0 or > kMaxCapacity.
    FlowTable(uint32_t capacity, uint32_t now, uint64_t seed = kDefaultSeed);

    // The key's hash in this table. The fast path computes it once per
    // packet and hands it to the prefetch hints and to find/insert.
    uint64_t hash(const FlowKey& key) const { return hash_flow(key, seed_); }

    Conn* find(const FlowKey& key) { return find(key, hash(key)); }
    Conn* find(const FlowKey& key, uint64_t h) {   // h = hash(key)
        const uint32_t tag = static_cast<uint32_t>(h);
        for (uint32_t pos = tag & index_mask_;; pos = (pos + 1) & index_mask_) {
            const IndexSlot& s = index_[pos];
            if (s.node == kNone) return nullptr;
            if (s.tag == tag && nodes_[s.node].key == key) return &nodes_[s.node];
        }
    }

    // Hints for a burst of lookups: a lookup with a million flows is two
    // dependent cache (and TLB) misses, index slot then node. Hinting every
    // packet's index slot, then every node, before the burst's first find()
    // lets the misses overlap (as DPDK's rte_hash_lookup_bulk does). Only
    // hints: they read the home slot and change nothing.
    void prefetch_slot(uint64_t h) const {   // h = hash(key)
        prefetch(&index_[static_cast<uint32_t>(h) & index_mask_]);
    }
    void prefetch_node(uint64_t h) const {
        const uint32_t tag = static_cast<uint32_t>(h);
        const IndexSlot& s = index_[tag & index_mask_];
        if (s.node != kNone && s.tag == tag) prefetch(&nodes_[s.node]);
    }

    // Adds the flow expiring at `deadline`, or updates entry and deadline
    // when the key is already there. nullptr when the table is full (the
    // new flow is dropped and counted in full_drops()).
    Conn* insert(const FlowKey& key, const ConnEntry& entry, uint32_t deadline) {
        return insert(key, hash(key), entry, deadline);
    }
    Conn* insert(const FlowKey& key, uint64_t h, const ConnEntry& entry, uint32_t deadline);   // h = hash(key)

    // Sets the expiry. A later deadline costs a store; an earlier one (a
    // state with a shorter timeout) re-files the node so it is not late.
    void set_deadline(Conn* c, uint32_t deadline) {
        // Most packets of a flow land in the second of the one before:
        // no store, so the node's cache line stays clean.
        if (deadline == c->deadline_) return;
        const uint32_t filed_at = slot_time(c->wheel_slot_);
        c->deadline_ = deadline;
        if (deadline < filed_at) {
            const uint32_t n = node_of(c);
            unlink(n);
            file(n);
        }
    }

    void remove(Conn* c);

    // Stable node numbers, for an entry that refers to another flow (a
    // NAT reply entry names its forward flow).
    uint32_t index_of(const Conn* c) const { return node_of(c); }
    // The live flow with node number n, or nullptr.
    Conn* at(uint32_t n) {
        return n < capacity_ && nodes_[n].wheel_slot_ != Conn::kFree ? &nodes_[n] : nullptr;
    }

    // Expires every flow whose deadline is <= now, handing each to
    // on_expired(const Conn&) just before it is freed (for counters; the
    // callback must not modify the table). Visits at most max_work nodes;
    // what is left is picked up by the next call. Returns the number expired.
    template <class OnExpired>
    size_t expire(uint32_t now, size_t max_work, OnExpired&& on_expired);

    // Control plane: every live flow (full sync, dumps). O(capacity).
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (uint32_t n = 0; n < capacity_; ++n)
            if (nodes_[n].wheel_slot_ != Conn::kFree) fn(static_cast<const Conn&>(nodes_[n]));
    }

    uint32_t size() const { return size_; }
    uint32_t capacity() const { return capacity_; }
    uint64_t full_drops() const { return full_drops_; }
    uint64_t expire_visits() const { return expire_visits_; }   // nodes expire() looked at
    uint64_t expired() const { return expired_; }
    // Memory held: nodes, sentinels and index.
    size_t memory_bytes() const;

private:
    struct IndexSlot {
        uint32_t tag;     // low 32 bits of the key's hash (its home is tag & mask)
        uint32_t node;    // kNone = empty
    };
    static constexpr uint32_t kNone = 0xffffffff;
    static constexpr uint32_t kWheelMask = kWheelSlots - 1;

    uint32_t node_of(const Conn* c) const { return static_cast<uint32_t>(c - nodes_.get()); }
    // The time a slot stands for: slots cover [next_tick_, next_tick_ + W).
    uint32_t slot_time(uint16_t slot) const {
        return next_tick_ + ((slot - next_tick_) & kWheelMask);
    }
    void link(uint32_t n, uint32_t slot) {
        const uint32_t head = capacity_ + slot;
        const uint32_t tail = nodes_[head].prev_;
        nodes_[n].prev_ = tail;
        nodes_[n].next_ = head;
        nodes_[n].wheel_slot_ = static_cast<uint16_t>(slot);
        nodes_[tail].next_ = n;
        nodes_[head].prev_ = n;
    }
    void unlink(uint32_t n) {
        Conn& c = nodes_[n];
        nodes_[c.prev_].next_ = c.next_;
        nodes_[c.next_].prev_ = c.prev_;
    }
    // Into the slot of its deadline, clamped to the times the wheel covers.
    void file(uint32_t n) {
        uint32_t t = nodes_[n].deadline_;
        if (t < next_tick_) t = next_tick_;
        if (t - next_tick_ > kWheelMask) t = next_tick_ + kWheelMask;
        link(n, t & kWheelMask);
    }
    void erase(uint32_t n);           // out of the index, onto the free list

    uint32_t capacity_;
    uint32_t index_mask_;
    uint64_t seed_;
    // Both from table_alloc (flow_table.cpp): huge-page friendly, freed with std::free.
    struct FreeDeleter {
        void operator()(void* p) const { std::free(p); }
    };
    std::unique_ptr<Conn[], FreeDeleter> nodes_;   // capacity_ flows, then kWheelSlots sentinels
    std::unique_ptr<IndexSlot[], FreeDeleter> index_;
    uint32_t free_head_ = kNone;
    uint32_t size_ = 0;
    uint32_t next_tick_;              // slots of times < next_tick_ are done
    uint64_t full_drops_ = 0;
    uint64_t expire_visits_ = 0;
    uint64_t expired_ = 0;
};

template <class OnExpired>
size_t FlowTable::expire(uint32_t now, size_t max_work, OnExpired&& on_expired) {
    // Far behind (idle for longer than the wheel): the last W seconds
    // cover every slot once, so start there.
    if (now >= next_tick_ && now - next_tick_ > kWheelMask) next_tick_ = now - kWheelMask;
    size_t expired = 0;
    size_t work = 0;
    while (next_tick_ <= now) {
        const uint32_t head = capacity_ + (next_tick_ & kWheelMask);
        while (nodes_[head].next_ != head && work < max_work) {
            ++work;
            const uint32_t n = nodes_[head].next_;
            unlink(n);
            if (nodes_[n].deadline_ <= now) {
                on_expired(static_cast<const Conn&>(nodes_[n]));
                erase(n);
                ++expired;
            } else {
                file(n);   // refreshed since filed: deadline > now, so never this slot again
            }
        }
        if (nodes_[head].next_ != head) break;   // out of budget mid-slot
        ++next_tick_;
    }
    expire_visits_ += work;
    expired_ += expired;
    return expired;
}

} // namespace haplane::lb
