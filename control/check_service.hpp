// Health checking of the virtual servers: one Checker per real server with
// a `check`, one ServiceModel per virtual server (alive servers, weights,
// quorum/hysteresis, sorry server), notify up/down/quorum_up/quorum_down
// scripts run in order per virtual server. Every change of a virtual
// server's table is reported through a callback so the daemon can publish a
// new load-balancer table (RCU); that wiring lives in the daemon.
//
//   check::HealthChecks checks(loop, log, runner, config.virtual_servers,
//       [&](size_t vs, const std::vector<check::RealServerHealth>& rs, bool sorry) {
//           publish(vs, check::effective_backends(config.virtual_servers[vs], rs, sorry));
//       });
//   checks.start();   // reports every virtual server's initial table at once
#pragma once

#include "config/config.hpp"
#include "control/check_checker.hpp"
#include "control/check_model.hpp"
#include "control/event_loop.hpp"
#include "control/log.hpp"
#include "control/script_runner.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace haplane::control::check {

struct RealServerStatus {
    RealServerHealth health;
    std::optional<CheckStatus> check;    // none: no check configured (always alive)
};

struct ServiceStatus {
    std::string name;
    std::string service;                 // "[10.10.0.100]:tcp:80"
    unsigned quorum = 1, hysteresis = 0;
    uint64_t live_weight = 0;
    bool quorum_up = true;
    bool use_sorry_server = false;
    std::vector<RealServerStatus> real_servers;
};
nlohmann::json to_json(const ServiceStatus& s);

// One virtual server.
class ServiceHealth {
public:
    using Duration = std::chrono::nanoseconds;
    using ChangeCallback = std::function<void(const std::vector<RealServerHealth>&, bool use_sorry_server)>;

    ServiceHealth(EventLoop& loop, Log& log, ScriptRunner& runner, const config::VirtualServer& vs,
                  ChangeCallback on_change, Duration notify_timeout);
    ~ServiceHealth();
    ServiceHealth(const ServiceHealth&) = delete;
    ServiceHealth& operator=(const ServiceHealth&) = delete;

    // Initial state (alpha, quorum), reported through on_change at once;
    // then each check starts after a warm-up drawn from rng (null: at once).
    void start(std::mt19937_64* rng);
    // A reload: starts like start(), but real servers whose config did not
    // change keep their health, weight and check state from `previous`.
    void start(std::mt19937_64* rng, const ServiceHealth& previous);
    const config::VirtualServer& config() const { return vs_; }
    // Checks stop (notify scripts already queued still run; destroying the
    // ServiceHealth drops those not started yet).
    void stop();

    const std::vector<RealServerHealth>& servers() const { return model_.servers(); }
    bool use_sorry_server() const { return model_.use_sorry_server(); }
    bool quorum_up() const { return model_.quorum_up(); }
    ServiceStatus status() const;

private:
    void apply(const Actions& actions, bool force_report);

    Log& log_;
    config::VirtualServer vs_;
    std::string name_;
    unsigned quorum_, hysteresis_;
    Duration notify_timeout_;
    ServiceModel model_;
    std::vector<std::unique_ptr<Checker>> checkers_;   // null: no check
    std::vector<Duration> intervals_;
    ScriptQueue notify_;
    ChangeCallback on_change_;
    std::vector<RealServerHealth> reported_;
    bool reported_sorry_ = false;
    bool reported_once_ = false;
};

// Every virtual server of a config.
class HealthChecks {
public:
    using Duration = std::chrono::nanoseconds;
    using ChangeCallback = std::function<void(size_t vs_index, const std::vector<RealServerHealth>&,
                                              bool use_sorry_server)>;
    struct Options {
        bool warmup = true;                         // random first delay in [0, interval)
        Duration notify_timeout = std::chrono::seconds(30);
        std::optional<uint64_t> seed;               // warm-up randomness (tests)
    };

    HealthChecks(EventLoop& loop, Log& log, ScriptRunner& runner,
                 const std::vector<config::VirtualServer>& virtual_servers, ChangeCallback on_change,
                 Options options);
    HealthChecks(EventLoop& loop, Log& log, ScriptRunner& runner,
                 const std::vector<config::VirtualServer>& virtual_servers, ChangeCallback on_change)
        : HealthChecks(loop, log, runner, virtual_servers, std::move(on_change), Options{}) {}

    void start();
    void stop();
    // A reload: unchanged virtual servers keep their checks running as they
    // are; changed ones restart theirs, unchanged real servers keeping their
    // health; new ones start; removed ones stop. Changes are reported
    // through on_change with the new indices.
    void reconfigure(const std::vector<config::VirtualServer>& virtual_servers);

    size_t size() const { return services_.size(); }
    const ServiceHealth& service(size_t vs_index) const { return *services_.at(vs_index); }
    std::vector<ServiceStatus> status() const;
    nlohmann::json status_json() const;   // a list, in config order

private:
    std::unique_ptr<ServiceHealth> make(const config::VirtualServer& vs, size_t index);

    EventLoop& loop_;
    Log& log_;
    ScriptRunner& runner_;
    ChangeCallback on_change_;
    Options options_;
    std::mt19937_64 rng_;
    std::vector<std::unique_ptr<ServiceHealth>> services_;
    std::vector<std::unique_ptr<size_t>> indices_;   // each service's index, as its callback reports it
};

} // namespace haplane::control::check
