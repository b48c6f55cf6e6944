// Header rewrites: every incremental checksum update checked against a full
// recomputation, IPv4/IPv6 x TCP/UDP, odd and even lengths; TTL, tunnels,
// MSS clamping; neighbour probe frames.
#include "lb/flow.hpp"
#include "lb/neighbour.hpp"
#include "lb/rewrite.hpp"
#include "lb_frames.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace haplane;
using namespace haplane::lb;
using namespace lbtest;

namespace {

struct Case {
    bool v6;
    uint8_t proto;
};

class RewriteChecksums : public ::testing::TestWithParam<Case> {};

FrameSpec spec_for(const Case& c, size_t payload) {
    FrameSpec s;
    s.src = ip(c.v6 ? "2001:db8:1::c1" : "192.0.2.33");
    s.dst = ip(c.v6 ? "2001:db8:1::100" : "10.10.0.100");
    s.proto = c.proto;
    s.payload = payload;
    s.sport = 51234;
    return s;
}

} // namespace

TEST_P(RewriteChecksums, NatOfEitherEndMatchesFullRecomputation) {
    const Case c = GetParam();
    std::mt19937 rng(42);
    for (size_t payload : {0u, 1u, 7u, 64u, 333u, 1400u}) {
        for (int round = 0; round < 20; ++round) {
            Frame f = build(spec_for(c, payload));
            ASSERT_EQ(checksum_errors(f.data(), f.len), "");
            wire::Parsed p;
            ASSERT_EQ(wire::parse_frame(f.data(), f.len, p), wire::Malformed::none);
            uint8_t* iph = f.data() + p.l3_offset;
            uint8_t* l4 = f.data() + p.l4_offset;
            const uint16_t port = static_cast<uint16_t>(rng());
            uint8_t addr[16];
            for (auto& b : addr) b = static_cast<uint8_t>(rng());
            const auto end = round % 2 ? rewrite::End::src : rewrite::End::dst;
            if (c.v6) rewrite::nat_v6(iph, l4, c.proto, end, addr, port);
            else {
                uint32_t a;
                std::memcpy(&a, addr, 4);
                rewrite::nat_v4(iph, l4, c.proto, end, a, port);
            }
            // And the other end too (fnat rewrites both), then the TTL.
            const uint16_t port2 = static_cast<uint16_t>(rng());
            if (c.v6) rewrite::nat_v6(iph, l4, c.proto, rewrite::End::src, addr + 0, port2);
            else rewrite::nat_v4(iph, l4, c.proto, rewrite::End::src, 0x01020304u + round, port2);
            ASSERT_TRUE(c.v6 ? rewrite::decrement_hop_limit_v6(iph) : rewrite::decrement_ttl_v4(iph));
            ASSERT_EQ(checksum_errors(f.data(), f.len), "") << "payload " << payload << " round " << round;
            const uint8_t* field = l4 + (end == rewrite::End::src ? 0 : 2);
            if (end == rewrite::End::dst) {
                EXPECT_EQ(wire::load_be16(field), lb::net16(port));
            }
            EXPECT_EQ(std::memcmp(iph + (c.v6 ? 24 : 16), end == rewrite::End::dst ? addr : iph + (c.v6 ? 24 : 16), c.v6 ? 16 : 4), 0);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(All, RewriteChecksums,
                         ::testing::Values(Case{false, wire::IPPROTO_TCP_}, Case{false, wire::IPPROTO_UDP_},
                                           Case{true, wire::IPPROTO_TCP_}, Case{true, wire::IPPROTO_UDP_}),
                         [](const auto& info) {
                             return std::string(info.param.v6 ? "v6" : "v4") +
                                    (info.param.proto == wire::IPPROTO_TCP_ ? "_tcp" : "_udp");
                         });

TEST(Rewrite, UdpWithoutChecksumKeepsNone) {
    FrameSpec s = spec_for({false, wire::IPPROTO_UDP_}, 10);
    s.udp_no_csum = true;
    Frame f = build(s);
    rewrite::nat_v4(f.data() + 14, f.data() + 34, wire::IPPROTO_UDP_, rewrite::End::dst, 0x0b14000au, lb::net16(8080));
    EXPECT_EQ(wire::load_be16(f.data() + 34 + 6), 0);
    EXPECT_EQ(checksum_errors(f.data(), f.len), "");
}

TEST(Rewrite, TtlOfOneIsNotForwarded) {
    FrameSpec s = spec_for({false, wire::IPPROTO_TCP_}, 0);
    s.ttl = 1;
    Frame f = build(s);
    EXPECT_FALSE(rewrite::decrement_ttl_v4(f.data() + 14));
    EXPECT_EQ(f.data()[14 + 8], 1);
    s.ttl = 2;
    f = build(s);
    EXPECT_TRUE(rewrite::decrement_ttl_v4(f.data() + 14));
    EXPECT_EQ(f.data()[14 + 8], 1);
    EXPECT_EQ(checksum_errors(f.data(), f.len), "");
}

TEST(Rewrite, IpipEncapsulation) {
    Frame f = build(spec_for({false, wire::IPPROTO_TCP_}, 100));
    const size_t inner = f.len - 14;
    const auto src = ip("10.20.0.2"), dst = ip("10.20.0.11");
    rewrite::encap_ipip(f.data(), inner, src.v4_net(), dst.v4_net(), mac(0x11), mac(0x22));
    const uint8_t* out = f.data() - 20;
    const size_t len = f.len + 20;
    wire::Parsed p;
    ASSERT_EQ(wire::parse_frame(out, len, p), wire::Malformed::none);
    EXPECT_EQ(p.ip_proto, 4);
    EXPECT_EQ(wire::load_be16(out + 14 + 2), inner + 20);
    EXPECT_EQ(out[14 + 8], 64);
    EXPECT_EQ(wire::load_be16(out + 14 + 6) & 0x4000, 0x4000) << "DF copied";
    EXPECT_EQ(std::memcmp(out + 14 + 12, src.bytes.data(), 4), 0);
    EXPECT_EQ(std::memcmp(out + 14 + 16, dst.bytes.data(), 4), 0);
    EXPECT_EQ(std::memcmp(out, mac(0x11).data(), 6), 0);
    EXPECT_EQ(checksum_errors(out, len), "") << "outer header and inner packet";
}

TEST(Rewrite, Ip6ip6Encapsulation) {
    Frame f = build(spec_for({true, wire::IPPROTO_UDP_}, 33));
    const size_t inner = f.len - 14;
    const auto src = ip("fd20::2"), dst = ip("fd20::11");
    rewrite::encap_ip6ip6(f.data(), inner, src.bytes.data(), dst.bytes.data(), mac(0x11), mac(0x22));
    const uint8_t* out = f.data() - 40;
    wire::Parsed p;
    ASSERT_EQ(wire::parse_frame(out, f.len + 40, p), wire::Malformed::none);
    EXPECT_EQ(p.ip_proto, 41);
    EXPECT_EQ(wire::load_be16(out + 14 + 4), inner);
    EXPECT_EQ(out[14 + 7], 64);
    EXPECT_EQ(out[14 + 1], 0x0a) << "traffic class / flow label copied";
    EXPECT_EQ(std::memcmp(out + 14 + 24, dst.bytes.data(), 16), 0);
    EXPECT_EQ(checksum_errors(out, f.len + 40), "");
}

TEST(Rewrite, MssClampAtEvenAndOddOffsets) {
    for (bool odd : {false, true}) {
        for (bool v6 : {false, true}) {
            FrameSpec s = spec_for({v6, wire::IPPROTO_TCP_}, 0);
            s.mss = 1460;
            s.mss_odd = odd;
            Frame f = build(s);
            wire::Parsed p;
            ASSERT_EQ(wire::parse_frame(f.data(), f.len, p), wire::Malformed::none);
            uint8_t* tcp = f.data() + p.l4_offset;
            EXPECT_TRUE(rewrite::clamp_mss(tcp, p.l3_end - p.l4_offset, 1440));
            EXPECT_EQ(wire::load_be16(tcp + 20 + (odd ? 1 : 0) + 2), 1440);
            EXPECT_EQ(checksum_errors(f.data(), f.len), "") << "odd " << odd << " v6 " << v6;
            EXPECT_FALSE(rewrite::clamp_mss(tcp, p.l3_end - p.l4_offset, 1500)) << "never raised";
        }
    }
}

TEST(Neighbour, ArpRequestAndAnswer) {
    uint8_t f[kArpRequestLen];
    ASSERT_EQ(build_arp_request(f, mac(1), ip("10.20.0.2").v4_net(), ip("10.20.0.11").v4_net()), 60u);
    wire::ArpView arp;
    ASSERT_TRUE(wire::read_arp(f + 14, 46, arp));
    EXPECT_EQ(arp.op, 1);
    EXPECT_EQ(arp.target_ip, ip("10.20.0.11").v4_net());
    EXPECT_EQ(f[0], 0xff);
    // The server's reply, as it would come back.
    uint8_t reply[60] = {};
    std::memcpy(reply, f, 60);
    wire::arp_request_to_reply(reply, mac(0x11));
    IpAddress who;
    wire::Mac at;
    ASSERT_TRUE(read_neighbour_answer(reply, 60, who, at));
    EXPECT_EQ(who, ip("10.20.0.11"));
    EXPECT_EQ(at, mac(0x11));
}

TEST(Neighbour, SolicitationAndAdvertisement) {
    uint8_t f[kNeighborSolicitLen];
    const auto src = ip("fd20::2"), target = ip("fd20::11");
    ASSERT_EQ(build_neighbor_solicit(f, mac(1), src.bytes.data(), target.bytes.data()), kNeighborSolicitLen);
    wire::Parsed p;
    ASSERT_EQ(wire::parse_frame(f, sizeof f, p), wire::Malformed::none);
    uint8_t t[16];
    ASSERT_TRUE(wire::read_neighbor_solicit(f, p, t)) << "hop limit 255, valid checksum";
    EXPECT_EQ(std::memcmp(t, target.bytes.data(), 16), 0);
    EXPECT_EQ(f[0], 0x33);
    EXPECT_EQ(f[2], 0xff);
    EXPECT_EQ(f[5], 0x11);
    // The server's NA for it.
    uint8_t na[128];
    const size_t len = wire::build_neighbor_advert(na, f, p, target.bytes.data(), mac(0x11));
    IpAddress who;
    wire::Mac at;
    ASSERT_TRUE(read_neighbour_answer(na, len, who, at));
    EXPECT_EQ(who, target);
    EXPECT_EQ(at, mac(0x11));
    na[len - 1] ^= 1;   // corrupt: checksum fails
    EXPECT_FALSE(read_neighbour_answer(na, len, who, at));
}
