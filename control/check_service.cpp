#include "control/check_service.hpp"

#include "control/check_logic.hpp"
#include "control/check_probe.hpp"

namespace haplane::control::check {

nlohmann::json to_json(const ServiceStatus& s) {
    nlohmann::json servers = nlohmann::json::array();
    for (const auto& r : s.real_servers) {
        nlohmann::json j = {
            {"address", r.health.address.str()},
            {"port", r.health.port},
            {"weight", r.health.weight},
            {"configured_weight", r.health.configured_weight},
            {"effective_weight", r.health.effective_weight()},
            {"healthy", r.health.alive},
            {"in_pool", r.health.in_pool() && !s.use_sorry_server},
            {"inhibit_on_failure", r.health.inhibit_on_failure},
        };
        j["check"] = r.check ? to_json(*r.check) : nlohmann::json();
        servers.push_back(std::move(j));
    }
    return {
        {"name", s.name},
        {"service", s.service},
        {"quorum", s.quorum},
        {"hysteresis", s.hysteresis},
        {"live_weight", s.live_weight},
        {"quorum_up", s.quorum_up},
        {"use_sorry_server", s.use_sorry_server},
        {"real_servers", std::move(servers)},
    };
}

ServiceHealth::ServiceHealth(EventLoop& loop, Log& log, ScriptRunner& runner, const config::VirtualServer& vs,
                             ChangeCallback on_change, Duration notify_timeout)
    : log_(log), vs_(vs), name_(vs.name), quorum_(vs.quorum), hysteresis_(vs.hysteresis),
      notify_timeout_(notify_timeout), model_(vs), notify_(runner, &log), on_change_(std::move(on_change)) {
    for (size_t i = 0; i < vs.real_servers.size(); ++i) {
        const auto& rs = vs.real_servers[i];
        intervals_.push_back(rs.check ? rs.check->interval : Duration::zero());
        if (!rs.check) {
            checkers_.push_back(nullptr);
            continue;
        }
        ProbeContext ctx{check_target(vs, rs), model_.rs_label(i), model_.vs_label()};
        if (ctx.target.port == 0 && rs.check->type != config::HealthCheck::Type::script)
            log_.error("Health check of {} in VS {} has no port to connect to: set connect_port",
                       ctx.rs_label, ctx.vs_label);
        checkers_.push_back(std::make_unique<Checker>(
            loop, log, runner, *rs.check, ctx, vs.alpha,
            [this, i](bool up) { apply(model_.set_alive(i, up), false); },
            [this, i](unsigned weight) { apply(model_.set_weight(i, weight), false); }));
    }
}

ServiceHealth::~ServiceHealth() { stop(); }

void ServiceHealth::start(std::mt19937_64* rng) {
    apply(model_.start(), true);
    for (size_t i = 0; i < checkers_.size(); ++i) {
        if (!checkers_[i]) continue;
        Duration delay = Duration::zero();
        if (rng) delay = Checker::random_warmup(intervals_[i], *rng);
        checkers_[i]->start(delay);
    }
}

void ServiceHealth::start(std::mt19937_64* rng, const ServiceHealth& previous) {
    const auto& old = previous.vs_;
    auto port = [](const config::VirtualServer& vs, const config::RealServer& rs) {
        return rs.port ? rs.port : vs.port;
    };
    std::vector<std::optional<RealServerHealth>> seed(vs_.real_servers.size());
    std::vector<std::optional<bool>> checker_up(vs_.real_servers.size());
    for (size_t i = 0; i < vs_.real_servers.size(); ++i) {
        const auto& rs = vs_.real_servers[i];
        for (size_t k = 0; k < old.real_servers.size(); ++k) {
            const auto& o = old.real_servers[k];
            if (!(o == rs) || port(old, o) != port(vs_, rs) || vs_.protocol != old.protocol) continue;
            seed[i] = previous.model_.servers()[k];
            if (previous.checkers_[k]) checker_up[i] = previous.checkers_[k]->up();
            break;
        }
    }
    apply(model_.start(seed, previous.model_.quorum_up()), true);
    for (size_t i = 0; i < checkers_.size(); ++i) {
        if (!checkers_[i]) continue;
        Duration delay = Duration::zero();
        if (rng) delay = Checker::random_warmup(intervals_[i], *rng);
        checkers_[i]->start(delay, checker_up[i]);
    }
}

void ServiceHealth::stop() {
    for (auto& c : checkers_)
        if (c) c->stop();
}

void ServiceHealth::apply(const Actions& actions, bool force_report) {
    for (const auto& a : actions) {
        if (a.kind == Action::Kind::log) log_.info("{}", a.text);
        else notify_.push(a.text, notify_timeout_);
    }
    const bool sorry = model_.use_sorry_server();
    if (force_report || !reported_once_ || sorry != reported_sorry_ || model_.servers() != reported_) {
        reported_ = model_.servers();
        reported_sorry_ = sorry;
        reported_once_ = true;
        if (on_change_) on_change_(reported_, sorry);
    }
}

ServiceStatus ServiceHealth::status() const {
    ServiceStatus s;
    s.name = name_;
    s.service = model_.vs_label();
    s.quorum = quorum_;
    s.hysteresis = hysteresis_;
    s.live_weight = model_.live_weight();
    s.quorum_up = model_.quorum_up();
    s.use_sorry_server = model_.use_sorry_server();
    for (size_t i = 0; i < model_.servers().size(); ++i) {
        RealServerStatus r;
        r.health = model_.servers()[i];
        if (checkers_[i]) r.check = checkers_[i]->status();
        s.real_servers.push_back(std::move(r));
    }
    return s;
}

HealthChecks::HealthChecks(EventLoop& loop, Log& log, ScriptRunner& runner,
                           const std::vector<config::VirtualServer>& virtual_servers, ChangeCallback on_change,
                           Options options)
    : loop_(loop), log_(log), runner_(runner), on_change_(std::move(on_change)), options_(options),
      rng_(options.seed ? *options.seed : std::random_device{}()) {
    for (size_t i = 0; i < virtual_servers.size(); ++i) services_.push_back(make(virtual_servers[i], i));
}

std::unique_ptr<ServiceHealth> HealthChecks::make(const config::VirtualServer& vs, size_t index) {
    auto at = std::make_unique<size_t>(index);
    size_t* where = at.get();
    indices_.push_back(std::move(at));
    return std::make_unique<ServiceHealth>(
        loop_, log_, runner_, vs,
        [this, where](const std::vector<RealServerHealth>& rs, bool sorry) {
            if (on_change_) on_change_(*where, rs, sorry);
        },
        options_.notify_timeout);
}

void HealthChecks::reconfigure(const std::vector<config::VirtualServer>& virtual_servers) {
    std::vector<std::unique_ptr<ServiceHealth>> old = std::move(services_);
    std::vector<std::unique_ptr<size_t>> old_indices = std::move(indices_);
    services_.clear();
    indices_.clear();
    std::vector<std::pair<size_t, size_t>> to_start;   // (new index, old index or npos)
    constexpr size_t npos = static_cast<size_t>(-1);
    for (size_t i = 0; i < virtual_servers.size(); ++i) {
        const auto& vs = virtual_servers[i];
        size_t same = npos, similar = npos;
        for (size_t k = 0; k < old.size(); ++k) {
            if (!old[k]) continue;
            const auto& o = old[k]->config();
            if (o == vs) {
                same = k;
                break;
            }
            if (similar == npos && o.vip == vs.vip && o.port == vs.port && o.protocol == vs.protocol) similar = k;
        }
        if (same != npos) {   // untouched: its checks go on
            *old_indices[same] = i;
            services_.push_back(std::move(old[same]));
            indices_.push_back(std::move(old_indices[same]));
            continue;
        }
        services_.push_back(make(vs, i));
        to_start.emplace_back(i, similar);
    }
    for (auto& [i, k] : to_start) {
        std::mt19937_64* rng = options_.warmup ? &rng_ : nullptr;
        if (k != npos && old[k]) {
            old[k]->stop();
            services_[i]->start(rng, *old[k]);
            old[k].reset();
        } else {
            services_[i]->start(rng);
        }
    }
    for (auto& o : old)
        if (o) o->stop();
}

void HealthChecks::start() {
    for (auto& s : services_) s->start(options_.warmup ? &rng_ : nullptr);
}

void HealthChecks::stop() {
    for (auto& s : services_) s->stop();
}

std::vector<ServiceStatus> HealthChecks::status() const {
    std::vector<ServiceStatus> out;
    for (const auto& s : services_) out.push_back(s->status());
    return out;
}

nlohmann::json HealthChecks::status_json() const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : services_) out.push_back(to_json(s->status()));
    return out;
}

} // namespace haplane::control::check
