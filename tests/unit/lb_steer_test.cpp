// Several workers: which worker owns a packet's flow (lb/steer.hpp), and a
// cluster of LbWorkers over one table where packets land on any worker (as
// RSS spreads them) and are handed to the owner, as the worker loop does.
// No DPDK.
#include "lb/lb_worker.hpp"
#include "lb/service_table.hpp"
#include "lb/steer.hpp"
#include "lb_frames.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace haplane;
using namespace haplane::lb;
using namespace lbtest;
using dataplane::LbPacket;

namespace {

const wire::Mac EXT_MAC = mac(0xe0), INT_MAC = mac(0x10), CLIENT_MAC = mac(0x0c);
constexpr uint64_t kSeed = FlowTable::kDefaultSeed;

std::vector<PortView> ports() {
    return {{"ext", EXT_MAC, {*IpPrefix::parse("10.10.0.2/24"), *IpPrefix::parse("fd10::2/64")}},
            {"int", INT_MAC, {*IpPrefix::parse("10.20.0.2/24"), *IpPrefix::parse("fd20::2/64")}}};
}

// nat (v4 and v6), fnat and dr services on ext, servers on int.
config::Config lab_config() {
    config::Config c;
    for (const char* n : {"ext", "int"}) {
        config::Port p;
        p.name = n;
        c.ports.push_back(p);
    }
    c.virtual_servers.push_back(service("nat", "10.10.0.101", 80, config::Method::nat, {"10.20.0.11", "10.20.0.12"}));
    auto f = service("fnat", "10.10.0.102", 80, config::Method::fnat, {"10.20.0.11", "10.20.0.12", "10.20.0.13"});
    f.local_addresses = {ip("10.20.0.200"), ip("10.20.0.201")};
    c.virtual_servers.push_back(f);
    c.virtual_servers.push_back(service("dr", "10.10.0.100", 80, config::Method::dr, {"10.20.0.11"}));
    c.virtual_servers.push_back(service("nat6", "fd10::101", 80, config::Method::nat, {"fd20::11", "fd20::12"}));
    auto u = service("dns", "10.10.0.101", 80, config::Method::nat, {"10.20.0.11"});
    u.port = 53;
    u.protocol = config::Protocol::udp;
    c.virtual_servers.push_back(u);
    return c;
}

IpAddress addr_at(const uint8_t* frame, bool src) {
    IpAddress a;
    if (wire::load_be16(frame + 12) == wire::ETHERTYPE_IPV4) {
        std::memcpy(a.bytes.data(), frame + 14 + (src ? 12 : 16), 4);
    } else {
        a.family = Family::v6;
        std::memcpy(a.bytes.data(), frame + 14 + (src ? 8 : 24), 16);
    }
    return a;
}
size_t l4_at(const uint8_t* f) { return wire::load_be16(f + 12) == wire::ETHERTYPE_IPV4 ? 34 : 54; }
uint16_t sport_of(const uint8_t* f) { return wire::load_be16(f + l4_at(f)); }
uint16_t dport_of(const uint8_t* f) { return wire::load_be16(f + l4_at(f) + 2); }

FrameSpec request(const char* client, const char* vip, uint16_t sport, uint8_t flags = 0x02) {
    FrameSpec s;
    s.dst_mac = EXT_MAC;
    s.src_mac = CLIENT_MAC;
    s.src = ip(client);
    s.dst = ip(vip);
    s.sport = sport;
    s.dport = 80;
    s.tcp_flags = flags;
    return s;
}

// The real server's answer to a forwarded packet.
FrameSpec answer_to(const uint8_t* forwarded, uint8_t flags = 0x12) {
    FrameSpec s;
    s.dst_mac = INT_MAC;
    s.src_mac = mac(0x99);
    s.src = addr_at(forwarded, false);
    s.dst = addr_at(forwarded, true);
    s.sport = dport_of(forwarded);
    s.dport = sport_of(forwarded);
    s.tcp_flags = flags;
    s.payload = 9;
    return s;
}

// `workers` LbWorkers over one table; deliver() plays the worker loop:
// the worker a packet lands on steers, the owner forwards.
struct Cluster {
    explicit Cluster(const config::Config& config, unsigned workers) {
        table = ServiceTable::build(config, ports(), workers);
        ptr.store(table.get());
        for (size_t i = 0; i < table->neighbours().size(); ++i)
            table->set_neighbour_mac(static_cast<uint32_t>(i), mac(static_cast<uint8_t>(0xa0 + i)));
        LbWorker::Options o;
        o.connections = 4000;
        for (unsigned w = 0; w < workers; ++w) {
            stats.push_back(std::make_unique<WorkerStats>(table->real_server_count()));
            lbs.push_back(std::make_unique<LbWorker>(w, &ptr, stats.back().get(), o));
            lbs.back()->begin_round(100);
        }
    }

    struct Result {
        bool claimed = false;
        unsigned landed = 0;      // where RSS put it
        unsigned handled = 0;     // who forwarded it
        LbPacket pkt;
    };
    Result deliver(Frame& f, uint16_t in_port, unsigned landed) {
        Result r;
        r.landed = r.handled = landed;
        wire::Parsed p;
        EXPECT_EQ(wire::parse_frame(f.data(), f.len, p), wire::Malformed::none);
        r.claimed = lbs[landed]->claims(f.data(), p);
        if (!r.claimed) return r;
        r.pkt.frame = f.data();
        r.pkt.len = static_cast<uint16_t>(f.len);
        r.pkt.headroom = kHeadroom;
        r.pkt.tailroom = 64;
        r.pkt.in_port = in_port;
        r.pkt.parsed = p;
        const uint16_t handed = lbs[landed]->steer(&r.pkt, 1);
        if (handed) {
            EXPECT_EQ(r.pkt.out_port, LbPacket::kHandoff);
            EXPECT_NE(r.pkt.owner, landed);
            lbs[landed]->handoff_counts(1, 0, 0);
            r.handled = r.pkt.owner;
            lbs[r.handled]->handoff_counts(0, 0, 1);
        }
        lbs[r.handled]->forward(&r.pkt, 1);   // not steered again
        return r;
    }
    uint64_t sent() const {
        uint64_t n = 0;
        for (const auto& s : stats) n += s->handoffs_sent.get();
        return n;
    }

    std::unique_ptr<ServiceTable> table;
    std::atomic<const ServiceTable*> ptr{nullptr};
    std::vector<std::unique_ptr<WorkerStats>> stats;
    std::vector<std::unique_ptr<LbWorker>> lbs;
};

int owner_of(const ServiceTable& t, Frame& f, unsigned workers) {
    wire::Parsed p;
    EXPECT_EQ(wire::parse_frame(f.data(), f.len, p), wire::Malformed::none);
    return flow_owner(t, f.data(), p, workers, kSeed);
}

} // namespace

TEST(Steer, LocalPortRangesNameTheirWorker) {
    for (unsigned workers = 1; workers <= 9; ++workers) {
        uint16_t prev_last = 1023;
        for (unsigned w = 0; w < workers; ++w) {
            uint16_t first, last, f2, l2;
            local_port_range(w, workers, first, last);
            LbWorker::port_range(w, workers, f2, l2);
            EXPECT_EQ(first, f2);
            EXPECT_EQ(last, l2);
            EXPECT_EQ(first, prev_last + 1) << "ranges follow one another";
            prev_last = last;
            for (uint16_t port : {first, static_cast<uint16_t>(first + (last - first) / 2), last})
                EXPECT_EQ(local_port_owner(port, workers), static_cast<int>(w)) << port << " of " << workers;
        }
        for (uint32_t port = prev_last + 1u; port <= 65535u; ++port)
            EXPECT_EQ(local_port_owner(static_cast<uint16_t>(port), workers), kNoOwner) << "left over";
        EXPECT_EQ(local_port_owner(80, workers), workers == 1 ? 0 : kNoOwner) << "never handed out";
    }
}

TEST(Steer, ClientOwnerIsStableAndSpreads) {
    for (const char* client : {"192.0.2.1", "2001:db8::c1"}) {
        const IpAddress a = ip(client);
        EXPECT_EQ(client_owner(a.family, a.bytes.data(), net16(40000), 1, kSeed), 0u);
        for (unsigned workers : {2u, 3u, 4u, 7u}) {
            std::vector<unsigned> per(workers, 0);
            for (uint32_t port = 1024; port < 1024 + 7000; ++port) {
                const unsigned o = client_owner(a.family, a.bytes.data(), net16(static_cast<uint16_t>(port)), workers, kSeed);
                ASSERT_LT(o, workers);
                EXPECT_EQ(o, client_owner(a.family, a.bytes.data(), net16(static_cast<uint16_t>(port)), workers, kSeed));
                ++per[o];
            }
            for (unsigned n : per) {
                EXPECT_GT(n, 7000 / workers * 8 / 10) << client << " over " << workers;
                EXPECT_LT(n, 7000 / workers * 12 / 10) << client << " over " << workers;
            }
        }
    }
    // Addresses matter too, and another seed is another mapping.
    std::set<unsigned> seen;
    int differ = 0;
    for (uint8_t last = 1; last < 64; ++last) {
        IpAddress a = ip("198.51.100.0");
        a.bytes[3] = last;
        seen.insert(client_owner(Family::v4, a.bytes.data(), net16(5000), 4, kSeed));
        differ += client_owner(Family::v4, a.bytes.data(), net16(5000), 4, kSeed) !=
                  client_owner(Family::v4, a.bytes.data(), net16(5000), 4, kSeed ^ 0x1234567);
    }
    EXPECT_EQ(seen.size(), 4u);
    EXPECT_GT(differ, 20);
}

TEST(Steer, OwnerFromEitherDirectionOfANatFlow) {
    auto table = ServiceTable::build(lab_config(), ports(), 3);
    for (uint16_t port = 40000; port < 40100; ++port) {
        for (bool v6 : {false, true}) {
            const char* client = v6 ? "2001:db8::c1" : "192.0.2.1";
            Frame fwd = build(request(client, v6 ? "fd10::101" : "10.10.0.101", port));
            const IpAddress c = ip(client);
            const int owner = static_cast<int>(client_owner(c.family, c.bytes.data(), net16(port), 3, kSeed));
            EXPECT_EQ(owner_of(*table, fwd, 3), owner);
            // The server's reply: server:80 -> client:port.
            FrameSpec reply = request(v6 ? "fd20::12" : "10.20.0.12", client, 80, 0x12);
            reply.dport = port;
            Frame back = build(reply);
            EXPECT_EQ(owner_of(*table, back, 3), owner);
            // The server's ICMP error about what it got (client -> server).
            FrameSpec sent = request(client, v6 ? "fd20::12" : "10.20.0.12", port);
            Frame quoted = build(sent);
            Frame err = icmp_error(ip(v6 ? "fd20::12" : "10.20.0.12"), c, quoted, v6 ? 1 : 3, v6 ? 4 : 3, 28,
                                   INT_MAC, mac(0x99));
            EXPECT_EQ(owner_of(*table, err, 3), owner);
            // A router on the client side about our answer (VIP -> client).
            FrameSpec answer = request(v6 ? "fd10::101" : "10.10.0.101", client, 80, 0x10);
            answer.dport = port;
            Frame big = build(answer);
            Frame err2 = icmp_error(ip(v6 ? "fd10::1" : "10.10.0.1"), ip(v6 ? "fd10::101" : "10.10.0.101"), big,
                                    v6 ? 2 : 3, v6 ? 0 : 4, 8, EXT_MAC, CLIENT_MAC, 1280);
            EXPECT_EQ(owner_of(*table, err2, 3), owner);
        }
    }
}

TEST(Steer, FullNatRepliesByLocalPortDrAndStraysStayPut) {
    auto table = ServiceTable::build(lab_config(), ports(), 3);
    Frame fwd = build(request("192.0.2.1", "10.10.0.102", 40000));
    const IpAddress c = ip("192.0.2.1");
    EXPECT_EQ(owner_of(*table, fwd, 3), static_cast<int>(client_owner(Family::v4, c.bytes.data(), net16(40000), 3, kSeed)));
    for (unsigned w = 0; w < 3; ++w) {
        uint16_t first, last;
        local_port_range(w, 3, first, last);
        FrameSpec reply = request("10.20.0.13", "10.20.0.201", 80, 0x12);
        reply.dport = static_cast<uint16_t>(first + 7);
        Frame back = build(reply);
        EXPECT_EQ(owner_of(*table, back, 3), static_cast<int>(w));
        // The server's ICMP error quoting local:port -> server.
        FrameSpec sent = request("10.20.0.200", "10.20.0.13", static_cast<uint16_t>(last));
        Frame quoted = build(sent);
        Frame err = icmp_error(ip("10.20.0.13"), ip("10.20.0.200"), quoted, 3, 3, 28, INT_MAC, mac(0x99));
        EXPECT_EQ(owner_of(*table, err, 3), static_cast<int>(w));
    }
    Frame dr = build(request("192.0.2.1", "10.10.0.100", 40000));
    EXPECT_EQ(owner_of(*table, dr, 3), kNoOwner) << "dr: wherever RSS put it";
    Frame stray = build(request("192.0.2.1", "10.10.0.99", 40000));
    EXPECT_EQ(owner_of(*table, stray, 3), kNoOwner);
    EXPECT_EQ(owner_of(*table, fwd, 1), 0) << "one worker owns everything";
}

// The worker loop's view: flows open on whichever worker RSS picks, their
// replies arrive on another, and every packet is handled by the owner.
TEST(SteerCluster, NatAndFullNatFlowsWorkWhereverTheirPacketsLand) {
    Cluster cl(lab_config(), 3);
    std::map<unsigned, int> owners;
    for (uint16_t i = 0; i < 60; ++i) {
        const bool fnat = i % 2;
        const char* vip = fnat ? "10.10.0.102" : "10.10.0.101";
        const uint16_t port = static_cast<uint16_t>(41000 + i);
        Frame f = build(request("192.0.2.7", vip, port));
        auto r = cl.deliver(f, 0, i % 3);
        ASSERT_TRUE(r.claimed);
        ASSERT_EQ(r.pkt.out_port, 1) << i;
        ++owners[r.handled];
        EXPECT_EQ(addr_at(f.data(), false).family, Family::v4);
        if (fnat) {
            uint16_t first, last;
            local_port_range(r.handled, 3, first, last);
            EXPECT_GE(sport_of(f.data()), first);
            EXPECT_LE(sport_of(f.data()), last);
        }
        // The reply lands on the next worker.
        Frame back = build(answer_to(f.data()));
        auto rr = cl.deliver(back, 1, (i + 1) % 3);
        ASSERT_TRUE(rr.claimed);
        EXPECT_EQ(rr.handled, r.handled) << "the owner";
        ASSERT_EQ(rr.pkt.out_port, 0) << i;
        EXPECT_EQ(addr_at(back.data(), true), ip(vip));
        EXPECT_EQ(sport_of(back.data()), 80);
        EXPECT_EQ(addr_at(back.data(), false), ip("192.0.2.7"));
        EXPECT_EQ(dport_of(back.data()), port);
        EXPECT_EQ(checksum_errors(back.data(), back.len), "");
        // The client's ACK lands on yet another worker and still finds its flow.
        Frame ack = build(request("192.0.2.7", vip, port, 0x10));
        auto ra = cl.deliver(ack, 0, (i + 2) % 3);
        EXPECT_EQ(ra.handled, r.handled);
        EXPECT_EQ(ra.pkt.out_port, 1);
    }
    EXPECT_EQ(owners.size(), 3u) << "every worker owns some flows";
    EXPECT_GT(cl.sent(), 60u);
    uint64_t received = 0, no_service = 0;
    for (const auto& s : cl.stats) {
        received += s->handoffs_received.get();
        no_service += s->drops[static_cast<size_t>(LbDrop::no_service)].get();
    }
    EXPECT_EQ(received, cl.sent());
    EXPECT_EQ(no_service, 0u);
}

TEST(SteerCluster, WithoutSteeringRepliesAreLost) {
    // What the integration test shows on the wire: the same replies,
    // forwarded where they land, miss their flow on other workers.
    Cluster cl(lab_config(), 3);
    int lost = 0;
    for (uint16_t i = 0; i < 30; ++i) {
        Frame f = build(request("192.0.2.7", "10.10.0.101", static_cast<uint16_t>(42000 + i)));
        wire::Parsed p;
        wire::parse_frame(f.data(), f.len, p);
        LbPacket pkt;
        pkt.frame = f.data();
        pkt.len = static_cast<uint16_t>(f.len);
        pkt.parsed = p;
        cl.lbs[0]->forward(&pkt, 1);
        ASSERT_EQ(pkt.out_port, 1);
        Frame back = build(answer_to(f.data()));
        wire::parse_frame(back.data(), back.len, p);
        LbPacket rp;
        rp.frame = back.data();
        rp.len = static_cast<uint16_t>(back.len);
        rp.in_port = 1;
        rp.parsed = p;
        cl.lbs[1 + i % 2]->forward(&rp, 1);
        lost += rp.out_port == LbPacket::kDrop;
    }
    EXPECT_EQ(lost, 30);
}

TEST(SteerCluster, IcmpErrorsReachTheOwner) {
    Cluster cl(lab_config(), 3);
    for (uint16_t i = 0; i < 12; ++i) {
        // udp nat: the server's port unreachable lands anywhere.
        auto q = request("192.0.2.9", "10.10.0.101", static_cast<uint16_t>(43000 + i));
        q.dport = 53;
        q.proto = wire::IPPROTO_UDP_;
        q.payload = 12;
        Frame f = build(q);
        auto r = cl.deliver(f, 0, 0);
        ASSERT_EQ(r.pkt.out_port, 1);
        Frame err = icmp_error(ip("10.20.0.11"), ip("192.0.2.9"), f, 3, 3, 20, INT_MAC, mac(0x99));
        auto e = cl.deliver(err, 1, (i + 1) % 3);
        ASSERT_TRUE(e.claimed);
        EXPECT_EQ(e.handled, r.handled);
        ASSERT_EQ(e.pkt.out_port, 0) << "back to the client";
        EXPECT_EQ(addr_at(err.data(), true), ip("10.10.0.101"));
        EXPECT_EQ(icmp_errors(err.data(), e.pkt.len), "");

        // fnat: the client side says our answer was too big.
        Frame g = build(request("192.0.2.9", "10.10.0.102", static_cast<uint16_t>(44000 + i)));
        auto rg = cl.deliver(g, 0, 2);
        ASSERT_EQ(rg.pkt.out_port, 1);
        auto answer = request("10.10.0.102", "192.0.2.9", 80, 0x10);
        answer.dport = static_cast<uint16_t>(44000 + i);
        answer.payload = 1400;
        Frame big = build(answer);
        Frame too_big = icmp_error(ip("10.10.0.1"), ip("10.10.0.102"), big, 3, 4, 8, EXT_MAC, CLIENT_MAC, 1300);
        auto eg = cl.deliver(too_big, 0, i % 3);
        ASSERT_TRUE(eg.claimed);
        EXPECT_EQ(eg.handled, rg.handled);
        ASSERT_EQ(eg.pkt.out_port, 1) << "on to the server";
        EXPECT_EQ(icmp_errors(too_big.data(), eg.pkt.len), "");
    }
}

TEST(SteerCluster, OneWorkerSteersNothing) {
    Cluster cl(lab_config(), 1);
    Frame f = build(request("192.0.2.7", "10.10.0.101", 40000));
    wire::Parsed p;
    wire::parse_frame(f.data(), f.len, p);
    LbPacket pkt;
    pkt.frame = f.data();
    pkt.len = static_cast<uint16_t>(f.len);
    pkt.parsed = p;
    EXPECT_EQ(cl.lbs[0]->steer(&pkt, 1), 0);
    EXPECT_EQ(pkt.out_port, LbPacket::kDrop) << "untouched";
}
