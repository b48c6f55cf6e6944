#include "control/event_loop.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace haplane::control {

namespace {
[[noreturn]] void sys_fail(const char* what) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}
} // namespace

EventLoop::EventLoop() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) sys_fail("epoll_create1");
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) sys_fail("timerfd_create");
    watch(timer_fd_, EPOLLIN, [this](uint32_t) {
        uint64_t expirations;
        [[maybe_unused]] ssize_t r = read(timer_fd_, &expirations, sizeof expirations);
        fire_due_timers();
    });
}

EventLoop::~EventLoop() {
    close(timer_fd_);
    close(epoll_fd_);
}

namespace {
uint64_t tag(int fd, uint32_t generation) { return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd); }
} // namespace

void EventLoop::watch(int fd, uint32_t events, std::function<void(uint32_t)> callback) {
    const uint32_t generation = next_generation_++;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag(fd, generation);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) sys_fail("epoll_ctl(ADD)");
    watches_[fd] = Watch{generation, std::move(callback)};
}

void EventLoop::modify(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag(fd, watches_.at(fd).generation);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) sys_fail("epoll_ctl(MOD)");
}

void EventLoop::unwatch(int fd) {
    if (watches_.erase(fd)) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::at(Clock::time_point when, std::function<void()> callback) {
    TimerId id = next_id_++;
    timers_.emplace(std::make_pair(when, id), std::move(callback));
    timer_deadlines_[id] = when;
    if (timers_.begin()->first.second == id) arm_timerfd();
    return id;
}

void EventLoop::cancel(TimerId id) {
    auto it = timer_deadlines_.find(id);
    if (it == timer_deadlines_.end()) return;
    timers_.erase({it->second, id});
    timer_deadlines_.erase(it);
}

void EventLoop::arm_timerfd() {
    itimerspec spec{};
    if (!timers_.empty()) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      timers_.begin()->first.first.time_since_epoch()).count();
        if (ns <= 0) ns = 1;   // 0 would disarm
        spec.it_value.tv_sec = ns / 1000000000;
        spec.it_value.tv_nsec = ns % 1000000000;
    }
    timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::fire_due_timers() {
    while (!timers_.empty() && timers_.begin()->first.first <= Clock::now()) {
        auto node = timers_.extract(timers_.begin());
        timer_deadlines_.erase(node.key().second);
        node.mapped()();
    }
    arm_timerfd();
}

void EventLoop::run() {
    stopping_ = false;
    epoll_event events[32];
    while (!stopping_) {
        int n = epoll_wait(epoll_fd_, events, 32, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            sys_fail("epoll_wait");
        }
        for (int i = 0; i < n && !stopping_; ++i) {
            const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
            const uint32_t generation = static_cast<uint32_t>(events[i].data.u64 >> 32);
            auto it = watches_.find(fd);
            // Unwatched by an earlier callback, or closed and watched anew.
            if (it == watches_.end() || it->second.generation != generation) continue;
            auto callback = it->second.callback;   // may unwatch itself while running
            callback(events[i].events);
        }
    }
}

} // namespace haplane::control
