// ARP and IPv6 Neighbour Discovery: read, answer, announce.
// Pure: no DPDK, no allocation, no exceptions.
#include "dataplane/wire.hpp"

#include <cstring>

namespace haplane::wire {

namespace {

constexpr size_t ETH_MIN_FRAME = 60;          // without FCS
constexpr size_t ND_NA_LEN = 32;              // ICMPv6 NA + target link-layer option
constexpr size_t ND_NS_MIN_LEN = 24;
constexpr uint32_t NA_FLAG_SOLICITED = 0x40000000u;
constexpr uint32_t NA_FLAG_OVERRIDE = 0x20000000u;
constexpr uint8_t ND_OPT_TARGET_LLADDR = 2;

constexpr uint8_t ALL_NODES_IP[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr Mac ALL_NODES_MAC = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};

// ARP payload field offsets.
constexpr size_t ARP_OP = 6, ARP_SHA = 8, ARP_SPA = 14, ARP_THA = 18, ARP_TPA = 24;

void write_eth(uint8_t* out, const uint8_t* dst, const uint8_t* src, uint16_t ethertype) {
    std::memcpy(out, dst, 6);
    std::memcpy(out + 6, src, 6);
    store_be16(out + 12, ethertype);
}

bool all_zero(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (p[i] != 0)
            return false;
    return true;
}

// Eth + IPv6 + ICMPv6 NA with the target link-layer option. Every input is
// copied by value before any write, so `out` may alias the inputs.
size_t write_na(uint8_t* out, const Mac eth_dst, const Mac eth_src, const uint8_t (&ip_dst)[16],
                const uint8_t (&target)[16], uint32_t flags) {
    write_eth(out, eth_dst.data(), eth_src.data(), ETHERTYPE_IPV6);
    uint8_t* ip = out + ETH_HLEN;
    store_be32(ip, 0x60000000u);                  // version 6, tc 0, flow 0
    store_be16(ip + 4, static_cast<uint16_t>(ND_NA_LEN));
    ip[6] = IPPROTO_ICMPV6_;
    ip[7] = 255;
    std::memcpy(ip + 8, target, 16);              // source = the target address
    std::memcpy(ip + 24, ip_dst, 16);
    uint8_t* icmp = ip + IPV6_HLEN;
    icmp[0] = ICMPV6_NA;
    icmp[1] = 0;
    store_be16(icmp + 2, 0);
    store_be32(icmp + 4, flags);
    std::memcpy(icmp + 8, target, 16);
    icmp[24] = ND_OPT_TARGET_LLADDR;
    icmp[25] = 1;                                 // length in units of 8 bytes
    std::memcpy(icmp + 26, eth_src.data(), 6);
    store_be16(icmp + 2, l4_checksum_v6(ip, icmp, ND_NA_LEN, 2));
    return ETH_HLEN + IPV6_HLEN + ND_NA_LEN;
}

} // namespace

bool read_arp(const uint8_t* arp, size_t len, ArpView& out) {
    if (len < ARP_LEN)
        return false;
    if (load_be16(arp) != 1 || load_be16(arp + 2) != ETHERTYPE_IPV4 || arp[4] != 6 || arp[5] != 4)
        return false;
    out.op = load_be16(arp + ARP_OP);
    std::memcpy(out.sender_mac.data(), arp + ARP_SHA, 6);
    std::memcpy(&out.sender_ip, arp + ARP_SPA, 4);
    std::memcpy(out.target_mac.data(), arp + ARP_THA, 6);
    std::memcpy(&out.target_ip, arp + ARP_TPA, 4);
    return true;
}

void arp_request_to_reply(uint8_t* frame, const Mac& our_mac) {
    uint8_t* arp = frame + ETH_HLEN;
    uint8_t req_mac[6], req_ip[4], want_ip[4];
    std::memcpy(req_mac, arp + ARP_SHA, 6);
    std::memcpy(req_ip, arp + ARP_SPA, 4);
    std::memcpy(want_ip, arp + ARP_TPA, 4);
    const Mac mac = our_mac;                      // our_mac may live inside frame

    std::memmove(frame, frame + 6, 6);            // Ethernet dst = requester
    std::memcpy(frame + 6, mac.data(), 6);
    store_be16(arp + ARP_OP, 2);
    std::memcpy(arp + ARP_SHA, mac.data(), 6);
    std::memcpy(arp + ARP_SPA, want_ip, 4);
    std::memcpy(arp + ARP_THA, req_mac, 6);
    std::memcpy(arp + ARP_TPA, req_ip, 4);
}

size_t build_garp(uint8_t* out, const Mac& src_mac, uint32_t ip_net) {
    static constexpr uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const Mac mac = src_mac;
    std::memset(out, 0, ETH_MIN_FRAME);
    write_eth(out, bcast, mac.data(), ETHERTYPE_ARP);
    uint8_t* arp = out + ETH_HLEN;
    store_be16(arp, 1);                           // Ethernet
    store_be16(arp + 2, ETHERTYPE_IPV4);
    arp[4] = 6;
    arp[5] = 4;
    store_be16(arp + ARP_OP, 1);                  // request
    std::memcpy(arp + ARP_SHA, mac.data(), 6);
    std::memcpy(arp + ARP_SPA, &ip_net, 4);
    // target mac stays 00:00:00:00:00:00
    std::memcpy(arp + ARP_TPA, &ip_net, 4);
    return ETH_MIN_FRAME;
}

bool read_neighbor_solicit(const uint8_t* frame, const Parsed& p, uint8_t target[16]) {
    if (p.ethertype != ETHERTYPE_IPV6 || p.ip_proto != IPPROTO_ICMPV6_ || p.l4_offset == 0 ||
        p.fragment || p.ttl != 255 || p.l3_end < p.l4_offset)
        return false;
    const size_t icmp_len = static_cast<size_t>(p.l3_end - p.l4_offset);
    if (icmp_len < ND_NS_MIN_LEN)
        return false;
    const uint8_t* ip = frame + p.l3_offset;
    const uint8_t* icmp = frame + p.l4_offset;
    if (icmp[0] != ICMPV6_NS || icmp[1] != 0)
        return false;
    if (icmp[8] == 0xff)                          // target must not be multicast
        return false;
    const uint16_t want = l4_checksum_v6(ip, icmp, icmp_len, 2);
    const uint16_t have = load_be16(icmp + 2);
    if (have != want && !(want == 0 && have == 0xFFFF))   // +0 and -0 are equal
        return false;
    std::memcpy(target, icmp + 8, 16);
    return true;
}

size_t build_neighbor_advert(uint8_t* out, const uint8_t* ns_frame, const Parsed& ns,
                             const uint8_t target[16], const Mac& our_mac) {
    Mac eth_dst, eth_src = our_mac;
    uint8_t ip_dst[16], tgt[16];
    std::memcpy(eth_dst.data(), ns_frame + 6, 6);
    std::memcpy(ip_dst, ns_frame + ns.l3_offset + 8, 16);
    std::memcpy(tgt, target, 16);
    uint32_t flags = NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE;
    if (all_zero(ip_dst, 16)) {                   // DAD probe: answer all nodes
        std::memcpy(ip_dst, ALL_NODES_IP, 16);
        eth_dst = ALL_NODES_MAC;
        flags = NA_FLAG_OVERRIDE;
    }
    return write_na(out, eth_dst, eth_src, ip_dst, tgt, flags);
}

size_t build_unsolicited_na(uint8_t* out, const Mac& src_mac, const uint8_t target[16]) {
    uint8_t tgt[16];
    std::memcpy(tgt, target, 16);
    return write_na(out, ALL_NODES_MAC, src_mac, ALL_NODES_IP, tgt, NA_FLAG_OVERRIDE);
}

} // namespace haplane::wire
