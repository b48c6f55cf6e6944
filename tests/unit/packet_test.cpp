// Unit tests for dataplane/wire.hpp: checksums, frame parsing, ARP and ND.
// Expected values come from published vectors, hand-written byte strings, or
// a deliberately naive reference checksum implemented here (vectors, 16-bit
// words, no tricks), never from the code under test.
#include "dataplane/wire.hpp"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace w = haplane::wire;
using Bytes = std::vector<uint8_t>;

namespace {

// ---------------------------------------------------------------- helpers

Bytes hex(const std::string& s) {
    Bytes out;
    int hi = -1;
    for (char c : s) {
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else continue;                                   // spaces, ':' etc.
        if (hi < 0) hi = v;
        else { out.push_back(static_cast<uint8_t>(hi << 4 | v)); hi = -1; }
    }
    if (hi >= 0) {                                           // used during static init too
        std::fprintf(stderr, "odd number of hex digits in %s\n", s.c_str());
        std::abort();
    }
    return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

uint16_t rd16(const Bytes& b, size_t off) { return static_cast<uint16_t>(b.at(off) << 8 | b.at(off + 1)); }
uint32_t rd32(const Bytes& b, size_t off) { return uint32_t(rd16(b, off)) << 16 | rd16(b, off + 2); }
void wr16(Bytes& b, size_t off, uint16_t v) { b.at(off) = uint8_t(v >> 8); b.at(off + 1) = uint8_t(v); }

// Reference RFC 1071: add 16-bit big-endian words (odd byte padded) into a
// wide accumulator, then fold the carries.
uint16_t ref_sum(const Bytes& b) {
    uint64_t s = 0;
    for (size_t i = 0; i < b.size(); i += 2) {
        uint16_t word = static_cast<uint16_t>(b[i] << 8);
        if (i + 1 < b.size()) word = static_cast<uint16_t>(word | b[i + 1]);
        s += word;
    }
    while (s > 0xFFFF) s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(s);
}
uint16_t ref_csum(const Bytes& b) { return static_cast<uint16_t>(~ref_sum(b)); }

// Reference L4 checksum: pseudo header + L4 bytes with the field zeroed.
uint16_t ref_l4_v4(const Bytes& src4, const Bytes& dst4, uint8_t proto, Bytes l4, size_t csum_off) {
    l4.at(csum_off) = 0;
    l4.at(csum_off + 1) = 0;
    Bytes ph = cat({src4, dst4, Bytes{0, proto, uint8_t(l4.size() >> 8), uint8_t(l4.size())}, l4});
    uint16_t c = ref_csum(ph);
    if (proto == 17 && c == 0) c = 0xFFFF;
    return c;
}
uint16_t ref_l4_v6(const Bytes& src16, const Bytes& dst16, uint8_t proto, Bytes l4, size_t csum_off) {
    l4.at(csum_off) = 0;
    l4.at(csum_off + 1) = 0;
    const uint32_t n = static_cast<uint32_t>(l4.size());
    Bytes ph = cat({src16, dst16,
                    Bytes{uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n), 0, 0, 0, proto},
                    l4});
    uint16_t c = ref_csum(ph);
    if (proto == 17 && c == 0) c = 0xFFFF;
    return c;
}

const Bytes MAC_A = hex("aa bb cc dd ee 01");
const Bytes MAC_B = hex("02 00 00 00 00 01");
const w::Mac OUR_MAC = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

Bytes eth(const Bytes& dst, const Bytes& src, uint16_t type) {
    return cat({dst, src, Bytes{uint8_t(type >> 8), uint8_t(type)}});
}

// IPv4 header (with options of `opts` bytes, zero-filled) + payload; valid
// checksum from the reference.
Bytes ipv4(uint8_t proto, const Bytes& payload, const Bytes& src = hex("c0a80001"),
           const Bytes& dst = hex("c0a800c7"), uint16_t frag = 0x4000, uint8_t ttl = 64,
           size_t opts = 0) {
    const size_t hl = 20 + opts;
    Bytes h(hl, 0);
    h[0] = uint8_t(0x40 | (hl / 4));
    wr16(h, 2, static_cast<uint16_t>(hl + payload.size()));
    wr16(h, 4, 0x1c46);
    wr16(h, 6, frag);
    h[8] = ttl;
    h[9] = proto;
    std::copy(src.begin(), src.end(), h.begin() + 12);
    std::copy(dst.begin(), dst.end(), h.begin() + 16);
    wr16(h, 10, ref_csum(h));
    return cat({h, payload});
}

Bytes ipv6(uint8_t nh, const Bytes& payload, const Bytes& src, const Bytes& dst, uint8_t hlim = 64) {
    Bytes h = cat({hex("60000000"), Bytes{uint8_t(payload.size() >> 8), uint8_t(payload.size()), nh, hlim},
                   src, dst});
    return cat({h, payload});
}

Bytes tcp_hdr(size_t doff_words = 5, const Bytes& data = {}) {
    Bytes t(doff_words * 4, 0);
    wr16(t, 0, 12345);
    wr16(t, 2, 80);
    t[4] = 0x11; t[7] = 0x22;
    t[12] = uint8_t(doff_words << 4);
    t[13] = 0x18;
    wr16(t, 14, 0xffff);
    return cat({t, data});
}

Bytes udp_hdr(const Bytes& data = {}) {
    Bytes u(8, 0);
    wr16(u, 0, 5000);
    wr16(u, 2, 53);
    wr16(u, 4, static_cast<uint16_t>(8 + data.size()));
    return cat({u, data});
}

Bytes random_bytes(std::mt19937& rng, size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
}

w::Malformed parse(const Bytes& f, w::Parsed& p) { return w::parse_frame(f.data(), f.size(), p); }

const Bytes V6_A = hex("fe80 0000 0000 0000 a8bb ccff fedd ee01");
const Bytes V6_TARGET = hex("2001 0db8 0000 0000 0000 0000 0000 0002");
const Bytes V6_SNMC = hex("ff02 0000 0000 0000 0000 0001 ff00 0002");
const Bytes V6_ALL_NODES = hex("ff02 0000 0000 0000 0000 0000 0000 0001");
const Bytes V6_UNSPEC(16, 0);

// A well-formed Neighbour Solicitation for V6_TARGET from (src_mac, src_ip).
Bytes make_ns(const Bytes& src_ip = V6_A, uint8_t hlim = 255, const Bytes& target = V6_TARGET,
              bool slla = true) {
    Bytes icmp = cat({hex("87 00 0000 00000000"), target});
    if (slla) icmp = cat({icmp, hex("01 01"), MAC_A});
    wr16(icmp, 2, ref_l4_v6(src_ip, V6_SNMC, 58, icmp, 2));
    return cat({eth(hex("33 33 ff 00 00 02"), MAC_A, 0x86DD), ipv6(58, icmp, src_ip, V6_SNMC, hlim)});
}

} // namespace

// ================================================================ checksums

TEST(Checksum, Rfc1071Example) {
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    const Bytes b = hex("0001 f203 f4f5 f6f7");
    EXPECT_EQ(w::fold(w::ones_sum(b.data(), b.size())), 0xddf2);
    EXPECT_EQ(ref_sum(b), 0xddf2);
    // Split at an even boundary and chained through `initial`.
    EXPECT_EQ(w::fold(w::ones_sum(b.data() + 4, 4, w::ones_sum(b.data(), 4))), 0xddf2);
}

TEST(Checksum, OddLengthPadsWithZero) {
    const Bytes b = hex("01");
    EXPECT_EQ(w::fold(w::ones_sum(b.data(), 1)), 0x0100);
    const Bytes c = hex("0001 f203 f4");
    EXPECT_EQ(w::fold(w::ones_sum(c.data(), c.size())), ref_sum(c));
    EXPECT_EQ(w::fold(w::ones_sum(nullptr, 0)), 0);
}

TEST(Checksum, FoldCarries) {
    EXPECT_EQ(w::fold(0), 0);
    EXPECT_EQ(w::fold(0xFFFF), 0xFFFF);
    EXPECT_EQ(w::fold(0x10000), 0x0001);
    EXPECT_EQ(w::fold(0x1FFFE), 0xFFFF);
    EXPECT_EQ(w::fold(0xFFFFFFFFu), 0xFFFF);
    EXPECT_EQ(w::fold(0x0002FFFFu), 0x0002);
}

TEST(Checksum, OnesSumMatchesReferenceRandomLengthsAndAlignment) {
    std::mt19937 rng(1071);
    for (int i = 0; i < 500; ++i) {
        const size_t len = rng() % 200;
        const size_t misalign = rng() % 8;
        Bytes buf = random_bytes(rng, len + misalign);
        Bytes data(buf.begin() + long(misalign), buf.end());
        const uint32_t init = rng() % 3 == 0 ? rng() : 0;
        Bytes with_init = cat({Bytes{uint8_t(init >> 24), uint8_t(init >> 16), uint8_t(init >> 8), uint8_t(init)}, data});
        ASSERT_EQ(w::fold(w::ones_sum(buf.data() + misalign, len, init)), ref_sum(with_init))
            << "len " << len << " misalign " << misalign;
    }
}

TEST(Checksum, Ipv4HeaderWikipediaExample) {
    // https://en.wikipedia.org/wiki/Internet_checksum: checksum b861.
    Bytes h = hex("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7");
    EXPECT_EQ(w::ipv4_header_checksum(h.data(), h.size()), 0xb861);
    // The field is ignored whatever it holds.
    wr16(h, 10, 0x1234);
    EXPECT_EQ(w::ipv4_header_checksum(h.data(), h.size()), 0xb861);
    // A header carrying it sums to all ones.
    wr16(h, 10, 0xb861);
    EXPECT_EQ(w::fold(w::ones_sum(h.data(), h.size())), 0xFFFF);
}

TEST(Checksum, Ipv4HeaderWithOptionsMatchesReference) {
    std::mt19937 rng(4);
    for (int i = 0; i < 200; ++i) {
        const size_t hl = 20 + 4 * (rng() % 11);
        Bytes h = random_bytes(rng, hl);
        h[0] = uint8_t(0x40 | hl / 4);
        Bytes z = h;
        z[10] = z[11] = 0;
        ASSERT_EQ(w::ipv4_header_checksum(h.data(), hl), ref_csum(z));
    }
}

TEST(Checksum, TcpUdpOverIpv4MatchReference) {
    std::mt19937 rng(6);
    for (int i = 0; i < 300; ++i) {
        const bool is_udp = i % 2;
        const Bytes src = random_bytes(rng, 4), dst = random_bytes(rng, 4);
        const Bytes data = random_bytes(rng, rng() % 1500);
        Bytes l4 = is_udp ? udp_hdr(data) : tcp_hdr(5 + rng() % 4, data);
        const size_t off = is_udp ? 6 : 16;
        wr16(l4, off, static_cast<uint16_t>(rng()));            // garbage in the field
        const Bytes ip = ipv4(is_udp ? 17 : 6, l4, src, dst);
        const uint16_t got = w::l4_checksum_v4(ip.data(), ip.data() + 20, l4.size(), off);
        ASSERT_EQ(got, ref_l4_v4(src, dst, is_udp ? 17 : 6, l4, off)) << "case " << i;
    }
}

TEST(Checksum, TcpUdpIcmpv6OverIpv6MatchReference) {
    std::mt19937 rng(66);
    for (int i = 0; i < 300; ++i) {
        const uint8_t proto = (i % 3 == 0) ? 17 : (i % 3 == 1) ? 6 : 58;
        const Bytes src = random_bytes(rng, 16), dst = random_bytes(rng, 16);
        const Bytes data = random_bytes(rng, rng() % 1500);
        Bytes l4 = proto == 17 ? udp_hdr(data) : proto == 6 ? tcp_hdr(5, data) : cat({hex("80 00 0000 1234 0001"), data});
        const size_t off = proto == 17 ? 6 : proto == 6 ? 16 : 2;
        wr16(l4, off, static_cast<uint16_t>(rng()));
        const Bytes ip = ipv6(proto, l4, src, dst);
        const uint16_t got = w::l4_checksum_v6(ip.data(), ip.data() + 40, l4.size(), off);
        ASSERT_EQ(got, ref_l4_v6(src, dst, proto, l4, off)) << "case " << i;
    }
}

TEST(Checksum, Ipv6PseudoHeaderUsesProtocolAfterExtensionHeaders) {
    // MLDv2 report behind a hop-by-hop header (router alert): the pseudo
    // header carries 58, not 0.
    Bytes hbh = hex("3a 00 0502 0000 0100");                 // next=58, len 0, RA, PadN
    Bytes mld = hex("8f 00 0000 0000 0001 04 00 0000 ff02 0000 0000 0000 0000 0001 ff00 0002");
    const Bytes ip = ipv6(0, cat({hbh, mld}), V6_A, hex("ff02 0000 0000 0000 0000 0000 0000 0016"), 1);
    const uint16_t got = w::l4_checksum_v6(ip.data(), ip.data() + 48, mld.size(), 2);
    EXPECT_EQ(got, ref_l4_v6(V6_A, hex("ff02 0000 0000 0000 0000 0000 0000 0016"), 58, mld, 2));
    EXPECT_NE(got, ref_l4_v6(V6_A, hex("ff02 0000 0000 0000 0000 0000 0000 0016"), 0, mld, 2));
}

TEST(Checksum, UdpZeroBecomesAllOnesTcpStaysZero) {
    for (int v6 = 0; v6 < 2; ++v6) {
        for (uint8_t proto : {uint8_t(17), uint8_t(6)}) {
            const Bytes src = v6 ? V6_A : hex("0a000001"), dst = v6 ? V6_TARGET : hex("0a000002");
            Bytes l4 = proto == 17 ? udp_hdr(hex("0000 0000")) : tcp_hdr(5, hex("0000 0000"));
            const size_t off = proto == 17 ? 6 : 16;
            // Choose the last data word so that the sum becomes all ones.
            const uint16_t c0 = v6 ? ref_l4_v6(src, dst, proto, l4, off) : ref_l4_v4(src, dst, proto, l4, off);
            wr16(l4, l4.size() - 2, c0);
            Bytes frame = v6 ? ipv6(proto, l4, src, dst) : ipv4(proto, l4, src, dst);
            const size_t hl = v6 ? 40 : 20;
            const uint16_t got = v6 ? w::l4_checksum_v6(frame.data(), frame.data() + hl, l4.size(), off)
                                    : w::l4_checksum_v4(frame.data(), frame.data() + hl, l4.size(), off);
            EXPECT_EQ(got, proto == 17 ? 0xFFFF : 0x0000) << "v6=" << v6 << " proto=" << int(proto);
        }
    }
}

TEST(Checksum, IncrementalUpdate16MatchesRecomputeOnIpv4Header) {
    std::mt19937 rng(1624);
    for (int i = 0; i < 1000; ++i) {
        Bytes h = random_bytes(rng, 20);
        h[0] = 0x45;
        wr16(h, 10, 0);
        wr16(h, 10, ref_csum(h));
        size_t field = 2 * (rng() % 10);
        if (field == 10) field = 8;                           // not the checksum itself
        const uint16_t old_v = rd16(h, field);
        const uint16_t new_v = i % 10 == 0 ? old_v : static_cast<uint16_t>(rng());
        wr16(h, field, new_v);
        const uint16_t inc = w::csum_update16(rd16(h, 10), old_v, new_v);
        Bytes z = h;
        wr16(z, 10, 0);
        ASSERT_EQ(inc, ref_csum(z)) << "case " << i << " field " << field;
        wr16(h, 10, inc);
        ASSERT_EQ(ref_sum(h), 0xFFFF);
    }
}

TEST(Checksum, IncrementalUpdate32MatchesRecomputeOnTcpNat) {
    // DNAT-like rewrite: destination address (pseudo header, 32 bits) and
    // destination port (16 bits) of a TCP segment.
    std::mt19937 rng(32);
    for (int i = 0; i < 1000; ++i) {
        const Bytes src = random_bytes(rng, 4), dst = random_bytes(rng, 4);
        Bytes l4 = tcp_hdr(5, random_bytes(rng, rng() % 64));
        wr16(l4, 16, ref_l4_v4(src, dst, 6, l4, 16));
        const Bytes new_dst = random_bytes(rng, 4);
        const uint16_t new_port = static_cast<uint16_t>(rng());
        uint16_t c = rd16(l4, 16);
        c = w::csum_update32(c, rd32(dst, 0), rd32(new_dst, 0));
        c = w::csum_update16(c, rd16(l4, 2), new_port);
        wr16(l4, 2, new_port);
        ASSERT_EQ(c, ref_l4_v4(src, new_dst, 6, l4, 16)) << "case " << i;
    }
}

TEST(Checksum, IncrementalNoChangeKeepsChecksum) {
    EXPECT_EQ(w::csum_update16(0xb861, 0x4011, 0x4011), 0xb861);
    EXPECT_EQ(w::csum_update32(0xb861, 0xc0a80001, 0xc0a80001), 0xb861);
    // TTL decrement in the wikipedia header: 0x4011 -> 0x3f11.
    Bytes h = hex("4500 0073 0000 4000 3f11 0000 c0a8 0001 c0a8 00c7");
    EXPECT_EQ(w::csum_update16(0xb861, 0x4011, 0x3f11), ref_csum(h));
}

// ================================================================ accessors

TEST(Wire, UnalignedLoadsAndStores) {
    uint8_t buf[16] = {};
    w::store_be16(buf + 1, 0xA1B2);
    w::store_be32(buf + 5, 0xC1D2E3F4);
    EXPECT_EQ(buf[1], 0xA1);
    EXPECT_EQ(buf[2], 0xB2);
    EXPECT_EQ(buf[5], 0xC1);
    EXPECT_EQ(buf[8], 0xF4);
    EXPECT_EQ(w::load_be16(buf + 1), 0xA1B2);
    EXPECT_EQ(w::load_be32(buf + 5), 0xC1D2E3F4u);
    EXPECT_EQ(buf[0], 0);
    EXPECT_EQ(buf[3], 0);
    EXPECT_EQ(buf[9], 0);
}

TEST(Wire, MalformedNames) {
    EXPECT_STREQ(w::to_string(w::Malformed::none), "none");
    EXPECT_STREQ(w::to_string(w::Malformed::truncated_ethernet), "truncated_ethernet");
    EXPECT_STREQ(w::to_string(w::Malformed::truncated_arp), "truncated_arp");
    EXPECT_STREQ(w::to_string(w::Malformed::truncated_ip), "truncated_ip");
    EXPECT_STREQ(w::to_string(w::Malformed::bad_ip_version), "bad_ip_version");
    EXPECT_STREQ(w::to_string(w::Malformed::bad_ihl), "bad_ihl");
    EXPECT_STREQ(w::to_string(w::Malformed::bad_ip_length), "bad_ip_length");
    EXPECT_STREQ(w::to_string(w::Malformed::bad_ip_checksum), "bad_ip_checksum");
    EXPECT_STREQ(w::to_string(w::Malformed::truncated_l4), "truncated_l4");
}

// ================================================================ parse: L2/ARP

TEST(Parse, TruncatedEthernet) {
    w::Parsed p;
    Bytes f(13, 0);
    EXPECT_EQ(parse(f, p), w::Malformed::truncated_ethernet);
    EXPECT_EQ(w::parse_frame(nullptr, 0, p), w::Malformed::truncated_ethernet);
}

TEST(Parse, VlanAndUnknownEthertypeHaveNoL3) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x8100), hex("0064 0800"), ipv4(17, udp_hdr())});
    EXPECT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.ethertype, w::ETHERTYPE_VLAN);
    EXPECT_EQ(p.l4_offset, 0);
    EXPECT_EQ(p.ip_proto, 0);
    Bytes g = cat({eth(MAC_B, MAC_A, 0x88cc), Bytes(46, 0)});  // LLDP
    EXPECT_EQ(parse(g, p), w::Malformed::none);
    EXPECT_EQ(p.ethertype, 0x88cc);
    // Just the Ethernet header is fine too.
    EXPECT_EQ(parse(eth(MAC_B, MAC_A, 0x88cc), p), w::Malformed::none);
}

const Bytes ARP_REQUEST_PAYLOAD = hex("0001 0800 06 04 0001 aabbccddee01 c0a80101 000000000000 c0a8010a");

TEST(Parse, ArpValidAndPadded) {
    w::Parsed p;
    Bytes f = cat({eth(hex("ffffffffffff"), MAC_A, 0x0806), ARP_REQUEST_PAYLOAD, Bytes(18, 0)});
    ASSERT_EQ(f.size(), 60u);
    EXPECT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.ethertype, w::ETHERTYPE_ARP);
    EXPECT_EQ(p.l3_offset, 14);
    EXPECT_EQ(p.l3_end, 42);
    EXPECT_EQ(p.l4_offset, 0);
}

TEST(Parse, TruncatedArp) {
    w::Parsed p;
    Bytes payload = ARP_REQUEST_PAYLOAD;
    payload.pop_back();                                        // 27 bytes
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0806), payload}), p), w::Malformed::truncated_arp);
    EXPECT_EQ(parse(eth(MAC_B, MAC_A, 0x0806), p), w::Malformed::truncated_arp);
    // Exactly 28 bytes is enough.
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0806), ARP_REQUEST_PAYLOAD}), p), w::Malformed::none);
    // Not Ethernet/IPv4: htype, ptype, hlen, plen.
    for (size_t off : {size_t(1), size_t(2), size_t(4), size_t(5)}) {
        Bytes bad = ARP_REQUEST_PAYLOAD;
        bad[off] ^= 0x10;
        EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0806), bad}), p), w::Malformed::truncated_arp) << off;
    }
}

// ================================================================ parse: IPv4

TEST(Parse, Ipv4TcpValidOffsets) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, tcp_hdr(5, hex("deadbeef")), hex("0a000001"), hex("0a000002"), 0x4000, 17)});
    ASSERT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.ethertype, w::ETHERTYPE_IPV4);
    EXPECT_EQ(p.l3_offset, 14);
    EXPECT_EQ(p.l4_offset, 34);
    EXPECT_EQ(p.l3_end, 14 + 20 + 20 + 4);
    EXPECT_EQ(p.ip_proto, 6);
    EXPECT_EQ(p.ttl, 17);
    EXPECT_FALSE(p.fragment);                                  // DF alone is no fragment
}

TEST(Parse, Ipv4WithOptionsAndTcpOptions) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, tcp_hdr(8), hex("0a000001"), hex("0a000002"), 0, 64, 8)});
    ASSERT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.l4_offset, 14 + 28);
    EXPECT_EQ(p.l3_end, 14 + 28 + 32);
}

TEST(Parse, Ipv4PaddedFrame) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, udp_hdr(hex("01")))});
    f.resize(60, 0);
    ASSERT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.l4_offset, 34);
    EXPECT_EQ(p.l3_end, 14 + 20 + 9);
    EXPECT_EQ(p.ip_proto, 17);
}

TEST(Parse, Ipv4TruncatedIp) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, {})});
    f.pop_back();                                              // 19 bytes of IP
    EXPECT_EQ(parse(f, p), w::Malformed::truncated_ip);
}

TEST(Parse, Ipv4BadVersion) {
    w::Parsed p;
    Bytes ip = ipv4(17, udp_hdr());
    ip[0] = 0x65;                                              // version 6 in an IPv4 ethertype
    wr16(ip, 10, 0);
    wr16(ip, 10, ref_csum(Bytes(ip.begin(), ip.begin() + 20)));
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ip}), p), w::Malformed::bad_ip_version);
    // And a real IPv6 packet sent with the IPv4 ethertype.
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv6(17, udp_hdr(), V6_A, V6_TARGET)}), p),
              w::Malformed::bad_ip_version);
}

TEST(Parse, Ipv4BadIhl) {
    w::Parsed p;
    Bytes ip = ipv4(17, udp_hdr());
    ip[0] = 0x44;                                              // IHL 4
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ip}), p), w::Malformed::bad_ihl);
    // IHL 15 (60 bytes) in a 28-byte datagram.
    ip[0] = 0x4f;
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ip}), p), w::Malformed::bad_ihl);
    // IHL 6 with 24 bytes present is fine if the rest holds.
    Bytes ok = ipv4(17, udp_hdr(), hex("c0a80001"), hex("c0a800c7"), 0, 64, 4);
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ok}), p), w::Malformed::none);
}

TEST(Parse, Ipv4BadTotalLength) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, udp_hdr(hex("0102")))});
    f.pop_back();                                              // total length now beyond frame
    EXPECT_EQ(parse(f, p), w::Malformed::bad_ip_length);
    // Total length below the header length (checksum kept valid).
    Bytes ip = ipv4(17, udp_hdr());
    wr16(ip, 2, 19);
    wr16(ip, 10, 0);
    wr16(ip, 10, ref_csum(Bytes(ip.begin(), ip.begin() + 20)));
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ip}), p), w::Malformed::bad_ip_length);
}

TEST(Parse, Ipv4BadChecksum) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, udp_hdr())});
    f[14 + 10] ^= 0x01;
    EXPECT_EQ(parse(f, p), w::Malformed::bad_ip_checksum);
    Bytes g = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, udp_hdr())});
    g[14 + 8] -= 1;                                            // TTL changed, checksum not
    EXPECT_EQ(parse(g, p), w::Malformed::bad_ip_checksum);
}

TEST(Parse, Ipv4TruncatedL4) {
    w::Parsed p;
    Bytes tcp = tcp_hdr();
    tcp.pop_back();                                            // 19 bytes
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, tcp)}), p), w::Malformed::truncated_l4);
    // Data offset 8 (32 bytes) but only 24 bytes of segment.
    Bytes tcp2 = tcp_hdr(5, hex("00000000"));
    tcp2[12] = 0x80;
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, tcp2)}), p), w::Malformed::truncated_l4);
    // Data offset below 5.
    Bytes tcp3 = tcp_hdr();
    tcp3[12] = 0x40;
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, tcp3)}), p), w::Malformed::truncated_l4);
    // The TCP header fits in the frame padding but not in the datagram.
    Bytes f = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, hex("3039 0050"))});
    f.resize(80, 0);
    EXPECT_EQ(parse(f, p), w::Malformed::truncated_l4);
    for (uint8_t proto : {uint8_t(17), uint8_t(1), uint8_t(112)}) {
        EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv4(proto, Bytes(7, 0))}), p), w::Malformed::truncated_l4)
            << int(proto);
        EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv4(proto, Bytes(8, 0))}), p), w::Malformed::none)
            << int(proto);
        EXPECT_EQ(p.l4_offset, 34);
    }
}

TEST(Parse, Ipv4OtherProtocolHasPayloadOffsetWithoutCheck) {
    w::Parsed p;
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv4(47, {})}), p), w::Malformed::none);
    EXPECT_EQ(p.ip_proto, 47);
    EXPECT_EQ(p.l4_offset, 34);
    EXPECT_EQ(p.l3_end, 34);
}

TEST(Parse, Ipv4Fragments) {
    w::Parsed p;
    // First fragment (MF, offset 0): L4 located.
    Bytes first = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, udp_hdr(Bytes(16, 1)), hex("0a000001"), hex("0a000002"), 0x2000)});
    ASSERT_EQ(parse(first, p), w::Malformed::none);
    EXPECT_TRUE(p.fragment);
    EXPECT_EQ(p.l4_offset, 34);
    // Later fragment: no L4, even though its payload is shorter than a UDP header.
    Bytes later = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, Bytes(4, 1), hex("0a000001"), hex("0a000002"), 0x0003)});
    ASSERT_EQ(parse(later, p), w::Malformed::none);
    EXPECT_TRUE(p.fragment);
    EXPECT_EQ(p.l4_offset, 0);
    EXPECT_EQ(p.ip_proto, 17);
    EXPECT_EQ(p.l3_end, 14 + 24);
    // Last fragment (offset != 0, MF clear).
    Bytes last = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, Bytes(4, 1), hex("0a000001"), hex("0a000002"), 0x0100)});
    ASSERT_EQ(parse(last, p), w::Malformed::none);
    EXPECT_TRUE(p.fragment);
    EXPECT_EQ(p.l4_offset, 0);
}

TEST(Parse, ResetsOutputBetweenCalls) {
    w::Parsed p;
    ASSERT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, udp_hdr(), hex("0a000001"), hex("0a000002"), 0x2000)}), p),
              w::Malformed::none);
    ASSERT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x8100), Bytes(46, 0)}), p), w::Malformed::none);
    EXPECT_EQ(p.l4_offset, 0);
    EXPECT_EQ(p.ip_proto, 0);
    EXPECT_FALSE(p.fragment);
}

// ================================================================ parse: IPv6

TEST(Parse, Ipv6UdpValidAndPadded) {
    w::Parsed p;
    Bytes f = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(17, udp_hdr(hex("0102")), V6_A, V6_TARGET, 33)});
    const size_t real = f.size();
    f.resize(real + 10, 0xEE);
    ASSERT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.ethertype, w::ETHERTYPE_IPV6);
    EXPECT_EQ(p.l3_offset, 14);
    EXPECT_EQ(p.l4_offset, 54);
    EXPECT_EQ(p.l3_end, real);
    EXPECT_EQ(p.ip_proto, 17);
    EXPECT_EQ(p.ttl, 33);
    EXPECT_FALSE(p.fragment);
}

TEST(Parse, Ipv6Errors) {
    w::Parsed p;
    Bytes ok = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(17, udp_hdr(), V6_A, V6_TARGET)});
    Bytes f = Bytes(ok.begin(), ok.begin() + 14 + 39);
    EXPECT_EQ(parse(f, p), w::Malformed::truncated_ip);
    Bytes v = ok;
    v[14] = 0x45;
    EXPECT_EQ(parse(v, p), w::Malformed::bad_ip_version);
    // An IPv4 packet under the IPv6 ethertype.
    Bytes v4 = cat({eth(MAC_B, MAC_A, 0x86DD), ipv4(17, udp_hdr(Bytes(20, 0)))});
    EXPECT_EQ(parse(v4, p), w::Malformed::bad_ip_version);
    Bytes l = ok;
    l.pop_back();                                              // payload length beyond frame
    EXPECT_EQ(parse(l, p), w::Malformed::bad_ip_length);
    // Truncated L4: UDP 7, TCP 19, ICMPv6 7.
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(17, Bytes(7, 0), V6_A, V6_TARGET)}), p), w::Malformed::truncated_l4);
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(6, Bytes(19, 0x50), V6_A, V6_TARGET)}), p), w::Malformed::truncated_l4);
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(58, Bytes(7, 0), V6_A, V6_TARGET)}), p), w::Malformed::truncated_l4);
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(112, Bytes(7, 0), V6_A, V6_TARGET)}), p), w::Malformed::truncated_l4);
    // No next header (59) with an empty payload: no check.
    EXPECT_EQ(parse(cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(59, {}, V6_A, V6_TARGET)}), p), w::Malformed::none);
    EXPECT_EQ(p.l4_offset, 54);
}

TEST(Parse, Ipv6HopByHopMld) {
    w::Parsed p;
    Bytes hbh = hex("3a 00 0502 0000 0100");
    Bytes mld = hex("8f 00 0000 0000 0001 04 00 0000 ff02 0000 0000 0000 0000 0001 ff00 0002");
    Bytes f = cat({eth(hex("333300000016"), MAC_A, 0x86DD),
                   ipv6(0, cat({hbh, mld}), V6_A, hex("ff02 0000 0000 0000 0000 0000 0000 0016"), 1)});
    ASSERT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.ip_proto, 58);
    EXPECT_EQ(p.l4_offset, 14 + 40 + 8);
    EXPECT_EQ(p.l3_end, f.size());
    EXPECT_EQ(p.ttl, 1);
    EXPECT_FALSE(p.fragment);
}

TEST(Parse, Ipv6ChainedExtensionHeaders) {
    w::Parsed p;
    // hop-by-hop (8) -> destination options (16, len 1) -> routing (8) -> TCP
    Bytes hbh = hex("3c 00 0000 0000 0000");
    Bytes dst = cat({hex("2b 01"), Bytes(14, 0)});
    Bytes rt = hex("06 00 0000 0000 0000");
    Bytes f = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(0, cat({hbh, dst, rt, tcp_hdr()}), V6_A, V6_TARGET)});
    ASSERT_EQ(parse(f, p), w::Malformed::none);
    EXPECT_EQ(p.ip_proto, 6);
    EXPECT_EQ(p.l4_offset, 14 + 40 + 32);
    // Extension header length running beyond the payload.
    Bytes bad = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(0, hex("3a 02 0000 0000 0000 0000 0000"), V6_A, V6_TARGET)});
    EXPECT_EQ(parse(bad, p), w::Malformed::truncated_l4);
    Bytes tiny = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(60, hex("3a 00"), V6_A, V6_TARGET)});
    EXPECT_EQ(parse(tiny, p), w::Malformed::truncated_l4);
}

TEST(Parse, Ipv6Fragments) {
    w::Parsed p;
    // First fragment: offset 0, M=1.
    Bytes fh_first = hex("11 00 0001 deadbeef");
    Bytes first = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(44, cat({fh_first, udp_hdr(Bytes(8, 0))}), V6_A, V6_TARGET)});
    ASSERT_EQ(parse(first, p), w::Malformed::none);
    EXPECT_TRUE(p.fragment);
    EXPECT_EQ(p.ip_proto, 17);
    EXPECT_EQ(p.l4_offset, 14 + 48);
    // Later fragment (offset 2 * 8): no L4 even with 3 bytes of payload.
    Bytes fh_later = hex("11 00 0010 deadbeef");
    Bytes later = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(44, cat({fh_later, hex("010203")}), V6_A, V6_TARGET)});
    ASSERT_EQ(parse(later, p), w::Malformed::none);
    EXPECT_TRUE(p.fragment);
    EXPECT_EQ(p.ip_proto, 17);
    EXPECT_EQ(p.l4_offset, 0);
    // Truncated fragment header.
    Bytes cut = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(44, hex("11 00 0001"), V6_A, V6_TARGET)});
    EXPECT_EQ(parse(cut, p), w::Malformed::truncated_l4);
    // First fragment whose UDP header does not fit.
    Bytes short_udp = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(44, cat({fh_first, Bytes(4, 0)}), V6_A, V6_TARGET)});
    EXPECT_EQ(parse(short_udp, p), w::Malformed::truncated_l4);
}

TEST(Parse, RandomMutationsKeepOffsetsInsideFrame) {
    // Mutated and cut valid frames: whatever the verdict, offsets stay in
    // the frame (run under ASan to also catch reads past the end).
    std::mt19937 rng(2024);
    const std::vector<Bytes> seeds = {
        cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, tcp_hdr(6, hex("0102")))}),
        cat({eth(MAC_B, MAC_A, 0x0800), ipv4(17, udp_hdr(hex("0102")), hex("0a000001"), hex("0a000002"), 0, 64, 8)}),
        cat({eth(MAC_B, MAC_A, 0x0806), ARP_REQUEST_PAYLOAD}),
        make_ns(),
        cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(0, cat({hex("2c 00 0000 0000 0000"), hex("06 00 0001 00000001"), tcp_hdr()}), V6_A, V6_TARGET)}),
    };
    for (int i = 0; i < 20000; ++i) {
        Bytes f = seeds[size_t(i) % seeds.size()];
        const int flips = int(rng() % 4);
        for (int k = 0; k < flips; ++k) f[rng() % f.size()] = static_cast<uint8_t>(rng());
        if (rng() % 3 == 0) f.resize(rng() % (f.size() + 1));
        else if (rng() % 4 == 0) f.resize(f.size() + rng() % 20, 0);
        Bytes exact(f);                                        // heap block of exactly f.size()
        w::Parsed p;
        const w::Malformed m = w::parse_frame(exact.data(), exact.size(), p);
        ASSERT_LT(static_cast<int>(m), static_cast<int>(w::Malformed::count_));
        if (m != w::Malformed::none) continue;
        ASSERT_LE(p.l3_end, exact.size());
        if (p.l4_offset != 0) {
            ASSERT_GE(p.l4_offset, p.l3_offset);
            ASSERT_LE(p.l4_offset, p.l3_end);
        }
        uint8_t target[16];
        w::read_neighbor_solicit(exact.data(), p, target);
    }
}

// ================================================================ ARP

TEST(Arp, ReadRequest) {
    w::ArpView v{};
    ASSERT_TRUE(w::read_arp(ARP_REQUEST_PAYLOAD.data(), ARP_REQUEST_PAYLOAD.size(), v));
    EXPECT_EQ(v.op, 1);
    EXPECT_EQ(Bytes(v.sender_mac.begin(), v.sender_mac.end()), MAC_A);
    EXPECT_EQ(Bytes(v.target_mac.begin(), v.target_mac.end()), Bytes(6, 0));
    // Network byte order: the in-memory bytes equal the wire bytes.
    uint8_t sip[4], tip[4];
    std::memcpy(sip, &v.sender_ip, 4);
    std::memcpy(tip, &v.target_ip, 4);
    EXPECT_EQ(Bytes(sip, sip + 4), hex("c0a80101"));
    EXPECT_EQ(Bytes(tip, tip + 4), hex("c0a8010a"));
    EXPECT_FALSE(w::read_arp(ARP_REQUEST_PAYLOAD.data(), 27, v));
    Bytes ipx = ARP_REQUEST_PAYLOAD;
    ipx[3] = 0x37;                                             // ptype 0x0837
    EXPECT_FALSE(w::read_arp(ipx.data(), ipx.size(), v));
}

TEST(Arp, RequestToReplyExactBytes) {
    Bytes f = cat({eth(hex("ffffffffffff"), MAC_A, 0x0806), ARP_REQUEST_PAYLOAD, Bytes(18, 0x5a)});
    w::arp_request_to_reply(f.data(), OUR_MAC);
    const Bytes want = cat({hex("aabbccddee01 020000000001 0806"
                                "0001 0800 06 04 0002 020000000001 c0a8010a aabbccddee01 c0a80101"),
                            Bytes(18, 0x5a)});                 // trailer untouched
    EXPECT_EQ(f, want);
    w::Parsed p;
    ASSERT_EQ(parse(f, p), w::Malformed::none);
    w::ArpView v{};
    ASSERT_TRUE(w::read_arp(f.data() + 14, 28, v));
    EXPECT_EQ(v.op, 2);
}

TEST(Arp, RequestToReplyUsesEthernetSourceForDestination) {
    // Ethernet source differs from the ARP sender hardware address.
    Bytes f = cat({eth(hex("ffffffffffff"), hex("0a0b0c0d0e0f"), 0x0806), ARP_REQUEST_PAYLOAD});
    w::arp_request_to_reply(f.data(), OUR_MAC);
    EXPECT_EQ(Bytes(f.begin(), f.begin() + 6), hex("0a0b0c0d0e0f"));
    EXPECT_EQ(Bytes(f.begin() + 32, f.begin() + 38), MAC_A);   // target mac = old sender mac
}

TEST(Arp, GratuitousExactBytes) {
    uint8_t out[64];
    std::memset(out, 0xCC, sizeof out);
    const uint8_t ip[4] = {192, 168, 1, 10};
    uint32_t ip_net;
    std::memcpy(&ip_net, ip, 4);
    const size_t n = w::build_garp(out, OUR_MAC, ip_net);
    ASSERT_EQ(n, 60u);
    const Bytes want = cat({hex("ffffffffffff 020000000001 0806"
                                "0001 0800 06 04 0001 020000000001 c0a8010a 000000000000 c0a8010a"),
                            Bytes(18, 0)});
    EXPECT_EQ(Bytes(out, out + n), want);
    EXPECT_EQ(out[60], 0xCC);                                  // nothing written past the end
    w::Parsed p;
    EXPECT_EQ(w::parse_frame(out, n, p), w::Malformed::none);
    EXPECT_EQ(p.l3_end, 42);
}

// ================================================================ ND

TEST(Nd, ReadNeighborSolicit) {
    Bytes ns = make_ns();
    w::Parsed p;
    ASSERT_EQ(parse(ns, p), w::Malformed::none);
    uint8_t target[16] = {};
    ASSERT_TRUE(w::read_neighbor_solicit(ns.data(), p, target));
    EXPECT_EQ(Bytes(target, target + 16), V6_TARGET);
    // Without the source link-layer option (24 bytes) it is still an NS.
    Bytes ns24 = make_ns(V6_A, 255, V6_TARGET, false);
    ASSERT_EQ(parse(ns24, p), w::Malformed::none);
    EXPECT_TRUE(w::read_neighbor_solicit(ns24.data(), p, target));
}

TEST(Nd, RejectsBadNeighborSolicits) {
    uint8_t target[16];
    w::Parsed p;
    // Hop limit 254.
    Bytes h = make_ns(V6_A, 254);
    ASSERT_EQ(parse(h, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(h.data(), p, target));
    // Bad checksum.
    Bytes c = make_ns();
    c[14 + 40 + 2] ^= 0x01;
    ASSERT_EQ(parse(c, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(c.data(), p, target));
    // Target byte changed after the checksum was computed.
    Bytes t = make_ns();
    t[14 + 40 + 23] ^= 0x01;
    ASSERT_EQ(parse(t, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(t.data(), p, target));
    // Multicast target.
    Bytes m = make_ns(V6_A, 255, V6_ALL_NODES);
    ASSERT_EQ(parse(m, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(m.data(), p, target));
    // Echo request, not an NS (valid checksum).
    Bytes echo_icmp = hex("80 00 0000 1234 0001 0000 0000 0000 0000 0000 0000 0000 0000");
    wr16(echo_icmp, 2, ref_l4_v6(V6_A, V6_SNMC, 58, echo_icmp, 2));
    Bytes e = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(58, echo_icmp, V6_A, V6_SNMC, 255)});
    ASSERT_EQ(parse(e, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(e.data(), p, target));
    // Too short for an NS (20 bytes), valid checksum.
    Bytes s_icmp = hex("87 00 0000 00000000 2001 0db8 0000 0000 0000");
    wr16(s_icmp, 2, ref_l4_v6(V6_A, V6_SNMC, 58, s_icmp, 2));
    Bytes s = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(58, s_icmp, V6_A, V6_SNMC, 255)});
    ASSERT_EQ(parse(s, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(s.data(), p, target));
    // Non-zero code.
    Bytes code = make_ns();
    code[14 + 40 + 1] = 1;
    wr16(code, 14 + 40 + 2, ref_l4_v6(V6_A, V6_SNMC, 58, Bytes(code.begin() + 54, code.end()), 2));
    ASSERT_EQ(parse(code, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(code.data(), p, target));
    // Not ICMPv6 at all.
    Bytes u = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(17, udp_hdr(Bytes(24, 0)), V6_A, V6_SNMC, 255)});
    ASSERT_EQ(parse(u, p), w::Malformed::none);
    EXPECT_FALSE(w::read_neighbor_solicit(u.data(), p, target));
}

// Check an NA frame field by field against the reference.
void expect_na(const Bytes& na, const Bytes& eth_dst, const Bytes& ip_dst, uint32_t flags) {
    ASSERT_EQ(na.size(), 86u);
    EXPECT_EQ(Bytes(na.begin(), na.begin() + 6), eth_dst);
    EXPECT_EQ(Bytes(na.begin() + 6, na.begin() + 12), MAC_B);
    EXPECT_EQ(rd16(na, 12), 0x86DD);
    EXPECT_EQ(rd32(na, 14), 0x60000000u);
    EXPECT_EQ(rd16(na, 18), 32);                               // payload length
    EXPECT_EQ(na[20], 58);
    EXPECT_EQ(na[21], 255);
    EXPECT_EQ(Bytes(na.begin() + 22, na.begin() + 38), V6_TARGET);   // source = target
    EXPECT_EQ(Bytes(na.begin() + 38, na.begin() + 54), ip_dst);
    const Bytes icmp(na.begin() + 54, na.end());
    EXPECT_EQ(icmp[0], 136);
    EXPECT_EQ(icmp[1], 0);
    EXPECT_EQ(rd32(icmp, 4), flags);
    EXPECT_EQ(Bytes(icmp.begin() + 8, icmp.begin() + 24), V6_TARGET);
    EXPECT_EQ(Bytes(icmp.begin() + 24, icmp.end()), cat({hex("02 01"), MAC_B}));
    EXPECT_EQ(rd16(icmp, 2), ref_l4_v6(V6_TARGET, ip_dst, 58, icmp, 2));
    EXPECT_EQ(ref_sum(cat({V6_TARGET, ip_dst, hex("00000020 0000003a"), icmp})), 0xFFFF);
    w::Parsed p;
    EXPECT_EQ(w::parse_frame(na.data(), na.size(), p), w::Malformed::none);
    EXPECT_EQ(p.l4_offset, 54);
    EXPECT_EQ(p.l3_end, 86);
}

TEST(Nd, NeighborAdvertFromSolicit) {
    Bytes ns = make_ns();
    w::Parsed p;
    ASSERT_EQ(parse(ns, p), w::Malformed::none);
    uint8_t target[16];
    ASSERT_TRUE(w::read_neighbor_solicit(ns.data(), p, target));
    Bytes out(128, 0xCC);
    const size_t n = w::build_neighbor_advert(out.data(), ns.data(), p, target, OUR_MAC);
    ASSERT_EQ(n, 86u);
    EXPECT_EQ(out[86], 0xCC);
    out.resize(n);
    expect_na(out, MAC_A, V6_A, 0x60000000u);
}

TEST(Nd, NeighborAdvertForDadProbeGoesToAllNodes) {
    Bytes ns = make_ns(V6_UNSPEC, 255, V6_TARGET, false);
    w::Parsed p;
    ASSERT_EQ(parse(ns, p), w::Malformed::none);
    uint8_t target[16];
    ASSERT_TRUE(w::read_neighbor_solicit(ns.data(), p, target));
    Bytes out(86);
    ASSERT_EQ(w::build_neighbor_advert(out.data(), ns.data(), p, target, OUR_MAC), 86u);
    expect_na(out, hex("333300000001"), V6_ALL_NODES, 0x20000000u);
}

TEST(Nd, NeighborAdvertInPlace) {
    Bytes ns = make_ns();
    w::Parsed p;
    ASSERT_EQ(parse(ns, p), w::Malformed::none);
    uint8_t target[16];
    ASSERT_TRUE(w::read_neighbor_solicit(ns.data(), p, target));
    Bytes separate(86);
    w::build_neighbor_advert(separate.data(), ns.data(), p, target, OUR_MAC);
    // Same buffer for input and output, target pointing into it as well.
    const size_t n = w::build_neighbor_advert(ns.data(), ns.data(), p, ns.data() + 54 + 8, OUR_MAC);
    ns.resize(n);
    EXPECT_EQ(ns, separate);
}

TEST(Nd, UnsolicitedAdvert) {
    Bytes out(100, 0xCC);
    uint8_t target[16];
    std::copy(V6_TARGET.begin(), V6_TARGET.end(), target);
    const size_t n = w::build_unsolicited_na(out.data(), OUR_MAC, target);
    ASSERT_EQ(n, 86u);
    EXPECT_EQ(out[86], 0xCC);
    out.resize(n);
    expect_na(out, hex("333300000001"), V6_ALL_NODES, 0x20000000u);
}

// ================================================================ pcap / scapy cross-check

namespace {

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& suffix) {
        path = (std::filesystem::temp_directory_path() /
                ("haplane_packet_test_" + std::to_string(::getpid()) + "_" + suffix)).string();
    }
    ~TempFile() { std::remove(path.c_str()); }
};

void write_pcap(const std::string& path, const std::vector<Bytes>& frames) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    ASSERT_NE(dead, nullptr);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(d, nullptr) << pcap_geterr(dead);
    for (const auto& f : frames) {
        pcap_pkthdr h{};
        h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
        pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

std::vector<Bytes> read_pcap(const std::string& path) {
    std::vector<Bytes> out;
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    EXPECT_NE(p, nullptr) << err;
    if (!p) return out;
    pcap_pkthdr* h;
    const u_char* data;
    while (pcap_next_ex(p, &h, &data) == 1) {
        EXPECT_EQ(h->caplen, h->len);
        out.emplace_back(data, data + h->caplen);
    }
    pcap_close(p);
    return out;
}

// Frames built by the library: GARP, ARP reply, NA, DAD NA, unsolicited NA,
// TCP/IPv4 and UDP/IPv6 with library checksums.
std::vector<Bytes> library_frames() {
    std::vector<Bytes> frames;
    Bytes garp(60);
    const uint8_t ip[4] = {192, 168, 1, 10};
    uint32_t ip_net;
    std::memcpy(&ip_net, ip, 4);
    garp.resize(w::build_garp(garp.data(), OUR_MAC, ip_net));
    frames.push_back(garp);

    Bytes reply = cat({eth(hex("ffffffffffff"), MAC_A, 0x0806), ARP_REQUEST_PAYLOAD, Bytes(18, 0)});
    w::arp_request_to_reply(reply.data(), OUR_MAC);
    frames.push_back(reply);

    for (const Bytes& src : {V6_A, V6_UNSPEC}) {
        Bytes ns = make_ns(src);
        w::Parsed p;
        w::parse_frame(ns.data(), ns.size(), p);
        uint8_t target[16] = {};
        w::read_neighbor_solicit(ns.data(), p, target);
        Bytes na(86);
        na.resize(w::build_neighbor_advert(na.data(), ns.data(), p, target, OUR_MAC));
        frames.push_back(na);
    }
    Bytes una(86);
    una.resize(w::build_unsolicited_na(una.data(), OUR_MAC, V6_TARGET.data()));
    frames.push_back(una);

    Bytes tcp = cat({eth(MAC_B, MAC_A, 0x0800), ipv4(6, tcp_hdr(5, hex("48656c6c6f21")), hex("0a000001"), hex("0a000002"))});
    wr16(tcp, 34 + 16, w::l4_checksum_v4(tcp.data() + 14, tcp.data() + 34, tcp.size() - 34, 16));
    frames.push_back(tcp);
    Bytes udp = cat({eth(MAC_B, MAC_A, 0x86DD), ipv6(17, udp_hdr(hex("010203")), V6_A, V6_TARGET)});
    wr16(udp, 54 + 6, w::l4_checksum_v6(udp.data() + 14, udp.data() + 54, udp.size() - 54, 6));
    frames.push_back(udp);
    return frames;
}

bool scapy_available() {
    return std::system("/usr/bin/python3 -c 'import scapy.all' >/dev/null 2>&1") == 0;
}

} // namespace

TEST(Pcap, BuiltFramesRoundTrip) {
    TempFile f("roundtrip.pcap");
    const auto frames = library_frames();
    write_pcap(f.path, frames);
    const auto back = read_pcap(f.path);
    ASSERT_EQ(back.size(), frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
        EXPECT_EQ(back[i].size(), frames[i].size()) << i;
        EXPECT_EQ(back[i], frames[i]) << i;
    }
    EXPECT_EQ(back[0].size(), 60u);
    EXPECT_EQ(back[2].size(), 86u);
}

TEST(Pcap, ScapyAgreesWithBuiltFrames) {
    if (!scapy_available()) GTEST_SKIP() << "scapy not importable by /usr/bin/python3";
    TempFile pcap("scapy.pcap");
    TempFile script("scapy_check.py");
    write_pcap(pcap.path, library_frames());
    std::ofstream(script.path) << R"PY(
import sys
from scapy.all import rdpcap, raw, Ether, ARP, IP, IPv6, TCP, UDP, ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
pk = rdpcap(sys.argv[1])
errs = []
def check(cond, msg):
    if not cond:
        errs.append(msg)
def recompute(p, layer, field):
    have = getattr(p[layer], field)
    q = Ether(raw(p))
    delattr(q[layer], field)
    want = Ether(raw(q))[layer]
    return have, getattr(want, field)
check(len(pk) == 7, "count %d" % len(pk))
g = pk[0]
check(g[Ether].dst == "ff:ff:ff:ff:ff:ff" and g[ARP].op == 1, "garp op/dst")
check(g[ARP].psrc == "192.168.1.10" and g[ARP].pdst == "192.168.1.10", "garp ips")
check(g[ARP].hwsrc == "02:00:00:00:00:01" and g[ARP].hwdst == "00:00:00:00:00:00", "garp macs")
r = pk[1]
check(r[ARP].op == 2 and r[ARP].psrc == "192.168.1.10" and r[ARP].pdst == "192.168.1.1", "reply ips")
check(r[ARP].hwsrc == "02:00:00:00:00:01" and r[ARP].hwdst == "aa:bb:cc:dd:ee:01", "reply macs")
check(r[Ether].dst == "aa:bb:cc:dd:ee:01" and r[Ether].src == "02:00:00:00:00:01", "reply eth")
for i, dst, S in ((2, "fe80::a8bb:ccff:fedd:ee01", 1), (3, "ff02::1", 0), (4, "ff02::1", 0)):
    p = pk[i]
    check(ICMPv6ND_NA in p, "no NA in %d" % i)
    if ICMPv6ND_NA not in p:
        continue
    na = p[ICMPv6ND_NA]
    check(na.tgt == "2001:db8::2", "tgt %d %s" % (i, na.tgt))
    check(na.R == 0 and na.S == S and na.O == 1, "flags %d" % i)
    check(p[IPv6].src == "2001:db8::2" and p[IPv6].dst == dst and p[IPv6].hlim == 255, "ip %d" % i)
    check(ICMPv6NDOptDstLLAddr in p and p[ICMPv6NDOptDstLLAddr].lladdr == "02:00:00:00:00:01", "opt %d" % i)
    have, want = recompute(p, ICMPv6ND_NA, "cksum")
    check(have == want, "NA %d cksum %#x scapy %#x" % (i, have, want))
have, want = recompute(pk[5], IP, "chksum")
check(have == want, "ip chksum %#x scapy %#x" % (have, want))
have, want = recompute(pk[5], TCP, "chksum")
check(have == want, "tcp chksum %#x scapy %#x" % (have, want))
have, want = recompute(pk[6], UDP, "chksum")
check(have == want, "udp6 chksum %#x scapy %#x" % (have, want))
print("\n".join(errs) if errs else "OK")
sys.exit(1 if errs else 0)
)PY";
    const std::string cmd = "/usr/bin/python3 " + script.path + " " + pcap.path + " 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe)) output += buf;
    const int rc = ::pclose(pipe);
    EXPECT_EQ(rc, 0) << output;
    EXPECT_EQ(output, "OK\n");
}
