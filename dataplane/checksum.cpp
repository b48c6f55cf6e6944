// Internet checksum (RFC 1071) and incremental update (RFC 1624).
// Pure: no DPDK, no allocation, no exceptions.
#include "dataplane/wire.hpp"

namespace haplane::wire {

namespace {

// Fold a 64-bit accumulator of 16/32-bit big-endian words to 16 bits.
// 2^16 == 1 (mod 0xFFFF), so folding 32-bit words is the same as summing
// their two 16-bit halves.
inline uint32_t fold64(uint64_t s) {
    s = (s & 0xFFFFFFFFu) + (s >> 32);
    s = (s & 0xFFFFFFFFu) + (s >> 32);
    s = (s & 0xFFFFu) + (s >> 16);
    s = (s & 0xFFFFu) + (s >> 16);
    s = (s & 0xFFFFu) + (s >> 16);
    return static_cast<uint32_t>(s);
}

// Sum of the L4 bytes with the 16-bit field at csum_offset skipped. The
// offset is even for every protocol we know (UDP 6, TCP 16, ICMP 2), so the
// two pieces stay word-aligned. A field outside the buffer is not skipped.
inline uint32_t l4_sum(const uint8_t* l4, size_t l4_len, size_t csum_offset, uint32_t initial) {
    if (csum_offset + 2 > l4_len || (csum_offset & 1u) != 0)
        return ones_sum(l4, l4_len, initial);
    uint32_t s = ones_sum(l4, csum_offset, initial);
    return ones_sum(l4 + csum_offset + 2, l4_len - csum_offset - 2, s);
}

inline bool is_v6_ext_header(uint8_t nh) {
    return nh == 0 || nh == 43 || nh == 44 || nh == 60;
}

// The upper-layer protocol for the IPv6 pseudo header: the last next header
// in the chain that leads from the fixed header to `l4`.
uint8_t v6_upper_proto(const uint8_t* ip, const uint8_t* l4) {
    uint8_t nh = ip[6];
    const uint8_t* p = ip + IPV6_HLEN;
    while (p < l4 && is_v6_ext_header(nh)) {
        size_t hl = nh == 44 ? 8u : (static_cast<size_t>(p[1]) + 1u) * 8u;
        nh = p[0];
        p += hl;
    }
    return nh;
}

} // namespace

uint32_t ones_sum(const uint8_t* data, size_t len, uint32_t initial) {
    uint64_t s = initial;
    size_t i = 0;
    for (; i + 4 <= len; i += 4)
        s += load_be32(data + i);
    if (i + 2 <= len) {
        s += load_be16(data + i);
        i += 2;
    }
    if (i < len)
        s += static_cast<uint32_t>(data[i]) << 8;   // odd byte, padded with zero
    return fold64(s);
}

uint16_t fold(uint32_t sum) {
    return static_cast<uint16_t>(fold64(sum));
}

uint16_t ipv4_header_checksum(const uint8_t* ip, size_t header_len) {
    uint32_t s = ones_sum(ip, header_len < 10 ? header_len : 10);
    if (header_len > 12)
        s = ones_sum(ip + 12, header_len - 12, s);
    return static_cast<uint16_t>(~fold(s));
}

uint16_t l4_checksum_v4(const uint8_t* ip, const uint8_t* l4, size_t l4_len, size_t csum_offset) {
    const uint8_t proto = ip[9];
    uint32_t s = ones_sum(ip + 12, 8);                     // source, destination
    s += proto;
    s += static_cast<uint32_t>(l4_len & 0xFFFFu);
    s = l4_sum(l4, l4_len, csum_offset, s);
    uint16_t c = static_cast<uint16_t>(~fold(s));
    if (c == 0 && proto == IPPROTO_UDP_)
        c = 0xFFFF;                                        // 0 means "no checksum"
    return c;
}

uint16_t l4_checksum_v6(const uint8_t* ip, const uint8_t* l4, size_t l4_len, size_t csum_offset) {
    const uint8_t proto = v6_upper_proto(ip, l4);
    uint32_t s = ones_sum(ip + 8, 32);                     // source, destination
    s += static_cast<uint32_t>(l4_len >> 16) & 0xFFFFu;    // 32-bit length
    s += static_cast<uint32_t>(l4_len & 0xFFFFu);
    s += proto;
    s = l4_sum(l4, l4_len, csum_offset, s);
    uint16_t c = static_cast<uint16_t>(~fold(s));
    if (c == 0 && proto == IPPROTO_UDP_)
        c = 0xFFFF;                                        // RFC 8200 8.1
    return c;
}

uint16_t csum_update16(uint16_t csum, uint16_t old_v, uint16_t new_v) {
    // RFC 1624 eq. 3: HC' = ~(~HC + ~m + m')
    uint32_t s = static_cast<uint16_t>(~csum);
    s += static_cast<uint16_t>(~old_v);
    s += new_v;
    return static_cast<uint16_t>(~fold(s));
}

uint16_t csum_update32(uint16_t csum, uint32_t old_v, uint32_t new_v) {
    uint32_t s = static_cast<uint16_t>(~csum);
    s += static_cast<uint16_t>(~(old_v >> 16));
    s += static_cast<uint16_t>(~old_v);
    s += new_v >> 16;
    s += new_v & 0xFFFFu;
    return static_cast<uint16_t>(~fold(s));
}

} // namespace haplane::wire
