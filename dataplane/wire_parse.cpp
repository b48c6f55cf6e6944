// Frame validation: Ethernet, ARP, IPv4, IPv6 (+ extension headers), L4
// header presence. Pure: no DPDK, no allocation, no exceptions.
#include "dataplane/wire.hpp"

#include <cstring>

namespace haplane::wire {

const char* to_string(Malformed m) {
    switch (m) {
    case Malformed::none: return "none";
    case Malformed::truncated_ethernet: return "truncated_ethernet";
    case Malformed::truncated_arp: return "truncated_arp";
    case Malformed::truncated_ip: return "truncated_ip";
    case Malformed::bad_ip_version: return "bad_ip_version";
    case Malformed::bad_ihl: return "bad_ihl";
    case Malformed::bad_ip_length: return "bad_ip_length";
    case Malformed::bad_ip_checksum: return "bad_ip_checksum";
    case Malformed::truncated_l4: return "truncated_l4";
    case Malformed::count_: break;
    }
    return "unknown";
}

namespace {

// Check that the L4 header of `proto` fits in the `avail` bytes at `l4`.
inline bool l4_header_fits(uint8_t proto, const uint8_t* l4, size_t avail) {
    switch (proto) {
    case IPPROTO_TCP_: {
        if (avail < 20)
            return false;
        const size_t doff = static_cast<size_t>(l4[12] >> 4) * 4u;
        return doff >= 20 && doff <= avail;
    }
    case IPPROTO_UDP_:
    case IPPROTO_ICMP_:
    case IPPROTO_ICMPV6_:
    case IPPROTO_VRRP_:
        return avail >= 8;
    default:
        return true;
    }
}

Malformed parse_arp(const uint8_t* frame, size_t len, Parsed& out) {
    ArpView v;
    if (!read_arp(frame + ETH_HLEN, len - ETH_HLEN, v))
        return Malformed::truncated_arp;
    out.l3_offset = ETH_HLEN;
    out.l3_end = static_cast<uint16_t>(ETH_HLEN + ARP_LEN);
    return Malformed::none;
}

// The header checksum verifies: its one's-complement sum is 0xFFFF. The
// sum is taken in 32-bit words of native byte order (the one's-complement
// sum commutes with byte swapping, and 0xFFFF is its own swap), a few adds
// for the usual 20 bytes instead of a 16-bit big-endian loop.
bool ipv4_header_valid(const uint8_t* ip, size_t hlen) {
    uint32_t w[5];
    std::memcpy(w, ip, 20);   // the usual header, without options: no loop
    uint64_t s = uint64_t{w[0]} + w[1] + w[2] + w[3] + w[4];
    for (size_t i = 20; i < hlen; i += 4) {   // options; hlen is a multiple of 4
        uint32_t o;
        std::memcpy(&o, ip + i, 4);
        s += o;
    }
    s = (s & 0xFFFFFFFFu) + (s >> 32);
    s = (s & 0xFFFFFFFFu) + (s >> 32);
    s = (s & 0xFFFFu) + (s >> 16);
    s = (s & 0xFFFFu) + (s >> 16);
    return s == 0xFFFF;
}

// Every frame the load balancer forwards comes through here: the fields are
// assembled in a local and stored at once, as a later whole-struct copy of
// `out` reading narrower stores would stall on store forwarding.
Malformed parse_ipv4(const uint8_t* frame, size_t len, Parsed& out) {
    const uint8_t* ip = frame + ETH_HLEN;
    const size_t avail = len - ETH_HLEN;
    if (avail < IPV4_MIN_HLEN)
        return Malformed::truncated_ip;
    const unsigned version_ihl = ip[0];
    if ((version_ihl >> 4) != 4)
        return Malformed::bad_ip_version;
    const size_t hlen = (version_ihl & 0x0Fu) * 4u;
    if (hlen < IPV4_MIN_HLEN || hlen > avail)
        return Malformed::bad_ihl;
    const size_t total = load_be16(ip + 2);
    if (total < hlen || total > avail)
        return Malformed::bad_ip_length;
    if (!ipv4_header_valid(ip, hlen))
        return Malformed::bad_ip_checksum;

    Parsed r;
    r.ethertype = ETHERTYPE_IPV4;
    r.l3_offset = ETH_HLEN;
    r.l3_end = static_cast<uint16_t>(ETH_HLEN + total);
    r.ip_proto = ip[9];
    r.ttl = ip[8];
    const uint16_t frag = load_be16(ip + 6);
    r.fragment = (frag & 0x3FFFu) != 0;                  // MF or an offset
    Malformed result = Malformed::none;
    if ((frag & 0x1FFFu) == 0) {                         // the first (or only) fragment has the L4 header
        if (l4_header_fits(r.ip_proto, ip + hlen, total - hlen))
            r.l4_offset = static_cast<uint16_t>(ETH_HLEN + hlen);
        else
            result = Malformed::truncated_l4;
    }
    out = r;
    return result;
}

Malformed parse_ipv6(const uint8_t* frame, size_t len, Parsed& out) {
    const uint8_t* ip = frame + ETH_HLEN;
    const size_t avail = len - ETH_HLEN;
    if (avail < IPV6_HLEN)
        return Malformed::truncated_ip;
    if ((ip[0] >> 4) != 6)
        return Malformed::bad_ip_version;
    const size_t plen = load_be16(ip + 4);
    if (plen + IPV6_HLEN > avail)
        return Malformed::bad_ip_length;

    const size_t end = IPV6_HLEN + plen;       // relative to ip
    out.l3_offset = ETH_HLEN;
    out.l3_end = static_cast<uint16_t>(ETH_HLEN + end);
    out.ttl = ip[7];

    uint8_t nh = ip[6];
    size_t off = IPV6_HLEN;
    // Every extension header is at least 8 bytes, so this terminates.
    for (;;) {
        if (nh == 0 || nh == 43 || nh == 60) {           // hop-by-hop, routing, dest opts
            if (off + 8 > end)
                return Malformed::truncated_l4;
            const size_t hl = (static_cast<size_t>(ip[off + 1]) + 1u) * 8u;
            if (off + hl > end)
                return Malformed::truncated_l4;
            nh = ip[off];
            off += hl;
        } else if (nh == 44) {                           // fragment
            if (off + 8 > end)
                return Malformed::truncated_l4;
            out.fragment = true;
            const uint16_t frag_off = static_cast<uint16_t>(load_be16(ip + off + 2) >> 3);
            nh = ip[off];
            off += 8;
            if (frag_off != 0) {
                out.ip_proto = nh;
                return Malformed::none;                  // no L4 header here
            }
        } else {
            break;
        }
    }
    out.ip_proto = nh;
    if (!l4_header_fits(nh, ip + off, end - off))
        return Malformed::truncated_l4;
    out.l4_offset = static_cast<uint16_t>(ETH_HLEN + off);
    return Malformed::none;
}

} // namespace

Malformed parse_frame(const uint8_t* frame, size_t len, Parsed& out) {
    out = Parsed{};
    if (len < ETH_HLEN)
        return Malformed::truncated_ethernet;
    if (len > 0xFFFF)
        len = 0xFFFF;                 // offsets are 16-bit; no such frames anyway
    out.ethertype = load_be16(frame + 12);
    switch (out.ethertype) {
    case ETHERTYPE_ARP: return parse_arp(frame, len, out);
    case ETHERTYPE_IPV4: return parse_ipv4(frame, len, out);
    case ETHERTYPE_IPV6: return parse_ipv6(frame, len, out);
    default: return Malformed::none;  // VLAN and others: no L3 here
    }
}

} // namespace haplane::wire
