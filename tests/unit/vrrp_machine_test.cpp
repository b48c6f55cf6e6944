// The VRRP state machine through every RFC 5798 §6.4 transition, on a fake clock.
#include "control/vrrp_machine.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace haplane;
using namespace haplane::vrrp;
using namespace std::chrono_literals;

namespace {

// Records what the machine asked of the world, in order.
struct Recorder : Machine::Hooks {
    std::vector<std::string> events;
    std::vector<std::string> logs;
    void send_advert(uint8_t priority) override { events.push_back("advert " + std::to_string(priority)); }
    void state_changed(State from, State to) override {
        events.push_back(std::string(to_string(from)) + "->" + to_string(to));
    }
    void log(const std::string& line) override { logs.push_back(line); }
    size_t adverts() const {
        size_t n = 0;
        for (const auto& e : events) n += e.rfind("advert", 0) == 0;
        return n;
    }
};

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

MachineConfig v3(uint8_t priority, Duration interval = 1s, const char* primary = "10.0.0.1") {
    MachineConfig c;
    c.name = "VI_1";
    c.version = 3;
    c.priority = priority;
    c.advert_interval = interval;
    c.primary_ip = ip(primary);
    return c;
}

const TimePoint T0 = TimePoint(1000s);

// Drive the machine's own timer until `until`, like the event loop does.
void run_until(Machine& m, TimePoint until) {
    while (auto d = m.next_deadline()) {
        if (*d > until) break;
        m.on_timer(*d);
    }
}

} // namespace

TEST(VrrpTimers, SkewAndMasterDownIntervalFollowRfc5798) {
    // v3: ((256 - 100) * 1s) / 256 = 609.375 ms
    EXPECT_EQ(skew_time(3, 100, 1s), 609375us);
    EXPECT_EQ(master_down_interval(3, 100, 1s), 3609375us);
    // v3 with 10 ms adverts, priority 150: 106 * 10 ms / 256 = 4.140625 ms
    EXPECT_EQ(skew_time(3, 150, 10ms), 4140625ns);
    EXPECT_EQ(master_down_interval(3, 150, 10ms), 34140625ns);
    // v2 (RFC 3768): (256 - Priority) / 256 seconds, whatever the interval
    EXPECT_EQ(skew_time(2, 100, 3s), 609375us);
    EXPECT_EQ(master_down_interval(2, 100, 3s), 9609375us);
    EXPECT_EQ(skew_time(3, 255, 1s), 3906250ns);
}

TEST(VrrpMachine, BackupTakesOverAfterMasterDownIntervalOfSilence) {
    Recorder r;
    Machine m(v3(100), r);
    m.start(T0);
    EXPECT_EQ(m.state(), State::BACKUP);
    EXPECT_EQ(r.adverts(), 0u) << "a backup stays silent";
    ASSERT_TRUE(m.next_deadline());
    EXPECT_EQ(*m.next_deadline(), T0 + 3609375us);
    m.on_timer(T0 + 3609374us);
    EXPECT_EQ(m.state(), State::BACKUP) << "not a microsecond early";
    m.on_timer(T0 + 3609375us);
    EXPECT_EQ(m.state(), State::MASTER);
    // The advert goes out before anything else the new master does.
    EXPECT_EQ(r.events, (std::vector<std::string>{"INIT->BACKUP", "advert 100", "BACKUP->MASTER"}));
    EXPECT_EQ(r.logs.back(), "(VI_1) Entering MASTER STATE");
    EXPECT_EQ(m.master_ip(), ip("10.0.0.1"));
}

TEST(VrrpMachine, AddressOwnerIsMasterAtOnce) {
    Recorder r;
    Machine m(v3(255), r);
    m.start(T0);
    EXPECT_EQ(m.state(), State::MASTER);
    EXPECT_EQ(r.events, (std::vector<std::string>{"advert 255", "INIT->MASTER"}));
}

TEST(VrrpMachine, MasterAdvertisesEveryInterval) {
    Recorder r;
    Machine m(v3(255, 10ms), r);
    m.start(T0);
    run_until(m, T0 + 100ms);
    EXPECT_EQ(r.adverts(), 11u);   // at 0, 10, ..., 100 ms
    EXPECT_EQ(*m.next_deadline(), T0 + 110ms);
}

TEST(VrrpMachine, BackupHearingEqualOrHigherPriorityStaysBackup) {
    Recorder r;
    Machine m(v3(100), r);
    m.start(T0);
    for (int i = 1; i <= 10; ++i) {
        m.on_advert(T0 + i * 1s, ip("10.0.0.2"), i % 2 ? 100 : 200, 1s);
        run_until(m, T0 + i * 1s);
    }
    EXPECT_EQ(m.state(), State::BACKUP);
    EXPECT_EQ(m.master_ip(), ip("10.0.0.2"));
    EXPECT_EQ(*m.next_deadline(), T0 + 10s + 3609375us);
}

TEST(VrrpMachine, BackupPreemptsLowerPriorityMasterAfterMasterDown) {
    Recorder r;
    Machine m(v3(150), r);
    m.start(T0);
    m.on_advert(T0 + 1s, ip("10.0.0.2"), 200, 1s);   // a higher master
    auto down = *m.next_deadline();
    m.on_advert(T0 + 2s, ip("10.0.0.2"), 100, 1s);   // it lost priority
    EXPECT_EQ(*m.next_deadline(), down) << "a lower-priority advert does not reset the timer";
    run_until(m, down);
    EXPECT_EQ(m.state(), State::MASTER);
}

TEST(VrrpMachine, WithoutPreemptALowerPriorityMasterIsKept) {
    Recorder r;
    auto c = v3(150);
    c.preempt = false;
    Machine m(c, r);
    m.start(T0);
    for (int i = 1; i <= 20; ++i) {
        m.on_advert(T0 + i * 1s, ip("10.0.0.2"), 100, 1s);
        run_until(m, T0 + i * 1s);
    }
    EXPECT_EQ(m.state(), State::BACKUP);
}

TEST(VrrpMachine, PreemptDelayToleratesALowerMasterForThatLong) {
    Recorder r;
    auto c = v3(150);
    c.preempt_delay = 5s;
    Machine m(c, r);
    m.start(T0);
    TimePoint t = T0;
    for (int i = 1; i <= 4; ++i) {
        t = T0 + i * 1s;
        m.on_advert(t, ip("10.0.0.2"), 100, 1s);
        run_until(m, t);
    }
    EXPECT_EQ(m.state(), State::BACKUP) << "within the delay";
    for (int i = 5; i <= 12; ++i) {
        t = T0 + i * 1s;
        run_until(m, t);
        if (m.state() == State::MASTER) break;
        m.on_advert(t, ip("10.0.0.2"), 100, 1s);
    }
    EXPECT_EQ(m.state(), State::MASTER);
    // Took over one Master_Down_Interval after the last tolerated advert (at 5 s).
    EXPECT_LE(t, T0 + 5s + 3609375us + 1s);
}

TEST(VrrpMachine, PriorityZeroFromMasterMeansTakeOverAfterSkewTime) {
    Recorder r;
    Machine m(v3(100), r);
    m.start(T0);
    m.on_advert(T0 + 1s, ip("10.0.0.2"), 200, 1s);
    m.on_advert(T0 + 1500ms, ip("10.0.0.2"), 0, 1s);
    EXPECT_EQ(r.logs.back(), "(VI_1) Backup received priority 0 advertisement");
    EXPECT_EQ(*m.next_deadline(), T0 + 1500ms + 609375us);
    run_until(m, T0 + 1500ms + 609375us);
    EXPECT_EQ(m.state(), State::MASTER);
}

TEST(VrrpMachine, MasterYieldsToHigherPriority) {
    Recorder r;
    Machine m(v3(150), r);
    m.start(T0);
    run_until(m, T0 + 4s);
    ASSERT_EQ(m.state(), State::MASTER);
    m.on_advert(T0 + 4500ms, ip("10.0.0.2"), 200, 1s);
    EXPECT_EQ(m.state(), State::BACKUP);
    EXPECT_EQ(r.logs[r.logs.size() - 2],
              "(VI_1) Master received advert from 10.0.0.2 with higher priority 200, ours 150");
    EXPECT_EQ(r.logs.back(), "(VI_1) Entering BACKUP STATE");
    EXPECT_EQ(m.master_ip(), ip("10.0.0.2"));
}

TEST(VrrpMachine, MasterAnswersLowerPriorityWithAnAdvertAtOnce) {
    Recorder r;
    Machine m(v3(150), r);
    m.start(T0);
    run_until(m, T0 + 4s);
    size_t before = r.adverts();
    m.on_advert(T0 + 4200ms, ip("10.0.0.2"), 100, 1s);
    EXPECT_EQ(m.state(), State::MASTER);
    EXPECT_EQ(r.adverts(), before + 1);
    EXPECT_EQ(r.logs.back(),
              "(VI_1) Received advert from 10.0.0.2 with lower priority 100, ours 150, forcing new election");
    EXPECT_EQ(*m.next_deadline(), T0 + 5200ms) << "the advert timer restarts";
}

TEST(VrrpMachine, EqualPriorityHigherPrimaryAddressWins) {
    Recorder r1, r2;
    Machine low(v3(100, 1s, "10.0.0.1"), r1), high(v3(100, 1s, "10.0.0.9"), r2);
    low.start(T0);
    high.start(T0);
    run_until(low, T0 + 4s);
    run_until(high, T0 + 4s);
    ASSERT_EQ(low.state(), State::MASTER);
    ASSERT_EQ(high.state(), State::MASTER);
    low.on_advert(T0 + 4100ms, ip("10.0.0.9"), 100, 1s);
    high.on_advert(T0 + 4100ms, ip("10.0.0.1"), 100, 1s);
    EXPECT_EQ(low.state(), State::BACKUP);
    EXPECT_EQ(high.state(), State::MASTER);
}

TEST(VrrpMachine, V3BackupAdoptsTheMastersInterval) {
    Recorder r;
    Machine m(v3(100, 1s), r);
    m.start(T0);
    m.on_advert(T0 + 10ms, ip("10.0.0.2"), 200, 50ms);
    EXPECT_EQ(m.master_adver_interval(), 50ms);
    EXPECT_EQ(*m.next_deadline(), T0 + 10ms + master_down_interval(3, 100, 50ms));
}

TEST(VrrpMachine, V2KeepsItsOwnInterval) {
    Recorder r;
    auto c = v3(100, 1s);
    c.version = 2;
    Machine m(c, r);
    m.start(T0);
    m.on_advert(T0 + 10ms, ip("10.0.0.2"), 200, 3s);
    EXPECT_EQ(m.master_adver_interval(), 1s);
}

TEST(VrrpMachine, GracefulShutdownOfMasterSendsPriorityZero) {
    Recorder r;
    Machine m(v3(255), r);
    m.start(T0);
    m.shutdown(T0 + 1s);
    EXPECT_EQ(m.state(), State::INIT);
    EXPECT_EQ(r.events[r.events.size() - 2], "advert 0");
    EXPECT_EQ(r.events.back(), "MASTER->INIT");
    EXPECT_FALSE(m.next_deadline());
}

TEST(VrrpMachine, BackupShutdownIsSilent) {
    Recorder r;
    Machine m(v3(100), r);
    m.start(T0);
    m.shutdown(T0 + 1s);
    EXPECT_EQ(r.adverts(), 0u);
}

TEST(VrrpMachine, FaultFromMasterResignsAndRecoveryWaitsAsBackup) {
    Recorder r;
    Machine m(v3(150), r);
    m.start(T0);
    run_until(m, T0 + 4s);
    m.set_fault(T0 + 5s, true);
    EXPECT_EQ(m.state(), State::FAULT);
    EXPECT_EQ(r.events[r.events.size() - 2], "advert 0");
    EXPECT_FALSE(m.next_deadline());
    m.on_advert(T0 + 6s, ip("10.0.0.2"), 200, 1s);   // ignored in FAULT
    EXPECT_EQ(m.state(), State::FAULT);
    m.set_fault(T0 + 7s, false);
    EXPECT_EQ(m.state(), State::BACKUP);
    EXPECT_EQ(*m.next_deadline(), T0 + 7s + master_down_interval(3, 150, 1s));
}

TEST(VrrpMachine, PriorityChangeOnMasterIsAdvertisedAtOnce) {
    Recorder r;
    Machine m(v3(150), r);
    m.start(T0);
    run_until(m, T0 + 4s);
    m.set_effective_priority(T0 + 4100ms, 130);
    EXPECT_EQ(r.events.back(), "advert 130");
    EXPECT_EQ(m.effective_priority(), 130);
    EXPECT_EQ(r.logs.back(), "(VI_1) Changing effective priority from 150 to 130");
}

TEST(VrrpMachine, WantsMasterClaimsAfterOneIntervalPlusSkew) {
    Recorder r;
    auto c = v3(150);
    c.wants_master = true;
    Machine m(c, r);
    m.start(T0);
    EXPECT_EQ(m.state(), State::BACKUP);
    EXPECT_EQ(*m.next_deadline(), T0 + 1s + skew_time(3, 150, 1s));
    run_until(m, T0 + 2s);
    EXPECT_EQ(m.state(), State::MASTER);
}

TEST(VrrpMachine, CountsTransitions) {
    Recorder r;
    Machine m(v3(150), r);
    m.start(T0);                                       // INIT->BACKUP
    run_until(m, T0 + 4s);                             // ->MASTER
    m.on_advert(T0 + 5s, ip("10.0.0.2"), 200, 1s);     // ->BACKUP
    EXPECT_EQ(m.transitions(), 3u);
    EXPECT_EQ(m.became_master(), 1u);
}

namespace {
struct GatedRecorder : Recorder {
    bool allow = false;
    bool may_become_master() override { return allow; }
};
} // namespace

TEST(VrrpMachine, SyncGroupGateHoldsBackATakeover) {
    GatedRecorder r;
    Machine m(v3(150), r);
    m.start(T0);
    run_until(m, T0 + 10s);
    EXPECT_EQ(m.state(), State::BACKUP) << "held back while another member hears a master";
    r.allow = true;
    run_until(m, T0 + 15s);
    EXPECT_EQ(m.state(), State::MASTER);
}

TEST(VrrpMachine, HasLiveMasterWhileAdvertsArrive) {
    Recorder r;
    Machine m(v3(100), r);
    m.start(T0);
    EXPECT_FALSE(m.has_live_master(T0));
    m.on_advert(T0 + 1s, ip("10.0.0.2"), 200, 1s);
    EXPECT_TRUE(m.has_live_master(T0 + 2s));
    EXPECT_FALSE(m.has_live_master(T0 + 5s)) << "silent for longer than Master_Down_Interval";
    m.on_advert(T0 + 6s, ip("10.0.0.2"), 50, 1s);   // lower: preemptable, not accepted
    EXPECT_FALSE(m.has_live_master(T0 + 6500ms));
}

TEST(VrrpMachine, ForceMasterAndForceBackup) {
    Recorder r;
    Machine m(v3(100), r);
    m.start(T0);
    m.force_master(T0 + 1s);
    EXPECT_EQ(m.state(), State::MASTER);
    m.force_backup(T0 + 2s);
    EXPECT_EQ(m.state(), State::BACKUP);
    EXPECT_EQ(r.events[r.events.size() - 2], "advert 0") << "resigning lets the peer take over at once";
}
