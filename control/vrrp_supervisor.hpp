// Around the VRRP engine, what keepalived's operators rely on: vrrp_scripts
// and track_scripts, track_ports, track_files (effective priority and
// FAULT), sync groups (members move together) and notify (scripts and the
// notify FIFO). Everything runs on the control thread's event loop; scripts
// run as children, never blocking an election.
#pragma once

#include "config/config.hpp"
#include "control/event_loop.hpp"
#include "control/log.hpp"
#include "control/script_runner.hpp"
#include "control/vrrp_engine.hpp"
#include "control/vrrp_track.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace haplane::control {

// "INSTANCE \"VI_1\" MASTER 150", "GROUP \"VG_1\" BACKUP": keepalived's
// notify FIFO lines.
std::string notify_fifo_line(bool group, const std::string& name, vrrp::State state,
                             std::optional<uint8_t> priority);
// The command a `notify` (any) script runs with: keepalived's arguments
// appended, $1 INSTANCE|GROUP, $2 name, $3 state, $4 priority (instances).
std::string notify_any_command(const std::string& script, bool group, const std::string& name,
                               vrrp::State state, std::optional<uint8_t> priority);

class VrrpSupervisor {
public:
    VrrpSupervisor(const config::Config& config, EventLoop& loop, Log& log, VrrpEngine& engine,
                   VrrpPorts& ports, ScriptRunner& runner);
    ~VrrpSupervisor();
    VrrpSupervisor(const VrrpSupervisor&) = delete;
    VrrpSupervisor& operator=(const VrrpSupervisor&) = delete;

    // Starts scripts and polling; call before engine.start() so the first
    // transitions are already observed.
    void start();
    void stop();

private:
    struct Script;
    struct Tracked;
    struct Group;

    void run_script(size_t script);
    void poll(bool evaluate_all);
    void evaluate(size_t instance);
    void refresh_group_faults(size_t group);
    void on_transition(size_t instance, vrrp::State from, vrrp::State to);
    void notify(const config::Notify& n, bool group, const std::string& name, vrrp::State state,
                std::optional<uint8_t> priority);
    void write_fifo(const std::string& line);
    void status_extra(size_t instance, nlohmann::json& entry) const;

    const config::Config& config_;
    EventLoop& loop_;
    Log& log_;
    VrrpEngine& engine_;
    VrrpPorts& ports_;
    ScriptRunner& runner_;
    ScriptQueue notify_queue_;   // notify scripts run in transition order
    std::vector<Script> scripts_;
    std::vector<Tracked> tracked_;          // per instance
    std::vector<Group> groups_;
    std::optional<EventLoop::TimerId> poll_timer_;
    int fifo_fd_ = -1;
    bool syncing_ = false;
    bool running_ = false;
};

} // namespace haplane::control
