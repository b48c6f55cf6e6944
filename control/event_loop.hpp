// The control thread's event loop: file descriptors (epoll) and timers with
// sub-millisecond precision (one timerfd armed at the earliest deadline).
// Single-threaded; callbacks may add or remove watches and timers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>

namespace haplane::control {

class EventLoop {
public:
    using Clock = std::chrono::steady_clock;
    using TimerId = uint64_t;

    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // events: EPOLLIN / EPOLLOUT ...; the callback gets the ready events.
    void watch(int fd, uint32_t events, std::function<void(uint32_t)> callback);
    void modify(int fd, uint32_t events);
    void unwatch(int fd);

    TimerId at(Clock::time_point when, std::function<void()> callback);
    TimerId after(Clock::duration delay, std::function<void()> callback) { return at(Clock::now() + delay, std::move(callback)); }
    void cancel(TimerId id);

    // Runs until stop() is called from a callback.
    void run();
    void stop() { stopping_ = true; }

private:
    void arm_timerfd();
    void fire_due_timers();

    int epoll_fd_ = -1;
    int timer_fd_ = -1;
    bool stopping_ = false;
    TimerId next_id_ = 1;
    // An fd closed and reused within one epoll batch must not receive the
    // old fd's events: each watch has a generation, carried in the event.
    struct Watch {
        uint32_t generation;
        std::function<void(uint32_t)> callback;
    };
    std::unordered_map<int, Watch> watches_;
    uint32_t next_generation_ = 1;
    // Ordered by deadline, then id: the first entry is the next to fire.
    std::map<std::pair<Clock::time_point, TimerId>, std::function<void()>> timers_;
    std::unordered_map<TimerId, Clock::time_point> timer_deadlines_;
};

} // namespace haplane::control
