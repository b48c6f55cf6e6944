// A flow's identity (the L4 5-tuple) and the hashes every lb/ table uses.
// Header-only and allocation-free: this runs once or twice per packet.
#pragma once

#include "config/address.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace haplane::lb {

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;

inline constexpr uint16_t net16(uint16_t v) {
    return std::endian::native == std::endian::little ? static_cast<uint16_t>((v << 8) | (v >> 8)) : v;
}

// The 5-tuple as it lies in the packet: addresses and ports in NETWORK byte
// order, so the fast path fills it with plain copies from the headers.
// IPv4 addresses use src[0..3]/dst[0..3], the rest stays zero (the same
// convention as IpAddress). Every byte, padding included, is part of the
// identity (compared and hashed as raw memory); every member has a zero
// initialiser so a default-constructed key is all zeros.
struct FlowKey {
    uint8_t src[16]{};
    uint8_t dst[16]{};
    uint16_t src_port = 0;      // network order
    uint16_t dst_port = 0;      // network order
    uint8_t proto = 0;          // IP protocol number (kProtoTcp, kProtoUdp)
    Family family = Family::v4;
    uint8_t pad_[2]{};          // always zero; the layout has no implicit padding

    // From header fields exactly as read from the wire (network order).
    //
    // Fast path: a key is built per packet and read back at once, by
    // hash_flow (8-byte loads) and operator== (16-byte loads). Built field
    // by field, GCC assembles it in a stack temporary with 1- to 4-byte
    // stores and copies it out with 8- and 16-byte loads: each such load
    // over narrower stores is a store-forwarding stall (some 20 cycles,
    // three per key). So on little-endian CPUs the key is composed in
    // registers and written with two 16-byte and one 8-byte store; the
    // bytes (and so every hash) are the same either way.
    // tests/bench/lb_forward_bench, established flows drawn from 1 M:
    // 205 -> 142 ns a packet (docs/performance.md).
    static FlowKey v4(uint32_t src_net, uint32_t dst_net, uint16_t src_port_net,
                      uint16_t dst_port_net, uint8_t proto) {
        FlowKey k;
        if constexpr (std::endian::native == std::endian::little) {
            const Words16 src = {src_net, 0}, dst = {dst_net, 0};
            const uint64_t tail = tail_word(src_port_net, dst_port_net, proto, Family::v4);
            std::memcpy(k.src, &src, 16);
            std::memcpy(k.dst, &dst, 16);
            std::memcpy(&k.src_port, &tail, 8);
        } else {
            k.family = Family::v4;
            std::memcpy(k.src, &src_net, 4);
            std::memcpy(k.dst, &dst_net, 4);
            k.src_port = src_port_net;
            k.dst_port = dst_port_net;
            k.proto = proto;
        }
        return k;
    }
    static FlowKey v6(const uint8_t* src16, const uint8_t* dst16, uint16_t src_port_net,
                      uint16_t dst_port_net, uint8_t proto) {
        FlowKey k;
        std::memcpy(k.src, src16, 16);
        std::memcpy(k.dst, dst16, 16);
        if constexpr (std::endian::native == std::endian::little) {
            const uint64_t tail = tail_word(src_port_net, dst_port_net, proto, Family::v6);
            std::memcpy(&k.src_port, &tail, 8);
        } else {
            k.family = Family::v6;
            k.src_port = src_port_net;
            k.dst_port = dst_port_net;
            k.proto = proto;
        }
        return k;
    }
    // Control-plane / test convenience: ports in HOST order.
    static FlowKey make(const IpAddress& src, uint16_t src_port, const IpAddress& dst,
                        uint16_t dst_port, uint8_t proto) {
        FlowKey k;
        k.family = src.family;
        std::memcpy(k.src, src.bytes.data(), 16);
        std::memcpy(k.dst, dst.bytes.data(), 16);
        k.src_port = net16(src_port);
        k.dst_port = net16(dst_port);
        k.proto = proto;
        return k;
    }

    // The same flow seen from the other side (replies of NAT/FNAT).
    FlowKey reversed() const {
        FlowKey k = *this;
        std::memcpy(k.src, dst, 16);
        std::memcpy(k.dst, src, 16);
        k.src_port = dst_port;
        k.dst_port = src_port;
        return k;
    }

    bool operator==(const FlowKey& o) const { return std::memcmp(this, &o, sizeof *this) == 0; }

private:
    typedef uint64_t Words16 __attribute__((vector_size(16)));   // GCC/Clang vector: one register
    // Bytes 32..39 on a little-endian CPU: ports, proto, family, zero padding.
    static uint64_t tail_word(uint16_t src_port_net, uint16_t dst_port_net, uint8_t proto, Family f) {
        return uint64_t{src_port_net} | uint64_t{dst_port_net} << 16 | uint64_t{proto} << 32 |
               uint64_t{static_cast<uint8_t>(f)} << 40;
    }
};
static_assert(sizeof(FlowKey) == 40, "FlowKey is hashed as five 64-bit words");

namespace hash_detail {

inline constexpr uint64_t kP0 = 0xa0761d6478bd642full;
inline constexpr uint64_t kP1 = 0xe7037ed1a0b428dbull;
inline constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ull;
inline constexpr uint64_t kP3 = 0x589965cc75374cc3ull;

__extension__ typedef unsigned __int128 u128;

// 64x64->128 multiply folded to 64 bits (wyhash's "mum"): one multiply mixes
// every input bit into every output bit.
inline uint64_t mum(uint64_t a, uint64_t b) {
    u128 r = static_cast<u128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// Little-endian load whatever the CPU: hashes must be identical on both HA
// nodes (Maglev and sh pick the same server for a flow on either node).
inline uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    return v;
}

} // namespace hash_detail

// A strong 64-bit finaliser for values that are already identities (ids).
inline uint64_t mix64(uint64_t v, uint64_t seed) {
    using namespace hash_detail;
    return mum(v ^ kP0 ^ seed, mum(v ^ kP1, seed ^ kP2) ^ kP3);
}

// Hash of the whole 5-tuple. Deterministic for a given seed on every CPU.
inline uint64_t hash_flow(const FlowKey& k, uint64_t seed) {
    using namespace hash_detail;
    const auto* p = reinterpret_cast<const uint8_t*>(&k);
    uint64_t s = seed ^ kP0;
    s = mum(load64(p) ^ kP1, load64(p + 8) ^ s);
    s = mum(load64(p + 16) ^ kP2, load64(p + 24) ^ s);
    s = mum(load64(p + 32) ^ kP3, s ^ kP1);
    return mum(s ^ kP0, seed ^ kP2);
}

// Hash of the client address only (family included): source hashing and
// persistence must ignore ports.
inline uint64_t hash_source(const FlowKey& k, uint64_t seed) {
    using namespace hash_detail;
    uint64_t s = seed ^ kP0 ^ static_cast<uint8_t>(k.family);
    s = mum(load64(k.src) ^ kP1, load64(k.src + 8) ^ s);
    return mum(s ^ kP2, seed ^ kP3);
}

// Hash of arbitrary bytes (control plane: backend identities).
inline uint64_t hash_bytes(const void* data, size_t len, uint64_t seed) {
    using namespace hash_detail;
    const auto* p = static_cast<const uint8_t*>(data);
    uint64_t s = seed ^ kP0 ^ len;
    for (; len >= 16; p += 16, len -= 16) s = mum(load64(p) ^ kP1, load64(p + 8) ^ s);
    uint8_t tail[16] = {};
    std::memcpy(tail, p, len);
    s = mum(load64(tail) ^ kP2, load64(tail + 8) ^ s ^ kP3);
    return mum(s ^ kP0, seed ^ kP1);
}

} // namespace haplane::lb
