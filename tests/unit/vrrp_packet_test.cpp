// Unit tests for control/vrrp_packet.hpp: VRRP advert frames (RFC 3768 v2,
// RFC 5798 v3) built and received. Expected bytes are hand-assembled, and
// expected checksums come from a deliberately naive reference sum written
// here (plus literal values computed outside), never from the code under
// test. scapy (if importable) dissects our frames and builds frames for us
// to receive: an independent implementation on both sides.
#include "control/vrrp_packet.hpp"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace v = haplane::vrrp;
namespace w = haplane::wire;
using haplane::Family;
using haplane::IpAddress;
using Bytes = std::vector<uint8_t>;

namespace {

// ---------------------------------------------------------------- helpers

Bytes hex(const std::string& s) {
    Bytes out;
    int hi = -1;
    for (char c : s) {
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else continue;
        if (hi < 0) hi = d;
        else { out.push_back(static_cast<uint8_t>(hi << 4 | d)); hi = -1; }
    }
    if (hi >= 0) {
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
void wr16(Bytes& b, size_t off, uint16_t x) { b.at(off) = uint8_t(x >> 8); b.at(off + 1) = uint8_t(x); }

// Reference RFC 1071 checksum: 16-bit big-endian words (odd byte padded)
// into a wide accumulator, fold, invert.
uint16_t ref_checksum(const Bytes& b) {
    uint64_t s = 0;
    for (size_t i = 0; i < b.size(); i += 2) {
        uint16_t word = static_cast<uint16_t>(b[i] << 8);
        if (i + 1 < b.size()) word = static_cast<uint16_t>(word | b[i + 1]);
        s += word;
    }
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(~s & 0xFFFF);
}

Bytes slice(const Bytes& b, size_t from, size_t n) { return Bytes(b.begin() + from, b.begin() + from + n); }

IpAddress ip(const char* text) {
    auto a = IpAddress::parse(text);
    if (!a) {
        std::fprintf(stderr, "bad address %s\n", text);
        std::abort();
    }
    return *a;
}

const w::Mac MAC_A = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
const w::Mac MAC_B = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};

bool is_v6_frame(const Bytes& f) { return rd16(f, 12) == 0x86DD; }
size_t ip_hlen(const Bytes& f) { return is_v6_frame(f) ? 40 : size_t(f.at(14) & 0x0F) * 4; }
size_t vrrp_off(const Bytes& f) { return 14 + ip_hlen(f); }
size_t vrrp_len(const Bytes& f) {
    return is_v6_frame(f) ? rd16(f, 18) : rd16(f, 16) - ip_hlen(f);
}

// Recompute the IPv4 header checksum after a mutation (reference sum).
void fix_ip(Bytes& f) {
    if (is_v6_frame(f)) return;
    wr16(f, 24, 0);
    wr16(f, 24, ref_checksum(slice(f, 14, ip_hlen(f))));
}

// The VRRP checksum the frame should carry, from the reference sum: v2 over
// the message, v3 over the pseudo header plus the message.
uint16_t ref_vrrp_checksum(Bytes f) {
    const size_t off = vrrp_off(f), len = vrrp_len(f);
    wr16(f, off + 6, 0);
    Bytes msg = slice(f, off, len);
    if ((f.at(off) >> 4) == 2) return ref_checksum(msg);
    Bytes pseudo;
    if (is_v6_frame(f)) {
        pseudo = slice(f, 14 + 8, 32);
        pseudo.insert(pseudo.end(), {uint8_t(len >> 24), uint8_t(len >> 16), uint8_t(len >> 8), uint8_t(len),
                                     0, 0, 0, 112});
    } else {
        pseudo = slice(f, 14 + 12, 8);
        pseudo.insert(pseudo.end(), {0, 112, uint8_t(len >> 8), uint8_t(len)});
    }
    return ref_checksum(cat({pseudo, msg}));
}

void fix_vrrp(Bytes& f) { wr16(f, vrrp_off(f) + 6, ref_vrrp_checksum(f)); }

Bytes build(const v::AdvertFrame& fr, const v::Advert& a) {
    Bytes out(1600, 0xEE);                 // poison: padding must be written
    out.resize(v::build_advert(out.data(), fr, a));
    return out;
}

v::Received receive(const Bytes& f, const std::vector<v::InstanceView>& inst) {
    w::Parsed p;
    const auto m = w::parse_frame(f.data(), f.size(), p);
    EXPECT_EQ(m, w::Malformed::none) << w::to_string(m);
    return v::receive_advert(f.data(), f.size(), p, inst);
}

// ---------------------------------------------------------------- fixtures

// v2, IPv4, PASS "secret", VRID 51, two VIPs, 1 s.
v::Advert v2_advert() {
    v::Advert a;
    a.version = 2;
    a.vrid = 51;
    a.priority = 150;
    a.interval_cs = 100;
    a.auth_type = v::AUTH_PASS;
    a.auth_data = v::auth_data_from("secret");
    a.family = Family::v4;
    a.addresses = {ip("10.0.0.100"), ip("10.0.0.101")};
    return a;
}
v::AdvertFrame v4_multicast_frame(uint8_t vrid) {
    return {v::virtual_mac(vrid, Family::v4), v::multicast_mac(Family::v4), ip("10.0.0.1"),
            v::multicast_group(Family::v4)};
}
v::InstanceView v2_instance() {
    v::InstanceView i;
    i.vrid = 51;
    i.family = Family::v4;
    i.version = 2;
    i.interval_cs = 100;
    i.auth_type = v::AUTH_PASS;
    i.auth_data = v::auth_data_from("secret");
    i.vips = {ip("10.0.0.100"), ip("10.0.0.101")};
    return i;
}

// v3, IPv4, VRID 7, one VIP, 1 s (100 cs).
v::Advert v3_advert_v4() {
    v::Advert a;
    a.version = 3;
    a.vrid = 7;
    a.priority = 100;
    a.interval_cs = 100;
    a.family = Family::v4;
    a.addresses = {ip("192.168.1.254")};
    return a;
}
v::AdvertFrame v3_frame_v4() {
    return {v::virtual_mac(7, Family::v4), v::multicast_mac(Family::v4), ip("192.168.1.1"),
            v::multicast_group(Family::v4)};
}
v::InstanceView v3_instance_v4() {
    v::InstanceView i;
    i.vrid = 7;
    i.family = Family::v4;
    i.version = 3;
    i.interval_cs = 100;
    i.vips = {ip("192.168.1.254")};
    return i;
}

// v3, IPv6, VRID 7 (same VRID as the IPv4 one: separate instance), 3 VIPs.
v::Advert v3_advert_v6() {
    v::Advert a;
    a.version = 3;
    a.vrid = 7;
    a.priority = 254;
    a.interval_cs = 35;
    a.family = Family::v6;
    a.addresses = {ip("2001:db8::100"), ip("2001:db8::101"), ip("fe80::1")};
    return a;
}
v::AdvertFrame v3_frame_v6() {
    return {v::virtual_mac(7, Family::v6), v::multicast_mac(Family::v6), ip("fe80::200:5eff:fe00:207"),
            v::multicast_group(Family::v6)};
}
v::InstanceView v3_instance_v6() {
    v::InstanceView i;
    i.vrid = 7;
    i.family = Family::v6;
    i.version = 3;
    i.interval_cs = 35;
    i.vips = {ip("fe80::1"), ip("2001:db8::101"), ip("2001:db8::100")};   // other order
    return i;
}

std::vector<v::InstanceView> all_instances() {
    return {v3_instance_v4(), v2_instance(), v3_instance_v6()};
}

} // namespace

// ================================================================ small helpers

TEST(VrrpHelpers, Macs) {
    EXPECT_EQ(v::virtual_mac(51, Family::v4), (w::Mac{0x00, 0x00, 0x5e, 0x00, 0x01, 0x33}));
    EXPECT_EQ(v::virtual_mac(255, Family::v6), (w::Mac{0x00, 0x00, 0x5e, 0x00, 0x02, 0xff}));
    EXPECT_EQ(v::multicast_mac(Family::v4), (w::Mac{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12}));
    EXPECT_EQ(v::multicast_mac(Family::v6), (w::Mac{0x33, 0x33, 0x00, 0x00, 0x00, 0x12}));
}

TEST(VrrpHelpers, MulticastGroups) {
    EXPECT_EQ(v::multicast_group(Family::v4), ip("224.0.0.18"));
    EXPECT_EQ(v::multicast_group(Family::v6), ip("ff02::12"));
    EXPECT_EQ(v::multicast_group(Family::v4).str(), "224.0.0.18");
    EXPECT_EQ(v::multicast_group(Family::v6).str(), "ff02::12");
}

TEST(VrrpHelpers, AuthDataFrom) {
    EXPECT_EQ(v::auth_data_from("secret"), (std::array<uint8_t, 8>{'s', 'e', 'c', 'r', 'e', 't', 0, 0}));
    EXPECT_EQ(v::auth_data_from(""), (std::array<uint8_t, 8>{}));
    EXPECT_EQ(v::auth_data_from("12345678"), (std::array<uint8_t, 8>{'1', '2', '3', '4', '5', '6', '7', '8'}));
    EXPECT_EQ(v::auth_data_from("123456789abc"), v::auth_data_from("12345678"));
}

TEST(VrrpHelpers, DropNames) {
    const std::pair<v::Drop, const char*> names[] = {
        {v::Drop::none, "none"},
        {v::Drop::bad_ttl, "bad_ttl"},
        {v::Drop::too_short, "too_short"},
        {v::Drop::bad_version, "bad_version"},
        {v::Drop::bad_auth_type, "bad_auth_type"},
        {v::Drop::bad_password, "bad_password"},
        {v::Drop::bad_interval, "bad_interval"},
        {v::Drop::bad_type, "bad_type"},
        {v::Drop::bad_checksum, "bad_checksum"},
        {v::Drop::unknown_vrid, "unknown_vrid"},
        {v::Drop::address_mismatch, "address_mismatch"},
        {v::Drop::not_a_peer, "not_a_peer"},
    };
    static_assert(std::size(names) == size_t(v::Drop::count_));
    for (const auto& [d, n] : names) EXPECT_STREQ(v::to_string(d), n);
}

// ================================================================ exact bytes

TEST(VrrpBuild, V2ExactBytes) {
    // Literal checksums computed outside (Python), cross-checked with the
    // reference sum below.
    Bytes want = cat({
        hex("01005e000012 00005e000133 0800"),
        hex("45c0 002c 0000 0000 ff70 d08e 0a000001 e0000012"),
        hex("21 33 96 02 01 01 f6b3 0a000064 0a000065 7365637265740000"),
        hex("0000"),                                             // pad to 60
    });
    Bytes ip_hdr = slice(want, 14, 20);
    wr16(ip_hdr, 10, 0);
    EXPECT_EQ(ref_checksum(ip_hdr), 0xd08e);
    Bytes msg = slice(want, 34, 24);
    wr16(msg, 6, 0);
    EXPECT_EQ(ref_checksum(msg), 0xf6b3);

    const Bytes got = build(v4_multicast_frame(51), v2_advert());
    ASSERT_EQ(got.size(), 60u);
    EXPECT_EQ(got, want);
}

TEST(VrrpBuild, V3Ipv4ExactBytes) {
    Bytes want = cat({
        hex("01005e000012 00005e000107 0800"),
        hex("45c0 0020 0000 0000 ff70 18f2 c0a80101 e0000012"),
        hex("31 07 64 01 0064 05b4 c0a801fe"),
        Bytes(14, 0),                                            // 46 -> 60
    });
    Bytes ip_hdr = slice(want, 14, 20);
    wr16(ip_hdr, 10, 0);
    EXPECT_EQ(ref_checksum(ip_hdr), 0x18f2);
    EXPECT_EQ(ref_vrrp_checksum(want), 0x05b4);

    const Bytes got = build(v3_frame_v4(), v3_advert_v4());
    ASSERT_EQ(got.size(), 60u);
    EXPECT_EQ(got, want);
}

TEST(VrrpBuild, V3Ipv6Layout) {
    const Bytes got = build(v3_frame_v6(), v3_advert_v6());
    ASSERT_EQ(got.size(), 14u + 40 + 8 + 48);                    // no padding needed
    EXPECT_EQ(slice(got, 0, 14), hex("333300000012 00005e000207 86dd"));
    EXPECT_EQ(slice(got, 14, 8), hex("6c000000 0038 70 ff"));    // tc 0xc0, plen 56
    EXPECT_EQ(slice(got, 22, 16), hex("fe800000000000000200 5eff fe00 0207"));
    EXPECT_EQ(slice(got, 38, 16), hex("ff020000000000000000000000000012"));
    EXPECT_EQ(slice(got, 54, 6), hex("31 07 fe 03 0023"));      // 35 cs
    EXPECT_EQ(rd16(got, 60), ref_vrrp_checksum(got));
    EXPECT_EQ(slice(got, 62, 16), hex("20010db8000000000000000000000100"));
    EXPECT_EQ(slice(got, 78, 16), hex("20010db8000000000000000000000101"));
    EXPECT_EQ(slice(got, 94, 16), hex("fe800000000000000000000000000001"));
}

TEST(VrrpBuild, V2IntervalInWholeSeconds) {
    auto a = v2_advert();
    a.interval_cs = 300;
    Bytes f = build(v4_multicast_frame(51), a);
    EXPECT_EQ(f.at(34 + 5), 3);
    a.interval_cs = 250;                                         // truncated
    f = build(v4_multicast_frame(51), a);
    EXPECT_EQ(f.at(34 + 5), 2);
    auto inst = v2_instance();
    inst.interval_cs = 200;
    const auto r = receive(f, {inst});
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_EQ(r.advert.interval_cs, 200);
}

TEST(VrrpBuild, V2AuthNoneSendsZeros) {
    auto a = v2_advert();
    a.auth_type = v::AUTH_NONE;                                  // auth_data still "secret"
    const Bytes f = build(v4_multicast_frame(51), a);
    EXPECT_EQ(f.at(34 + 4), 0);
    EXPECT_EQ(slice(f, 34 + 16, 8), Bytes(8, 0));
    EXPECT_EQ(rd16(f, 34 + 6), ref_vrrp_checksum(f));
}

TEST(VrrpBuild, V3IntervalTwelveBits) {
    auto a = v3_advert_v4();
    a.interval_cs = 4095;
    Bytes f = build(v3_frame_v4(), a);
    EXPECT_EQ(rd16(f, 34 + 4), 0x0FFF);
    a.interval_cs = 0xF123;                                      // reserved bits stay clear
    f = build(v3_frame_v4(), a);
    EXPECT_EQ(rd16(f, 34 + 4), 0x0123);
    EXPECT_EQ(rd16(f, 34 + 6), ref_vrrp_checksum(f));
}

TEST(VrrpBuild, TooManyIpv6AddressesAreCapped) {
    auto a = v3_advert_v6();
    a.addresses.clear();
    for (int i = 0; i < 120; ++i) {
        IpAddress x = ip("2001:db8::");
        x.bytes[15] = uint8_t(i);
        a.addresses.push_back(x);
    }
    const Bytes f = build(v3_frame_v6(), a);
    const size_t n = v::max_addresses(Family::v6);
    EXPECT_EQ(n, 90u);
    EXPECT_EQ(f.size(), 14 + 40 + 8 + 16 * n);
    EXPECT_EQ(f.at(54 + 3), n);
    EXPECT_EQ(rd16(f, 18), 8 + 16 * n);
    EXPECT_EQ(rd16(f, 60), ref_vrrp_checksum(f));
}

// ================================================================ round trips

TEST(VrrpRoundTrip, V2PassIpv4) {
    const auto inst = all_instances();
    const Bytes f = build(v4_multicast_frame(51), v2_advert());
    w::Parsed p;
    ASSERT_EQ(w::parse_frame(f.data(), f.size(), p), w::Malformed::none);
    EXPECT_EQ(p.l3_end, 14 + 44);                               // padding is not VRRP
    const auto r = v::receive_advert(f.data(), f.size(), p, inst);
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);
    EXPECT_EQ(r.instance, &inst[1]);
    EXPECT_EQ(r.advert.version, 2);
    EXPECT_EQ(r.advert.vrid, 51);
    EXPECT_EQ(r.advert.priority, 150);
    EXPECT_EQ(r.advert.interval_cs, 100);
    EXPECT_EQ(r.advert.auth_type, v::AUTH_PASS);
    EXPECT_EQ(r.advert.auth_data, v::auth_data_from("secret"));
    EXPECT_EQ(r.advert.family, Family::v4);
    EXPECT_EQ(r.advert.source, ip("10.0.0.1"));
    EXPECT_EQ(r.advert.addresses, (std::vector<IpAddress>{ip("10.0.0.100"), ip("10.0.0.101")}));
}

TEST(VrrpRoundTrip, V3Ipv4) {
    const auto inst = all_instances();
    const Bytes f = build(v3_frame_v4(), v3_advert_v4());
    EXPECT_EQ(f.size(), 60u);
    EXPECT_TRUE(std::all_of(f.begin() + 46, f.end(), [](uint8_t b) { return b == 0; }));
    const auto r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);
    EXPECT_EQ(r.instance, &inst[0]);
    EXPECT_EQ(r.advert.version, 3);
    EXPECT_EQ(r.advert.vrid, 7);
    EXPECT_EQ(r.advert.priority, 100);
    EXPECT_EQ(r.advert.interval_cs, 100);
    EXPECT_EQ(r.advert.family, Family::v4);
    EXPECT_EQ(r.advert.source, ip("192.168.1.1"));
    EXPECT_EQ(r.advert.addresses, (std::vector<IpAddress>{ip("192.168.1.254")}));
}

TEST(VrrpRoundTrip, V3Ipv6) {
    const auto inst = all_instances();
    const Bytes f = build(v3_frame_v6(), v3_advert_v6());
    const auto r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);                            // same set, other order
    EXPECT_EQ(r.instance, &inst[2]);
    EXPECT_EQ(r.advert.version, 3);
    EXPECT_EQ(r.advert.vrid, 7);
    EXPECT_EQ(r.advert.priority, 254);
    EXPECT_EQ(r.advert.interval_cs, 35);
    EXPECT_EQ(r.advert.family, Family::v6);
    EXPECT_EQ(r.advert.source, ip("fe80::200:5eff:fe00:207"));
    EXPECT_EQ(r.advert.addresses, v3_advert_v6().addresses);
}

TEST(VrrpRoundTrip, V3Ipv6SmallFrameNotPadded) {
    auto a = v3_advert_v6();
    a.addresses.resize(1);
    const Bytes f = build(v3_frame_v6(), a);
    EXPECT_EQ(f.size(), 14u + 40 + 8 + 16);
    auto in = v3_instance_v6();
    in.vips = {ip("2001:db8::100")};
    const auto r = receive(f, {in});
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);
}

TEST(VrrpRoundTrip, ZeroAddresses) {
    auto a = v3_advert_v4();
    a.addresses.clear();
    const Bytes f = build(v3_frame_v4(), a);
    EXPECT_EQ(f.size(), 60u);
    auto in = v3_instance_v4();
    in.vips.clear();
    const auto r = receive(f, {in});
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);
    EXPECT_TRUE(r.advert.addresses.empty());
}

// ================================================================ drop reasons

TEST(VrrpDrop, BadTtlMulticastV4) {
    Bytes f = build(v4_multicast_frame(51), v2_advert());
    f[14 + 8] = 254;
    fix_ip(f);
    const auto r = receive(f, all_instances());
    EXPECT_EQ(r.drop, v::Drop::bad_ttl) << v::to_string(r.drop);
    // decoded as far as it got: the fixed header and the source
    EXPECT_EQ(r.advert.vrid, 51);
    EXPECT_EQ(r.advert.priority, 150);
    EXPECT_EQ(r.advert.version, 2);
    EXPECT_EQ(r.advert.source, ip("10.0.0.1"));
}

TEST(VrrpDrop, BadHopLimitV6) {
    Bytes f = build(v3_frame_v6(), v3_advert_v6());
    f[14 + 7] = 1;
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_ttl);
}

TEST(VrrpDrop, BadTtlBeforeBadChecksum) {
    Bytes f = build(v3_frame_v4(), v3_advert_v4());
    f[14 + 8] = 64;
    fix_ip(f);
    f[34 + 7] ^= 0x55;                                           // VRRP checksum wrong too
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_ttl);
}

TEST(VrrpDrop, UnicastDestinationSkipsTtlCheck) {
    auto fr = v3_frame_v4();
    fr.dst_mac = MAC_B;
    fr.dst_ip = ip("192.168.1.2");
    Bytes f = build(fr, v3_advert_v4());
    f[14 + 8] = 63;                                              // routed one hop
    fix_ip(f);
    auto in = v3_instance_v4();
    in.unicast_peers = {ip("192.168.1.3"), ip("192.168.1.1")};
    const auto r = receive(f, {in});
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
}

TEST(VrrpDrop, TooShortCountBeyondDatagramDespitePadding) {
    Bytes f = build(v3_frame_v4(), v3_advert_v4());
    ASSERT_EQ(f.size(), 60u);                                    // 14 bytes of padding
    f[34 + 3] = 2;                                               // claims 2 addresses
    fix_vrrp(f);
    const auto r = receive(f, all_instances());
    EXPECT_EQ(r.drop, v::Drop::too_short) << v::to_string(r.drop);
    EXPECT_EQ(r.advert.vrid, 7);
}

TEST(VrrpDrop, TooShortV2WithoutAuthData) {
    Bytes f = build(v4_multicast_frame(51), v2_advert());
    wr16(f, 16, rd16(f, 16) - 8);                                // datagram ends before auth
    fix_ip(f);
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::too_short);
}

TEST(VrrpDrop, TooShortIpv6) {
    Bytes f = build(v3_frame_v6(), v3_advert_v6());
    f[54 + 3] = 4;                                               // 3 present
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::too_short);
}

TEST(VrrpDrop, TooShortBeforeBadVersion) {
    Bytes f = build(v3_frame_v4(), v3_advert_v4());
    f[34] = 0x41;
    f[34 + 3] = 9;
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::too_short);
}

TEST(VrrpDrop, BadVersionNibble) {
    for (uint8_t ver : {0, 1, 4, 15}) {
        Bytes f = build(v3_frame_v4(), v3_advert_v4());
        f[34] = uint8_t(ver << 4 | 1);
        fix_vrrp(f);
        EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_version) << int(ver);
    }
}

TEST(VrrpDrop, BadVersionNotTheInstances) {
    // v3 advert for VRID 51, whose instance speaks v2
    auto a = v3_advert_v4();
    a.vrid = 51;
    Bytes f = build(v4_multicast_frame(51), a);
    auto inst = all_instances();
    auto r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::bad_version) << v::to_string(r.drop);
    EXPECT_EQ(r.instance, &inst[1]);
    // and the other way round: v2 advert for a v3 instance
    auto b = v2_advert();
    b.vrid = 7;
    f = build(v4_multicast_frame(7), b);
    r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::bad_version);
    EXPECT_EQ(r.instance, &inst[0]);
}

TEST(VrrpDrop, BadVersionV2OverIpv6) {
    auto a = v3_advert_v6();
    a.version = 2;
    Bytes f = build(v3_frame_v6(), a);
    ASSERT_EQ(f.size(), 14u + 40 + 8 + 48 + 8);                  // built as asked, with auth
    auto in = v3_instance_v6();
    in.version = 2;                                              // even if configured so
    EXPECT_EQ(receive(f, {in}).drop, v::Drop::bad_version);
}

TEST(VrrpDrop, BadAuthType) {
    auto inst = all_instances();
    inst[1].auth_type = v::AUTH_NONE;
    const Bytes f = build(v4_multicast_frame(51), v2_advert());
    const auto r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::bad_auth_type) << v::to_string(r.drop);
    EXPECT_EQ(r.instance, &inst[1]);
}

TEST(VrrpDrop, BadPassword) {
    auto inst = all_instances();
    inst[1].auth_data = v::auth_data_from("secreT");
    const Bytes f = build(v4_multicast_frame(51), v2_advert());
    EXPECT_EQ(receive(f, inst).drop, v::Drop::bad_password);
}

TEST(VrrpDrop, BadPasswordBeforeBadChecksum) {
    Bytes f = build(v4_multicast_frame(51), v2_advert());
    f[34 + 16 + 7] = 'x';                                        // password changed, checksum stale
    const auto r = receive(f, all_instances());
    EXPECT_EQ(r.drop, v::Drop::bad_password) << v::to_string(r.drop);
    fix_vrrp(f);
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_password);
}

TEST(VrrpDrop, AuthNoneIgnoresAuthData) {
    auto a = v2_advert();
    a.auth_type = v::AUTH_NONE;
    Bytes f = build(v4_multicast_frame(51), a);
    f[34 + 16] = 'z';                                            // junk in the auth data
    fix_vrrp(f);
    auto inst = all_instances();
    inst[1].auth_type = v::AUTH_NONE;
    EXPECT_EQ(receive(f, inst).drop, v::Drop::none);
}

TEST(VrrpDrop, BadInterval) {
    auto inst = all_instances();
    inst[1].interval_cs = 200;
    const Bytes f = build(v4_multicast_frame(51), v2_advert());
    EXPECT_EQ(receive(f, inst).drop, v::Drop::bad_interval);
}

TEST(VrrpDrop, V3IntervalDifferenceIsAccepted) {
    auto inst = all_instances();
    inst[0].interval_cs = 300;
    const Bytes f = build(v3_frame_v4(), v3_advert_v4());
    const auto r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::none);
    EXPECT_EQ(r.advert.interval_cs, 100);
}

TEST(VrrpDrop, BadType) {
    Bytes f = build(v3_frame_v4(), v3_advert_v4());
    f[34] = 0x32;
    fix_vrrp(f);
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_type);
    f[34 + 6] ^= 0xFF;                                           // and a bad checksum
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_type);
}

TEST(VrrpDrop, BadIntervalBeforeBadType) {
    Bytes f = build(v4_multicast_frame(51), v2_advert());
    f[34] = 0x22;
    f[34 + 5] = 9;
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_interval);
}

TEST(VrrpDrop, BadChecksumEachKind) {
    for (int kind = 0; kind < 3; ++kind) {
        Bytes f = kind == 0 ? build(v4_multicast_frame(51), v2_advert())
                : kind == 1 ? build(v3_frame_v4(), v3_advert_v4())
                            : build(v3_frame_v6(), v3_advert_v6());
        ASSERT_EQ(receive(f, all_instances()).drop, v::Drop::none) << kind;
        f[vrrp_off(f) + 2] ^= 0x01;                              // priority changed, checksum stale
        const auto r = receive(f, all_instances());
        EXPECT_EQ(r.drop, v::Drop::bad_checksum) << kind;
        EXPECT_NE(r.instance, nullptr) << kind;
    }
}

TEST(VrrpDrop, V3ChecksumNeedsPseudoHeader) {
    for (bool six : {false, true}) {
        Bytes f = six ? build(v3_frame_v6(), v3_advert_v6()) : build(v3_frame_v4(), v3_advert_v4());
        const size_t off = vrrp_off(f), len = vrrp_len(f);
        wr16(f, off + 6, 0);
        wr16(f, off + 6, ref_checksum(slice(f, off, len)));      // v2-style, no pseudo header
        EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_checksum) << six;
        // The pseudo header covers the addresses: a changed source breaks it.
        f = six ? build(v3_frame_v6(), v3_advert_v6()) : build(v3_frame_v4(), v3_advert_v4());
        f[six ? 14 + 8 + 15 : 14 + 12 + 3] ^= 0x01;
        fix_ip(f);
        EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_checksum) << six;
    }
}

TEST(VrrpDrop, ChecksumAllOnesAccepted) {
    // 0x0000 and 0xFFFF are both zero in one's complement: a sender may put
    // either. VRID and priority together reach every 16-bit sum, so some
    // pair makes the built checksum 0x0000; the 0xFFFF spelling must pass.
    for (int vrid = 1; vrid < 256; ++vrid) {
        for (int prio = 1; prio < 256; ++prio) {
            auto a = v3_advert_v4();
            a.vrid = uint8_t(vrid);
            a.priority = uint8_t(prio);
            Bytes f = build(v3_frame_v4(), a);
            if (rd16(f, 34 + 6) != 0x0000) continue;
            auto in = v3_instance_v4();
            in.vrid = uint8_t(vrid);
            EXPECT_EQ(receive(f, {in}).drop, v::Drop::none);
            wr16(f, 34 + 6, 0xFFFF);
            EXPECT_EQ(receive(f, {in}).drop, v::Drop::none);
            wr16(f, 34 + 6, 0xFFFE);
            EXPECT_EQ(receive(f, {in}).drop, v::Drop::bad_checksum);
            return;
        }
    }
    FAIL() << "no VRID/priority gives a zero checksum";
}

TEST(VrrpDrop, UnknownVrid) {
    auto a = v3_advert_v4();
    a.vrid = 99;
    Bytes f = build(v3_frame_v4(), a);
    auto r = receive(f, all_instances());
    EXPECT_EQ(r.drop, v::Drop::unknown_vrid);
    EXPECT_EQ(r.instance, nullptr);
    EXPECT_EQ(r.advert.vrid, 99);
    // unknown VRID and a bad checksum: the checksum check runs first
    f[34 + 7] ^= 0x10;
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::bad_checksum);
}

TEST(VrrpDrop, UnknownVridOtherFamily) {
    // VRID 51 exists for IPv4 only
    auto a = v3_advert_v6();
    a.vrid = 51;
    const Bytes f = build(v3_frame_v6(), a);
    const auto r = receive(f, all_instances());
    EXPECT_EQ(r.drop, v::Drop::unknown_vrid);
    EXPECT_EQ(r.instance, nullptr);
}

TEST(VrrpDrop, UnknownVridV2NoInstanceChecks) {
    // No instance: auth and interval cannot be compared; unknown_vrid.
    auto a = v2_advert();
    a.vrid = 52;
    a.interval_cs = 700;
    const Bytes f = build(v4_multicast_frame(52), a);
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::unknown_vrid);
}

TEST(VrrpDrop, AddressMismatchIsAccepted) {
    auto inst = all_instances();
    inst[1].vips = {ip("10.0.0.100"), ip("10.0.0.102")};       // content differs
    const Bytes f = build(v4_multicast_frame(51), v2_advert());
    auto r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::none);
    EXPECT_TRUE(r.address_mismatch);
    EXPECT_EQ(r.instance, &inst[1]);

    inst[1].vips = {ip("10.0.0.101"), ip("10.0.0.100"), ip("10.0.0.103")};   // count differs
    r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::none);
    EXPECT_TRUE(r.address_mismatch);

    inst[1].vips = {ip("10.0.0.100")};                          // subset
    EXPECT_TRUE(receive(f, inst).address_mismatch);

    inst[1].vips = {ip("10.0.0.101"), ip("10.0.0.100")};        // same set, other order
    r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::none);
    EXPECT_FALSE(r.address_mismatch);
}

TEST(VrrpDrop, NotAPeer) {
    auto inst = all_instances();
    inst[0].unicast_peers = {ip("192.168.1.2"), ip("192.168.1.3")};
    auto fr = v3_frame_v4();
    fr.dst_mac = MAC_A;
    fr.dst_ip = ip("192.168.1.2");
    const Bytes f = build(fr, v3_advert_v4());                   // from 192.168.1.1
    auto r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::not_a_peer);
    EXPECT_EQ(r.instance, &inst[0]);

    inst[0].vips = {ip("192.168.1.253")};                       // mismatch flagged, still dropped
    r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::not_a_peer);
    EXPECT_TRUE(r.address_mismatch);

    inst[0].unicast_peers.push_back(ip("192.168.1.1"));
    r = receive(f, inst);
    EXPECT_EQ(r.drop, v::Drop::none);
    EXPECT_TRUE(r.address_mismatch);
}

TEST(VrrpDrop, NotAPeerIpv6) {
    auto inst = all_instances();
    inst[2].unicast_peers = {ip("fe80::200:5eff:fe00:208")};
    const Bytes f = build(v3_frame_v6(), v3_advert_v6());
    EXPECT_EQ(receive(f, inst).drop, v::Drop::not_a_peer);
    inst[2].unicast_peers.push_back(ip("fe80::200:5eff:fe00:207"));
    EXPECT_EQ(receive(f, inst).drop, v::Drop::none);
}

TEST(VrrpDrop, NotVrrpProtocol) {
    Bytes f = build(v3_frame_v4(), v3_advert_v4());
    f[14 + 9] = 17;                                              // UDP now (8 bytes fit)
    fix_ip(f);
    EXPECT_EQ(receive(f, all_instances()).drop, v::Drop::too_short);
}

// ================================================================ scapy interop

namespace {

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& suffix) {
        path = (std::filesystem::temp_directory_path() /
                ("haplane_vrrp_test_" + std::to_string(::getpid()) + "_" + suffix)).string();
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
    while (pcap_next_ex(p, &h, &data) == 1) out.emplace_back(data, data + h->caplen);
    pcap_close(p);
    return out;
}

bool scapy_available() {
    return std::system("/usr/bin/python3 -c 'from scapy.layers.vrrp import VRRP, VRRPv3' "
                       ">/dev/null 2>&1") == 0;
}

// Run a Python script with arguments; returns its exit status, output in `out`.
int run_python(const std::string& script_text, const std::string& args, std::string& out) {
    TempFile script("script.py");
    std::ofstream(script.path) << script_text;
    const std::string cmd = "/usr/bin/python3 " + script.path + " " + args + " 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return -1;
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe)) out += buf;
    return ::pclose(pipe);
}

} // namespace

TEST(VrrpScapy, DissectsBuiltAdverts) {
    if (!scapy_available()) GTEST_SKIP() << "scapy VRRP layers not importable by /usr/bin/python3";
    TempFile pcap("built.pcap");
    write_pcap(pcap.path, {build(v4_multicast_frame(51), v2_advert()),
                           build(v3_frame_v4(), v3_advert_v4()),
                           build(v3_frame_v6(), v3_advert_v6())});
    std::string out;
    const int rc = run_python(R"PY(
import sys, logging
logging.getLogger("scapy").setLevel(logging.ERROR)
from scapy.all import rdpcap, raw, Ether, IP, IPv6
from scapy.layers.vrrp import VRRP, VRRPv3
def recompute(p, layer, field):
    have = getattr(p[layer], field)
    q = Ether(raw(p))
    delattr(q[layer], field)
    return have, getattr(Ether(raw(q))[layer], field)
for i, p in enumerate(rdpcap(sys.argv[1])):
    layer = VRRPv3 if VRRPv3 in p else VRRP
    x = p[layer]
    line = "%d %s v%d type=%d vrid=%d prio=%d ipcount=%d adv=%d addrs=%s" % (
        i, layer.__name__, x.version, x.type, x.vrid, x.priority, x.ipcount, x.adv,
        ",".join(x.addrlist))
    if layer is VRRP:
        auth = x.auth1.to_bytes(4, "big") + x.auth2.to_bytes(4, "big")
        line += " authtype=%d auth=%s" % (x.authtype, auth.rstrip(b"\0").decode())
    if IP in p:
        have, want = recompute(p, IP, "chksum")
        line += " ip=%s>%s tos=%#x ttl=%d ipsum=%s" % (p[IP].src, p[IP].dst, p[IP].tos, p[IP].ttl,
                                                       "ok" if have == want else "%#x!=%#x" % (have, want))
    else:
        line += " ip6=%s>%s tc=%#x hlim=%d" % (p[IPv6].src, p[IPv6].dst, p[IPv6].tc, p[IPv6].hlim)
    have, want = recompute(p, layer, "chksum")
    line += " chksum=%s" % ("ok" if have == want else "%#x!=%#x" % (have, want))
    print(line)
)PY",
                              pcap.path, out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(out,
              "0 VRRP v2 type=1 vrid=51 prio=150 ipcount=2 adv=1 addrs=10.0.0.100,10.0.0.101 "
              "authtype=1 auth=secret ip=10.0.0.1>224.0.0.18 tos=0xc0 ttl=255 ipsum=ok chksum=ok\n"
              "1 VRRPv3 v3 type=1 vrid=7 prio=100 ipcount=1 adv=100 addrs=192.168.1.254 "
              "ip=192.168.1.1>224.0.0.18 tos=0xc0 ttl=255 ipsum=ok chksum=ok\n"
              "2 VRRPv3 v3 type=1 vrid=7 prio=254 ipcount=3 adv=35 "
              "addrs=2001:db8::100,2001:db8::101,fe80::1 "
              "ip6=fe80::200:5eff:fe00:207>ff02::12 tc=0xc0 hlim=255 chksum=ok\n");
}

TEST(VrrpScapy, ReceivesScapyBuiltAdverts) {
    if (!scapy_available()) GTEST_SKIP() << "scapy VRRP layers not importable by /usr/bin/python3";
    TempFile pcap("scapy_built.pcap");
    std::string out;
    const int rc = run_python(R"PY(
import sys, logging
logging.getLogger("scapy").setLevel(logging.ERROR)
from scapy.all import wrpcap, Ether, IP, IPv6
from scapy.layers.vrrp import VRRP, VRRPv3
src = "02:00:00:00:00:0a"
frames = [
    Ether(src=src) / IP(src="10.0.0.2", dst="224.0.0.18", ttl=255, proto=112) /
        VRRPv3(vrid=51, priority=150, ipcount=1, addrlist=["10.0.0.100"]),
    Ether(src=src) / IP(src="10.0.0.2", dst="224.0.0.18", ttl=255, proto=112) /
        VRRP(vrid=51, priority=200, ipcount=1, authtype=1, adv=1, addrlist=["10.0.0.100"],
             auth1=int.from_bytes(b"secr", "big"), auth2=int.from_bytes(b"et\0\0", "big")),
    Ether(src=src) / IPv6(src="fe80::2", dst="ff02::12", hlim=255) /
        VRRPv3(vrid=51, priority=90, adv=50, addrlist=["2001:db8::100", "2001:db8::101"]),
]
wrpcap(sys.argv[1], frames)
print("OK")
)PY",
                              pcap.path, out);
    ASSERT_EQ(rc, 0) << out;
    const auto frames = read_pcap(pcap.path);
    ASSERT_EQ(frames.size(), 3u);

    v::InstanceView v3i = v3_instance_v4();
    v3i.vrid = 51;
    v3i.vips = {ip("10.0.0.100")};
    v::InstanceView v2i = v2_instance();
    v2i.vips = {ip("10.0.0.100")};
    v::InstanceView v6i = v3_instance_v6();
    v6i.vrid = 51;
    v6i.vips = {ip("2001:db8::101"), ip("2001:db8::100")};

    // VRRPv3 over IPv4
    auto r = receive(frames[0], {v3i});
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);
    EXPECT_EQ(r.advert.version, 3);
    EXPECT_EQ(r.advert.vrid, 51);
    EXPECT_EQ(r.advert.priority, 150);
    EXPECT_EQ(r.advert.interval_cs, 100);
    EXPECT_EQ(r.advert.source, ip("10.0.0.2"));
    EXPECT_EQ(r.advert.addresses, (std::vector<IpAddress>{ip("10.0.0.100")}));

    // VRRPv2 with PASS
    r = receive(frames[1], {v2i});
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);
    EXPECT_EQ(r.advert.version, 2);
    EXPECT_EQ(r.advert.vrid, 51);
    EXPECT_EQ(r.advert.priority, 200);
    EXPECT_EQ(r.advert.interval_cs, 100);
    EXPECT_EQ(r.advert.auth_type, v::AUTH_PASS);
    EXPECT_EQ(r.advert.auth_data, v::auth_data_from("secret"));
    EXPECT_EQ(r.advert.addresses, (std::vector<IpAddress>{ip("10.0.0.100")}));
    v2i.auth_data = v::auth_data_from("secrex");
    EXPECT_EQ(receive(frames[1], {v2i}).drop, v::Drop::bad_password);

    // VRRPv3 over IPv6
    r = receive(frames[2], {v6i});
    EXPECT_EQ(r.drop, v::Drop::none) << v::to_string(r.drop);
    EXPECT_FALSE(r.address_mismatch);
    EXPECT_EQ(r.advert.version, 3);
    EXPECT_EQ(r.advert.family, Family::v6);
    EXPECT_EQ(r.advert.priority, 90);
    EXPECT_EQ(r.advert.interval_cs, 50);
    EXPECT_EQ(r.advert.source, ip("fe80::2"));
    EXPECT_EQ(r.advert.addresses, (std::vector<IpAddress>{ip("2001:db8::100"), ip("2001:db8::101")}));

    // Our builder agrees byte for byte with scapy's VRRPv3 (IPv4) message.
    v::Advert a;
    a.version = 3;
    a.vrid = 51;
    a.priority = 150;
    a.interval_cs = 100;
    a.addresses = {ip("10.0.0.100")};
    v::AdvertFrame fr{MAC_A, v::multicast_mac(Family::v4), ip("10.0.0.2"), v::multicast_group(Family::v4)};
    const Bytes ours = build(fr, a);
    EXPECT_EQ(slice(ours, 34, 12), slice(frames[0], 34, 12));
}
