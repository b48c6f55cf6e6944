// The load balancer's control side without DPDK: neighbour probes out,
// answers in, weights and health republished, the status list.
#include "control/lb_control.hpp"
#include "lb/neighbour.hpp"
#include "lb_frames.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

using namespace haplane;
using namespace haplane::control;

namespace {

wire::Mac mac(uint8_t last) { return {0x02, 0, 0, 0, 0, last}; }
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

struct FakePorts : LbPorts {
    struct Sent {
        size_t port;
        std::vector<uint8_t> frame;
    };
    std::vector<Sent> sent;
    int synchronized = 0;
    std::map<size_t, std::vector<IpAddress>> lb_addresses;

    bool send(size_t port, const uint8_t* frame, size_t len) override {
        sent.push_back({port, std::vector<uint8_t>(frame, frame + len)});
        return true;
    }
    void synchronize() override { ++synchronized; }
    void set_lb_addresses(size_t port, const std::vector<IpAddress>& a) override { lb_addresses[port] = a; }
};

config::Config make_config() {
    config::Config c;
    for (const char* n : {"ext", "int"}) {
        config::Port p;
        p.name = n;
        p.addresses.push_back(*IpPrefix::parse(std::string(n) == "ext" ? "10.10.0.2/24" : "10.20.0.2/24"));
        c.ports.push_back(p);
    }
    c.ports[1].addresses.push_back(*IpPrefix::parse("fd20::2/64"));
    c.global.connections_per_lcore = 1000;
    config::VirtualServer vs;
    vs.name = "web";
    vs.vip = ip("10.10.0.100");
    vs.port = 80;
    vs.scheduler = config::Scheduler::rr;
    vs.method = config::Method::fnat;
    vs.local_addresses = {ip("10.20.0.200")};
    for (const char* a : {"10.20.0.11", "10.20.0.12"}) {
        config::RealServer rs;
        rs.address = ip(a);
        vs.real_servers.push_back(rs);
    }
    c.virtual_servers.push_back(vs);
    config::VirtualServer v6;
    v6.name = "web6";
    v6.vip = ip("fd10::100");
    v6.port = 80;
    v6.alpha = true;
    config::RealServer rs6;
    rs6.address = ip("fd20::11");
    v6.real_servers.push_back(rs6);
    c.virtual_servers.push_back(v6);
    return c;
}

std::vector<lb::PortView> views(const config::Config& c) {
    return {{"ext", mac(0xe0), c.ports[0].addresses}, {"int", mac(0x10), c.ports[1].addresses}};
}

} // namespace

TEST(LbControl, DisabledWithoutVirtualServers) {
    config::Config c;
    EventLoop loop;
    Log log(true, false);
    FakePorts ports;
    LbControl lb(c, loop, log, ports, {}, 1);
    EXPECT_FALSE(lb.enabled());
    EXPECT_TRUE(lb.forwarders().empty());
    lb.start();
    EXPECT_TRUE(ports.sent.empty());
}

TEST(LbControl, ProbesLearnsAndPublishes) {
    const auto c = make_config();
    EventLoop loop;
    Log log(true, false);
    FakePorts ports;
    LbControl lb(c, loop, log, ports, views(c), 2);
    ASSERT_TRUE(lb.enabled());
    EXPECT_EQ(lb.forwarders().size(), 2u);
    lb.start();
    ASSERT_EQ(ports.lb_addresses[1], std::vector<IpAddress>{ip("10.20.0.200")}) << "fnat local address on int";

    // One ARP request per IPv4 server from 10.20.0.2, one NS for the IPv6 one.
    ASSERT_EQ(ports.sent.size(), 3u);
    wire::ArpView arp;
    ASSERT_TRUE(wire::read_arp(ports.sent[0].frame.data() + 14, 46, arp));
    EXPECT_EQ(ports.sent[0].port, 1u);
    EXPECT_EQ(arp.sender_ip, ip("10.20.0.2").v4_net());
    EXPECT_EQ(arp.target_ip, ip("10.20.0.11").v4_net());
    EXPECT_EQ(wire::load_be16(ports.sent[2].frame.data() + 12), wire::ETHERTYPE_IPV6);

    // The answer of 10.20.0.12 (an ARP reply, as the worker copies it).
    std::vector<uint8_t> reply = ports.sent[1].frame;
    wire::arp_request_to_reply(reply.data(), mac(0x12));
    EXPECT_TRUE(lb.on_frame(1, reply.data(), reply.size()));
    wire::Mac m;
    EXPECT_FALSE(lb.table()->neighbour_mac(0, m));
    ASSERT_TRUE(lb.table()->neighbour_mac(1, m));
    EXPECT_EQ(m, mac(0x12));
    EXPECT_FALSE(lb.on_frame(1, reply.data(), 10)) << "not an ARP/NA frame";

    // Health: the alpha server starts down; checks bring it up; a drained one gets no flows.
    EXPECT_FALSE(lb.healthy(1, 0));
    EXPECT_EQ(lb.table()->services()[1].real_servers[0].weight, 0u);
    const lb::ServiceTable* before = lb.table();
    lb.set_real_server(1, 0, 1, true);
    EXPECT_NE(lb.table(), before);
    EXPECT_EQ(ports.synchronized, 1);
    EXPECT_EQ(lb.table()->services()[1].real_servers[0].weight, 1u);
    ASSERT_TRUE(lb.table()->neighbour_mac(1, m)) << "learnt MACs survive a republish";
    lb.set_real_server(1, 0, 1, true);
    EXPECT_EQ(ports.synchronized, 1) << "nothing changed, nothing published";
    lb.set_real_server(0, 0, 1, false);
    for (int i = 0; i < 6; ++i) {
        lb::ConnCounts none;
        EXPECT_EQ(lb.table()->scheduler(0, 0).pick(lb::FlowKey{}, none), 1);
    }

    const auto list = lb.virtual_servers();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]["name"], "web");
    EXPECT_EQ(list[0]["real_servers"][0]["healthy"], false);
    EXPECT_EQ(list[0]["real_servers"][0]["effective_weight"], 0);
    EXPECT_EQ(list[0]["real_servers"][0]["weight"], 1);
    EXPECT_EQ(list[0]["active_connections"], 0);
    EXPECT_EQ(list[1]["real_servers"][0]["healthy"], true);
    // A flow through worker 0, then counters since the last clear.
    auto* w = lb.forwarders()[0];
    w->begin_round(1);
    lbtest::FrameSpec spec;
    spec.dst_mac = mac(0xe0);
    spec.src = ip("192.0.2.1");
    spec.dst = ip("10.10.0.100");
    lbtest::Frame f = lbtest::build(spec);
    dataplane::LbPacket pkt;
    pkt.frame = f.data();
    pkt.len = static_cast<uint16_t>(f.len);
    pkt.headroom = lbtest::kHeadroom;
    ASSERT_EQ(wire::parse_frame(f.data(), f.len, pkt.parsed), wire::Malformed::none);
    ASSERT_TRUE(w->claims(f.data(), pkt.parsed));
    w->forward(&pkt, 1);
    EXPECT_EQ(pkt.out_port, 1) << "to 10.20.0.12, the one whose MAC is known";
    EXPECT_EQ(lb.virtual_servers()[0]["connections"], 1);
    EXPECT_EQ(lb.virtual_servers()[0]["in_packets"], 1);
    lb.clear_counters();
    EXPECT_EQ(lb.virtual_servers()[0]["connections"], 0);
    EXPECT_EQ(lb.virtual_servers()[0]["in_packets"], 0);
    EXPECT_EQ(lb.virtual_servers()[0]["inactive_connections"], 1) << "gauges are not cleared";
    const auto summary = lb.summary();
    EXPECT_EQ(summary["neighbours"][1]["mac"], "02:00:00:00:00:12");
    EXPECT_TRUE(summary["neighbours"][0]["mac"].is_null());
}
