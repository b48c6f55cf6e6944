#include "lb/frag_table.hpp"

#include <bit>
#include <cstring>

namespace haplane::lb {

bool fragment_key(const uint8_t* frame, const wire::Parsed& p, FlowKey& out) {
    if (!p.fragment) return false;
    const uint8_t* ip = frame + p.l3_offset;
    if (p.ethertype == wire::ETHERTYPE_IPV4) {
        uint32_t src, dst;
        std::memcpy(&src, ip + 12, 4);
        std::memcpy(&dst, ip + 16, 4);
        uint16_t id;
        std::memcpy(&id, ip + 4, 2);
        out = FlowKey::v4(src, dst, id, 0, p.ip_proto);
        return true;
    }
    if (p.ethertype != wire::ETHERTYPE_IPV6) return false;
    // The fragment header among the extension headers (parse_ipv6 checked
    // that they fit before the one it stopped at).
    const size_t end = p.l3_end - p.l3_offset;
    uint8_t nh = ip[6];
    size_t off = wire::IPV6_HLEN;
    while (off + 8 <= end) {
        if (nh == 44) {
            uint16_t id_hi, id_lo;
            std::memcpy(&id_hi, ip + off + 4, 2);
            std::memcpy(&id_lo, ip + off + 6, 2);
            out = FlowKey::v6(ip + 8, ip + 24, id_hi, id_lo, p.ip_proto);
            return true;
        }
        if (nh != 0 && nh != 43 && nh != 60) return false;
        const size_t hl = (static_cast<size_t>(ip[off + 1]) + 1u) * 8u;
        nh = ip[off];
        off += hl;
    }
    return false;
}

FragTable::FragTable(uint32_t size, uint64_t seed)
    : slots_(std::bit_ceil(size < 2 ? 2u : size)), mask_(slots_.size() - 1), seed_(seed) {}

} // namespace haplane::lb
