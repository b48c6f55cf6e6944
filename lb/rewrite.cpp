#include "lb/rewrite.hpp"

#include <cstring>

namespace haplane::lb::rewrite {

using wire::load_be16;
using wire::load_be32;
using wire::store_be16;

namespace {

// The checksum difference of replacing `n` bytes (n even) at `old_p` by
// `new_p`, folded into `csum` (RFC 1624 eq. 3, word by word).
uint16_t csum_replace(uint16_t csum, const uint8_t* old_p, const uint8_t* new_p, size_t n) {
    uint32_t s = static_cast<uint16_t>(~csum);
    for (size_t i = 0; i < n; i += 2) {
        s += static_cast<uint16_t>(~load_be16(old_p + i));
        s += load_be16(new_p + i);
    }
    return static_cast<uint16_t>(~wire::fold(s));
}

// One L4 checksum update for an address of `alen` bytes and a port.
void update_l4(uint8_t* l4, uint8_t proto, const uint8_t* old_addr, const uint8_t* new_addr, size_t alen,
               const uint8_t* old_port, const uint8_t* new_port, bool v4, size_t l4_avail) {
    const size_t off = l4_csum_offset(proto);
    if (off + 2 > l4_avail) return;
    uint16_t c = load_be16(l4 + off);
    if (proto == wire::IPPROTO_UDP_ && c == 0 && v4) return;   // no checksum: keep none
    c = csum_replace(c, old_addr, new_addr, alen);
    c = csum_replace(c, old_port, new_port, 2);
    if (proto == wire::IPPROTO_UDP_ && c == 0) c = 0xffff;
    store_be16(l4 + off, c);
}

void write_ethernet(uint8_t* out, const wire::Mac& dst, const wire::Mac& src, uint16_t type) {
    std::memcpy(out, dst.data(), 6);
    std::memcpy(out + 6, src.data(), 6);
    store_be16(out + 12, type);
}

} // namespace

void nat_v4(uint8_t* ip, uint8_t* l4, uint8_t proto, End end, uint32_t addr_net, uint16_t port_net,
            size_t l4_avail) {
    uint8_t* a = ip + (end == End::src ? 12 : 16);
    uint8_t* p = l4 + (end == End::src ? 0 : 2);
    uint8_t new_addr[4], new_port[2];
    std::memcpy(new_addr, &addr_net, 4);
    std::memcpy(new_port, &port_net, 2);
    update_l4(l4, proto, a, new_addr, 4, p, new_port, true, l4_avail);
    store_be16(ip + 10, csum_replace(load_be16(ip + 10), a, new_addr, 4));
    std::memcpy(a, new_addr, 4);
    std::memcpy(p, new_port, 2);
}

void nat_v6(uint8_t* ip, uint8_t* l4, uint8_t proto, End end, const uint8_t* addr16, uint16_t port_net,
            size_t l4_avail) {
    uint8_t* a = ip + (end == End::src ? 8 : 24);
    uint8_t* p = l4 + (end == End::src ? 0 : 2);
    uint8_t new_addr[16], new_port[2];
    std::memcpy(new_addr, addr16, 16);
    std::memcpy(new_port, &port_net, 2);
    update_l4(l4, proto, a, new_addr, 16, p, new_port, false, l4_avail);
    std::memcpy(a, new_addr, 16);
    std::memcpy(p, new_port, 2);
}

void readdress_v4(uint8_t* ip, End end, uint32_t addr_net) {
    uint8_t* a = ip + (end == End::src ? 12 : 16);
    uint8_t new_addr[4];
    std::memcpy(new_addr, &addr_net, 4);
    store_be16(ip + 10, csum_replace(load_be16(ip + 10), a, new_addr, 4));
    std::memcpy(a, new_addr, 4);
}

void readdress_v6(uint8_t* ip, End end, const uint8_t* addr16) {
    std::memcpy(ip + (end == End::src ? 8 : 24), addr16, 16);
}

bool decrement_ttl_v4(uint8_t* ip) {
    if (ip[8] <= 1) return false;
    const uint8_t old_word[2] = {ip[8], ip[9]};
    ip[8] = static_cast<uint8_t>(ip[8] - 1);
    store_be16(ip + 10, csum_replace(load_be16(ip + 10), old_word, ip + 8, 2));
    return true;
}

bool decrement_hop_limit_v6(uint8_t* ip) {
    if (ip[7] <= 1) return false;
    ip[7] = static_cast<uint8_t>(ip[7] - 1);
    return true;
}

void encap_ipip(uint8_t* frame, size_t inner_len, uint32_t src_net, uint32_t dst_net,
                const wire::Mac& dst_mac, const wire::Mac& src_mac) {
    const uint8_t* inner = frame + wire::ETH_HLEN;
    const uint8_t tos = inner[1];
    const uint16_t df = load_be16(inner + 6) & 0x4000u;
    uint8_t* out = frame - kIpipOverhead;
    write_ethernet(out, dst_mac, src_mac, wire::ETHERTYPE_IPV4);
    uint8_t* ip = out + wire::ETH_HLEN;
    ip[0] = 0x45;
    ip[1] = tos;
    store_be16(ip + 2, static_cast<uint16_t>(inner_len + kIpipOverhead));
    store_be16(ip + 4, 0);
    store_be16(ip + 6, df);
    ip[8] = 64;
    ip[9] = kProtoIpip;
    store_be16(ip + 10, 0);
    std::memcpy(ip + 12, &src_net, 4);
    std::memcpy(ip + 16, &dst_net, 4);
    store_be16(ip + 10, wire::ipv4_header_checksum(ip, 20));
}

void encap_ip6ip6(uint8_t* frame, size_t inner_len, const uint8_t* src16, const uint8_t* dst16,
                  const wire::Mac& dst_mac, const wire::Mac& src_mac) {
    const uint8_t* inner = frame + wire::ETH_HLEN;
    // Traffic class and flow label of the inner packet (RFC 2473 6.5/6.6 allow it).
    uint8_t vtf[4];
    std::memcpy(vtf, inner, 4);
    uint8_t* out = frame - kIp6ip6Overhead;
    write_ethernet(out, dst_mac, src_mac, wire::ETHERTYPE_IPV6);
    uint8_t* ip = out + wire::ETH_HLEN;
    std::memcpy(ip, vtf, 4);
    ip[0] = static_cast<uint8_t>(0x60 | (vtf[0] & 0x0f));
    store_be16(ip + 4, static_cast<uint16_t>(inner_len));
    ip[6] = kProtoIpv6;
    ip[7] = 64;
    std::memcpy(ip + 8, src16, 16);
    std::memcpy(ip + 24, dst16, 16);
}

bool clamp_mss(uint8_t* tcp, size_t l4_len, uint16_t mss) {
    const size_t hlen = static_cast<size_t>(tcp[12] >> 4) * 4;
    if (hlen > l4_len || hlen <= 20) return false;
    size_t i = 20;
    while (i < hlen) {
        const uint8_t kind = tcp[i];
        if (kind == 0) break;                 // end of options
        if (kind == 1) { ++i; continue; }     // no-op
        if (i + 1 >= hlen) break;
        const size_t olen = tcp[i + 1];
        if (olen < 2 || i + olen > hlen) break;
        if (kind == 2 && olen == 4) {
            const uint16_t cur = load_be16(tcp + i + 2);
            if (cur <= mss) return false;
            uint8_t repl[2];
            store_be16(repl, mss);
            // The option may sit at an odd offset: update over the aligned word pair.
            const size_t at = i + 2;
            if ((at & 1u) == 0) {
                store_be16(tcp + 16, csum_replace(load_be16(tcp + 16), tcp + at, repl, 2));
                std::memcpy(tcp + at, repl, 2);
            } else {
                uint8_t old_w[4], new_w[4];
                std::memcpy(old_w, tcp + at - 1, 4);
                std::memcpy(new_w, old_w, 4);
                std::memcpy(new_w + 1, repl, 2);
                store_be16(tcp + 16, csum_replace(load_be16(tcp + 16), old_w, new_w, 4));
                std::memcpy(tcp + at, repl, 2);
            }
            return true;
        }
        i += olen;
    }
    return false;
}

} // namespace haplane::lb::rewrite
