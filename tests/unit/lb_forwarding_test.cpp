// The service table and one worker's fast path (lb::LbWorker) end to end on
// crafted frames: claims, scheduling, dr / nat / fnat / tun rewrites and
// their reply paths, checksums, neighbour holds, persistence, drains,
// expiry of both directions, counters. No DPDK.
#include "lb/lb_worker.hpp"
#include "lb/service_table.hpp"
#include "lb_frames.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>

using namespace haplane;
using namespace haplane::lb;
using namespace lbtest;
using dataplane::LbPacket;

namespace {

const wire::Mac EXT_MAC = mac(0xe0), INT_MAC = mac(0x10), CLIENT_MAC = mac(0x0c);

wire::Mac rs_mac(size_t i) { return mac(static_cast<uint8_t>(0xa0 + i)); }

std::vector<PortView> ports() {
    return {{"ext", EXT_MAC, {*IpPrefix::parse("10.10.0.2/24"), *IpPrefix::parse("fd10::2/64")}},
            {"int", INT_MAC, {*IpPrefix::parse("10.20.0.2/24"), *IpPrefix::parse("fd20::2/64")}}};
}

config::Config base_config() {
    config::Config c;
    for (const char* n : {"ext", "int"}) {
        config::Port p;
        p.name = n;
        c.ports.push_back(p);
    }
    return c;
}

// A worker over a table built from `config`, with every neighbour known.
struct Rig {
    explicit Rig(const config::Config& config, bool resolve = true, uint32_t capacity = 1000) {
        table = ServiceTable::build(config, ports(), 1, &warnings);
        ptr.store(table.get());
        stats = std::make_unique<WorkerStats>(table->real_server_count());
        LbWorker::Options o;
        o.connections = capacity;
        o.persistence = 100;
        o.timeouts = config.global.timeouts;
        worker = std::make_unique<LbWorker>(0, &ptr, stats.get(), o);
        if (resolve) resolve_all();
        worker->begin_round(now);
    }
    void resolve_all() {
        for (size_t i = 0; i < table->neighbours().size(); ++i) table->set_neighbour_mac(static_cast<uint32_t>(i), rs_mac(i));
    }
    // Run one frame through claims + forward, as the worker loop does.
    struct Result {
        bool claimed = false;
        LbPacket pkt;
        const uint8_t* out = nullptr;
    };
    Result run(Frame& f, uint16_t in_port) {
        Result r;
        wire::Parsed p;
        EXPECT_EQ(wire::parse_frame(f.data(), f.len, p), wire::Malformed::none);
        r.claimed = worker->claims(f.data(), p);
        if (!r.claimed) return r;
        r.pkt.frame = f.data();
        r.pkt.len = static_cast<uint16_t>(f.len);
        r.pkt.headroom = kHeadroom;
        r.pkt.tailroom = 64;
        r.pkt.in_port = in_port;
        r.pkt.parsed = p;
        worker->forward(&r.pkt, 1);
        r.out = f.data() - r.pkt.prepended;
        return r;
    }
    void tick(uint32_t seconds) {
        now += seconds;
        for (int i = 0; i < 200; ++i) worker->begin_round(now);
    }
    uint64_t drops(LbDrop d) const { return stats->drops[static_cast<size_t>(d)].get(); }

    std::vector<std::string> warnings;
    std::unique_ptr<ServiceTable> table;
    std::atomic<const ServiceTable*> ptr{nullptr};
    std::unique_ptr<WorkerStats> stats;
    std::unique_ptr<LbWorker> worker;
    uint32_t now = 100;
};

FrameSpec syn(const char* client, const char* vip, uint16_t sport, uint16_t dport = 80) {
    FrameSpec s;
    s.dst_mac = EXT_MAC;
    s.src_mac = CLIENT_MAC;
    s.src = ip(client);
    s.dst = ip(vip);
    s.sport = sport;
    s.dport = dport;
    return s;
}

IpAddress dst_of(const uint8_t* frame) {
    IpAddress a;
    if (wire::load_be16(frame + 12) == wire::ETHERTYPE_IPV4) std::memcpy(a.bytes.data(), frame + 14 + 16, 4);
    else {
        a.family = Family::v6;
        std::memcpy(a.bytes.data(), frame + 14 + 24, 16);
    }
    return a;
}
IpAddress src_of(const uint8_t* frame) {
    IpAddress a;
    if (wire::load_be16(frame + 12) == wire::ETHERTYPE_IPV4) std::memcpy(a.bytes.data(), frame + 14 + 12, 4);
    else {
        a.family = Family::v6;
        std::memcpy(a.bytes.data(), frame + 14 + 8, 16);
    }
    return a;
}
size_t l4_offset(const uint8_t* frame) { return wire::load_be16(frame + 12) == wire::ETHERTYPE_IPV4 ? 34 : 54; }
uint16_t sport_of(const uint8_t* f) { return wire::load_be16(f + l4_offset(f)); }
uint16_t dport_of(const uint8_t* f) { return wire::load_be16(f + l4_offset(f) + 2); }
wire::Mac eth_dst(const uint8_t* f) { wire::Mac m; std::memcpy(m.data(), f, 6); return m; }
wire::Mac eth_src(const uint8_t* f) { wire::Mac m; std::memcpy(m.data(), f + 6, 6); return m; }

// The real server's answer to a forwarded packet: addresses and ports swapped.
FrameSpec answer_to(const uint8_t* forwarded, uint8_t flags = 0x12) {
    FrameSpec s;
    s.dst_mac = INT_MAC;
    s.src_mac = mac(0x99);
    s.src = dst_of(forwarded);
    s.dst = src_of(forwarded);
    s.sport = dport_of(forwarded);
    s.dport = sport_of(forwarded);
    s.tcp_flags = flags;
    s.payload = 17;
    return s;
}

} // namespace

// ---- service table ----

TEST(ServiceTable, LookupByAddressPortAndProtocol) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11"}));
    c.virtual_servers.push_back(service("all", "10.10.0.101", 0, config::Method::dr, {"10.20.0.11"}));
    auto dns = service("dns", "fd10::53", 53, config::Method::dr, {"fd20::11"});
    dns.protocol = config::Protocol::udp;
    c.virtual_servers.push_back(dns);
    auto t = ServiceTable::build(c, ports(), 2);
    auto find = [&](const char* a, uint16_t port, uint8_t proto) {
        const auto addr = ip(a);
        return t->find_service(addr.family, addr.bytes.data(), net16(port), proto);
    };
    EXPECT_EQ(find("10.10.0.100", 80, kProtoTcp), 0);
    EXPECT_EQ(find("10.10.0.100", 81, kProtoTcp), -1);
    EXPECT_EQ(find("10.10.0.100", 80, kProtoUdp), -1);
    EXPECT_EQ(find("10.10.0.101", 22, kProtoTcp), 1) << "port 0 takes every port";
    EXPECT_EQ(find("10.10.0.101", 0, kProtoTcp), 1);
    EXPECT_EQ(find("fd10::53", 53, kProtoUdp), 2);
    EXPECT_EQ(find("fd10::53", 53, kProtoTcp), -1);
    EXPECT_EQ(find("10.10.0.102", 80, kProtoTcp), -1);
    EXPECT_EQ(t->workers(), 2u);
}

TEST(ServiceTable, PortsNeighboursAndSources) {
    auto c = base_config();
    config::VrrpInstance vi;
    vi.name = "VI_1";
    vi.port = "int";   // odd but legal: the VIP's port is the VRRP instance's
    vi.virtual_ipaddresses.push_back(*IpPrefix::parse("10.30.0.100/24"));
    c.vrrp_instances.push_back(vi);
    c.virtual_servers.push_back(service("a", "10.30.0.100", 80, config::Method::nat, {"10.20.0.11", "10.20.0.12"}));
    c.virtual_servers.push_back(service("b", "10.10.0.100", 80, config::Method::tun, {"10.20.0.11", "10.10.0.7"}));
    auto f = service("c", "10.10.0.100", 443, config::Method::fnat, {"10.20.0.11"});
    f.local_addresses = {ip("10.20.0.200")};
    c.virtual_servers.push_back(f);
    std::vector<std::string> warnings;
    auto t = ServiceTable::build(c, ports(), 1, &warnings);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    const auto& s = t->services();
    EXPECT_EQ(s[0].vip_port, 1) << "from the VRRP instance";
    EXPECT_EQ(s[1].vip_port, 0) << "from the prefix";
    EXPECT_EQ(s[0].real_servers[0].egress_port, 1);
    EXPECT_EQ(s[1].real_servers[1].egress_port, 0);
    EXPECT_EQ(t->neighbours().size(), 3u) << "10.20.0.11 once for every service";
    EXPECT_EQ(s[0].real_servers[0].neighbour, s[1].real_servers[0].neighbour);
    EXPECT_EQ(*s[1].real_servers[0].tunnel_source, ip("10.20.0.2"));
    EXPECT_EQ(*s[1].real_servers[1].tunnel_source, ip("10.10.0.2"));
    EXPECT_EQ(t->real_server_count(), 5u);
    const auto rs = ip("10.20.0.12"), lip = ip("10.20.0.200");
    EXPECT_TRUE(t->is_nat_source(Family::v4, rs.bytes.data(), net16(80), kProtoTcp));
    EXPECT_FALSE(t->is_nat_source(Family::v4, rs.bytes.data(), net16(81), kProtoTcp));
    EXPECT_TRUE(t->is_local_address(Family::v4, lip.bytes.data(), kProtoTcp));
    EXPECT_FALSE(t->is_local_address(Family::v4, lip.bytes.data(), kProtoUdp));
    wire::Mac m;
    EXPECT_FALSE(t->neighbour_mac(0, m));
    t->set_neighbour_mac(0, mac(0x42));
    ASSERT_TRUE(t->neighbour_mac(0, m));
    EXPECT_EQ(m, mac(0x42));
}

TEST(ServiceTable, WhatCannotWorkIsReportedAndNeverScheduled) {
    auto c = base_config();
    auto f = service("x", "10.10.0.100", 80, config::Method::fnat, {"fd20::11", "10.20.0.11"});
    f.local_addresses = {ip("fd20::200"), ip("10.20.0.200")};
    c.virtual_servers.push_back(f);
    std::vector<std::string> warnings;
    auto t = ServiceTable::build(c, ports(), 1, &warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("across families"), std::string::npos) << warnings[0];
    EXPECT_FALSE(t->services()[0].real_servers[0].usable);
    for (int i = 0; i < 10; ++i) {
        ConnCounts none;
        EXPECT_EQ(t->scheduler(0, 0).pick(FlowKey{}, none), 1);
    }
}

// ---- the fast path ----

TEST(LbWorker, ClaimsOnlyVirtualServicesAndTheirReplies) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::nat, {"10.20.0.11"}));
    Rig rig(c);
    Frame to_vip = build(syn("192.0.2.1", "10.10.0.100", 40000));
    EXPECT_TRUE(rig.run(to_vip, 0).claimed);
    Frame other_port = build(syn("192.0.2.1", "10.10.0.100", 40000, 81));
    EXPECT_FALSE(rig.run(other_port, 0).claimed) << "a VIP port without a service is not forwarded";
    auto u = syn("192.0.2.1", "10.10.0.100", 40000);
    u.proto = wire::IPPROTO_UDP_;
    Frame udp = build(u);
    EXPECT_FALSE(rig.run(udp, 0).claimed);
    auto from_rs = syn("10.20.0.11", "192.0.2.1", 80, 40000);
    Frame reply = build(from_rs);
    EXPECT_TRUE(rig.run(reply, 1).claimed) << "nat: the server's answers";
    auto from_rs_other = syn("10.20.0.11", "192.0.2.1", 22, 40000);
    Frame ssh = build(from_rs_other);
    EXPECT_FALSE(rig.run(ssh, 1).claimed);
}

TEST(LbWorker, DirectRoutingRewritesOnlyEthernet) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11"}));
    Rig rig(c);
    Frame f = build(syn("192.0.2.1", "10.10.0.100", 40000));
    const std::vector<uint8_t> before(f.data() + 14, f.data() + f.len);
    auto r = rig.run(f, 0);
    ASSERT_EQ(r.pkt.out_port, 1);
    EXPECT_EQ(r.pkt.prepended, 0);
    EXPECT_EQ(eth_dst(r.out), rs_mac(0));
    EXPECT_EQ(eth_src(r.out), INT_MAC);
    EXPECT_EQ(std::vector<uint8_t>(r.out + 14, r.out + r.pkt.len), before) << "IP untouched";
    EXPECT_EQ(rig.stats->real_servers[0].in_packets.get(), 1u);
    EXPECT_EQ(rig.stats->real_servers[0].connections.get(), 1u);
    EXPECT_EQ(rig.stats->real_servers[0].inactive.get(), 1u) << "SYN_RECV is inactive";
}

TEST(LbWorker, NatBothDirectionsV4AndV6) {
    for (bool v6 : {false, true}) {
        for (uint8_t proto : {wire::IPPROTO_TCP_, wire::IPPROTO_UDP_}) {
            auto c = base_config();
            auto vs = service("web", v6 ? "fd10::100" : "10.10.0.100", 80, config::Method::nat,
                              {v6 ? "fd20::11" : "10.20.0.11"});
            vs.real_servers[0].port = 8080;
            if (proto == wire::IPPROTO_UDP_) vs.protocol = config::Protocol::udp;
            c.virtual_servers.push_back(vs);
            Rig rig(c);
            const char* client = v6 ? "2001:db8::c1" : "192.0.2.1";
            auto s = syn(client, v6 ? "fd10::100" : "10.10.0.100", 40000);
            s.proto = proto;
            s.payload = 31;
            Frame f = build(s);
            auto r = rig.run(f, 0);
            ASSERT_EQ(r.pkt.out_port, 1) << "v6 " << v6;
            EXPECT_EQ(dst_of(r.out), ip(v6 ? "fd20::11" : "10.20.0.11"));
            EXPECT_EQ(dport_of(r.out), 8080);
            EXPECT_EQ(src_of(r.out), ip(client)) << "nat keeps the client's address";
            EXPECT_EQ(r.out[14 + (v6 ? 7 : 8)], 63) << "TTL / hop limit decremented";
            EXPECT_EQ(eth_dst(r.out), rs_mac(0));
            EXPECT_EQ(checksum_errors(r.out, r.pkt.len), "");

            auto a = answer_to(r.out);
            a.proto = proto;
            Frame back = build(a);
            auto rr = rig.run(back, 1);
            ASSERT_EQ(rr.pkt.out_port, 0) << "back out of the client's port";
            EXPECT_EQ(src_of(rr.out), ip(v6 ? "fd10::100" : "10.10.0.100"));
            EXPECT_EQ(sport_of(rr.out), 80);
            EXPECT_EQ(dst_of(rr.out), ip(client));
            EXPECT_EQ(dport_of(rr.out), 40000);
            EXPECT_EQ(eth_dst(rr.out), CLIENT_MAC) << "to the hop the request came from";
            EXPECT_EQ(eth_src(rr.out), EXT_MAC);
            EXPECT_EQ(checksum_errors(rr.out, rr.pkt.len), "");
            EXPECT_EQ(rig.stats->real_servers[0].out_packets.get(), 1u);
            if (proto == wire::IPPROTO_TCP_) {
                // The client's ACK completes the handshake: active.
                auto ack = syn(client, v6 ? "fd10::100" : "10.10.0.100", 40000);
                ack.tcp_flags = 0x10;
                Frame fa = build(ack);
                EXPECT_EQ(rig.run(fa, 0).pkt.out_port, 1);
                EXPECT_EQ(rig.stats->real_servers[0].active.get(), 1u);
            }
        }
    }
}

TEST(LbWorker, FullNatUsesLocalAddressesAndThisWorkersPorts) {
    for (bool v6 : {false, true}) {
        auto c = base_config();
        auto vs = service("web", v6 ? "fd10::100" : "10.10.0.100", 80, config::Method::fnat,
                          {v6 ? "fd20::11" : "10.20.0.11"});
        vs.local_addresses = {ip(v6 ? "fd20::200" : "10.20.0.200"), ip(v6 ? "fd20::201" : "10.20.0.201")};
        c.virtual_servers.push_back(vs);
        Rig rig(c);
        const char* client = v6 ? "2001:db8::c1" : "192.0.2.1";
        std::map<std::string, int> lips;
        for (uint16_t i = 0; i < 20; ++i) {
            auto s = syn(client, v6 ? "fd10::100" : "10.10.0.100", static_cast<uint16_t>(40000 + i));
            s.payload = 5;
            Frame f = build(s);
            auto r = rig.run(f, 0);
            ASSERT_EQ(r.pkt.out_port, 1);
            EXPECT_EQ(dst_of(r.out), ip(v6 ? "fd20::11" : "10.20.0.11"));
            ++lips[src_of(r.out).str()];
            uint16_t first, last;
            LbWorker::port_range(0, 1, first, last);
            EXPECT_GE(sport_of(r.out), first);
            EXPECT_LE(sport_of(r.out), last);
            EXPECT_EQ(checksum_errors(r.out, r.pkt.len), "");

            Frame back = build(answer_to(r.out));
            auto rr = rig.run(back, 1);
            ASSERT_EQ(rr.pkt.out_port, 0);
            EXPECT_EQ(src_of(rr.out), ip(v6 ? "fd10::100" : "10.10.0.100"));
            EXPECT_EQ(sport_of(rr.out), 80);
            EXPECT_EQ(dst_of(rr.out), ip(client));
            EXPECT_EQ(dport_of(rr.out), 40000 + i);
            EXPECT_EQ(eth_dst(rr.out), CLIENT_MAC);
            EXPECT_EQ(checksum_errors(rr.out, rr.pkt.len), "");
        }
        EXPECT_EQ(lips.size(), 2u) << "both local addresses used";
    }
}

TEST(LbWorker, PortRangesOfWorkersAreDisjoint) {
    uint16_t f0, l0, f1, l1, f2, l2;
    LbWorker::port_range(0, 3, f0, l0);
    LbWorker::port_range(1, 3, f1, l1);
    LbWorker::port_range(2, 3, f2, l2);
    EXPECT_EQ(f0, 1024);
    EXPECT_EQ(f1, l0 + 1);
    EXPECT_EQ(f2, l1 + 1);
    EXPECT_LE(l2, 65535);
}

TEST(LbWorker, TunnelEncapsulatesAndClampsMss) {
    for (bool v6 : {false, true}) {
        auto c = base_config();
        c.virtual_servers.push_back(service("web", v6 ? "fd10::100" : "10.10.0.100", 80, config::Method::tun,
                                            {v6 ? "fd20::11" : "10.20.0.11"}));
        Rig rig(c);
        auto s = syn(v6 ? "2001:db8::c1" : "192.0.2.1", v6 ? "fd10::100" : "10.10.0.100", 40000);
        s.mss = 1460;
        Frame f = build(s);
        const size_t inner_len = f.len - 14;
        auto r = rig.run(f, 0);
        ASSERT_EQ(r.pkt.out_port, 1);
        const size_t overhead = v6 ? 40 : 20;
        EXPECT_EQ(r.pkt.prepended, overhead);
        EXPECT_EQ(r.pkt.len, 14 + overhead + inner_len);
        wire::Parsed p;
        ASSERT_EQ(wire::parse_frame(r.out, r.pkt.len, p), wire::Malformed::none);
        EXPECT_EQ(p.ip_proto, v6 ? 41 : 4);
        EXPECT_EQ(src_of(r.out), ip(v6 ? "fd20::2" : "10.20.0.2"));
        EXPECT_EQ(dst_of(r.out), ip(v6 ? "fd20::11" : "10.20.0.11"));
        EXPECT_EQ(eth_dst(r.out), rs_mac(0));
        const uint8_t* inner_tcp = r.out + 14 + overhead + (v6 ? 40 : 20);
        EXPECT_EQ(wire::load_be16(inner_tcp + 22), 1500 - overhead - (v6 ? 60 : 40)) << "MSS leaves room";
        EXPECT_EQ(checksum_errors(r.out, r.pkt.len), "");
    }
}

TEST(LbWorker, TunnelRefusesWhatWouldExceedTheMtu) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::tun, {"10.20.0.11"}));
    Rig rig(c);
    auto s = syn("192.0.2.1", "10.10.0.100", 40000);
    s.payload = 1500 - 40;   // a full-size datagram with DF
    Frame f = build(s);
    EXPECT_EQ(rig.run(f, 0).pkt.out_port, LbPacket::kDrop);
    EXPECT_EQ(rig.drops(LbDrop::too_big), 1u);
}

TEST(LbWorker, RoundRobinSpreadsAndWeightZeroDrains) {
    auto c = base_config();
    auto vs = service("web", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11", "10.20.0.12", "10.20.0.13", "10.20.0.14"});
    vs.real_servers[3].weight = 0;
    c.virtual_servers.push_back(vs);
    Rig rig(c);
    std::map<wire::Mac, int> hits;
    for (uint16_t i = 0; i < 30; ++i) {
        Frame f = build(syn("192.0.2.1", "10.10.0.100", static_cast<uint16_t>(40000 + i)));
        auto r = rig.run(f, 0);
        ASSERT_EQ(r.pkt.out_port, 1);
        ++hits[eth_dst(r.out)];
        // A second packet of the flow sticks to its server.
        auto again = syn("192.0.2.1", "10.10.0.100", static_cast<uint16_t>(40000 + i));
        again.tcp_flags = 0x10;
        Frame f2 = build(again);
        auto r2 = rig.run(f2, 0);
        EXPECT_EQ(eth_dst(r2.out), eth_dst(r.out));
    }
    EXPECT_EQ(hits.size(), 3u);
    for (auto& [m, n] : hits) EXPECT_EQ(n, 10);
    EXPECT_EQ(hits.count(rs_mac(3)), 0u) << "weight 0 gets no new flows";
    EXPECT_EQ(rig.stats->real_servers[0].active.get(), 10u);
}

TEST(LbWorker, PersistenceKeepsAClientOnItsServer) {
    auto c = base_config();
    auto vs = service("web", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11", "10.20.0.12", "10.20.0.13"});
    vs.persistence_timeout = std::chrono::seconds(60);
    c.virtual_servers.push_back(vs);
    Rig rig(c);
    std::map<std::string, std::set<wire::Mac>> per_client;
    for (uint16_t i = 0; i < 30; ++i) {
        const std::string client = "192.0.2." + std::to_string(1 + i % 3);
        Frame f = build(syn(client.c_str(), "10.10.0.100", static_cast<uint16_t>(40000 + i)));
        auto r = rig.run(f, 0);
        per_client[client].insert(eth_dst(r.out));
    }
    std::set<wire::Mac> all;
    for (auto& [client, macs] : per_client) {
        EXPECT_EQ(macs.size(), 1u) << client;
        all.insert(*macs.begin());
    }
    EXPECT_EQ(all.size(), 3u) << "different clients still spread";
}

TEST(LbWorker, UnresolvedNextHopHoldsThenForwards) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::nat, {"10.20.0.11"}));
    Rig rig(c, false);
    Frame f = build(syn("192.0.2.1", "10.10.0.100", 40000));
    const std::vector<uint8_t> before(f.data(), f.data() + f.len);
    auto r = rig.run(f, 0);
    EXPECT_EQ(r.pkt.out_port, LbPacket::kHold);
    EXPECT_EQ(std::vector<uint8_t>(f.data(), f.data() + f.len), before) << "held frames stay untouched";
    rig.resolve_all();
    rig.worker->forward(&r.pkt, 1);   // the worker offers it again
    EXPECT_EQ(r.pkt.out_port, 1);
    EXPECT_EQ(dst_of(f.data()), ip("10.20.0.11"));
    EXPECT_EQ(checksum_errors(f.data(), f.len), "");
    EXPECT_EQ(rig.stats->real_servers[0].connections.get(), 1u) << "one flow, not two";
}

TEST(LbWorker, FlowsAndTheirReplyEntriesExpireTogether) {
    auto c = base_config();
    c.global.timeouts.tcp_syn = std::chrono::seconds(5);
    c.global.timeouts.udp = std::chrono::seconds(7);
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::nat, {"10.20.0.11"}));
    auto dns = service("dns", "10.10.0.100", 53, config::Method::fnat, {"10.20.0.11"});
    dns.protocol = config::Protocol::udp;
    dns.local_addresses = {ip("10.20.0.200")};
    c.virtual_servers.push_back(dns);
    Rig rig(c);
    for (uint16_t i = 0; i < 10; ++i) {
        Frame f = build(syn("192.0.2.1", "10.10.0.100", static_cast<uint16_t>(40000 + i)));
        ASSERT_EQ(rig.run(f, 0).pkt.out_port, 1);
        auto u = syn("192.0.2.1", "10.10.0.100", static_cast<uint16_t>(50000 + i), 53);
        u.proto = wire::IPPROTO_UDP_;
        Frame fu = build(u);
        ASSERT_EQ(rig.run(fu, 0).pkt.out_port, 1);
    }
    EXPECT_EQ(rig.worker->conns().size(), 40u) << "two entries per flow";
    EXPECT_EQ(rig.stats->real_servers[0].inactive.get(), 10u);
    rig.tick(6);
    EXPECT_EQ(rig.worker->conns().size(), 20u) << "the TCP flows (syn timeout) went, with their reply entries";
    EXPECT_EQ(rig.stats->real_servers[0].inactive.get(), 0u);
    rig.tick(2);
    EXPECT_EQ(rig.worker->conns().size(), 0u);
    // A late reply finds nothing.
    auto late = syn("10.20.0.11", "192.0.2.1", 80, 40000);
    late.tcp_flags = 0x12;
    late.dst_mac = INT_MAC;
    Frame f = build(late);
    EXPECT_EQ(rig.run(f, 1).pkt.out_port, LbPacket::kDrop);
    EXPECT_EQ(rig.drops(LbDrop::no_service), 1u);
}

TEST(LbWorker, FullTableRefusesNewFlowsKeepsOldOnes) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::nat, {"10.20.0.11"}));
    Rig rig(c, true, 4);   // room for two nat flows
    for (uint16_t i = 0; i < 3; ++i) {
        Frame f = build(syn("192.0.2.1", "10.10.0.100", static_cast<uint16_t>(40000 + i)));
        EXPECT_EQ(rig.run(f, 0).pkt.out_port, i < 2 ? 1 : LbPacket::kDrop);
    }
    EXPECT_EQ(rig.drops(LbDrop::table_full), 1u);
    auto again = syn("192.0.2.1", "10.10.0.100", 40000);
    again.tcp_flags = 0x10;
    Frame f = build(again);
    EXPECT_EQ(rig.run(f, 0).pkt.out_port, 1);
}

TEST(LbWorker, FragmentsAndResetsOpenNoFlow) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11"}));
    Rig rig(c);
    auto rst = syn("192.0.2.1", "10.10.0.100", 40000);
    rst.tcp_flags = 0x04;
    Frame f = build(rst);
    EXPECT_EQ(rig.run(f, 0).pkt.out_port, LbPacket::kDrop);
    EXPECT_EQ(rig.worker->conns().size(), 0u);
}

// ---- ICMP errors for tracked flows ----

namespace {
const uint8_t* quoted_ip(const uint8_t* frame) {
    return frame + l4_offset(frame) + 8;   // outer ICMP header is 8 bytes
}
IpAddress quoted_addr(const uint8_t* frame, bool src) {
    const uint8_t* q = quoted_ip(frame);
    IpAddress a;
    if ((q[0] >> 4) == 4) std::memcpy(a.bytes.data(), q + (src ? 12 : 16), 4);
    else {
        a.family = Family::v6;
        std::memcpy(a.bytes.data(), q + (src ? 8 : 24), 16);
    }
    return a;
}
uint16_t quoted_port(const uint8_t* frame, bool src) {
    const uint8_t* q = quoted_ip(frame);
    const size_t hl = (q[0] >> 4) == 4 ? static_cast<size_t>(q[0] & 15) * 4 : 40;
    return wire::load_be16(q + hl + (src ? 0 : 2));
}
} // namespace

TEST(LbWorkerIcmp, ServerSideUnreachableGoesBackToTheClientAsAboutItsOwnPacket) {
    auto c = base_config();
    auto vs = service("dns", "10.10.0.100", 53, config::Method::nat, {"10.20.0.11"});
    vs.protocol = config::Protocol::udp;
    vs.real_servers[0].port = 5353;
    c.virtual_servers.push_back(vs);
    Rig rig(c);
    auto q = syn("192.0.2.1", "10.10.0.100", 40000, 53);
    q.proto = wire::IPPROTO_UDP_;
    q.payload = 20;
    Frame original = build(q);
    const uint16_t client_csum = wire::load_be16(original.data() + 34 + 6);
    Frame f = original;
    auto r = rig.run(f, 0);
    ASSERT_EQ(r.pkt.out_port, 1);
    // The server: port unreachable, quoting what it got.
    Frame err = icmp_error(ip("10.20.0.11"), ip("192.0.2.1"), f, 3, 3, 28, INT_MAC, rs_mac(0));
    auto e = rig.run(err, 1);
    ASSERT_TRUE(e.claimed);
    ASSERT_EQ(e.pkt.out_port, 0);
    EXPECT_EQ(src_of(e.out), ip("10.10.0.100")) << "from the VIP";
    EXPECT_EQ(dst_of(e.out), ip("192.0.2.1"));
    EXPECT_EQ(eth_dst(e.out), CLIENT_MAC);
    EXPECT_EQ(quoted_addr(e.out, false), ip("10.10.0.100"));
    EXPECT_EQ(quoted_port(e.out, false), 53);
    EXPECT_EQ(quoted_addr(e.out, true), ip("192.0.2.1"));
    EXPECT_EQ(wire::load_be16(quoted_ip(e.out) + 20 + 6), client_csum) << "the client's own UDP checksum again";
    EXPECT_EQ(icmp_errors(e.out, e.pkt.len), "");
}

TEST(LbWorkerIcmp, FullNatV6ServerSideError) {
    auto c = base_config();
    auto vs = service("web", "fd10::100", 80, config::Method::fnat, {"fd20::11"});
    vs.local_addresses = {ip("fd20::200")};
    c.virtual_servers.push_back(vs);
    Rig rig(c);
    Frame f = build(syn("2001:db8::c1", "fd10::100", 40000));
    auto r = rig.run(f, 0);
    ASSERT_EQ(r.pkt.out_port, 1);
    Frame err = icmp_error(ip("fd20::11"), ip("fd20::200"), f, 1, 4, 20, INT_MAC, rs_mac(0));
    auto e = rig.run(err, 1);
    ASSERT_TRUE(e.claimed);
    ASSERT_EQ(e.pkt.out_port, 0);
    EXPECT_EQ(src_of(e.out), ip("fd10::100"));
    EXPECT_EQ(dst_of(e.out), ip("2001:db8::c1"));
    EXPECT_EQ(quoted_addr(e.out, true), ip("2001:db8::c1"));
    EXPECT_EQ(quoted_port(e.out, true), 40000);
    EXPECT_EQ(quoted_addr(e.out, false), ip("fd10::100"));
    EXPECT_EQ(quoted_port(e.out, false), 80);
    EXPECT_EQ(icmp_errors(e.out, e.pkt.len), "");
}

TEST(LbWorkerIcmp, ClientSideFragmentationNeededReachesTheServer) {
    auto c = base_config();
    auto vs = service("web", "10.10.0.100", 80, config::Method::nat, {"10.20.0.11"});
    vs.real_servers[0].port = 8080;
    c.virtual_servers.push_back(vs);
    auto d = service("web-dr", "10.10.0.101", 80, config::Method::dr, {"10.20.0.12"});
    c.virtual_servers.push_back(d);
    auto t = service("web-tun", "10.10.0.102", 80, config::Method::tun, {"10.20.0.13"});
    c.virtual_servers.push_back(t);
    Rig rig(c);
    for (const char* vip : {"10.10.0.100", "10.10.0.101", "10.10.0.102"}) {
        Frame f = build(syn("192.0.2.1", vip, 40000));
        ASSERT_EQ(rig.run(f, 0).pkt.out_port, 1);
        // A router on the way to the client could not pass the answer (VIP:80 -> client).
        auto answer = syn(vip, "192.0.2.1", 80, 40000);
        answer.tcp_flags = 0x10;
        answer.payload = 1400;
        Frame big = build(answer);
        Frame err = icmp_error(ip("198.51.100.1"), ip(vip), big, 3, 4, 8, EXT_MAC, CLIENT_MAC, 1300);
        auto e = rig.run(err, 0);
        ASSERT_TRUE(e.claimed) << vip;
        ASSERT_EQ(e.pkt.out_port, 1) << vip;
        if (std::string(vip) == "10.10.0.100") {
            EXPECT_EQ(dst_of(e.out), ip("10.20.0.11"));
            EXPECT_EQ(src_of(e.out), ip("198.51.100.1"));
            EXPECT_EQ(quoted_addr(e.out, true), ip("10.20.0.11")) << "as the server sent it";
            EXPECT_EQ(quoted_port(e.out, true), 8080);
            EXPECT_EQ(wire::load_be16(e.out + 34 + 6), 1300) << "MTU kept";
            EXPECT_EQ(icmp_errors(e.out, e.pkt.len), "");
        } else if (std::string(vip) == "10.10.0.101") {
            EXPECT_EQ(eth_dst(e.out), rs_mac(1));
            EXPECT_EQ(dst_of(e.out), ip(vip)) << "dr: the server holds the VIP";
            EXPECT_EQ(icmp_errors(e.out, e.pkt.len), "");
        } else {
            EXPECT_EQ(e.pkt.prepended, 20);
            EXPECT_EQ(e.out[14 + 9], 4) << "tun: encapsulated";
            EXPECT_EQ(dst_of(e.out), ip("10.20.0.13"));
        }
    }
}

TEST(LbWorkerIcmp, ErrorsAboutUnknownFlowsAreNotForwarded) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::nat, {"10.20.0.11"}));
    Rig rig(c);
    auto answer = syn("10.10.0.100", "192.0.2.9", 80, 41000);
    Frame quoted = build(answer);
    Frame err = icmp_error(ip("198.51.100.1"), ip("10.10.0.100"), quoted, 3, 4, 8, EXT_MAC, CLIENT_MAC);
    auto e = rig.run(err, 0);
    EXPECT_TRUE(e.claimed);
    EXPECT_EQ(e.pkt.out_port, LbPacket::kDrop);
    auto unrelated = syn("192.0.2.1", "10.10.0.77", 40000);
    Frame q2 = build(unrelated);
    Frame err2 = icmp_error(ip("198.51.100.1"), ip("192.0.2.1"), q2, 3, 1, 8, EXT_MAC, CLIENT_MAC);
    EXPECT_FALSE(rig.run(err2, 0).claimed);
}

// ---- IP fragments: later fragments follow their datagram's first ----

namespace {

// `whole` (one IP datagram) as two fragments: the first carries `first`
// bytes of the IP payload (a multiple of 8, with the L4 header), the second
// the rest. IPv6 gets a fragment header (identification 0xabcd1234).
std::pair<Frame, Frame> fragment(const Frame& whole, size_t first) {
    const uint8_t* w = whole.data();
    const bool v4 = wire::load_be16(w + 12) == wire::ETHERTYPE_IPV4;
    const size_t hl = v4 ? 20 : 40, fh = v4 ? 0 : 8;
    const size_t payload = whole.len - 14 - hl;
    auto make = [&](size_t from, size_t n, bool more) {
        Frame f;
        uint8_t* p = f.data();
        std::memcpy(p, w, 14 + hl);
        uint8_t* iph = p + 14;
        if (v4) {
            wire::store_be16(iph + 2, static_cast<uint16_t>(hl + n));
            wire::store_be16(iph + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | (from / 8)));
            wire::store_be16(iph + 10, 0);
            wire::store_be16(iph + 10, wire::ipv4_header_checksum(iph, 20));
        } else {
            wire::store_be16(iph + 4, static_cast<uint16_t>(fh + n));
            uint8_t* frag = iph + 40;
            frag[0] = w[14 + 6];   // next header: the datagram's
            frag[1] = 0;
            wire::store_be16(frag + 2, static_cast<uint16_t>((from / 8) << 3 | (more ? 1 : 0)));
            wire::store_be32(frag + 4, 0xabcd1234);
            iph[6] = 44;
        }
        std::memcpy(p + 14 + hl + fh, w + 14 + hl + from, n);
        f.len = 14 + hl + fh + n;
        return f;
    };
    return {make(0, first, true), make(first, payload - first, false)};
}

// The two fragments, as forwarded, put back together (the first's headers).
Frame reassemble(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) {
    const bool v4 = wire::load_be16(a + 12) == wire::ETHERTYPE_IPV4;
    const size_t hdr = 14 + (v4 ? 20 : 48);
    Frame f;
    uint8_t* p = f.data();
    std::memcpy(p, a, alen);
    std::memcpy(p + alen, b + hdr, blen - hdr);
    f.len = alen + blen - hdr;
    uint8_t* iph = p + 14;
    if (v4) {
        wire::store_be16(iph + 2, static_cast<uint16_t>(f.len - 14));
        wire::store_be16(iph + 6, 0);
        wire::store_be16(iph + 10, 0);
        wire::store_be16(iph + 10, wire::ipv4_header_checksum(iph, 20));
    } else {   // drop the fragment header
        iph[6] = iph[40];
        std::memmove(iph + 40, iph + 48, f.len - 14 - 48);
        f.len -= 8;
        wire::store_be16(iph + 4, static_cast<uint16_t>(f.len - 14 - 40));
    }
    return f;
}

bool ipv4_header_ok(const uint8_t* frame) {
    return wire::load_be16(frame + 12) != wire::ETHERTYPE_IPV4 ||
           wire::load_be16(frame + 24) == wire::ipv4_header_checksum(frame + 14, 20);
}

} // namespace

TEST(LbWorkerFragments, NatRewritesEveryFragmentAndTheDatagramChecksumHolds) {
    for (bool v6 : {false, true}) {
        auto c = base_config();
        auto vs = service("dns", v6 ? "fd10::100" : "10.10.0.100", 53, config::Method::nat,
                          {v6 ? "fd20::11" : "10.20.0.11"});
        vs.protocol = config::Protocol::udp;
        vs.real_servers[0].port = 5353;
        c.virtual_servers.push_back(vs);
        Rig rig(c);
        const char* client = v6 ? "2001:db8::c1" : "192.0.2.1";
        auto s = syn(client, v6 ? "fd10::100" : "10.10.0.100", 40000, 53);
        s.proto = wire::IPPROTO_UDP_;
        s.payload = 1600;   // Frame holds up to 1920 bytes
        s.df = false;
        auto [first, second] = fragment(build(s), 1200);

        // A later fragment before its first has nowhere to go: dropped, counted.
        Frame early = second;
        auto re = rig.run(early, 0);
        EXPECT_TRUE(re.claimed) << "v6 " << v6;
        EXPECT_EQ(re.pkt.out_port, LbPacket::kDrop);
        EXPECT_EQ(rig.drops(LbDrop::fragment), 1u);

        auto r1 = rig.run(first, 0);
        ASSERT_TRUE(r1.claimed);
        ASSERT_EQ(r1.pkt.out_port, 1) << "v6 " << v6;
        EXPECT_EQ(dst_of(r1.out), ip(v6 ? "fd20::11" : "10.20.0.11"));
        auto r2 = rig.run(second, 0);
        ASSERT_TRUE(r2.claimed) << "v6 " << v6;
        ASSERT_EQ(r2.pkt.out_port, 1);
        EXPECT_EQ(dst_of(r2.out), ip(v6 ? "fd20::11" : "10.20.0.11"));
        EXPECT_EQ(src_of(r2.out), ip(client));
        EXPECT_EQ(eth_dst(r2.out), rs_mac(0));
        EXPECT_EQ(r2.out[14 + (v6 ? 7 : 8)], 63) << "TTL / hop limit decremented";
        EXPECT_TRUE(ipv4_header_ok(r2.out));
        Frame whole = reassemble(r1.out, r1.pkt.len, r2.out, r2.pkt.len);
        EXPECT_EQ(dport_of(whole.data()), 5353);
        EXPECT_EQ(checksum_errors(whole.data(), whole.len), "") << "v6 " << v6;
        EXPECT_EQ(rig.stats->real_servers[0].in_packets.get(), 2u);

        // The server's fragmented answer goes back from the VIP.
        auto a = answer_to(whole.data());
        a.proto = wire::IPPROTO_UDP_;
        a.payload = 1500;
        a.df = false;
        auto [b1, b2] = fragment(build(a), 1000);
        auto rb1 = rig.run(b1, 1);
        ASSERT_EQ(rb1.pkt.out_port, 0) << "v6 " << v6;
        auto rb2 = rig.run(b2, 1);
        ASSERT_TRUE(rb2.claimed);
        ASSERT_EQ(rb2.pkt.out_port, 0);
        EXPECT_EQ(src_of(rb2.out), ip(v6 ? "fd10::100" : "10.10.0.100"));
        EXPECT_EQ(dst_of(rb2.out), ip(client));
        EXPECT_EQ(eth_dst(rb2.out), CLIENT_MAC);
        EXPECT_TRUE(ipv4_header_ok(rb2.out));
        Frame back = reassemble(rb1.out, rb1.pkt.len, rb2.out, rb2.pkt.len);
        EXPECT_EQ(sport_of(back.data()), 53);
        EXPECT_EQ(checksum_errors(back.data(), back.len), "") << "v6 " << v6;
        EXPECT_EQ(rig.stats->real_servers[0].out_packets.get(), 2u);
        EXPECT_EQ(rig.drops(LbDrop::fragment), 1u) << "only the early one";
    }
}

TEST(LbWorkerFragments, DirectRoutingSendsEveryFragmentToTheFlowsServer) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::dr,
                                        {"10.20.0.11", "10.20.0.12", "10.20.0.13"}));
    Rig rig(c);
    std::map<uint16_t, wire::Mac> server_of;
    for (uint16_t port = 40000; port < 40006; ++port) {
        auto s = syn("192.0.2.1", "10.10.0.100", port);
        s.payload = 1600;
        s.df = false;
        Frame whole = build(s);
        wire::store_be16(whole.data() + 14 + 4, port);   // each datagram its own identification
        wire::store_be16(whole.data() + 24, 0);
        wire::store_be16(whole.data() + 24, wire::ipv4_header_checksum(whole.data() + 14, 20));
        auto [first, second] = fragment(whole, 1200);
        auto r1 = rig.run(first, 0);
        ASSERT_EQ(r1.pkt.out_port, 1);
        auto r2 = rig.run(second, 0);
        ASSERT_EQ(r2.pkt.out_port, 1);
        EXPECT_EQ(eth_dst(r2.out), eth_dst(r1.out)) << "port " << port;
        EXPECT_EQ(dst_of(r2.out), ip("10.10.0.100")) << "dr leaves the IP header alone";
        server_of[port] = eth_dst(r1.out);
    }
    std::set<wire::Mac> servers;
    for (const auto& [port, m] : server_of) servers.insert(m);
    EXPECT_EQ(servers.size(), 3u) << "rr: the datagrams went to every server";
}

TEST(LbWorkerFragments, ForgottenAfterTheirLifetime) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11"}));
    Rig rig(c);
    auto s = syn("192.0.2.1", "10.10.0.100", 40000);
    s.payload = 1600;
    s.df = false;
    auto [first, second] = fragment(build(s), 1200);
    ASSERT_EQ(rig.run(first, 0).pkt.out_port, 1);
    rig.tick(FragTable::kLifetime + 1);
    EXPECT_EQ(rig.run(second, 0).pkt.out_port, LbPacket::kDrop) << "a late fragment is dropped";
    EXPECT_EQ(rig.drops(LbDrop::fragment), 1u);
}

TEST(LbWorkerFragments, AllOfADatagramInOneBurst) {
    // A NIC hands the fragments over together: every one is claimed before
    // the first is forwarded, and the burst is forwarded in order.
    auto c = base_config();
    auto vs = service("dns", "10.10.0.100", 53, config::Method::nat, {"10.20.0.11"});
    vs.protocol = config::Protocol::udp;
    c.virtual_servers.push_back(vs);
    c.virtual_servers.push_back(service("web", "10.10.0.101", 80, config::Method::dr, {"10.20.0.12"}));
    Rig rig(c);
    auto s = syn("192.0.2.1", "10.10.0.100", 40000, 53);
    s.proto = wire::IPPROTO_UDP_;
    s.payload = 1600;
    s.df = false;
    auto [first, second] = fragment(build(s), 1200);
    // Not claimed: a fragment to an address no service of its protocol has.
    auto other = syn("192.0.2.1", "10.10.0.101", 40000, 53);
    other.proto = wire::IPPROTO_UDP_;
    other.payload = 1600;
    other.df = false;
    auto [o1, o2] = fragment(build(other), 1200);
    wire::Parsed op;
    wire::parse_frame(o2.data(), o2.len, op);
    EXPECT_FALSE(rig.worker->claims(o2.data(), op)) << "UDP fragment to a TCP-only VIP";

    LbPacket pkts[2];
    Frame* frames[2] = {&first, &second};
    for (int i = 0; i < 2; ++i) {
        pkts[i].frame = frames[i]->data();
        pkts[i].len = static_cast<uint16_t>(frames[i]->len);
        pkts[i].headroom = kHeadroom;
        ASSERT_EQ(wire::parse_frame(pkts[i].frame, pkts[i].len, pkts[i].parsed), wire::Malformed::none);
        ASSERT_TRUE(rig.worker->claims(pkts[i].frame, pkts[i].parsed)) << i;
    }
    rig.worker->forward(pkts, 2);
    EXPECT_EQ(pkts[0].out_port, 1);
    EXPECT_EQ(pkts[1].out_port, 1);
    EXPECT_EQ(dst_of(second.data()), ip("10.20.0.11"));
    EXPECT_TRUE(ipv4_header_ok(second.data()));
}

// ================================================================ bad input

namespace {

struct Seed {
    std::vector<uint8_t> bytes;
    uint16_t in_port;
};

Seed seed_of(const Frame& f, uint16_t in_port) {
    return {std::vector<uint8_t>(f.data(), f.data() + f.len), in_port};
}
Frame frame_of(const uint8_t* p, size_t len) {
    Frame f;
    std::memcpy(f.data(), p, len);
    f.len = len;
    return f;
}

} // namespace

TEST(LbWorkerBadInput, MutatedFramesStayInTheirBuffersAndWhatLeavesParses) {
    // Every method and family, TCP and UDP, a port-0 service; seeds are real
    // conversations (requests, replies, ICMP errors both ways, fragments),
    // then mutated, cut and padded at random and offered in bursts from
    // buffers of exactly their size plus a random head- and tailroom, so
    // that ASan (scripts/test.sh builds this test with it) sees any access
    // outside. Whatever is forwarded must parse, and keep correct
    // checksums when the input's were.
    auto c = base_config();
    struct Svc { const char* vip; uint16_t port; config::Method method; const char* server; bool udp; };
    const Svc svcs[] = {
        {"10.10.0.100", 80, config::Method::dr, "10.20.0.11", false},
        {"10.10.0.101", 80, config::Method::nat, "10.20.0.12", false},
        {"10.10.0.101", 53, config::Method::nat, "10.20.0.12", true},
        {"10.10.0.102", 80, config::Method::fnat, "10.20.0.13", false},
        {"10.10.0.102", 53, config::Method::fnat, "10.20.0.13", true},
        {"10.10.0.103", 80, config::Method::tun, "10.20.0.14", false},
        {"10.10.0.104", 0, config::Method::nat, "10.20.0.15", false},
        {"fd10::100", 80, config::Method::dr, "fd20::11", false},
        {"fd10::101", 80, config::Method::nat, "fd20::12", false},
        {"fd10::101", 53, config::Method::nat, "fd20::12", true},
        {"fd10::102", 80, config::Method::fnat, "fd20::13", false},
        {"fd10::103", 80, config::Method::tun, "fd20::14", false},
    };
    for (size_t i = 0; i < std::size(svcs); ++i) {
        const Svc& s = svcs[i];
        auto vs = service(("s" + std::to_string(i)).c_str(), s.vip, s.port, s.method, {s.server});
        if (s.udp) vs.protocol = config::Protocol::udp;
        if (s.method == config::Method::nat && s.port != 0) vs.real_servers[0].port = static_cast<uint16_t>(s.port + 8000);
        if (s.method == config::Method::fnat) vs.local_addresses = {ip(IpAddress::parse(s.vip)->is_v4() ? "10.20.0.200" : "fd20::200")};
        c.virtual_servers.push_back(vs);
    }
    Rig rig(c, true, 4096);

    std::vector<Seed> seeds;
    uint16_t sport = 30000;
    for (const Svc& s : svcs) {
        const bool v4 = IpAddress::parse(s.vip)->is_v4();
        const char* client = v4 ? "192.0.2.7" : "2001:db8::7";
        auto req = syn(client, s.vip, ++sport, s.port ? s.port : 8443);
        if (s.udp) req.proto = wire::IPPROTO_UDP_;
        req.mss = s.udp ? 0 : 1460;
        req.payload = s.udp ? 30 : 0;
        Frame f = build(req);
        seeds.push_back(seed_of(f, 0));
        auto r = rig.run(f, 0);
        ASSERT_NE(r.pkt.out_port, LbPacket::kDrop) << s.vip << " " << s.port;
        const Frame fwd = frame_of(r.out, r.pkt.len);

        auto more = req;
        more.tcp_flags = 0x10;
        more.mss = 0;
        more.payload = 100;
        seeds.push_back(seed_of(build(more), 0));
        more.tcp_flags = 0x11;   // FIN
        seeds.push_back(seed_of(build(more), 0));
        more.tcp_flags = 0x04;   // RST
        seeds.push_back(seed_of(build(more), 0));

        if (s.method == config::Method::nat || s.method == config::Method::fnat) {
            Frame reply = build(answer_to(fwd.data(), s.udp ? 0 : 0x12));
            if (s.udp) {
                auto a = answer_to(fwd.data());
                a.proto = wire::IPPROTO_UDP_;
                reply = build(a);
            }
            seeds.push_back(seed_of(reply, 1));
            auto rr = rig.run(reply, 1);
            ASSERT_EQ(rr.pkt.out_port, 0) << s.vip << " " << s.port;
            const Frame back = frame_of(rr.out, rr.pkt.len);
            // The server: unreachable about what it got; the client: too big about what it got.
            seeds.push_back(seed_of(icmp_error(dst_of(fwd.data()), src_of(fwd.data()), fwd, v4 ? 3 : 1, v4 ? 3 : 4, 28,
                                               INT_MAC, rs_mac(0)), 1));
            seeds.push_back(seed_of(icmp_error(ip(client), ip(s.vip), back, v4 ? 3 : 2, v4 ? 4 : 0, 28, EXT_MAC,
                                               CLIENT_MAC, v4 ? 1400 : 1280), 0));
        }
        if (s.udp) {
            auto big = req;
            big.payload = 1600;
            big.df = false;
            big.sport = ++sport;
            auto [first, second] = fragment(build(big), 1200);
            seeds.push_back(seed_of(first, 0));
            seeds.push_back(seed_of(second, 0));
        }
    }
    ASSERT_GT(seeds.size(), 50u);

    std::mt19937 rng(4242);
    constexpr uint16_t kHeadrooms[] = {0, 8, 20, 40, 128};
    constexpr uint16_t kTailrooms[] = {0, 4, 64};
    size_t forwarded = 0, offered = 0, dropped = 0;
    uint64_t counted_before = 0;
    for (size_t d = 0; d < static_cast<size_t>(LbDrop::count_); ++d) counted_before += rig.drops(static_cast<LbDrop>(d));
    for (int round = 0; round < 20000; ++round) {
        if (round % 250 == 0) rig.tick(1 + rng() % 60);   // flows come and go
        const unsigned burst = 1 + rng() % 8;
        std::vector<std::vector<uint8_t>> bufs(burst);
        std::vector<size_t> in_len(burst);
        std::vector<bool> clean(burst);
        LbPacket pkts[8];
        unsigned n = 0;
        for (unsigned b = 0; b < burst; ++b) {
            const Seed& seed = seeds[rng() % seeds.size()];
            std::vector<uint8_t> f = seed.bytes;
            const unsigned flips = rng() % 4;
            for (unsigned k = 0; k < flips; ++k) f[rng() % std::min<size_t>(f.size(), 96)] = static_cast<uint8_t>(rng());
            if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
            else if (rng() % 8 == 0) f.resize(f.size() + rng() % 24, 0);
            const uint16_t head = kHeadrooms[rng() % std::size(kHeadrooms)];
            const uint16_t tail = kTailrooms[rng() % std::size(kTailrooms)];
            std::vector<uint8_t>& buf = bufs[n];
            buf.resize(head + f.size() + tail);                  // exactly: ASan sees one byte past
            std::copy(f.begin(), f.end(), buf.begin() + head);
            LbPacket& p = pkts[n];
            p = LbPacket{};
            p.frame = buf.data() + head;
            p.len = static_cast<uint16_t>(f.size());
            p.headroom = head;
            p.tailroom = tail;
            p.in_port = seed.in_port;
            if (wire::parse_frame(p.frame, p.len, p.parsed) != wire::Malformed::none) continue;
            if (!rig.worker->claims(p.frame, p.parsed)) continue;
            clean[n] = !p.parsed.fragment && checksum_errors(p.frame, p.len).empty();
            in_len[n] = f.size();
            ++n;
        }
        offered += n;
        if (n) rig.worker->forward(pkts, static_cast<uint16_t>(n));
        for (unsigned i = 0; i < n; ++i) {
            const LbPacket& p = pkts[i];
            if (p.out_port == LbPacket::kDrop) {
                ++dropped;
                continue;
            }
            ASSERT_LT(p.out_port, 2) << "round " << round;   // every neighbour is known: no kHold
            ASSERT_LE(p.prepended, p.headroom);
            ASSERT_LE(p.len, p.prepended + in_len[i] + p.tailroom);
            const uint8_t* out = p.frame - p.prepended;
            wire::Parsed op;
            ASSERT_EQ(wire::parse_frame(out, p.len, op), wire::Malformed::none) << "round " << round;
            if (clean[i] && !op.fragment) {
                EXPECT_EQ(checksum_errors(out, p.len), "") << "round " << round;
            }
            ++forwarded;
        }
    }
    uint64_t counted = 0;
    for (size_t d = 0; d < static_cast<size_t>(LbDrop::count_); ++d) counted += rig.drops(static_cast<LbDrop>(d));
    std::printf("offered %zu, forwarded %zu, dropped %zu\n", offered, forwarded, dropped);
    EXPECT_EQ(counted - counted_before, dropped) << "every drop counted, once";
    EXPECT_GT(offered, 25000u);
    EXPECT_GT(forwarded, 10000u) << "the mutations left enough frames to forward";
}

// ================================================================ connection listing

namespace {

// Rounds until the worker answered (the control thread would wait between them).
unsigned rounds_to_answer(Rig& rig) {
    unsigned rounds = 0;
    while (!rig.worker->conn_dump().answered() && rounds < 1000) {
        rig.worker->begin_round(rig.now);
        ++rounds;
    }
    return rounds;
}

} // namespace

TEST(LbWorkerConnDump, ListsEachConnectionOnceInSlicesBetweenRounds) {
    auto c = base_config();
    c.virtual_servers.push_back(service("web", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11", "10.20.0.12"}));
    c.virtual_servers.push_back(service("app", "10.10.0.101", 80, config::Method::nat, {"10.20.0.13"}));
    c.virtual_servers.back().persistence_timeout = std::chrono::seconds(300);
    Rig rig(c, true, 4096);
    const uint32_t entries = rig.worker->dump_entries();   // flows, then persistence templates
    ASSERT_GT(entries, 4096u);
    std::set<uint16_t> dr_ports, nat_ports;
    for (uint16_t i = 0; i < 20; ++i) {
        Frame a = build(syn("192.0.2.1", "10.10.0.100", static_cast<uint16_t>(41000 + i)));
        ASSERT_EQ(rig.run(a, 0).pkt.out_port, 1);
        dr_ports.insert(static_cast<uint16_t>(41000 + i));
        Frame b = build(syn("192.0.2.1", "10.10.0.101", static_cast<uint16_t>(42000 + i)));
        ASSERT_EQ(rig.run(b, 0).pkt.out_port, 1);
        nat_ports.insert(static_cast<uint16_t>(42000 + i));
    }
    ASSERT_EQ(rig.worker->conns().size(), 60u) << "nat flows hold a reply entry too";

    // All at once: the worker looks at a bounded slice of its table per round.
    std::vector<ConnRecord> out(1000);
    ConnDump& dump = rig.worker->conn_dump();
    dump.ask(0, out.data(), static_cast<uint32_t>(out.size()));
    EXPECT_EQ(rounds_to_answer(rig), (entries + ConnDump::kVisitsPerRound - 1) / ConnDump::kVisitsPerRound);
    ASSERT_EQ(dump.count(), 41u) << "one record per connection, reply entries left out, and app's template";
    EXPECT_GE(dump.next(), entries);
    const ConnRecord& tmpl = out[40];
    EXPECT_TRUE(tmpl.entry.flags & kConnTemplate) << "templates come after the flows";
    EXPECT_EQ(tmpl.key.dst_port, 1) << "the service";
    EXPECT_EQ(tmpl.key.src[0], 192) << "the client";
    EXPECT_EQ(tmpl.entry.real_server, 0);
    EXPECT_GT(tmpl.remaining, 290u);
    std::set<uint16_t> seen_dr, seen_nat;
    for (uint32_t i = 0; i < 40; ++i) {
        const ConnRecord& r = out[i];
        EXPECT_FALSE(r.entry.flags & kConnTemplate);
        EXPECT_EQ(r.key.src[0], 192);
        EXPECT_EQ(r.entry.state, ConnState::syn_recv);
        EXPECT_GT(r.remaining, 0u);
        EXPECT_LE(r.remaining, 30u) << "the SYN timeout";
        const uint16_t sport = ntohs(r.key.src_port);
        if (r.entry.service == 0) {
            EXPECT_LT(r.entry.real_server, 2);
            seen_dr.insert(sport);
        } else {
            EXPECT_EQ(r.entry.service, 1);
            seen_nat.insert(sport);
        }
    }
    EXPECT_EQ(seen_dr, dr_ports);
    EXPECT_EQ(seen_nat, nat_ports);

    // In slices of 7: the same connections, each once, then nothing left.
    dump.reset();
    std::multiset<uint16_t> sliced;
    uint32_t from = 0, questions = 0;
    while (from < entries && questions < 100) {
        dump.ask(from, out.data(), 7);
        rounds_to_answer(rig);
        EXPECT_LE(dump.count(), 7u);
        for (uint32_t i = 0; i < dump.count(); ++i)
            if (!(out[i].entry.flags & kConnTemplate)) sliced.insert(ntohs(out[i].key.src_port));
        from = dump.next();
        dump.reset();
        ++questions;
    }
    EXPECT_EQ(sliced.size(), 40u);
    EXPECT_EQ(std::set<uint16_t>(sliced.begin(), sliced.end()).size(), 40u) << "none twice";
    EXPECT_GE(questions, 40u / 7);

    // A question over a bounded stretch of the table is answered sooner.
    dump.ask(0, out.data(), static_cast<uint32_t>(out.size()), 2 * ConnDump::kVisitsPerRound);
    EXPECT_EQ(rounds_to_answer(rig), 2u);
    EXPECT_EQ(dump.next(), 2 * ConnDump::kVisitsPerRound);
    dump.reset();
}
