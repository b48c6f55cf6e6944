#include "lb/neighbour.hpp"

#include <cstring>

namespace haplane::lb {

using wire::store_be16;

size_t build_arp_request(uint8_t* out, const wire::Mac& src_mac, uint32_t sender_net, uint32_t target_net) {
    std::memset(out, 0, kArpRequestLen);
    std::memset(out, 0xff, 6);
    std::memcpy(out + 6, src_mac.data(), 6);
    store_be16(out + 12, wire::ETHERTYPE_ARP);
    uint8_t* arp = out + wire::ETH_HLEN;
    store_be16(arp, 1);
    store_be16(arp + 2, wire::ETHERTYPE_IPV4);
    arp[4] = 6;
    arp[5] = 4;
    store_be16(arp + 6, 1);
    std::memcpy(arp + 8, src_mac.data(), 6);
    std::memcpy(arp + 14, &sender_net, 4);
    std::memcpy(arp + 24, &target_net, 4);
    return kArpRequestLen;
}

size_t build_neighbor_solicit(uint8_t* out, const wire::Mac& src_mac, const uint8_t* src16, const uint8_t* target16) {
    std::memset(out, 0, kNeighborSolicitLen);
    // Solicited-node group ff02::1:ffXX:XXXX and its MAC 33:33:ff:XX:XX:XX.
    uint8_t group[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, target16[13], target16[14], target16[15]};
    const uint8_t group_mac[6] = {0x33, 0x33, 0xff, target16[13], target16[14], target16[15]};
    std::memcpy(out, group_mac, 6);
    std::memcpy(out + 6, src_mac.data(), 6);
    store_be16(out + 12, wire::ETHERTYPE_IPV6);
    uint8_t* ip = out + wire::ETH_HLEN;
    ip[0] = 0x60;
    store_be16(ip + 4, 32);
    ip[6] = wire::IPPROTO_ICMPV6_;
    ip[7] = 255;
    std::memcpy(ip + 8, src16, 16);
    std::memcpy(ip + 24, group, 16);
    uint8_t* icmp = ip + wire::IPV6_HLEN;
    icmp[0] = wire::ICMPV6_NS;
    std::memcpy(icmp + 8, target16, 16);
    icmp[24] = 1;   // source link-layer address option
    icmp[25] = 1;   // 8 bytes
    std::memcpy(icmp + 26, src_mac.data(), 6);
    store_be16(icmp + 2, wire::l4_checksum_v6(ip, icmp, 32, 2));
    return kNeighborSolicitLen;
}

bool read_neighbour_answer(const uint8_t* frame, size_t len, IpAddress& address, wire::Mac& mac) {
    wire::Parsed p;
    if (wire::parse_frame(frame, len, p) != wire::Malformed::none) return false;
    if (p.ethertype == wire::ETHERTYPE_ARP) {
        wire::ArpView arp;
        if (!wire::read_arp(frame + wire::ETH_HLEN, len - wire::ETH_HLEN, arp)) return false;
        if (arp.sender_ip == 0) return false;   // a probe: says nothing about an address
        address = IpAddress{};
        address.family = Family::v4;
        std::memcpy(address.bytes.data(), &arp.sender_ip, 4);
        mac = arp.sender_mac;
        return true;
    }
    if (p.ethertype != wire::ETHERTYPE_IPV6 || p.ip_proto != wire::IPPROTO_ICMPV6_ || p.l4_offset == 0 ||
        p.fragment || p.ttl != 255)
        return false;
    const size_t icmp_len = static_cast<size_t>(p.l3_end - p.l4_offset);
    const uint8_t* icmp = frame + p.l4_offset;
    if (icmp_len < 24 || icmp[0] != wire::ICMPV6_NA || icmp[1] != 0) return false;
    const uint16_t want = wire::l4_checksum_v6(frame + p.l3_offset, icmp, icmp_len, 2);
    const uint16_t have = wire::load_be16(icmp + 2);
    if (have != want && !(want == 0 && have == 0xffff)) return false;
    address = IpAddress{};
    address.family = Family::v6;
    std::memcpy(address.bytes.data(), icmp + 8, 16);
    std::memcpy(mac.data(), frame + 6, 6);
    for (size_t o = 24; o + 8 <= icmp_len;) {
        const size_t olen = size_t{icmp[o + 1]} * 8;
        if (olen == 0 || o + olen > icmp_len) break;
        if (icmp[o] == 2 && olen >= 8) std::memcpy(mac.data(), icmp + o + 2, 6);   // target link-layer
        o += olen;
    }
    return true;
}

} // namespace haplane::lb
