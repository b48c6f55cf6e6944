#include "lb/flow_table.hpp"

#include <bit>
#include <stdexcept>

namespace haplane::lb {

FlowTable::FlowTable(uint32_t capacity, uint32_t now, uint64_t seed)
    : capacity_(capacity), seed_(seed), next_tick_(now) {
    if (capacity == 0 || capacity > kMaxCapacity)
        throw std::invalid_argument("flow table capacity must be between 1 and 2^30");
    // At least twice the capacity: linear probing stays short at load <= 1/2.
    const uint64_t index_size = std::bit_ceil(uint64_t{capacity} * 2);
    index_mask_ = static_cast<uint32_t>(index_size - 1);
    nodes_ = std::make_unique<Conn[]>(size_t{capacity} + kWheelSlots);
    index_ = std::make_unique<IndexSlot[]>(index_size);
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

Conn* FlowTable::insert(const FlowKey& key, const ConnEntry& entry, uint32_t deadline) {
    const uint64_t h = hash_flow(key, seed_);
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
