// Tracking arithmetic and clamping, rise/fall.
#include "control/vrrp_track.hpp"

#include <gtest/gtest.h>

using namespace haplane::vrrp;

TEST(VrrpTrack, NegativeWeightsSubtractOnFailure) {
    EXPECT_EQ(track(150, {{-20, true}}, {}).priority, 150);
    EXPECT_EQ(track(150, {{-20, false}}, {}).priority, 130);
    EXPECT_EQ(track(150, {{-20, false}, {-30, false}}, {}).priority, 100);
}

TEST(VrrpTrack, PositiveWeightsAddOnSuccess) {
    EXPECT_EQ(track(100, {{10, true}}, {}).priority, 110);
    EXPECT_EQ(track(100, {{10, false}}, {}).priority, 100);
}

TEST(VrrpTrack, WeightZeroFailureIsFault) {
    auto r = track(150, {{0, false}}, {});
    EXPECT_TRUE(r.fault);
    EXPECT_EQ(r.priority, 150);
    EXPECT_FALSE(track(150, {{0, true}}, {}).fault);
}

TEST(VrrpTrack, FilesMultiplyTheirValueByTheWeight) {
    EXPECT_EQ(track(100, {}, {{-50, 1}}).priority, 50);   // the seeds' down-file, as track_files
    EXPECT_EQ(track(100, {}, {{-50, 0}}).priority, 100);  // file absent or 0
    EXPECT_EQ(track(100, {}, {{2, 5}}).priority, 110);
    EXPECT_TRUE(track(100, {}, {{0, 1}}).fault);
    EXPECT_FALSE(track(100, {}, {{0, 0}}).fault);
}

TEST(VrrpTrack, ClampedTo1Through254AndOwnerUntouched) {
    EXPECT_EQ(track(100, {{-200, false}}, {}).priority, 1);
    EXPECT_EQ(track(250, {{50, true}}, {}).priority, 254) << "tracking never makes an owner";
    EXPECT_EQ(track(255, {{-50, false}}, {}).priority, 255) << "nor unmakes one";
    EXPECT_TRUE(track(255, {{0, false}}, {}).fault) << "an owner can still fault";
}

TEST(RiseFall, NeedsConsecutiveResults) {
    RiseFall rf(2, 3);
    EXPECT_TRUE(rf.healthy());
    EXPECT_FALSE(rf.feed(false));
    EXPECT_FALSE(rf.feed(false));
    EXPECT_FALSE(rf.feed(true)) << "a success resets the failure streak";
    EXPECT_FALSE(rf.feed(false));
    EXPECT_FALSE(rf.feed(false));
    EXPECT_TRUE(rf.feed(false));
    EXPECT_FALSE(rf.healthy());
    EXPECT_FALSE(rf.feed(true));
    EXPECT_TRUE(rf.feed(true));
    EXPECT_TRUE(rf.healthy());
}

#include "control/vrrp_supervisor.hpp"

TEST(Notify, FifoLinesAreKeepalivedsFormat) {
    using haplane::control::notify_fifo_line;
    EXPECT_EQ(notify_fifo_line(false, "VI_1", State::MASTER, 150), "INSTANCE \"VI_1\" MASTER 150");
    EXPECT_EQ(notify_fifo_line(false, "VI_1", State::FAULT, 100), "INSTANCE \"VI_1\" FAULT 100");
    EXPECT_EQ(notify_fifo_line(true, "VG_1", State::BACKUP, std::nullopt), "GROUP \"VG_1\" BACKUP");
}

TEST(Notify, AnyScriptGetsKeepalivedsArguments) {
    using haplane::control::notify_any_command;
    EXPECT_EQ(notify_any_command("/etc/keepalived/notify.sh", false, "VI_1", State::MASTER, 150),
              "/etc/keepalived/notify.sh INSTANCE 'VI_1' MASTER 150");
    EXPECT_EQ(notify_any_command("/n.sh", true, "VG_1", State::FAULT, std::nullopt), "/n.sh GROUP 'VG_1' FAULT");
}
