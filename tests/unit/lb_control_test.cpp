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
    rs6.check = config::HealthCheck{};   // alpha: a checked server starts down
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

namespace {

// One packet through worker 0 at time `now`: where it went (port, or
// kDrop) and, forwarded, the destination address it carries.
struct Sent {
    int out_port;
    IpAddress dst;
};

Sent send_through(LbControl& lb, uint32_t now, const char* client, uint16_t sport, const char* vip, uint16_t dport,
                  uint8_t flags, uint8_t proto = wire::IPPROTO_TCP_) {
    auto* w = lb.forwarders()[0];
    w->begin_round(now);
    lbtest::FrameSpec spec;
    spec.dst_mac = mac(0xe0);
    spec.src = ip(client);
    spec.dst = ip(vip);
    spec.sport = sport;
    spec.dport = dport;
    spec.tcp_flags = flags;
    spec.proto = proto;
    lbtest::Frame f = lbtest::build(spec);
    dataplane::LbPacket pkt;
    pkt.frame = f.data();
    pkt.len = static_cast<uint16_t>(f.len);
    pkt.headroom = lbtest::kHeadroom;
    EXPECT_EQ(wire::parse_frame(f.data(), f.len, pkt.parsed), wire::Malformed::none);
    if (!w->claims(f.data(), pkt.parsed)) return {-2, {}};
    w->forward(&pkt, 1);
    Sent s{pkt.out_port == dataplane::LbPacket::kDrop ? -1 : int(pkt.out_port), {}};
    if (s.out_port >= 0) {
        IpAddress a;
        a.family = spec.src.family;
        if (a.is_v4()) std::memcpy(a.bytes.data(), f.data() + 14 + 16, 4);
        else std::memcpy(a.bytes.data(), f.data() + 14 + 24, 16);
        s.dst = a;
    }
    return s;
}

// Every neighbour the table has learns a MAC (their ARP/NS answered).
void answer_probes(LbControl& lb, FakePorts& ports) {
    for (const auto& sent : ports.sent) {
        std::vector<uint8_t> reply = sent.frame;
        if (wire::load_be16(reply.data() + 12) != wire::ETHERTYPE_ARP) continue;
        wire::arp_request_to_reply(reply.data(), mac(reply[14 + 24 + 3]));   // MAC ends in the IP's last byte
        lb.on_frame(sent.port, reply.data(), reply.size());
    }
    ports.sent.clear();
}

config::Config nat_config() {
    auto c = make_config();
    c.virtual_servers.pop_back();   // IPv4 only
    c.virtual_servers[0].method = config::Method::nat;
    c.virtual_servers[0].local_addresses.clear();
    return c;
}

uint64_t drops(const LbControl& lb, const char* why) { return lb.summary()["drops"][why].get<uint64_t>(); }

} // namespace

TEST(LbControl, ReloadKeepsConnectionsAndDrainsWhatLeft) {
    auto c = nat_config();
    config::VirtualServer dns = c.virtual_servers[0];
    dns.name = "dns";
    dns.port = 53;
    dns.protocol = config::Protocol::udp;
    c.virtual_servers.push_back(dns);
    EventLoop loop;
    Log log(true, false);
    FakePorts ports;
    LbControl lb(c, loop, log, ports, views(c), 1);
    lb.start();
    answer_probes(lb, ports);

    // Two flows to web (rr: one to each server), one to dns.
    const Sent a = send_through(lb, 1, "192.0.2.1", 40001, "10.10.0.100", 80, 0x02);
    const Sent b = send_through(lb, 1, "192.0.2.1", 40002, "10.10.0.100", 80, 0x02);
    ASSERT_EQ(a.out_port, 1);
    ASSERT_EQ(b.out_port, 1);
    ASSERT_NE(a.dst, b.dst);
    ASSERT_EQ(send_through(lb, 1, "192.0.2.1", 5353, "10.10.0.100", 53, 0, wire::IPPROTO_UDP_).out_port, 1);

    // The reload: web loses 10.20.0.11 and gains 10.20.0.13 (listed first),
    // dns goes, ntp comes.
    auto next = c;
    next.virtual_servers.pop_back();
    auto& web = next.virtual_servers[0];
    config::RealServer rs13;
    rs13.address = ip("10.20.0.13");
    web.real_servers = {rs13, web.real_servers[1]};
    config::VirtualServer ntp = dns;
    ntp.name = "ntp";
    ntp.port = 123;
    next.virtual_servers.push_back(ntp);
    const auto before = ports.synchronized;
    ASSERT_EQ(lb.reconfigure(next), std::nullopt);
    EXPECT_EQ(ports.synchronized, before + 1) << "published once, with RCU";
    EXPECT_EQ(lb.service_index(0), 0u) << "web keeps its place";
    EXPECT_EQ(lb.service_index(1), 2u) << "ntp is new";
    EXPECT_TRUE(lb.table()->services()[1].draining) << "dns drains";

    // Established flows keep their servers, the removed one included.
    EXPECT_EQ(send_through(lb, 2, "192.0.2.1", 40001, "10.10.0.100", 80, 0x10).dst, a.dst);
    EXPECT_EQ(send_through(lb, 2, "192.0.2.1", 40002, "10.10.0.100", 80, 0x10).dst, b.dst);
    EXPECT_EQ(send_through(lb, 2, "192.0.2.1", 5353, "10.10.0.100", 53, 0, wire::IPPROTO_UDP_).out_port, 1)
        << "the removed service's flow goes on";
    // New flows: never to the removed server or service.
    const auto drops_before = drops(lb, "no_service");
    EXPECT_EQ(send_through(lb, 2, "192.0.2.9", 5353, "10.10.0.100", 53, 0, wire::IPPROTO_UDP_).out_port, -1);
    EXPECT_EQ(drops(lb, "no_service"), drops_before + 1);
    answer_probes(lb, ports);   // 10.20.0.13 was probed at once
    for (uint16_t p = 41000; p < 41010; ++p) {
        const Sent s = send_through(lb, 2, "192.0.2.2", p, "10.10.0.100", 80, 0x02);
        EXPECT_EQ(s.out_port, 1);
        EXPECT_NE(s.dst, ip("10.20.0.11"));
    }
    EXPECT_EQ(send_through(lb, 2, "192.0.2.2", 7000, "10.10.0.100", 123, 0, wire::IPPROTO_UDP_).out_port, 1);

    // Status: the config's services and servers; what drains in the summary.
    const auto list = lb.virtual_servers();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]["name"], "web");
    ASSERT_EQ(list[0]["real_servers"].size(), 2u);
    EXPECT_EQ(list[0]["real_servers"][0]["address"], "10.20.0.13");
    EXPECT_EQ(list[1]["name"], "ntp");
    const auto draining = lb.summary()["draining"];
    ASSERT_EQ(draining.size(), 2u) << draining.dump();
    bool saw_rs11 = false, saw_dns = false;
    for (const auto& d : draining) {
        if (d["virtual_server"] == "web" && d["real_server"] == "10.20.0.11") saw_rs11 = !d["service_removed"].get<bool>();
        if (d["virtual_server"] == "dns") saw_dns = d["service_removed"].get<bool>() && d["inactive_connections"] == 1;
    }
    EXPECT_TRUE(saw_rs11) << draining.dump();
    EXPECT_TRUE(saw_dns) << draining.dump();

    // Once their flows have expired, the next reload frees their places.
    for (uint32_t t = 3; t < 4000; t += 50) lb.forwarders()[0]->begin_round(t);
    ASSERT_EQ(lb.reconfigure(next), std::nullopt);
    EXPECT_TRUE(lb.summary()["draining"].empty()) << lb.summary()["draining"].dump();
    // A new service takes the drained place; its counters start at zero.
    auto third = next;
    config::VirtualServer smtp = dns;
    smtp.name = "smtp";
    smtp.port = 25;
    smtp.protocol = config::Protocol::tcp;
    third.virtual_servers.push_back(smtp);
    ASSERT_EQ(lb.reconfigure(third), std::nullopt);
    EXPECT_EQ(lb.service_index(2), 1u) << "dns's old place";
    EXPECT_EQ(lb.virtual_servers()[2]["connections"], 0);
    EXPECT_EQ(send_through(lb, 4000, "192.0.2.3", 7001, "10.10.0.100", 25, 0x02).out_port, 1);
    EXPECT_EQ(lb.virtual_servers()[2]["connections"], 1);
}

TEST(LbControl, ReloadRefusesWhatNeedsARestart) {
    auto c = nat_config();
    EventLoop loop;
    Log log(true, false);
    FakePorts ports;
    LbControl lb(c, loop, log, ports, views(c), 1);
    auto next = c;
    next.global.connections_per_lcore = 5000;
    const auto error = lb.reconfigure(next);
    ASSERT_TRUE(error.has_value());
    EXPECT_NE(error->find("connections_per_lcore"), std::string::npos) << *error;

    config::Config none;
    LbControl off(none, loop, log, ports, {}, 1);
    const auto error2 = off.reconfigure(c);
    ASSERT_TRUE(error2.has_value());
    EXPECT_NE(error2->find("restart"), std::string::npos) << *error2;
}

TEST(LbControl, SorryServerTakesNewFlowsWhileTheQuorumIsLost) {
    auto c = nat_config();
    c.virtual_servers[0].sorry_server = config::SorryServer{ip("10.20.0.99"), 8080};
    EventLoop loop;
    Log log(true, false);
    FakePorts ports;
    LbControl lb(c, loop, log, ports, views(c), 1);
    lb.start();
    answer_probes(lb, ports);
    const Sent before = send_through(lb, 1, "192.0.2.1", 40001, "10.10.0.100", 80, 0x02);
    ASSERT_EQ(before.out_port, 1);
    EXPECT_NE(before.dst, ip("10.20.0.99")) << "the sorry server takes nothing while the quorum holds";
    EXPECT_EQ(lb.virtual_servers()[0]["sorry_server"]["active"], false);

    lb.set_real_server(0, 0, 1, false);
    lb.set_real_server(0, 1, 1, false);
    lb.set_sorry_server(0, true);
    EXPECT_TRUE(lb.sorry_server_active(0));
    for (uint16_t p = 42000; p < 42004; ++p) {
        const Sent s = send_through(lb, 2, "192.0.2.2", p, "10.10.0.100", 80, 0x02);
        EXPECT_EQ(s.dst, ip("10.20.0.99"));
    }
    EXPECT_EQ(send_through(lb, 2, "192.0.2.1", 40001, "10.10.0.100", 80, 0x10).dst, before.dst)
        << "established flows stay (no expire_nodest_conn)";
    const auto vs = lb.virtual_servers()[0];
    EXPECT_EQ(vs["sorry_server"]["active"], true);
    EXPECT_EQ(vs["sorry_server"]["address"], "10.20.0.99");
    EXPECT_EQ(vs["sorry_server"]["port"], 8080);
    EXPECT_EQ(vs["sorry_server"]["connections"], 4);
    EXPECT_EQ(vs["connections"], 5) << "the service's totals include the sorry server";

    lb.set_real_server(0, 1, 1, true);
    lb.set_sorry_server(0, false);
    for (uint16_t p = 43000; p < 43004; ++p)
        EXPECT_EQ(send_through(lb, 3, "192.0.2.2", p, "10.10.0.100", 80, 0x02).dst, ip("10.20.0.12"));
}

TEST(LbControl, ExpireNodestConnEndsFlowsOfDeadServers) {
    for (bool expire : {false, true}) {
        auto c = nat_config();
        c.global.expire_nodest_conn = expire;
        EventLoop loop;
        Log log(true, false);
        FakePorts ports;
        LbControl lb(c, loop, log, ports, views(c), 1);
        lb.start();
        answer_probes(lb, ports);
        const Sent a = send_through(lb, 1, "192.0.2.1", 40001, "10.10.0.100", 80, 0x02);
        ASSERT_EQ(a.out_port, 1);
        const size_t dead = a.dst == ip("10.20.0.11") ? 0 : 1;
        lb.set_real_server(0, dead, 1, false);
        const Sent next = send_through(lb, 2, "192.0.2.1", 40001, "10.10.0.100", 80, 0x10);
        if (!expire) {
            EXPECT_EQ(next.dst, a.dst) << "kept: the flow goes on to its server";
            EXPECT_EQ(drops(lb, "dead_server"), 0u);
            continue;
        }
        EXPECT_EQ(next.out_port, -1) << "expired: that packet is dropped";
        EXPECT_EQ(drops(lb, "dead_server"), 1u);
        EXPECT_EQ(lb.virtual_servers()[0]["real_servers"][dead]["inactive_connections"], 0);
        EXPECT_EQ(lb.virtual_servers()[0]["real_servers"][dead]["active_connections"], 0);
        const Sent retry = send_through(lb, 3, "192.0.2.1", 40001, "10.10.0.100", 80, 0x10);
        EXPECT_EQ(retry.out_port, 1);
        EXPECT_NE(retry.dst, a.dst) << "the client's next packet goes to a live server";
    }
}

TEST(LbControl, RoutesReachServersBehindAGateway) {
    auto c = nat_config();
    c.virtual_servers[0].real_servers[1].address = ip("10.40.0.11");   // behind a router on int
    EventLoop loop;
    Log log(true, false);
    FakePorts ports;
    LbControl lb(c, loop, log, ports, views(c), 1);
    lb.start();
    auto hop_of = [&](size_t rs) {
        const auto& slot = lb.table()->services()[0].real_servers[rs];
        return lb.table()->neighbours()[slot.neighbour];
    };
    EXPECT_EQ(hop_of(1).address, ip("10.40.0.11")) << "no route: asked for on the VIP's port, as a neighbour";

    config::VirtualRoute route;
    route.destination = *IpPrefix::parse("10.40.0.0/16");
    route.gateway = ip("10.20.0.1");
    route.port = "int";
    config::VirtualRoute longer = route;
    longer.destination = *IpPrefix::parse("10.40.0.0/24");
    longer.gateway = ip("10.20.0.254");
    longer.port.reset();   // the port whose prefix holds the gateway
    ports.sent.clear();
    lb.set_routes({route, longer});
    EXPECT_EQ(hop_of(1).address, ip("10.20.0.254")) << "the longest prefix wins";
    EXPECT_EQ(hop_of(1).port, 1);
    EXPECT_EQ(lb.table()->services()[0].real_servers[1].egress_port, 1);
    EXPECT_EQ(hop_of(0).address, ip("10.20.0.11")) << "on-link servers are not routed";
    ASSERT_EQ(ports.sent.size(), 1u) << "the new next hop is asked for at once";
    wire::ArpView arp;
    ASSERT_TRUE(wire::read_arp(ports.sent[0].frame.data() + 14, 46, arp));
    EXPECT_EQ(arp.target_ip, ip("10.20.0.254").v4_net());
    const auto routes = lb.summary()["routes"];
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_EQ(routes[1]["gateway"], "10.20.0.254");
    EXPECT_EQ(routes[1]["port"], "int");

    // The gateway answers: flows to the routed server go to its MAC.
    answer_probes(lb, ports);
    for (uint16_t p = 40000; p < 40004; ++p) send_through(lb, 1, "192.0.2.1", p, "10.10.0.100", 80, 0x02);
    EXPECT_EQ(lb.virtual_servers()[0]["real_servers"][1]["connections"], 2);

    lb.set_routes({});   // the instance left MASTER
    EXPECT_EQ(hop_of(1).address, ip("10.40.0.11"));
    EXPECT_TRUE(lb.summary()["routes"].empty());
}
