// One real server's health check on the EventLoop: attempts every
// `interval` (after a warm-up), `retry` more attempts `delay_before_retry`
// apart before a failure counts (only while the check is UP, as keepalived),
// `rise`/`fall` consecutive results to change state, keepalived's log lines.
#pragma once

#include "config/config.hpp"
#include "control/check_logic.hpp"
#include "control/check_probe.hpp"
#include "control/event_loop.hpp"
#include "control/log.hpp"
#include "control/script_runner.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace haplane::control::check {

// What `haplanectl` shows about a check (to_json below).
struct CheckStatus {
    std::string type;                     // tcp | http | udp | script
    std::string target;                   // "[10.20.0.11]:tcp:80"; script checks: the command
    bool up = false;
    bool has_run = false;                 // false until the first result
    unsigned rise = 1, fall = 1;
    unsigned consecutive_successes = 0;
    unsigned consecutive_failures = 0;
    unsigned retry = 0;                   // configured
    unsigned retries_in_progress = 0;     // retries made for the failure being confirmed
    std::string last_result = "none";     // none | success | failure
    std::string last_reason;              // "connection refused", "status 500", "exited with status 1", ...
    std::optional<unsigned> last_http_status;
    std::optional<unsigned> dynamic_weight;   // script checks: the last weight from an exit code
    uint64_t attempts = 0;
    uint64_t failed_attempts = 0;
    uint64_t transitions = 0;
    double last_duration_ms = 0;
    std::optional<double> seconds_since_last;   // since the last attempt ended
};
nlohmann::json to_json(const CheckStatus& s);

class Checker {
public:
    using Duration = std::chrono::nanoseconds;
    using StateCallback = std::function<void(bool up)>;
    using WeightCallback = std::function<void(unsigned weight)>;

    // alpha: the virtual server's; the check starts DOWN until its first success.
    // Callbacks run from the loop; they must not destroy the Checker.
    Checker(EventLoop& loop, Log& log, ScriptRunner& runner, const config::HealthCheck& check,
            const ProbeContext& context, bool alpha, StateCallback on_state, WeightCallback on_weight);
    ~Checker();
    Checker(const Checker&) = delete;
    Checker& operator=(const Checker&) = delete;

    // From the initial state (UP, or DOWN under alpha): first attempt after
    // `first_delay` (the warm-up), then every interval.
    // initial_up: from where to count rise/fall instead (a reload carrying
    // the state of an unchanged check over).
    void start(Duration first_delay, std::optional<bool> initial_up = std::nullopt);
    // Cancels the timer and the attempt in flight. start() may follow.
    void stop();

    bool up() const { return rise_fall_.up(); }
    CheckStatus status() const;

    // Uniform in [0, interval): spreads thousands of checks over an interval.
    static Duration random_warmup(Duration interval, std::mt19937_64& rng);

private:
    void attempt();
    void on_attempt(Attempt a);
    std::string up_line() const;
    std::string down_line() const;

    EventLoop& loop_;
    Log& log_;
    config::HealthCheck check_;
    ProbeContext context_;
    std::string target_label_;
    std::string misc_who_;
    std::unique_ptr<Probe> probe_;
    StateCallback on_state_;
    WeightCallback on_weight_;
    bool alpha_;
    RiseFall rise_fall_;
    EventLoop::TimerId timer_ = 0;
    bool in_flight_ = false;
    unsigned retry_it_ = 0;
    EventLoop::Clock::time_point attempt_started_{};
    std::optional<EventLoop::Clock::time_point> last_ended_;
    CheckStatus stats_;
};

} // namespace haplane::control::check
