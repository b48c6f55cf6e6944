// classify(): every verdict from crafted bytes, no DPDK.
#include "config/address.hpp"
#include "dataplane/classify.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace haplane;
using namespace haplane::dataplane;

namespace {

const wire::Mac PORT_MAC = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
const wire::Mac PEER_MAC = {0x02, 0, 0, 0, 0, 0x0c};

PortAddresses port_table() {
    PortAddresses t;
    t.mac = PORT_MAC;
    t.v4.push_back(IpAddress::parse("10.0.0.1")->v4_net());
    t.v6.push_back(IpAddress::parse("fd00::1")->bytes);
    t.v6.push_back(link_local_from_mac(PORT_MAC));
    return t;
}

std::vector<uint8_t> ethernet(uint16_t type, const wire::Mac& dst = PORT_MAC) {
    std::vector<uint8_t> f(14);
    std::memcpy(f.data(), dst.data(), 6);
    std::memcpy(f.data() + 6, PEER_MAC.data(), 6);
    wire::store_be16(f.data() + 12, type);
    return f;
}

std::vector<uint8_t> ipv4(const char* dst, uint8_t proto, size_t l4_len = 8) {
    auto f = ethernet(wire::ETHERTYPE_IPV4);
    size_t ip = f.size();
    f.resize(ip + 20 + l4_len);
    f[ip] = 0x45;
    wire::store_be16(&f[ip + 2], static_cast<uint16_t>(20 + l4_len));
    f[ip + 8] = 64;
    f[ip + 9] = proto;
    uint32_t src = IpAddress::parse("10.0.0.2")->v4_net(), d = IpAddress::parse(dst)->v4_net();
    std::memcpy(&f[ip + 12], &src, 4);
    std::memcpy(&f[ip + 16], &d, 4);
    wire::store_be16(&f[ip + 10], wire::ipv4_header_checksum(&f[ip], 20));
    if (proto == wire::IPPROTO_TCP_) f[ip + 20 + 12] = 0x50;   // data offset 5
    return f;
}

std::vector<uint8_t> ipv6(const char* dst, uint8_t next, size_t l4_len = 8) {
    auto f = ethernet(wire::ETHERTYPE_IPV6);
    size_t ip = f.size();
    f.resize(ip + 40 + l4_len);
    f[ip] = 0x60;
    wire::store_be16(&f[ip + 4], static_cast<uint16_t>(l4_len));
    f[ip + 6] = next;
    f[ip + 7] = 255;
    auto s = IpAddress::parse("fd00::2")->bytes, d = IpAddress::parse(dst)->bytes;
    std::memcpy(&f[ip + 8], s.data(), 16);
    std::memcpy(&f[ip + 24], d.data(), 16);
    return f;
}

std::vector<uint8_t> arp(uint16_t op, const char* target) {
    auto f = ethernet(wire::ETHERTYPE_ARP, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
    f.resize(14 + 28);
    uint8_t* a = &f[14];
    wire::store_be16(a, 1);
    wire::store_be16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    wire::store_be16(a + 6, op);
    std::memcpy(a + 8, PEER_MAC.data(), 6);
    uint32_t s = IpAddress::parse("10.0.0.2")->v4_net(), t = IpAddress::parse(target)->v4_net();
    std::memcpy(a + 14, &s, 4);
    std::memcpy(a + 24, &t, 4);
    return f;
}

std::vector<uint8_t> neighbor_solicit(const char* target) {
    auto f = ipv6("ff02::1:ff00:1", wire::IPPROTO_ICMPV6_, 24);
    uint8_t* icmp = &f[14 + 40];
    icmp[0] = wire::ICMPV6_NS;
    auto t = IpAddress::parse(target)->bytes;
    std::memcpy(icmp + 8, t.data(), 16);
    wire::store_be16(icmp + 2, wire::l4_checksum_v6(&f[14], icmp, 24, 2));
    return f;
}

Verdict verdict_of(const std::vector<uint8_t>& f, const LbHook& lb = {}) {
    return classify(f.data(), f.size(), port_table(), lb).verdict;
}

} // namespace

TEST(Classify, ArpRequestForOwnAddressIsAnswered) {
    EXPECT_EQ(verdict_of(arp(1, "10.0.0.1")), Verdict::arp_reply);
}

TEST(Classify, ArpReplyForOwnAddressGoesToTheKernel) {
    EXPECT_EQ(verdict_of(arp(2, "10.0.0.1")), Verdict::to_kernel);
}

TEST(Classify, ArpForSomeoneElseIsNotMine) {
    EXPECT_EQ(verdict_of(arp(1, "10.0.0.9")), Verdict::not_mine);
}

TEST(Classify, UnicastToOwnAddressGoesToTheKernel) {
    EXPECT_EQ(verdict_of(ipv4("10.0.0.1", wire::IPPROTO_TCP_, 20)), Verdict::to_kernel);
    EXPECT_EQ(verdict_of(ipv6("fd00::1", wire::IPPROTO_UDP_)), Verdict::to_kernel);
    EXPECT_EQ(verdict_of(ipv6("fe80::11:22ff:fe33:4455", wire::IPPROTO_UDP_)),
              Verdict::to_kernel) << "the port's EUI-64 link-local is its own";
}

TEST(Classify, TrafficForOthersIsNotMine) {
    EXPECT_EQ(verdict_of(ipv4("10.0.0.9", wire::IPPROTO_TCP_, 20)), Verdict::not_mine);
    EXPECT_EQ(verdict_of(ipv6("fd00::9", wire::IPPROTO_UDP_)), Verdict::not_mine);
}

TEST(Classify, VrrpAdvertsGoToTheControlThread) {
    EXPECT_EQ(verdict_of(ipv4("224.0.0.18", wire::IPPROTO_VRRP_)), Verdict::to_vrrp);
    EXPECT_EQ(verdict_of(ipv6("ff02::12", wire::IPPROTO_VRRP_)), Verdict::to_vrrp);
    EXPECT_EQ(verdict_of(ipv4("10.0.0.1", wire::IPPROTO_VRRP_)), Verdict::to_vrrp) << "unicast peer";
}

TEST(Classify, NeighborSolicitationForOwnAddressIsAnswered) {
    EXPECT_EQ(verdict_of(neighbor_solicit("fd00::1")), Verdict::nd_reply);
    EXPECT_EQ(verdict_of(neighbor_solicit("fd00::9")), Verdict::not_mine);
}

TEST(Classify, MalformedFramesCarryTheirReason) {
    std::vector<uint8_t> runt(10, 0);
    auto c = classify(runt.data(), runt.size(), port_table());
    EXPECT_EQ(c.verdict, Verdict::malformed);
    EXPECT_EQ(c.malformed, wire::Malformed::truncated_ethernet);

    auto bad = ipv4("10.0.0.1", wire::IPPROTO_UDP_);
    bad[14 + 10] ^= 0xff;   // header checksum
    c = classify(bad.data(), bad.size(), port_table());
    EXPECT_EQ(c.verdict, Verdict::malformed);
    EXPECT_EQ(c.malformed, wire::Malformed::bad_ip_checksum);
}

TEST(Classify, TheLbHookClaimsOnlyWhatIsNotOurs) {
    int calls = 0;
    LbHook lb{[](const void* ctx, const uint8_t*, const wire::Parsed&) {
                  ++*static_cast<int*>(const_cast<void*>(ctx));
                  return true;
              },
              &calls};
    EXPECT_EQ(verdict_of(ipv4("10.0.0.100", wire::IPPROTO_TCP_, 20), lb), Verdict::to_lb);
    EXPECT_EQ(verdict_of(ipv4("10.0.0.1", wire::IPPROTO_TCP_, 20), lb), Verdict::to_kernel);
    EXPECT_EQ(calls, 1);
}

TEST(Classify, LinkLocalFromMacIsModifiedEui64) {
    auto ll = link_local_from_mac({0x00, 0x0c, 0x29, 0x06, 0xa6, 0x49});
    IpAddress a;
    a.family = Family::v6;
    a.bytes = ll;
    EXPECT_EQ(a.str(), "fe80::20c:29ff:fe06:a649");   // as in the seeds' `ip addr`
}

TEST(WearVipMac, KernelFramesFromAVipWearItsVirtualMac) {
    auto table = port_table();
    const wire::Mac vmac = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x33};
    table.vip4.push_back({IpAddress::parse("10.0.0.100")->v4_net(), vmac});

    // The kernel's ARP request from the VIP: Ethernet source and sender MAC.
    auto req = arp(1, "10.0.0.2");
    uint32_t vip = IpAddress::parse("10.0.0.100")->v4_net();
    std::memcpy(&req[14 + 14], &vip, 4);
    std::memcpy(&req[6], PORT_MAC.data(), 6);
    std::memcpy(&req[14 + 8], PORT_MAC.data(), 6);
    EXPECT_TRUE(wear_vip_mac(req.data(), req.size(), table));
    EXPECT_EQ(0, std::memcmp(&req[6], vmac.data(), 6));
    EXPECT_EQ(0, std::memcmp(&req[14 + 8], vmac.data(), 6));

    // A reply from the VIP to a client.
    auto tcp = ipv4("10.0.0.2", wire::IPPROTO_TCP_, 20);
    std::memcpy(&tcp[14 + 12], &vip, 4);
    EXPECT_TRUE(wear_vip_mac(tcp.data(), tcp.size(), table));
    EXPECT_EQ(0, std::memcmp(&tcp[6], vmac.data(), 6));

    // From an own address: untouched.
    auto own = ipv4("10.0.0.2", wire::IPPROTO_TCP_, 20);
    uint32_t own_ip = IpAddress::parse("10.0.0.1")->v4_net();
    std::memcpy(&own[14 + 12], &own_ip, 4);
    EXPECT_FALSE(wear_vip_mac(own.data(), own.size(), table));
    EXPECT_EQ(0, std::memcmp(&own[6], PEER_MAC.data(), 6));
}

// ---- load balancer (lb/) parts of classify ----

TEST(ClassifyLb, TheHookIsAskedOnlyForFramesUnicastToThePort) {
    int calls = 0;
    LbHook lb{[](const void* ctx, const uint8_t*, const wire::Parsed&) {
                  ++*static_cast<int*>(const_cast<void*>(ctx));
                  return true;
              },
              &calls};
    auto to_port = ipv4("10.0.0.100", wire::IPPROTO_TCP_, 20);
    EXPECT_EQ(verdict_of(to_port, lb), Verdict::to_lb);
    auto flooded = to_port;
    flooded[5] ^= 0x01;   // another host's MAC (a flooded or looped-back frame)
    EXPECT_EQ(verdict_of(flooded, lb), Verdict::not_mine);
    auto broadcast = to_port;
    std::memset(broadcast.data(), 0xff, 6);
    EXPECT_EQ(verdict_of(broadcast, lb), Verdict::not_mine);
    EXPECT_EQ(calls, 1);

    // A VIP's virtual MAC counts as the port's.
    PortAddresses t = port_table();
    const wire::Mac vmac = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x33};
    t.vip4.push_back({IpAddress::parse("10.0.0.100")->v4_net(), vmac});
    auto to_vmac = to_port;
    std::memcpy(to_vmac.data(), vmac.data(), 6);
    EXPECT_EQ(classify(to_vmac.data(), to_vmac.size(), t, lb).verdict, Verdict::to_lb);
}

TEST(ClassifyLb, FnatLocalAddressesAreAnsweredForButNotTheKernels) {
    PortAddresses t = port_table();
    t.lb4.push_back(IpAddress::parse("10.0.0.200")->v4_net());
    t.lb6.push_back(IpAddress::parse("fd00::200")->bytes);
    auto req = arp(1, "10.0.0.200");
    auto c = classify(req.data(), req.size(), t);
    EXPECT_EQ(c.verdict, Verdict::arp_reply);
    ASSERT_NE(c.answer_mac, nullptr);
    EXPECT_EQ(*c.answer_mac, PORT_MAC);
    auto ns = neighbor_solicit("fd00::200");
    EXPECT_EQ(classify(ns.data(), ns.size(), t).verdict, Verdict::nd_reply);
    auto tcp = ipv4("10.0.0.200", wire::IPPROTO_TCP_, 20);
    EXPECT_EQ(classify(tcp.data(), tcp.size(), t).verdict, Verdict::not_mine) << "without a hook: not the kernel's";
}
