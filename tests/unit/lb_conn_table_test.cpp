// Connection table: storage, full-table drops, per-state expiry on the
// timer wheel (time injected), O(expired) expiry, TCP transitions,
// persistence, HA records and memory per entry.
#include "lb/conn_counts.hpp"
#include "lb/conn_record.hpp"
#include "lb/conn_table.hpp"
#include "lb/persistence.hpp"
#include "lb/tcp_state.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <unordered_map>
#include <vector>

using namespace haplane;
using namespace haplane::lb;

namespace {

FlowKey tcp_flow(uint32_t client, uint16_t sport = 40000) {
    return FlowKey::make(IpAddress::v4(0x0b000000u + client), sport, IpAddress::v4(0x0a0a0064), 80, kProtoTcp);
}

ConnEntry entry(uint16_t rs, ConnState state, uint16_t service = 0) {
    ConnEntry e;
    e.real_server = rs;
    e.service = service;
    e.state = state;
    return e;
}

size_t expire_all(ConnTable& t, uint32_t now) {
    return t.expire(now, SIZE_MAX, [](const Conn&) {});
}

using tcp_flag::ack;
using tcp_flag::fin;
using tcp_flag::rst;
using tcp_flag::syn;

} // namespace

TEST(LbConnTable, InsertLookupRemove) {
    ConnTable t(1000);
    auto k = tcp_flow(1);
    EXPECT_EQ(t.lookup(k, 0), nullptr);
    Conn* c = t.insert(k, entry(3, ConnState::syn_recv, 7), 0);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(t.size(), 1u);
    Conn* found = t.lookup(k, 1);
    ASSERT_EQ(found, c);
    EXPECT_EQ(found->key, k);
    EXPECT_EQ(found->entry.real_server, 3);
    EXPECT_EQ(found->entry.service, 7);
    EXPECT_EQ(t.lookup(tcp_flow(1, 40001), 1), nullptr);
    EXPECT_EQ(t.lookup(k.reversed(), 1), nullptr);
    // Inserting the same key again overwrites it, no second entry.
    EXPECT_EQ(t.insert(k, entry(4, ConnState::syn_recv), 2), c);
    EXPECT_EQ(c->entry.real_server, 4);
    EXPECT_EQ(t.size(), 1u);
    t.remove(c);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.lookup(k, 3), nullptr);
    EXPECT_EQ(expire_all(t, 100000), 0u);   // a removed flow is off the wheel too
}

TEST(LbConnTable, FullTableDropsNewFlowsOnly) {
    ConnTable t(4);
    for (uint32_t i = 0; i < 4; ++i) ASSERT_NE(t.insert(tcp_flow(i), entry(0, ConnState::established), 0), nullptr);
    EXPECT_EQ(t.insert(tcp_flow(10), entry(0, ConnState::established), 0), nullptr);
    EXPECT_EQ(t.insert(tcp_flow(11), entry(0, ConnState::established), 0), nullptr);
    EXPECT_EQ(t.full_drops(), 2u);
    for (uint32_t i = 0; i < 4; ++i) EXPECT_NE(t.lookup(tcp_flow(i), 1), nullptr);
    EXPECT_NE(t.insert(tcp_flow(2), entry(1, ConnState::established), 1), nullptr);   // existing: still fine
    t.remove(t.find(tcp_flow(0)));
    EXPECT_NE(t.insert(tcp_flow(10), entry(0, ConnState::established), 1), nullptr);
    EXPECT_EQ(t.full_drops(), 2u);
}

TEST(LbConnTable, MatchesAReferenceMapUnderChurn) {
    // Random inserts/removes/lookups against std::unordered_map: checks the
    // index's backward-shift deletion keeps every probe chain intact.
    ConnTable t(512);
    std::unordered_map<uint32_t, uint16_t> ref;
    std::mt19937 rng(42);
    for (int op = 0; op < 200000; ++op) {
        uint32_t client = rng() % 1024;
        auto k = tcp_flow(client);
        Conn* c = t.find(k);
        auto it = ref.find(client);
        ASSERT_EQ(c != nullptr, it != ref.end()) << op;
        if (c) {
            ASSERT_EQ(c->entry.real_server, it->second);
        }
        if (rng() % 2) {
            if (c) {
                t.remove(c);
                ref.erase(it);
            }
        } else if (!c) {
            uint16_t rs = static_cast<uint16_t>(rng() % 1000);
            Conn* n = t.insert(k, entry(rs, ConnState::established), 0);
            ASSERT_EQ(n != nullptr, ref.size() < 512);
            if (n) ref[client] = rs;
        }
        ASSERT_EQ(t.size(), ref.size());
    }
}

TEST(LbConnTable, ExpiresAfterEachStatesTimeout) {
    // Defaults: tcp 900 s, tcp_fin 120 s, tcp_syn 30 s, udp 300 s.
    ConnTable t(100);
    t.insert(tcp_flow(1), entry(0, ConnState::syn_recv), 0);
    t.insert(tcp_flow(2), entry(0, ConnState::established), 0);
    t.insert(tcp_flow(3), entry(0, ConnState::fin_wait), 0);
    t.insert(FlowKey::make(IpAddress::v4(1), 53, IpAddress::v4(2), 53, kProtoUdp), entry(0, ConnState::udp), 0);
    t.insert(tcp_flow(5), entry(0, ConnState::close), 0);
    EXPECT_EQ(expire_all(t, 9), 0u);
    EXPECT_EQ(expire_all(t, 10), 1u);   // close
    EXPECT_EQ(expire_all(t, 29), 0u);
    EXPECT_EQ(expire_all(t, 30), 1u);   // syn
    EXPECT_EQ(t.find(tcp_flow(1)), nullptr);
    EXPECT_EQ(expire_all(t, 119), 0u);
    EXPECT_EQ(expire_all(t, 120), 1u);  // fin
    EXPECT_EQ(expire_all(t, 299), 0u);
    EXPECT_EQ(expire_all(t, 300), 1u);  // udp
    EXPECT_EQ(expire_all(t, 899), 0u);
    EXPECT_EQ(expire_all(t, 900), 1u);  // established
    EXPECT_EQ(t.size(), 0u);
}

TEST(LbConnTable, ConfiguredTimeouts) {
    config::Timeouts to;
    to.tcp = std::chrono::seconds(50);
    to.tcp_syn = std::chrono::milliseconds(1500);   // rounds up to 2 s
    ConnTable t(100, to);
    EXPECT_EQ(t.timeouts().of(ConnState::syn_recv), 2u);
    t.insert(tcp_flow(1), entry(0, ConnState::syn_recv), 0);
    t.insert(tcp_flow(2), entry(0, ConnState::established), 0);
    EXPECT_EQ(expire_all(t, 1), 0u);
    EXPECT_EQ(expire_all(t, 2), 1u);
    EXPECT_EQ(expire_all(t, 49), 0u);
    EXPECT_EQ(expire_all(t, 50), 1u);
}

TEST(LbConnTable, RefreshPostponesExpiry) {
    ConnTable t(100);
    auto k = FlowKey::make(IpAddress::v4(1), 5353, IpAddress::v4(2), 53, kProtoUdp);
    t.insert(k, entry(0, ConnState::udp), 0);
    ASSERT_NE(t.lookup(k, 200), nullptr);
    EXPECT_EQ(expire_all(t, 300), 0u);
    EXPECT_EQ(expire_all(t, 499), 0u);
    ASSERT_NE(t.lookup(k, 499), nullptr);
    EXPECT_EQ(expire_all(t, 798), 0u);
    EXPECT_EQ(expire_all(t, 799), 1u);
}

TEST(LbConnTable, HandshakeAndCloseMoveTheDeadline) {
    ConnTable t(100);
    auto k = tcp_flow(1);
    Conn* c = t.insert(k, entry(0, initial_tcp_state(syn)), 0);
    ASSERT_EQ(c->entry.state, ConnState::syn_recv);
    EXPECT_EQ(c->deadline(), 30u);
    StateChange ch = t.on_tcp(c, ack, Direction::in, 10);
    EXPECT_TRUE(ch.changed());
    EXPECT_EQ(ch.from, ConnState::syn_recv);
    EXPECT_EQ(ch.to, ConnState::established);
    EXPECT_EQ(c->deadline(), 910u);
    EXPECT_EQ(expire_all(t, 30), 0u);          // re-filed, not expired
    // The client closes at 100: the shorter fin timeout must not be late
    // even though the flow was filed for 910.
    t.on_tcp(c, fin | ack, Direction::in, 100);
    EXPECT_EQ(c->entry.state, ConnState::fin_wait);
    EXPECT_EQ(expire_all(t, 219), 0u);
    EXPECT_EQ(expire_all(t, 220), 1u);
}

TEST(LbConnTable, ExpiryVisitsOnlyDueEntries) {
    ConnTable t(200000);
    for (uint32_t i = 0; i < 100000; ++i)
        ASSERT_NE(t.insert(tcp_flow(i), entry(0, ConnState::established), 0), nullptr);
    for (uint32_t i = 0; i < 10; ++i) t.insert(tcp_flow(i, 1), entry(0, ConnState::syn_recv), 0);
    EXPECT_EQ(expire_all(t, 29), 0u);
    EXPECT_EQ(t.expire_visits(), 0u);
    EXPECT_EQ(expire_all(t, 31), 10u);
    EXPECT_EQ(t.expire_visits(), 10u);
    EXPECT_EQ(expire_all(t, 899), 0u);
    EXPECT_EQ(t.expire_visits(), 10u);
    EXPECT_EQ(expire_all(t, 900), 100000u);
    EXPECT_EQ(t.expire_visits(), 100010u);
}

TEST(LbConnTable, RefreshedEntriesAreRevisitedOncePerTimeout) {
    ConnTable t(2000);
    for (uint32_t i = 0; i < 1000; ++i) t.insert(tcp_flow(i), entry(0, ConnState::established), 0);
    for (uint32_t i = 0; i < 1000; ++i) t.lookup(tcp_flow(i), 500);   // deadlines 1400
    EXPECT_EQ(expire_all(t, 900), 0u);
    EXPECT_EQ(t.expire_visits(), 1000u);      // each looked at once, re-filed
    EXPECT_EQ(expire_all(t, 1399), 0u);
    EXPECT_EQ(t.expire_visits(), 1000u);
    EXPECT_EQ(expire_all(t, 1400), 1000u);
    EXPECT_EQ(t.expire_visits(), 2000u);
}

TEST(LbConnTable, ExpireWorkIsBounded) {
    ConnTable t(1000);
    for (uint32_t i = 0; i < 100; ++i) t.insert(tcp_flow(i), entry(0, ConnState::syn_recv), 0);
    EXPECT_EQ(t.expire(30, 40, [](const Conn&) {}), 40u);
    EXPECT_EQ(t.size(), 60u);
    EXPECT_EQ(t.expire(30, 40, [](const Conn&) {}), 40u);
    EXPECT_EQ(t.expire(31, 40, [](const Conn&) {}), 20u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(LbConnTable, TimeoutsLongerThanTheWheelAndLongIdleGaps) {
    config::Timeouts to;
    to.udp = std::chrono::seconds(10000);   // > the 4096 s wheel
    ConnTable t(100, to, 1000);
    auto k = FlowKey::make(IpAddress::v4(1), 1, IpAddress::v4(2), 2, kProtoUdp);
    t.insert(k, entry(0, ConnState::udp), 1000);
    EXPECT_EQ(expire_all(t, 5000), 0u);
    EXPECT_EQ(expire_all(t, 10999), 0u);
    EXPECT_EQ(expire_all(t, 11000), 1u);
    // Nobody called expire() for a day: everything due goes at once.
    for (uint32_t i = 0; i < 50; ++i) t.insert(tcp_flow(i), entry(0, ConnState::syn_recv), 11000);
    t.insert(k, entry(0, ConnState::udp), 11000);
    EXPECT_EQ(expire_all(t, 11000 + 86400), 51u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(LbConnTable, ExpiryMatchesAReferenceModel) {
    // Random inserts, refreshes, state changes, removals and time steps
    // (some longer than the wheel): after each expire(now) exactly the flows
    // whose deadline has passed are gone.
    config::Timeouts to;
    to.tcp = std::chrono::seconds(50);
    to.tcp_fin = std::chrono::seconds(20);
    to.tcp_syn = std::chrono::seconds(5);
    to.udp = std::chrono::seconds(7000);   // beyond the wheel
    ConnTable t(4096, to, 100);
    std::unordered_map<uint32_t, uint32_t> deadline;   // client -> deadline
    std::mt19937 rng(7);
    uint32_t now = 100;
    const uint8_t flag_choices[] = {syn, ack, fin | ack, rst, syn | ack};
    for (int step = 0; step < 20000; ++step) {
        uint32_t client = rng() % 3000;
        auto k = tcp_flow(client);
        switch (rng() % 5) {
        case 0:
        case 1:
            if (!t.find(k)) {
                ConnState s = rng() % 8 == 0 ? ConnState::udp : initial_tcp_state(flag_choices[rng() % 5]);
                ASSERT_NE(t.insert(k, entry(0, s), now), nullptr);
                deadline[client] = now + t.timeouts().of(s);
            }
            break;
        case 2:
            if (Conn* c = t.lookup(k, now)) deadline[client] = c->deadline();
            break;
        case 3:
            if (Conn* c = t.find(k)) {
                t.on_tcp(c, flag_choices[rng() % 5], rng() % 2 ? Direction::in : Direction::out, now);
                deadline[client] = now + t.timeouts().of(c->entry.state);
                ASSERT_EQ(c->deadline(), deadline[client]);
            }
            break;
        case 4:
            if (Conn* c = t.find(k); c && rng() % 4 == 0) {
                t.remove(c);
                deadline.erase(client);
            }
            break;
        }
        if (rng() % 10 == 0) {
            now += rng() % 1000 == 0 ? 5000 + rng() % 5000 : rng() % 4;
            t.expire(now, SIZE_MAX, [&](const Conn& c) {
                ASSERT_LE(c.deadline(), now);
                const uint32_t id = static_cast<uint32_t>(c.key.src[1] << 16 | c.key.src[2] << 8 | c.key.src[3]);
                ASSERT_EQ(deadline.erase(id), 1u);
            });
            for (auto& [client_id, d] : deadline) {
                ASSERT_GT(d, now) << "flow " << client_id << " should have expired";
                ASSERT_NE(t.find(tcp_flow(client_id)), nullptr);
            }
            ASSERT_EQ(t.size(), deadline.size());
        }
    }
}

TEST(LbConnTable, ExpiryCallbackKeepsCountsInStep) {
    ConnTable t(100);
    RealServerCounts counts(3);
    auto add = [&](uint32_t client, uint16_t rs, ConnState s) {
        t.insert(tcp_flow(client), entry(rs, s), 0);
        counts.add(rs, s);
    };
    add(1, 0, ConnState::syn_recv);
    add(2, 1, ConnState::syn_recv);
    add(3, 2, ConnState::established);
    StateChange ch = t.on_tcp(t.lookup(tcp_flow(2), 5), ack, Direction::in, 5);
    counts.change(1, ch.from, ch.to);
    EXPECT_EQ(counts.view().active_of(1), 1u);
    EXPECT_EQ(counts.view().inactive_of(1), 0u);
    EXPECT_EQ(counts.view().inactive_of(0), 1u);
    t.expire(30, SIZE_MAX, [&](const Conn& c) { counts.remove(c.entry.real_server, c.entry.state); });
    EXPECT_EQ(counts.view().inactive_of(0), 0u);
    EXPECT_EQ(counts.view().active_of(1), 1u);
    EXPECT_EQ(counts.view().active_of(2), 1u);
    EXPECT_EQ(counts.view().overhead(2), 256u);
}

TEST(LbTcpState, Transitions) {
    using S = ConnState;
    const auto in = Direction::in, out = Direction::out;
    EXPECT_EQ(initial_tcp_state(syn), S::syn_recv);
    EXPECT_EQ(initial_tcp_state(ack), S::established);      // picked up mid-stream
    EXPECT_EQ(initial_tcp_state(rst | ack), S::close);
    EXPECT_EQ(next_tcp_state(S::syn_recv, syn, in), S::syn_recv);
    EXPECT_EQ(next_tcp_state(S::syn_recv, syn | ack, out), S::syn_recv);
    EXPECT_EQ(next_tcp_state(S::syn_recv, ack, in), S::established);
    EXPECT_EQ(next_tcp_state(S::established, ack, in), S::established);
    EXPECT_EQ(next_tcp_state(S::established, fin | ack, in), S::fin_wait);
    EXPECT_EQ(next_tcp_state(S::established, fin | ack, out), S::close_wait);
    EXPECT_EQ(next_tcp_state(S::fin_wait, ack, in), S::fin_wait);
    EXPECT_EQ(next_tcp_state(S::fin_wait, fin | ack, out), S::time_wait);
    EXPECT_EQ(next_tcp_state(S::close_wait, fin | ack, in), S::time_wait);
    EXPECT_EQ(next_tcp_state(S::established, rst, out), S::close);
    EXPECT_EQ(next_tcp_state(S::syn_recv, rst, in), S::close);
    EXPECT_EQ(next_tcp_state(S::time_wait, syn, in), S::syn_recv);
    EXPECT_EQ(next_tcp_state(S::close, ack, in), S::close);
    EXPECT_EQ(next_tcp_state(S::udp, rst, in), S::udp);
    EXPECT_TRUE(is_active(S::established));
    EXPECT_FALSE(is_active(S::syn_recv));
    EXPECT_FALSE(is_active(S::udp));
    EXPECT_STREQ(to_string(S::fin_wait), "FIN_WAIT");
}

TEST(LbPersistence, SticksUntilTheTimeout) {
    PersistenceTable p(100);
    auto a1 = tcp_flow(1, 1000), a2 = tcp_flow(1, 2000), b = tcp_flow(2, 1000);
    EXPECT_EQ(p.lookup(a1, 0, 60, 0), -1);
    ASSERT_TRUE(p.stick(a1, 0, 2, 60, 0));
    EXPECT_EQ(p.lookup(a2, 0, 60, 30), 2);      // same client, another port: same server
    EXPECT_EQ(p.lookup(b, 0, 60, 30), -1);      // another client
    EXPECT_EQ(p.lookup(a2, 1, 60, 30), -1);     // another service
    EXPECT_EQ(p.expire(89, SIZE_MAX), 0u);      // the hit at 30 restarted the 60 s
    EXPECT_EQ(p.lookup(a1, 0, 60, 89), 2);
    EXPECT_EQ(p.expire(148, SIZE_MAX), 0u);
    EXPECT_EQ(p.expire(149, SIZE_MAX), 1u);
    EXPECT_EQ(p.lookup(a1, 0, 60, 150), -1);
    auto v6 = FlowKey::make(*IpAddress::parse("2001:db8::1"), 1, *IpAddress::parse("2001:db8::2"), 80, kProtoTcp);
    ASSERT_TRUE(p.stick(v6, 0, 4, 10, 150));
    EXPECT_EQ(p.lookup(v6, 0, 10, 151), 4);
    EXPECT_EQ(p.size(), 1u);
}

TEST(LbConnRecord, RoundTripAndLayout) {
    ConnRecord r;
    r.key = FlowKey::make(*IpAddress::parse("2001:db8::1"), 40000, *IpAddress::parse("2001:db8::2"), 443, kProtoTcp);
    r.entry = entry(0x0102, ConnState::established, 0x0304);
    r.entry.local_port = net16(5000);
    r.entry.local_address = 3;
    r.entry.flags = 0x80;
    r.remaining = 0x00010203;
    auto bytes = r.to_bytes();
    EXPECT_EQ(bytes[0], ConnRecord::kVersion);
    EXPECT_EQ(bytes[1], 6);
    EXPECT_EQ(bytes[2], kProtoTcp);
    EXPECT_EQ(bytes[3], static_cast<uint8_t>(ConnState::established));
    EXPECT_EQ(bytes[10], 0x01);   // dst port 443 = 0x01bb, network order
    EXPECT_EQ(bytes[11], 0xbb);
    EXPECT_EQ(bytes[12], 0x03);   // service
    EXPECT_EQ(bytes[15], 0x02);   // real server low byte
    EXPECT_EQ(bytes[17], 0x01);
    EXPECT_EQ(bytes[19], 0x03);
    EXPECT_EQ(bytes[20], 0x20);   // 2001:...
    auto back = ConnRecord::from_bytes(bytes);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, r);
    EXPECT_FALSE(ConnRecord::from_bytes(std::span<const uint8_t>(bytes.data(), 51)).has_value());
    auto bad = bytes;
    bad[0] = 2;
    EXPECT_FALSE(ConnRecord::from_bytes(bad).has_value());
    bad = bytes;
    bad[3] = 99;
    EXPECT_FALSE(ConnRecord::from_bytes(bad).has_value());
}

TEST(LbConnRecord, SyncsAFlowToAnotherTable) {
    ConnTable master(100, {}, 1000), backup(100, {}, 5000);
    Conn* c = master.insert(tcp_flow(9), entry(5, ConnState::established, 2), 1000);
    auto r = master.record(*c, 1100);
    EXPECT_EQ(r.remaining, 800u);
    auto received = ConnRecord::from_bytes(r.to_bytes());
    ASSERT_TRUE(received);
    Conn* s = backup.import(*received, 5000);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->entry, c->entry);
    EXPECT_EQ(expire_all(backup, 5799), 0u);
    EXPECT_EQ(expire_all(backup, 5800), 1u);
    size_t live = 0;
    master.for_each([&](const Conn& x) { live += x.key == tcp_flow(9); });
    EXPECT_EQ(live, 1u);
}

TEST(LbConnTable, BytesPerEntry) {
    ConnTable t;   // the default connections_per_lcore: 1,000,000
    EXPECT_EQ(t.capacity(), 1000000u);
    double per_entry = static_cast<double>(t.memory_bytes()) / t.capacity();
    std::printf("conn table: sizeof(Conn) = %zu, sizeof(ConnEntry) = %zu, %.1f bytes per entry "
                "(%.1f MB for %u)\n", sizeof(Conn), sizeof(ConnEntry), per_entry, static_cast<double>(t.memory_bytes()) / 1e6,
                t.capacity());
    EXPECT_LE(per_entry, 100.0);
    EXPECT_EQ(sizeof(Conn), 64u);
}
