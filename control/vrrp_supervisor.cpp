#include "control/vrrp_supervisor.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

namespace haplane::control {

using namespace std::chrono_literals;
using vrrp::State;

namespace {

// File and link tracking is polled: cheap, and a `touch` is seen within this.
constexpr auto POLL_INTERVAL = 250ms;
// Notify scripts may mail someone; they get this long before being killed.
constexpr auto NOTIFY_TIMEOUT = 30s;

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// keepalived's track_file: the first integer in the file; absent or junk = 0.
long read_tracked_file(const std::string& path) {
    std::ifstream in(path);
    long v = 0;
    if (in && (in >> v)) return v;
    return 0;
}

// The kernel mirror's administrative state (`ip link set ha-ext down`).
bool interface_up(const std::string& ifname) {
    std::ifstream in("/sys/class/net/" + ifname + "/flags");
    unsigned long flags = 0;
    if (!(in >> std::hex >> flags)) return false;
    return flags & IFF_UP;
}

} // namespace

std::string notify_fifo_line(bool group, const std::string& name, State state, std::optional<uint8_t> priority) {
    std::string line = fmt::format("{} \"{}\" {}", group ? "GROUP" : "INSTANCE", name, vrrp::to_string(state));
    if (priority) line += fmt::format(" {}", *priority);
    return line;
}

std::string notify_any_command(const std::string& script, bool group, const std::string& name, State state,
                               std::optional<uint8_t> priority) {
    std::string cmd = script + " " + (group ? "GROUP" : "INSTANCE") + " " + shell_quote(name) + " " +
                      vrrp::to_string(state);
    if (priority) cmd += " " + std::to_string(*priority);
    return cmd;
}

struct VrrpSupervisor::Script {
    const config::VrrpScript* cfg;
    vrrp::RiseFall rise_fall;
    bool running = false;
    std::optional<EventLoop::TimerId> timer;
    uint64_t runs = 0, failures = 0;
    int last_exit = 0;
};

struct VrrpSupervisor::Tracked {
    struct ScriptRef { size_t script; int weight; };
    struct PortRef { size_t port; int weight; std::optional<std::string> mirror; bool up = true; };
    struct FileRef { std::string path; int weight; long value = 0; };
    std::vector<ScriptRef> scripts;
    std::vector<PortRef> ports;
    std::vector<FileRef> files;
    std::optional<size_t> group;
    bool own_fault = false;
    bool group_fault = false;
};

struct VrrpSupervisor::Group {
    const config::SyncGroup* cfg;
    std::vector<size_t> members;
    std::optional<State> notified;
};

VrrpSupervisor::VrrpSupervisor(const config::Config& config, EventLoop& loop, Log& log, VrrpEngine& engine,
                               VrrpPorts& ports, ScriptRunner& runner)
    : config_(config), loop_(loop), log_(log), engine_(engine), ports_(ports), runner_(runner),
      notify_queue_(runner, &log) {
    for (const auto& s : config.vrrp_scripts) scripts_.push_back(Script{&s, vrrp::RiseFall(s.rise, s.fall), {}, {}, 0, 0, 0});
    auto script_index = [&](const std::string& name) {
        for (size_t i = 0; i < config.vrrp_scripts.size(); ++i)
            if (config.vrrp_scripts[i].name == name) return i;
        throw std::runtime_error("unknown vrrp_script " + name);
    };
    auto port_index = [&](const std::string& name) {
        for (size_t i = 0; i < config.ports.size(); ++i)
            if (config.ports[i].name == name) return i;
        throw std::runtime_error("unknown port " + name);
    };
    for (const auto& vi : config.vrrp_instances) {
        Tracked t;
        for (const auto& ts : vi.track_scripts) {
            size_t s = script_index(ts.name);
            t.scripts.push_back({s, ts.weight.value_or(config.vrrp_scripts[s].weight)});
        }
        for (const auto& tp : vi.track_ports) {
            size_t p = port_index(tp.port);
            t.ports.push_back({p, tp.weight, config.ports[p].kernel_mirror});
        }
        for (const auto& tf : vi.track_files) t.files.push_back({tf.path, tf.weight});
        tracked_.push_back(std::move(t));
    }
    for (const auto& g : config.sync_groups) {
        Group group{&g, {}, {}};
        for (const auto& name : g.instances)
            for (size_t i = 0; i < config.vrrp_instances.size(); ++i)
                if (config.vrrp_instances[i].name == name) {
                    group.members.push_back(i);
                    tracked_[i].group = groups_.size();
                }
        groups_.push_back(std::move(group));
    }
    if (config.global.notify_fifo) {
        const std::string& path = *config.global.notify_fifo;
        struct stat st;
        if (stat(path.c_str(), &st) != 0) mkfifo(path.c_str(), 0600);
        // Read-write: opening never waits for a reader, and a missing reader
        // never fails a write until the pipe is full (then lines are dropped).
        fifo_fd_ = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fifo_fd_ < 0) log_.error("Cannot open notify FIFO {}: {}", path, std::strerror(errno));
    }
    engine_.set_observer([this](size_t i, State from, State to) { on_transition(i, from, to); });
    engine_.set_status_extra([this](size_t i, nlohmann::json& e) { status_extra(i, e); });
    // keepalived's rule: a member may take over only when no other member of
    // its group still hears a master it accepts; else the group would flap.
    engine_.set_gate([this](size_t i) {
        if (!tracked_[i].group) return true;
        for (size_t m : groups_[*tracked_[i].group].members)
            if (m != i && engine_.has_live_master(m)) return false;
        return true;
    });
}

VrrpSupervisor::~VrrpSupervisor() {
    stop();
    engine_.set_observer(nullptr);
    engine_.set_status_extra(nullptr);
    engine_.set_gate(nullptr);
    if (fifo_fd_ >= 0) close(fifo_fd_);
}

void VrrpSupervisor::start() {
    if (running_) return;
    running_ = true;
    // Files and links are read before the first election, so an instance
    // that starts with its down-file present starts with its lower priority.
    poll(true);
    for (size_t i = 0; i < scripts_.size(); ++i) run_script(i);
}

void VrrpSupervisor::stop() {
    if (!running_) return;
    running_ = false;
    if (poll_timer_) loop_.cancel(*poll_timer_);
    poll_timer_.reset();
    for (auto& s : scripts_) {
        if (s.timer) loop_.cancel(*s.timer);
        s.timer.reset();
    }
}

void VrrpSupervisor::run_script(size_t index) {
    Script& s = scripts_[index];
    s.timer.reset();
    if (!running_) return;
    if (s.running) {   // still running from last time: try again next interval
        s.timer = loop_.after(s.cfg->interval, [this, index] { run_script(index); });
        return;
    }
    s.running = true;
    runner_.run(s.cfg->script, s.cfg->timeout, [this, index](const ExitResult& r) {
        Script& s = scripts_[index];
        s.running = false;
        ++s.runs;
        s.last_exit = r.exited ? r.code : -1;
        const bool ok = r.success();
        if (!ok) ++s.failures;
        log_.detail("VRRP_Script({}) {}", s.cfg->name, r.describe());
        if (s.rise_fall.feed(ok)) {
            if (ok) log_.info("VRRP_Script({}) succeeded", s.cfg->name);
            else log_.info("VRRP_Script({}) failed ({})", s.cfg->name, r.describe());
            for (size_t i = 0; i < tracked_.size(); ++i)
                for (const auto& ref : tracked_[i].scripts)
                    if (ref.script == index) evaluate(i);
        }
        if (running_ && !s.timer) s.timer = loop_.after(s.cfg->interval, [this, index] { run_script(index); });
    });
    if (running_ && !s.timer) s.timer = loop_.after(s.cfg->interval, [this, index] { run_script(index); });
}

void VrrpSupervisor::poll(bool evaluate_all) {
    poll_timer_.reset();
    for (size_t i = 0; i < tracked_.size(); ++i) {
        Tracked& t = tracked_[i];
        bool changed = false;
        for (auto& f : t.files) {
            long v = read_tracked_file(f.path);
            if (v != f.value) {
                log_.info("({}) tracked file {} now holds {}", config_.vrrp_instances[i].name, f.path, v);
                f.value = v;
                changed = true;
            }
        }
        for (auto& p : t.ports) {
            bool up = ports_.link_up(p.port) && (!p.mirror || interface_up(*p.mirror));
            if (up != p.up) {
                log_.info("({}) tracked port {} is {}", config_.vrrp_instances[i].name, config_.ports[p.port].name,
                          up ? "UP" : "DOWN");
                p.up = up;
                changed = true;
            }
        }
        if (changed || evaluate_all) evaluate(i);
    }
    if (running_) poll_timer_ = loop_.after(POLL_INTERVAL, [this] { poll(false); });
}

void VrrpSupervisor::evaluate(size_t i) {
    Tracked& t = tracked_[i];
    std::vector<vrrp::TrackedCheck> checks;
    for (const auto& s : t.scripts) checks.push_back({s.weight, scripts_[s.script].rise_fall.healthy()});
    for (const auto& p : t.ports) checks.push_back({p.weight, p.up});
    std::vector<vrrp::TrackedFile> files;
    for (const auto& f : t.files) files.push_back({f.weight, f.value});
    auto r = vrrp::track(config_.vrrp_instances[i].priority, checks, files);
    engine_.set_effective_priority(i, r.priority);
    if (r.fault != t.own_fault) {
        t.own_fault = r.fault;
        if (t.group) refresh_group_faults(*t.group);
    }
    engine_.set_fault(i, t.own_fault || t.group_fault);
}

// One member in FAULT takes the whole group to FAULT; it leaves together.
void VrrpSupervisor::refresh_group_faults(size_t g) {
    bool any = false;
    for (size_t m : groups_[g].members) any |= tracked_[m].own_fault;
    for (size_t m : groups_[g].members) {
        tracked_[m].group_fault = any;
        engine_.set_fault(m, tracked_[m].own_fault || any);
    }
}

void VrrpSupervisor::on_transition(size_t i, State from, State to) {
    const auto& vi = config_.vrrp_instances[i];
    notify(vi.notify, false, vi.name, to, engine_.effective_priority(i));

    const auto& group_index = tracked_[i].group;
    if (!group_index) return;
    Group& g = groups_[*group_index];
    if (!syncing_) {
        // Members follow the one that moved: to MASTER together, and a
        // master that fell back to BACKUP takes its group with it.
        syncing_ = true;
        for (size_t m : g.members) {
            if (m == i) continue;
            if (to == State::MASTER) engine_.force_master(m);
            else if (to == State::BACKUP && from == State::MASTER) engine_.force_backup(m);
        }
        syncing_ = false;
    }
    // The group's own notify, once every member has arrived.
    State first = engine_.state(g.members.front());
    for (size_t m : g.members)
        if (engine_.state(m) != first) return;
    if (g.notified == first) return;
    g.notified = first;
    log_.info("VRRP_Group({}) Syncing instances to {} state", g.cfg->name, vrrp::to_string(first));
    notify(g.cfg->notify, true, g.cfg->name, first, std::nullopt);
}

void VrrpSupervisor::notify(const config::Notify& n, bool group, const std::string& name, State state,
                            std::optional<uint8_t> priority) {
    write_fifo(notify_fifo_line(group, name, state, priority));
    const std::optional<std::string>* specific = nullptr;
    switch (state) {
    case State::MASTER: specific = &n.master; break;
    case State::BACKUP: specific = &n.backup; break;
    case State::FAULT: specific = &n.fault; break;
    case State::INIT: specific = &n.stop; break;
    }
    std::optional<std::string> any;
    if (n.any) any = notify_any_command(*n.any, group, name, state, priority);
    // keepalived runs the state's own script first, then the generic one;
    // the queue keeps every transition's scripts in order.
    if (specific && *specific) notify_queue_.push(**specific, NOTIFY_TIMEOUT);
    if (any) notify_queue_.push(*any, NOTIFY_TIMEOUT);
}

void VrrpSupervisor::write_fifo(const std::string& line) {
    if (fifo_fd_ < 0) return;
    std::string out = line + "\n";
    if (write(fifo_fd_, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
        log_.warning("notify FIFO full or unreadable: dropped \"{}\"", line);
}

void VrrpSupervisor::status_extra(size_t i, nlohmann::json& e) const {
    const Tracked& t = tracked_[i];
    nlohmann::json scripts = nlohmann::json::array();
    for (const auto& s : t.scripts)
        scripts.push_back({{"name", scripts_[s.script].cfg->name},
                           {"weight", s.weight},
                           {"healthy", scripts_[s.script].rise_fall.healthy()},
                           {"last_exit", scripts_[s.script].last_exit}});
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : t.ports)
        ports.push_back({{"port", config_.ports[p.port].name}, {"weight", p.weight}, {"up", p.up}});
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : t.files) files.push_back({{"path", f.path}, {"weight", f.weight}, {"value", f.value}});
    e["track_scripts"] = scripts;
    e["track_ports"] = ports;
    e["track_files"] = files;
    e["fault_reason"] = t.own_fault ? "tracking" : t.group_fault ? "sync group" : "";
    e["sync_group"] = t.group ? nlohmann::json(groups_[*t.group].cfg->name) : nlohmann::json(nullptr);
}

} // namespace haplane::control
