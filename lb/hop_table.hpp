// The Ethernet next hops clients' packets came from (a router, or the
// client itself on a flat segment), interned per worker so a connection
// entry can name the hop its replies go back to in 16 bits. Entries are
// never evicted: a production segment has a handful of routers; a lab a
// few hosts. Allocation only in the constructor.
#pragma once

#include "dataplane/wire.hpp"

#include <cstdint>
#include <cstring>
#include <memory>

namespace haplane::lb {

class HopTable {
public:
    static constexpr uint16_t kNone = 0xffff;

    explicit HopTable(uint16_t capacity = 4096)
        : capacity_(capacity), macs_(std::make_unique<wire::Mac[]>(capacity)),
          index_mask_(index_size(capacity) - 1), index_(std::make_unique<uint16_t[]>(index_size(capacity))) {
        for (uint32_t i = 0; i <= index_mask_; ++i) index_[i] = kNone;
    }

    // The hop's number, added if new; kNone when the table is full.
    uint16_t intern(const uint8_t* mac) {
        uint32_t i = hash(mac) & index_mask_;
        for (;; i = (i + 1) & index_mask_) {
            const uint16_t n = index_[i];
            if (n == kNone) break;
            if (std::memcmp(macs_[n].data(), mac, 6) == 0) return n;
        }
        if (size_ == capacity_) return kNone;
        const uint16_t n = size_++;
        std::memcpy(macs_[n].data(), mac, 6);
        index_[i] = n;
        return n;
    }
    const wire::Mac& at(uint16_t n) const { return macs_[n]; }
    bool valid(uint16_t n) const { return n < size_; }
    uint16_t size() const { return size_; }

private:
    static uint32_t index_size(uint16_t capacity) {
        uint32_t s = 1;
        while (s < uint32_t{capacity} * 2) s <<= 1;
        return s;
    }
    static uint32_t hash(const uint8_t* mac) {
        uint64_t v = 0;
        std::memcpy(&v, mac, 6);
        v *= 0x9e3779b97f4a7c15ull;
        return static_cast<uint32_t>(v >> 32);
    }

    uint16_t capacity_;
    uint16_t size_ = 0;
    std::unique_ptr<wire::Mac[]> macs_;
    uint32_t index_mask_;
    std::unique_ptr<uint16_t[]> index_;
};

} // namespace haplane::lb
