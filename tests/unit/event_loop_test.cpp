// The control thread's event loop: timers in order and on time, fds.
#include "control/event_loop.hpp"

#include <gtest/gtest.h>

#include <sys/epoll.h>
#include <unistd.h>

#include <vector>

using namespace haplane::control;
using namespace std::chrono_literals;

TEST(EventLoop, TimersFireInDeadlineOrderAndCancelledOnesDoNot) {
    EventLoop loop;
    std::vector<int> order;
    loop.after(3ms, [&] { order.push_back(3); loop.stop(); });
    loop.after(1ms, [&] { order.push_back(1); });
    auto cancelled = loop.after(2ms, [&] { order.push_back(2); });
    loop.cancel(cancelled);
    loop.run();
    EXPECT_EQ(order, (std::vector<int>{1, 3}));
}

TEST(EventLoop, TimersAreSubMillisecondPrecise) {
    EventLoop loop;
    auto start = EventLoop::Clock::now();
    EventLoop::Clock::time_point fired;
    loop.after(1500us, [&] { fired = EventLoop::Clock::now(); loop.stop(); });
    loop.run();
    auto late = fired - (start + 1500us);
    EXPECT_GE(late, 0us);
    // Generous: a loaded CI box may be late, but never a whole tick of 10 ms.
    EXPECT_LT(late, 5ms);
}

TEST(EventLoop, TimerAddedFromACallbackRuns) {
    EventLoop loop;
    int fired = 0;
    loop.after(0ms, [&] {
        ++fired;
        loop.after(1ms, [&] { ++fired; loop.stop(); });
    });
    loop.run();
    EXPECT_EQ(fired, 2);
}

TEST(EventLoop, ReadableFdRunsItsCallbackAndCanBeUnwatched) {
    EventLoop loop;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    int reads = 0;
    loop.watch(fds[0], EPOLLIN, [&](uint32_t ev) {
        EXPECT_TRUE(ev & EPOLLIN);
        char c;
        ASSERT_EQ(read(fds[0], &c, 1), 1);
        ++reads;
        loop.unwatch(fds[0]);
        loop.after(2ms, [&] { loop.stop(); });
    });
    ASSERT_EQ(write(fds[1], "xy", 2), 2);   // two bytes: unwatched after the first
    loop.run();
    EXPECT_EQ(reads, 1);
    close(fds[0]);
    close(fds[1]);
}

TEST(EventLoop, AnFdReusedWithinOneBatchGetsNoStaleEvent) {
    EventLoop loop;
    int a[2], b[2];
    ASSERT_EQ(pipe(a), 0);
    ASSERT_EQ(pipe(b), 0);
    int stale_calls = 0, first_calls = 0;
    // Both readable in the same batch; the first callback closes the second
    // pipe's read end and watches a fresh, empty pipe that reuses its number.
    int fresh[2] = {-1, -1};
    loop.watch(a[0], EPOLLIN, [&](uint32_t) {
        ++first_calls;
        loop.unwatch(a[0]);
        loop.unwatch(b[0]);
        close(b[0]);
        ASSERT_EQ(pipe(fresh), 0);   // lowest free number: b[0]'s
        loop.watch(fresh[0], EPOLLIN, [&](uint32_t) { ++stale_calls; });
        loop.after(5ms, [&] { loop.stop(); });
    });
    loop.watch(b[0], EPOLLIN, [&](uint32_t) { ++first_calls; });
    ASSERT_EQ(write(a[1], "x", 1), 1);
    ASSERT_EQ(write(b[1], "x", 1), 1);
    loop.run();
    EXPECT_EQ(stale_calls, 0) << "the new pipe never became readable";
    for (int fd : {a[0], a[1], b[1], fresh[0], fresh[1]}) close(fd);
}
