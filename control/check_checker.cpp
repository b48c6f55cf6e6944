#include "control/check_checker.hpp"

#include <fmt/format.h>

namespace haplane::control::check {

using namespace std::chrono_literals;

namespace {
const char* type_name(config::HealthCheck::Type t) {
    switch (t) {
    case config::HealthCheck::Type::tcp: return "tcp";
    case config::HealthCheck::Type::http: return "http";
    case config::HealthCheck::Type::udp: return "udp";
    case config::HealthCheck::Type::script: return "script";
    }
    return "?";
}
} // namespace

nlohmann::json to_json(const CheckStatus& s) {
    nlohmann::json j = {
        {"type", s.type},
        {"target", s.target},
        {"state", s.up ? "UP" : "DOWN"},
        {"up", s.up},
        {"has_run", s.has_run},
        {"rise", s.rise},
        {"fall", s.fall},
        {"consecutive_successes", s.consecutive_successes},
        {"consecutive_failures", s.consecutive_failures},
        {"retry", s.retry},
        {"retries_in_progress", s.retries_in_progress},
        {"last_result", s.last_result},
        {"last_reason", s.last_reason},
        {"attempts", s.attempts},
        {"failed_attempts", s.failed_attempts},
        {"transitions", s.transitions},
        {"last_duration_ms", s.last_duration_ms},
    };
    j["last_http_status"] = s.last_http_status ? nlohmann::json(*s.last_http_status) : nlohmann::json();
    j["dynamic_weight"] = s.dynamic_weight ? nlohmann::json(*s.dynamic_weight) : nlohmann::json();
    j["seconds_since_last"] = s.seconds_since_last ? nlohmann::json(*s.seconds_since_last) : nlohmann::json();
    return j;
}

Checker::Checker(EventLoop& loop, Log& log, ScriptRunner& runner, const config::HealthCheck& check,
                 const ProbeContext& context, bool alpha, StateCallback on_state, WeightCallback on_weight)
    : loop_(loop), log_(log), check_(check), context_(context), target_label_(context.target.label()),
      misc_who_(fmt::format("Misc check for [{} VS {}] by [{}]", context.rs_label, context.vs_label,
                            check.script.value_or(""))),
      probe_(make_probe(loop, runner, check, context)), on_state_(std::move(on_state)),
      on_weight_(std::move(on_weight)), alpha_(alpha), rise_fall_(check.rise, check.fall, alpha) {
    stats_.type = type_name(check.type);
    stats_.target = check.type == config::HealthCheck::Type::script ? check.script.value_or("") : target_label_;
    stats_.rise = rise_fall_.rise();
    stats_.fall = rise_fall_.fall();
    stats_.retry = check.retry;
    stats_.up = rise_fall_.up();
}

Checker::~Checker() { stop(); }

Checker::Duration Checker::random_warmup(Duration interval, std::mt19937_64& rng) {
    if (interval <= Duration::zero()) return Duration::zero();
    std::uniform_int_distribution<int64_t> d(0, interval.count() - 1);
    return Duration(d(rng));
}

void Checker::start(Duration first_delay, std::optional<bool> initial_up) {
    stop();
    // A (re)start begins from the initial state, as the ServiceModel does.
    rise_fall_ = RiseFall(check_.rise, check_.fall, initial_up ? !*initial_up : alpha_);
    retry_it_ = 0;
    last_ended_.reset();
    const std::string type = stats_.type, target = stats_.target;
    stats_ = CheckStatus{};
    stats_.type = type;
    stats_.target = target;
    stats_.rise = rise_fall_.rise();
    stats_.fall = rise_fall_.fall();
    stats_.retry = check_.retry;
    stats_.up = rise_fall_.up();
    timer_ = loop_.after(first_delay, [this] {
        timer_ = 0;
        attempt();
    });
}

void Checker::stop() {
    if (timer_) loop_.cancel(timer_);
    timer_ = 0;
    if (in_flight_ && probe_) probe_->cancel();
    in_flight_ = false;
}

void Checker::attempt() {
    in_flight_ = true;
    attempt_started_ = EventLoop::Clock::now();
    probe_->start([this](Attempt a) { on_attempt(std::move(a)); });
}

std::string Checker::up_line() const {
    switch (check_.type) {
    case config::HealthCheck::Type::tcp: return fmt::format("TCP connection to {} success.", target_label_);
    case config::HealthCheck::Type::http:
        return fmt::format("HTTP status code success to {} url(1).", target_label_);
    case config::HealthCheck::Type::udp: return fmt::format("UDP connection to {} success.", target_label_);
    case config::HealthCheck::Type::script: return misc_who_ + " succeeded.";
    }
    return {};
}

std::string Checker::down_line() const {
    std::string who;
    switch (check_.type) {
    case config::HealthCheck::Type::tcp: who = "TCP_CHECK on service " + target_label_; break;
    case config::HealthCheck::Type::http: who = "HTTP_CHECK on service " + target_label_; break;
    case config::HealthCheck::Type::udp: who = "UDP_CHECK on service " + target_label_; break;
    case config::HealthCheck::Type::script: who = misc_who_; break;
    }
    if (check_.retry) return fmt::format("{} failed after {} retries.", who, check_.retry);
    return who + " failed.";
}

void Checker::on_attempt(Attempt a) {
    in_flight_ = false;
    const auto now = EventLoop::Clock::now();
    last_ended_ = now;
    ++stats_.attempts;
    stats_.last_duration_ms = std::chrono::duration<double, std::milli>(now - attempt_started_).count();
    stats_.last_result = a.success ? "success" : "failure";
    stats_.last_reason = a.reason;
    stats_.last_http_status = a.http_status;

    std::optional<unsigned> new_weight;
    if (a.weight && a.weight != stats_.dynamic_weight) {
        stats_.dynamic_weight = a.weight;
        new_weight = a.weight;
    }

    const bool was_up = rise_fall_.up();
    if (!a.success) {
        ++stats_.failed_attempts;
        if (!a.message.empty()) {
            if (was_up) log_.info("{}", a.message);
            else log_.detail("{}", a.message);
        }
        if (was_up && retry_it_ < check_.retry) {
            ++retry_it_;
            stats_.retries_in_progress = retry_it_;
            log_.detail("{}: retry {} of {} in {} ms", target_label_, retry_it_, check_.retry,
                        std::chrono::duration_cast<std::chrono::milliseconds>(check_.delay_before_retry).count());
            timer_ = loop_.after(check_.delay_before_retry, [this] {
                timer_ = 0;
                attempt();
            });
            if (new_weight && on_weight_) on_weight_(*new_weight);
            return;
        }
    } else {
        log_.detail("{} check on {}: {}", stats_.type, target_label_, a.reason);
    }
    retry_it_ = 0;
    stats_.retries_in_progress = 0;
    const bool changed = rise_fall_.record(a.success);
    stats_.up = rise_fall_.up();
    stats_.has_run = true;
    stats_.consecutive_successes = rise_fall_.successes();
    stats_.consecutive_failures = rise_fall_.failures();

    // The next attempt is scheduled before anyone hears of this one.
    timer_ = loop_.after(check_.interval, [this] {
        timer_ = 0;
        attempt();
    });
    if (new_weight && on_weight_) on_weight_(*new_weight);
    if (changed) {
        ++stats_.transitions;
        log_.info("{}", rise_fall_.up() ? up_line() : down_line());
        if (on_state_) on_state_(rise_fall_.up());
    }
}

CheckStatus Checker::status() const {
    CheckStatus s = stats_;
    s.up = rise_fall_.up();
    s.has_run = rise_fall_.has_run();
    s.consecutive_successes = rise_fall_.successes();
    s.consecutive_failures = rise_fall_.failures();
    if (last_ended_)
        s.seconds_since_last = std::chrono::duration<double>(EventLoop::Clock::now() - *last_ended_).count();
    return s;
}

} // namespace haplane::control::check
