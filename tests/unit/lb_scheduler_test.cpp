// Schedulers: exact rr/wrr distributions, least-connection choices, drain
// (weight 0) for every kind, source hashing and Maglev stickiness.
#include "lb/backend.hpp"
#include "lb/conn_counts.hpp"
#include "lb/flow.hpp"
#include "lb/scheduler.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace haplane;
using namespace haplane::lb;

namespace {

std::vector<Backend> with_weights(std::vector<uint32_t> weights) {
    std::vector<Backend> out;
    for (size_t i = 0; i < weights.size(); ++i)
        out.push_back({backend_id(IpAddress::v4(0x0a140000u + static_cast<uint32_t>(i) + 1), 80), weights[i]});
    return out;
}

FlowKey flow(uint32_t client, uint16_t sport, uint16_t dport = 80) {
    return FlowKey::make(IpAddress::v4(client), sport, IpAddress::v4(0x0a0a0064), dport, kProtoTcp);
}

std::vector<int> picks(Scheduler& s, size_t n, const ConnCounts& counts = {}) {
    std::vector<int> out;
    for (size_t i = 0; i < n; ++i) out.push_back(s.pick(flow(0xc0a80001u + static_cast<uint32_t>(i), 1000), counts));
    return out;
}

std::map<int, int> histogram(const std::vector<int>& v) {
    std::map<int, int> h;
    for (int x : v) ++h[x];
    return h;
}

const config::Scheduler kAllKinds[] = {config::Scheduler::rr, config::Scheduler::wrr, config::Scheduler::lc,
                                       config::Scheduler::wlc, config::Scheduler::sh, config::Scheduler::mh};

} // namespace

TEST(LbRoundRobin, ExactCyclicDistribution) {
    auto s = make_scheduler(config::Scheduler::rr, with_weights({1, 1, 1}));
    auto v = picks(*s, 300);
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<int>(i % 3));
    EXPECT_EQ(histogram(v), (std::map<int, int>{{0, 100}, {1, 100}, {2, 100}}));
}

TEST(LbRoundRobin, IgnoresWeightMagnitude) {
    auto s = make_scheduler(config::Scheduler::rr, with_weights({5, 1}));
    EXPECT_EQ(picks(*s, 4), (std::vector<int>{0, 1, 0, 1}));
}

TEST(LbWeightedRoundRobin, ExactProportions) {
    auto s = make_scheduler(config::Scheduler::wrr, with_weights({5, 1, 1}));
    EXPECT_EQ(histogram(picks(*s, 700)), (std::map<int, int>{{0, 500}, {1, 100}, {2, 100}}));

    auto t = make_scheduler(config::Scheduler::wrr, with_weights({3, 2, 0, 7}));
    EXPECT_EQ(histogram(picks(*t, 1200)), (std::map<int, int>{{0, 300}, {1, 200}, {3, 700}}));
}

TEST(LbWeightedRoundRobin, SmoothInterleaving) {
    auto s = make_scheduler(config::Scheduler::wrr, with_weights({5, 1, 1}));
    auto v = picks(*s, 700);
    // nginx's smooth sequence: the heavy server never runs 5 in a row.
    EXPECT_EQ(std::vector<int>(v.begin(), v.begin() + 7), (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < v.size(); ++i) {
        run = (i > 0 && v[i] == v[i - 1]) ? run + 1 : 1;
        longest = std::max(longest, run);
    }
    EXPECT_LE(longest, 4u);
    // Every window of 7 consecutive picks holds each server in proportion.
    for (size_t i = 0; i + 7 <= v.size(); i += 7)
        EXPECT_EQ(histogram(std::vector<int>(v.begin() + i, v.begin() + i + 7)),
                  (std::map<int, int>{{0, 5}, {1, 1}, {2, 1}}));
}

TEST(LbLeastConnection, PicksLeastLoaded) {
    auto s = make_scheduler(config::Scheduler::lc, with_weights({1, 1, 1}));
    std::vector<uint32_t> active{5, 2, 7};
    for (int i = 0; i < 10; ++i) EXPECT_EQ(s->pick(flow(1, 1), ConnCounts{active, {}}), 1);
    // IPVS overhead: an active connection outweighs 255 inactive ones.
    auto two = make_scheduler(config::Scheduler::lc, with_weights({1, 1}));
    std::vector<uint32_t> active2{1, 2}, inactive2{200, 0};
    EXPECT_EQ(two->pick(flow(1, 1), ConnCounts{active2, inactive2}), 0);
    std::vector<uint32_t> inactive3{300, 0};
    EXPECT_EQ(two->pick(flow(1, 1), ConnCounts{active2, inactive3}), 1);
}

TEST(LbLeastConnection, TiesRotate) {
    auto s = make_scheduler(config::Scheduler::lc, with_weights({1, 1, 1}));
    EXPECT_EQ(picks(*s, 6), (std::vector<int>{0, 1, 2, 0, 1, 2}));
    std::vector<uint32_t> active{3, 1, 1};
    auto t = make_scheduler(config::Scheduler::lc, with_weights({1, 1, 1}));
    EXPECT_EQ(picks(*t, 4, ConnCounts{active, {}}), (std::vector<int>{1, 2, 1, 2}));
}

TEST(LbLeastConnection, FollowsCountsAsTheyChange) {
    auto s = make_scheduler(config::Scheduler::lc, with_weights({1, 1, 1}));
    RealServerCounts counts(3);
    for (int i = 0; i < 300; ++i) {
        int rs = s->pick(flow(static_cast<uint32_t>(i), 1), counts.view());
        ASSERT_GE(rs, 0);
        counts.add(static_cast<uint16_t>(rs), ConnState::established);
    }
    for (int i = 0; i < 3; ++i) EXPECT_EQ(counts.view().active_of(static_cast<size_t>(i)), 100u);
}

TEST(LbWeightedLeastConnection, WeighsOverhead) {
    std::vector<uint32_t> active{4, 6};
    auto lc = make_scheduler(config::Scheduler::lc, with_weights({1, 3}));
    auto wlc = make_scheduler(config::Scheduler::wlc, with_weights({1, 3}));
    EXPECT_EQ(lc->pick(flow(1, 1), ConnCounts{active, {}}), 0);
    EXPECT_EQ(wlc->pick(flow(1, 1), ConnCounts{active, {}}), 1);   // 4/1 > 6/3

    // Filled one by one, wlc converges to the weights.
    auto s = make_scheduler(config::Scheduler::wlc, with_weights({1, 2, 3}));
    RealServerCounts counts(3);
    for (int i = 0; i < 600; ++i) {
        int rs = s->pick(flow(static_cast<uint32_t>(i), 1), counts.view());
        ASSERT_GE(rs, 0);
        counts.add(static_cast<uint16_t>(rs), ConnState::established);
    }
    EXPECT_EQ(counts.view().active_of(0), 100u);
    EXPECT_EQ(counts.view().active_of(1), 200u);
    EXPECT_EQ(counts.view().active_of(2), 300u);
}

TEST(LbSchedulers, WeightZeroDrainsForEveryKind) {
    // Server 1 is drained and, to tempt lc/wlc, has no connections at all.
    // The others are equally loaded relative to their weights (wlc ties);
    // lc sees 0 as busier.
    std::vector<uint32_t> active{50, 0, 25, 25};
    for (auto kind : kAllKinds) {
        SCOPED_TRACE(config::to_string(kind));
        auto s = make_scheduler(kind, with_weights({2, 0, 1, 1}));
        std::set<int> seen;
        for (uint32_t i = 0; i < 3000; ++i) {
            int rs = s->pick(flow(0x01000000u + i * 7919u, static_cast<uint16_t>(i)), ConnCounts{active, {}});
            ASSERT_NE(rs, 1);
            ASSERT_GE(rs, 0);
            seen.insert(rs);
        }
        EXPECT_EQ(seen, (kind == config::Scheduler::lc ? std::set<int>{2, 3} : std::set<int>{0, 2, 3}));
    }
}

TEST(LbSchedulers, NoneAvailable) {
    for (auto kind : kAllKinds) {
        SCOPED_TRACE(config::to_string(kind));
        EXPECT_EQ(make_scheduler(kind, with_weights({0, 0}))->pick(flow(1, 1), {}), -1);
        EXPECT_EQ(make_scheduler(kind, {})->pick(flow(1, 1), {}), -1);
        EXPECT_EQ(make_scheduler(kind, with_weights({1}))->kind(), kind);
    }
}

TEST(LbSchedulers, CloneCopiesCursorThenRunsIndependently) {
    auto s = make_scheduler(config::Scheduler::rr, with_weights({1, 1, 1}));
    s->pick(flow(1, 1), {});
    auto c = s->clone();
    EXPECT_EQ(c->pick(flow(1, 1), {}), 1);
    EXPECT_EQ(c->pick(flow(1, 1), {}), 2);
    EXPECT_EQ(s->pick(flow(1, 1), {}), 1);   // the original did not move
    for (auto kind : kAllKinds) {
        auto a = make_scheduler(kind, with_weights({1, 2, 3}));
        auto b = a->clone();
        EXPECT_EQ(b->kind(), kind);
        EXPECT_EQ(picks(*a, 50), picks(*b, 50));
    }
}

TEST(LbSourceHash, SameSourceSameServer) {
    auto s = make_scheduler(config::Scheduler::sh, with_weights({1, 1, 1, 1}));
    for (uint32_t client = 0; client < 200; ++client) {
        int first = s->pick(flow(0x0b000000u + client, 1), {});
        for (uint16_t port = 2; port < 30; ++port)
            ASSERT_EQ(s->pick(flow(0x0b000000u + client, port, static_cast<uint16_t>(port * 3)), {}), first);
    }
}

TEST(LbSourceHash, SpreadsAndWeighs) {
    auto s = make_scheduler(config::Scheduler::sh, with_weights({1, 1, 1, 1}));
    std::map<int, int> h;
    for (uint32_t client = 0; client < 8000; ++client) ++h[s->pick(flow(0x0c000000u + client * 13u, 1), {})];
    ASSERT_EQ(h.size(), 4u);
    for (auto [rs, n] : h) EXPECT_NEAR(n, 2000, 200) << rs;

    auto w = make_scheduler(config::Scheduler::sh, with_weights({3, 1}));
    int heavy = 0;
    for (uint32_t client = 0; client < 8000; ++client) heavy += w->pick(flow(0x0d000000u + client, 1), {}) == 0;
    EXPECT_NEAR(heavy, 6000, 250);
}

TEST(LbMaglevScheduler, FlowsStickAndSpread) {
    auto s = make_scheduler(config::Scheduler::mh, with_weights({1, 1, 1}));
    auto other_node = make_scheduler(config::Scheduler::mh, with_weights({1, 1, 1}));
    std::map<int, int> h;
    for (uint32_t i = 0; i < 6000; ++i) {
        FlowKey f = flow(0x0e000000u + i / 10, static_cast<uint16_t>(1024 + i));
        int rs = s->pick(f, {});
        ASSERT_EQ(s->pick(f, {}), rs);
        ASSERT_EQ(other_node->pick(f, {}), rs);   // the HA peer agrees
        ++h[rs];
    }
    ASSERT_EQ(h.size(), 3u);
    for (auto [rs, n] : h) EXPECT_NEAR(n, 2000, 200) << rs;
    EXPECT_THROW(make_maglev_scheduler(config::Scheduler::mh, with_weights({1}), 1000), std::invalid_argument);
    EXPECT_THROW(make_maglev_scheduler(config::Scheduler::rr, with_weights({1}), 251), std::invalid_argument);
    EXPECT_EQ(make_maglev_scheduler(config::Scheduler::mh, with_weights({0, 1}), 251)->pick(flow(1, 1), {}), 1);
}

TEST(LbBackends, FromConfig) {
    config::VirtualServer vs;
    vs.port = 80;
    vs.real_servers.resize(3);
    vs.real_servers[0].address = IpAddress::v4(0x0a140001);
    vs.real_servers[0].weight = 3;
    vs.real_servers[1].address = IpAddress::v4(0x0a140001);
    vs.real_servers[1].port = 8080;
    vs.real_servers[2].address = IpAddress::v4(0x0a140001);
    vs.real_servers[2].port = 80;
    vs.real_servers[2].weight = 0;
    auto b = make_backends(vs);
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(b[0].weight, 3u);
    EXPECT_EQ(b[2].weight, 0u);
    EXPECT_EQ(b[0].id, b[2].id);           // port 0 means the service's port
    EXPECT_NE(b[0].id, b[1].id);
    EXPECT_EQ(b[0].id, backend_id(IpAddress::v4(0x0a140001), 80));
    EXPECT_NE(backend_id(*IpAddress::parse("::a14:1"), 80), b[0].id);   // family is part of identity
}

TEST(LbFlow, KeysAndHashes) {
    FlowKey a = FlowKey::make(IpAddress::v4(0x0a000001), 1234, IpAddress::v4(0x0a000002), 80, kProtoTcp);
    uint32_t src = IpAddress::v4(0x0a000001).v4_net(), dst = IpAddress::v4(0x0a000002).v4_net();
    FlowKey b = FlowKey::v4(src, dst, net16(1234), net16(80), kProtoTcp);
    EXPECT_EQ(a, b);
    EXPECT_EQ(hash_flow(a, 1), hash_flow(b, 1));
    EXPECT_NE(hash_flow(a, 1), hash_flow(a, 2));
    EXPECT_EQ(a.reversed().reversed(), a);
    EXPECT_NE(a.reversed(), a);
    EXPECT_EQ(a.reversed().src_port, net16(80));
    // Wire order: port 80 is bytes 00 50.
    const auto* port = reinterpret_cast<const uint8_t*>(&a.dst_port);
    EXPECT_EQ(port[0], 0x00);
    EXPECT_EQ(port[1], 0x50);
    FlowKey c = a;
    c.src_port = net16(1235);
    EXPECT_NE(hash_flow(a, 1), hash_flow(c, 1));
    EXPECT_EQ(hash_source(a, 1), hash_source(c, 1));
    // Pinned values: the HA peers (and successive versions) must agree.
    EXPECT_EQ(hash_flow(a, 0), 0xfbfa8c2f6571fd2full);
    EXPECT_EQ(hash_source(a, 0), 0xc771d4fcf3920fceull);
}
