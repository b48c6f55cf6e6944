#include "lb/conn_record.hpp"

#include <cstring>

namespace haplane::lb {

namespace {

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p + 2, static_cast<uint16_t>(v));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{get16(p)} << 16 | get16(p + 2); }

} // namespace

std::array<uint8_t, ConnRecord::kSize> ConnRecord::to_bytes() const {
    std::array<uint8_t, kSize> b{};
    b[0] = kVersion;
    b[1] = static_cast<uint8_t>(key.family);
    b[2] = key.proto;
    b[3] = static_cast<uint8_t>(entry.state);
    b[4] = entry.flags;
    b[5] = entry.local_address;
    std::memcpy(&b[6], &entry.local_port, 2);   // already network order
    std::memcpy(&b[8], &key.src_port, 2);
    std::memcpy(&b[10], &key.dst_port, 2);
    put16(&b[12], entry.service);
    put16(&b[14], entry.real_server);
    put32(&b[16], remaining);
    std::memcpy(&b[20], key.src, 16);
    std::memcpy(&b[36], key.dst, 16);
    return b;
}

std::optional<ConnRecord> ConnRecord::from_bytes(std::span<const uint8_t> b) {
    if (b.size() < kSize || b[0] != kVersion) return std::nullopt;
    if (b[1] != static_cast<uint8_t>(Family::v4) && b[1] != static_cast<uint8_t>(Family::v6)) return std::nullopt;
    if (b[3] >= static_cast<uint8_t>(ConnState::count_)) return std::nullopt;
    ConnRecord r;
    r.key.family = static_cast<Family>(b[1]);
    r.key.proto = b[2];
    r.entry.state = static_cast<ConnState>(b[3]);
    r.entry.flags = b[4];
    r.entry.local_address = b[5];
    std::memcpy(&r.entry.local_port, &b[6], 2);
    std::memcpy(&r.key.src_port, &b[8], 2);
    std::memcpy(&r.key.dst_port, &b[10], 2);
    r.entry.service = get16(&b[12]);
    r.entry.real_server = get16(&b[14]);
    r.remaining = get32(&b[16]);
    std::memcpy(r.key.src, &b[20], 16);
    std::memcpy(r.key.dst, &b[36], 16);
    return r;
}

} // namespace haplane::lb
