// Test helpers: Ethernet/IPv4/IPv6 + TCP/UDP frames with correct checksums,
// and an independent full check of every checksum in a frame.
#pragma once

#include "config/address.hpp"
#include "config/config.hpp"
#include "dataplane/wire.hpp"

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace lbtest {

using haplane::IpAddress;
namespace wire = haplane::wire;

inline IpAddress ip(const char* s) { return *IpAddress::parse(s); }
inline wire::Mac mac(uint8_t last) { return {0x02, 0, 0, 0, 0, last}; }

// A virtual server on vip:port with these real servers (their port: the service's).
inline haplane::config::VirtualServer service(const char* name, const char* vip, uint16_t port,
                                              haplane::config::Method method, std::vector<const char*> servers,
                                              haplane::config::Scheduler sched = haplane::config::Scheduler::rr) {
    haplane::config::VirtualServer vs;
    vs.name = name;
    vs.vip = ip(vip);
    vs.port = port;
    vs.method = method;
    vs.scheduler = sched;
    for (const char* s : servers) {
        haplane::config::RealServer rs;
        rs.address = ip(s);
        vs.real_servers.push_back(rs);
    }
    return vs;
}

struct FrameSpec {
    wire::Mac dst_mac = mac(1), src_mac = mac(0x0c);
    IpAddress src, dst;
    uint16_t sport = 40000, dport = 80;
    uint8_t proto = wire::IPPROTO_TCP_;
    uint8_t tcp_flags = 0x02;          // SYN
    uint8_t ttl = 64;
    size_t payload = 0;
    uint16_t mss = 0;                  // TCP MSS option when non-zero
    bool mss_odd = false;              // put a NOP first so the option sits at an odd offset
    bool udp_no_csum = false;          // IPv4 UDP with checksum 0
    bool df = true;
};

// Headroom in front of the frame, for tunnel headers.
constexpr size_t kHeadroom = 128;

struct Frame {
    std::array<uint8_t, 2048> buf{};   // kHeadroom + frame + tailroom
    size_t len = 0;
    uint8_t* data() { return buf.data() + kHeadroom; }
    const uint8_t* data() const { return buf.data() + kHeadroom; }
};

inline Frame build(const FrameSpec& s) {
    const bool v4 = s.src.is_v4();
    size_t opts = 0;
    if (s.proto == wire::IPPROTO_TCP_ && s.mss) opts = s.mss_odd ? 8 : 4;
    const size_t l4_hlen = s.proto == wire::IPPROTO_TCP_ ? 20 + opts : 8;
    const size_t l4_len = l4_hlen + s.payload;
    const size_t ip_hlen = v4 ? 20 : 40;
    Frame f;
    f.len = 14 + ip_hlen + l4_len;
    uint8_t* p = f.data();
    std::memcpy(p, s.dst_mac.data(), 6);
    std::memcpy(p + 6, s.src_mac.data(), 6);
    wire::store_be16(p + 12, v4 ? wire::ETHERTYPE_IPV4 : wire::ETHERTYPE_IPV6);
    uint8_t* iph = p + 14;
    if (v4) {
        iph[0] = 0x45;
        wire::store_be16(iph + 2, static_cast<uint16_t>(ip_hlen + l4_len));
        wire::store_be16(iph + 4, 0x1234);
        wire::store_be16(iph + 6, s.df ? 0x4000 : 0);
        iph[8] = s.ttl;
        iph[9] = s.proto;
        std::memcpy(iph + 12, s.src.bytes.data(), 4);
        std::memcpy(iph + 16, s.dst.bytes.data(), 4);
        wire::store_be16(iph + 10, wire::ipv4_header_checksum(iph, 20));
    } else {
        iph[0] = 0x60;
        iph[1] = 0x0a;   // some traffic class / flow label bits
        iph[3] = 0x55;
        wire::store_be16(iph + 4, static_cast<uint16_t>(l4_len));
        iph[6] = s.proto;
        iph[7] = s.ttl;
        std::memcpy(iph + 8, s.src.bytes.data(), 16);
        std::memcpy(iph + 24, s.dst.bytes.data(), 16);
    }
    uint8_t* l4 = iph + ip_hlen;
    wire::store_be16(l4, s.sport);
    wire::store_be16(l4 + 2, s.dport);
    for (size_t i = 0; i < s.payload; ++i) l4[l4_hlen + i] = static_cast<uint8_t>(i * 7 + 3);
    size_t csum_off;
    if (s.proto == wire::IPPROTO_TCP_) {
        wire::store_be32(l4 + 4, 1000);
        l4[12] = static_cast<uint8_t>((l4_hlen / 4) << 4);
        l4[13] = s.tcp_flags;
        wire::store_be16(l4 + 14, 64240);
        if (s.mss) {
            size_t o = 20;
            if (s.mss_odd) l4[o++] = 1;   // NOP
            l4[o] = 2;
            l4[o + 1] = 4;
            wire::store_be16(l4 + o + 2, s.mss);
            for (size_t i = o + 4; i < l4_hlen; ++i) l4[i] = 1;   // NOP padding
        }
        csum_off = 16;
    } else {
        wire::store_be16(l4 + 4, static_cast<uint16_t>(l4_len));
        csum_off = 6;
    }
    if (!(s.proto == wire::IPPROTO_UDP_ && s.udp_no_csum && v4)) {
        uint16_t c = v4 ? wire::l4_checksum_v4(iph, l4, l4_len, csum_off) : wire::l4_checksum_v6(iph, l4, l4_len, csum_off);
        wire::store_be16(l4 + csum_off, c);
    }
    return f;
}

// Empty string when every checksum in the frame (from `offset` bytes in,
// tunnels: the outer header) is right, else what is wrong.
inline std::string checksum_errors(const uint8_t* frame, size_t len) {
    wire::Parsed p;
    if (wire::parse_frame(frame, len, p) != wire::Malformed::none) return "does not parse";
    const uint8_t* iph = frame + p.l3_offset;
    if (p.ethertype == wire::ETHERTYPE_IPV4 && wire::load_be16(iph + 10) != wire::ipv4_header_checksum(iph, (iph[0] & 0xf) * 4u))
        return "IPv4 header checksum";
    if (p.ip_proto == 4 || p.ip_proto == 41) {   // tunnel: check the inner packet
        std::vector<uint8_t> inner(14 + (p.l3_end - p.l4_offset));
        std::memcpy(inner.data(), frame, 12);
        wire::store_be16(inner.data() + 12, p.ip_proto == 4 ? wire::ETHERTYPE_IPV4 : wire::ETHERTYPE_IPV6);
        std::memcpy(inner.data() + 14, frame + p.l4_offset, p.l3_end - p.l4_offset);
        return checksum_errors(inner.data(), inner.size());
    }
    if (p.ip_proto != wire::IPPROTO_TCP_ && p.ip_proto != wire::IPPROTO_UDP_) return "";
    const uint8_t* l4 = frame + p.l4_offset;
    const size_t l4_len = p.l3_end - p.l4_offset;
    const size_t off = p.ip_proto == wire::IPPROTO_TCP_ ? 16 : 6;
    const uint16_t have = wire::load_be16(l4 + off);
    if (p.ip_proto == wire::IPPROTO_UDP_ && have == 0 && p.ethertype == wire::ETHERTYPE_IPV4) return "";
    const uint16_t want = p.ethertype == wire::ETHERTYPE_IPV4 ? wire::l4_checksum_v4(iph, l4, l4_len, off)
                                                              : wire::l4_checksum_v6(iph, l4, l4_len, off);
    // 0x0000 and 0xffff are the same number in one's complement (receivers accept both).
    if (have != want && !((have == 0 && want == 0xffff) || (have == 0xffff && want == 0)))
        return "L4 checksum " + std::to_string(have) + " != " + std::to_string(want);
    return "";
}

} // namespace lbtest

namespace lbtest {

// An ICMP error from `from` to `to` quoting the IP datagram of `quoted`
// (its first `quote` bytes of IP payload after the header).
inline Frame icmp_error(const IpAddress& from, const IpAddress& to, const Frame& quoted, uint8_t type, uint8_t code,
                        size_t quote, wire::Mac dst_mac, wire::Mac src_mac, uint32_t rest = 0) {
    const bool v4 = from.is_v4();
    wire::Parsed qp;
    wire::parse_frame(quoted.data(), quoted.len, qp);
    const size_t qhlen = qp.l4_offset - qp.l3_offset;
    size_t qlen = qhlen + quote;
    if (qlen > static_cast<size_t>(qp.l3_end - qp.l3_offset)) qlen = qp.l3_end - qp.l3_offset;
    const size_t ip_hlen = v4 ? 20 : 40;
    const size_t icmp_len = 8 + qlen;
    Frame f;
    f.len = 14 + ip_hlen + icmp_len;
    uint8_t* p = f.data();
    std::memcpy(p, dst_mac.data(), 6);
    std::memcpy(p + 6, src_mac.data(), 6);
    wire::store_be16(p + 12, v4 ? wire::ETHERTYPE_IPV4 : wire::ETHERTYPE_IPV6);
    uint8_t* iph = p + 14;
    if (v4) {
        iph[0] = 0x45;
        wire::store_be16(iph + 2, static_cast<uint16_t>(ip_hlen + icmp_len));
        iph[8] = 64;
        iph[9] = wire::IPPROTO_ICMP_;
        std::memcpy(iph + 12, from.bytes.data(), 4);
        std::memcpy(iph + 16, to.bytes.data(), 4);
        wire::store_be16(iph + 10, wire::ipv4_header_checksum(iph, 20));
    } else {
        iph[0] = 0x60;
        wire::store_be16(iph + 4, static_cast<uint16_t>(icmp_len));
        iph[6] = wire::IPPROTO_ICMPV6_;
        iph[7] = 64;
        std::memcpy(iph + 8, from.bytes.data(), 16);
        std::memcpy(iph + 24, to.bytes.data(), 16);
    }
    uint8_t* icmp = iph + ip_hlen;
    icmp[0] = type;
    icmp[1] = code;
    wire::store_be32(icmp + 4, rest);
    std::memcpy(icmp + 8, quoted.data() + qp.l3_offset, qlen);
    const uint16_t c = v4 ? static_cast<uint16_t>(~wire::fold(wire::ones_sum(icmp, icmp_len)))
                          : wire::l4_checksum_v6(iph, icmp, icmp_len, 2);
    wire::store_be16(icmp + 2, c);
    return f;
}

// Empty when the ICMP checksum, the outer IPv4 header checksum and the
// quoted IPv4 header checksum are right.
inline std::string icmp_errors(const uint8_t* frame, size_t len) {
    wire::Parsed p;
    if (wire::parse_frame(frame, len, p) != wire::Malformed::none) return "does not parse";
    const uint8_t* iph = frame + p.l3_offset;
    const uint8_t* icmp = frame + p.l4_offset;
    const size_t icmp_len = p.l3_end - p.l4_offset;
    const bool v4 = p.ethertype == wire::ETHERTYPE_IPV4;
    if (v4) {
        if (wire::load_be16(iph + 10) != wire::ipv4_header_checksum(iph, 20)) return "outer IPv4 header checksum";
        if (wire::fold(wire::ones_sum(icmp, icmp_len)) != 0xffff) return "ICMP checksum";
        if (wire::load_be16(icmp + 8 + 10) != wire::ipv4_header_checksum(icmp + 8, 20)) return "quoted IPv4 header checksum";
    } else if (wire::load_be16(icmp + 2) != wire::l4_checksum_v6(iph, icmp, icmp_len, 2)) {
        return "ICMPv6 checksum";
    }
    return "";
}

} // namespace lbtest
