#include "lb/flow_table.hpp"

#include <bit>
#include <memory>
#include <new>
#include <stdexcept>
#include <sys/mman.h>

namespace haplane::lb {

namespace {

// Flow tables are tens of megabytes probed at random, twice per lookup
// (index slot, then node). On 4 KB pages nearly every probe also misses the
// TLB, and the page walks (two-level under a hypervisor) also limit how
// many of a burst's misses overlap (LbWorker::forward prefetches them). So
// a big table is 2 MB aligned and asks for transparent huge pages before it
// is first touched (THP is often in "madvise" mode); where THP is off this
// is plain memory. tests/bench/lb_forward_bench, established flows drawn
// from 1 M: 370 -> 205 ns a packet with this (docs/performance.md).
void* table_alloc(size_t bytes) {
    constexpr size_t kHuge = size_t{2} << 20;
    const bool huge = bytes >= kHuge;
    const size_t align = huge ? kHuge : 64;
    const size_t size = (bytes + align - 1) & ~(align - 1);
    void* p = std::aligned_alloc(align, size);
    if (!p) throw std::bad_alloc();
    if (huge) madvise(p, size, MADV_HUGEPAGE);   // advice only: failure changes nothing
    return p;
}

} // namespace

FlowTable::FlowTable(uint32_t capacity, uint32_t now, uint64_t seed)
    : capacity_(capacity), seed_(seed), next_tick_(now) {
    if (capacity == 0 || capacity > kMaxCapacity)
        throw std::invalid_argument("flow table capacity must be between 1 and 2^30");
    // At least twice the capacity: linear probing stays short at load <= 1/2.
    const uint64_t index_size = std::bit_ceil(uint64_t{capacity} * 2);
    index_mask_ = static_cast<uint32_t>(index_size - 1);
    const size_t n_nodes = size_t{capacity} + kWheelSlots;
    nodes_.reset(static_cast<Conn*>(table_alloc(n_nodes * sizeof(Conn))));
    std::uninitialized_default_construct_n(nodes_.get(), n_nodes);   // trivially destructible
    index_.reset(static_cast<IndexSlot*>(table_alloc(index_size * sizeof(IndexSlot))));
    for (uint64_t i = 0; i < index_size; ++i) index_[i] = IndexSlot{0, kNone};
    for (uint32_t s = 0; s < kWheelSlots; ++s) {
        Conn& head = nodes_[capacity_ + s];
        head.prev_ = head.next_ = capacity_ + s;
    }
    for (uint32_t n = capacity_; n-- > 0;) {
        nodes_[n].next_ = free_head_;
        free_head_ = n;
    }
}

Conn* FlowTable::insert(const FlowKey& key, uint64_t h, const ConnEntry& entry, uint32_t deadline) {
    const uint32_t tag = static_cast<uint32_t>(h);
    uint32_t pos = tag & index_mask_;
    for (;; pos = (pos + 1) & index_mask_) {
        const IndexSlot& s = index_[pos];
        if (s.node == kNone) break;
        if (s.tag == tag && nodes_[s.node].key == key) {
            Conn* c = &nodes_[s.node];
            c->entry = entry;
            set_deadline(c, deadline);
            return c;
        }
    }
    if (free_head_ == kNone) {
        ++full_drops_;
        return nullptr;
    }
    const uint32_t n = free_head_;
    Conn& c = nodes_[n];
    free_head_ = c.next_;
    c.key = key;
    c.entry = entry;
    c.deadline_ = deadline;
    file(n);
    index_[pos] = IndexSlot{tag, n};
    ++size_;
    return &c;
}

void FlowTable::remove(Conn* c) {
    const uint32_t n = node_of(c);
    unlink(n);
    erase(n);
}

void FlowTable::erase(uint32_t n) {
    Conn& c = nodes_[n];
    const uint32_t tag = static_cast<uint32_t>(hash_flow(c.key, seed_));
    uint32_t i = tag & index_mask_;
    while (index_[i].node != n) i = (i + 1) & index_mask_;
    // Backward shift: pull later members of the probe run into the hole
    // unless that would put them before their home slot.
    for (uint32_t j = (i + 1) & index_mask_; index_[j].node != kNone; j = (j + 1) & index_mask_) {
        const uint32_t home = index_[j].tag & index_mask_;
        const bool home_in_hole_to_j = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_in_hole_to_j) {
            index_[i] = index_[j];
            i = j;
        }
    }
    index_[i].node = kNone;
    c.wheel_slot_ = Conn::kFree;
    c.next_ = free_head_;
    free_head_ = n;
    --size_;
}

size_t FlowTable::memory_bytes() const {
    return (size_t{capacity_} + kWheelSlots) * sizeof(Conn) + (size_t{index_mask_} + 1) * sizeof(IndexSlot);
}

} // namespace haplane::lb
