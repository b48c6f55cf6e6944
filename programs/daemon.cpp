#include "programs/daemon.hpp"

#include "config/loader.hpp"
#include "control/control_socket.hpp"
#include "control/event_loop.hpp"
#include "control/kernel_mirror.hpp"
#include "control/check_service.hpp"
#include "control/lb_control.hpp"
#include "control/metrics.hpp"
#include "control/netlink.hpp"
#include "control/status.hpp"
#include "control/script_runner.hpp"
#include "control/vrrp_engine.hpp"
#include "control/vrrp_supervisor.hpp"
#include "dataplane/classify.hpp"
#include "dataplane/dataplane.hpp"

#include <chrono>
#include <csignal>
#include <deque>
#include <thread>
#include <cstdio>
#include <fstream>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace haplane {

namespace {

class PidFile {
public:
    explicit PidFile(std::optional<std::string> path) : path_(std::move(path)) {
        if (!path_) return;
        std::ofstream out(*path_);
        if (!out) throw std::runtime_error("cannot write pid file " + *path_);
        out << getpid() << "\n";
    }
    ~PidFile() {
        if (path_) unlink(path_->c_str());
    }
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

private:
    std::optional<std::string> path_;
};

// Signals arrive as readable data on an fd, in the event loop, never as
// asynchronous handlers. Blocked before EAL starts so its threads inherit it.
class SignalFd {
public:
    SignalFd() {
        sigemptyset(&mask_);
        for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&mask_, s);
        pthread_sigmask(SIG_BLOCK, &mask_, nullptr);
        fd_ = signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd_ < 0) throw std::runtime_error("signalfd failed");
    }
    ~SignalFd() { close(fd_); }
    SignalFd(const SignalFd&) = delete;
    SignalFd& operator=(const SignalFd&) = delete;
    int fd() const { return fd_; }
    int next() {
        signalfd_siginfo info;
        return read(fd_, &info, sizeof info) == sizeof info ? static_cast<int>(info.ssi_signo) : 0;
    }

private:
    sigset_t mask_;
    int fd_ = -1;
};


// The VRRP engine's view of the dataplane.
class DataplanePorts : public control::VrrpPorts {
public:
    explicit DataplanePorts(dataplane::Dataplane& dp) : dp_(dp) {}
    wire::Mac mac(size_t port) const override { return dp_.ports().at(port).mac; }
    bool send(size_t port, const uint8_t* frame, size_t len) override { return dp_.send_frame(port, frame, len); }
    void set_vips(size_t port, const std::vector<VipBinding>& vips) override {
        std::vector<dataplane::Vip> out;
        for (const auto& v : vips) out.push_back({v.address, v.mac});
        dp_.set_vips(port, out);
    }
    void listen_on_mac(size_t port, const wire::Mac& mac) override { dp_.listen_on_mac(port, mac); }
    bool link_up(size_t port) const override { return dp_.link_up(port); }

private:
    dataplane::Dataplane& dp_;
};

// ---- LB (load balancer) section ----
// The load balancer's view of the dataplane, and the ports as it sees them.
class DataplaneLb : public control::LbPorts {
public:
    explicit DataplaneLb(dataplane::Dataplane& dp) : dp_(dp) {}
    bool send(size_t port, const uint8_t* frame, size_t len) override { return dp_.send_frame(port, frame, len); }
    void synchronize() override { dp_.synchronize(); }
    void set_lb_addresses(size_t port, const std::vector<IpAddress>& addresses) override {
        dp_.set_lb_addresses(port, addresses);
    }

private:
    dataplane::Dataplane& dp_;
};

std::vector<lb::PortView> lb_port_views(const config::Config& config, const dataplane::Dataplane& dp) {
    std::vector<lb::PortView> out;
    for (size_t i = 0; i < config.ports.size(); ++i)
        out.push_back({config.ports[i].name, dp.ports().at(i).mac, config.ports[i].addresses});
    return out;
}
// ---- end of LB section ----

class Daemon {
public:
    Daemon(config::Config config, const DaemonOptions& options, control::Log& log, SignalFd& signals)
        : config_(std::move(config)), options_(options), log_(log), signals_(signals),
          dataplane_(config_, options.eal_extra, log.detailed()),
          mirror_(netlink_, log_, config_.ports),
          ports_(dataplane_),
          vrrp_(config_, loop_, log_, ports_, &mirror_),
          scripts_(loop_),
          lb_ports_(dataplane_),
          lb_(config_, loop_, log_, lb_ports_, lb_port_views(config_, dataplane_), dataplane_.worker_count()),
          socket_(loop_, log_, config_.global.control_socket,
                  [this](const nlohmann::json& request) { return handle(request); }) {
        if (config_.global.metrics_listen)
            metrics_.emplace(loop_, log_, *config_.global.metrics_listen, [this] { return status(); });
        loop_.watch(signals_.fd(), EPOLLIN, [this](uint32_t) { on_signal(); });
        loop_.watch(dataplane_.control_event_fd(), EPOLLIN, [this](uint32_t) { on_control_frames(); });
        dataplane_.set_forwarders(lb_.forwarders());   // LB
        // The MASTER instances' virtual_routes are the dataplane's route table.
        vrrp_.set_routes_observer([this] { lb_.set_routes(vrrp_.active_routes()); });
        if (lb_.enabled())
            checks_.emplace(loop_, log_, scripts_, config_.virtual_servers,
                            [this](size_t vs, const std::vector<control::check::RealServerHealth>& servers,
                                   bool sorry) { on_health(vs, servers, sorry); });
    }
    // The workers use lb_'s forwarders: they stop before it goes.
    ~Daemon() { dataplane_.stop_workers(); }

    int run() {
        dataplane_.start_workers();
        log_.info("haplane {} started: {} port(s), {} worker(s)", config_.global.router_id,
                  config_.ports.size(), dataplane_.worker_count());
        start_supervisor();   // tracking is known before the first election
        vrrp_.start();
        lb_.start();
        if (checks_) checks_->start();
        loop_.run();
        log_.info("Stopping");
        // Masters resign (priority 0) and give their VIPs back; the workers
        // must still be running to send those last adverts.
        vrrp_.stop();
        supervisor_->stop();
        scripts_.finish(std::chrono::seconds(2));   // let the notify "stop" scripts run
        if (checks_) checks_->stop();
        lb_.stop();
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
        while (!dataplane_.control_tx_idle() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        dataplane_.stop_workers();
        return 0;
    }

private:
    std::vector<control::PortStatus> port_status() const {
        std::vector<control::PortStatus> out;
        const auto& infos = dataplane_.ports();
        for (size_t i = 0; i < infos.size(); ++i)
            out.push_back({infos[i].name, dataplane::mac_to_string(infos[i].mac), dataplane_.link_up(i),
                           dataplane_.port_stats(i).since(port_baseline_.size() > i ? port_baseline_[i] : dataplane::PortStats{})});
        return out;
    }

    // The config in force: the one started with, or the last reload's.
    const config::Config& current() const { return reloaded_.empty() ? config_ : reloaded_.back(); }

    void start_supervisor() {
        if (auto error = scripts_.set_user(current().global.script_user)) throw std::runtime_error(*error);
        supervisor_.emplace(current(), loop_, log_, vrrp_, ports_, scripts_);
        supervisor_->start();
    }

    nlohmann::json status() const {
        nlohmann::json vrrp = vrrp_.status();
        if (!lb_.enabled()) return control::status_document(current(), port_status(), &vrrp);
        nlohmann::json services = lb_.virtual_servers();   // LB
        nlohmann::json doc = control::status_document(current(), port_status(), &vrrp, &services);
        doc["lb"] = lb_.summary();
        if (checks_) doc["health_checks"] = checks_->status_json();
        return doc;
    }

    nlohmann::json handle(const nlohmann::json& request) {
        std::string command = request.value("command", "");
        if (command == "status" || command == "vrrp" || command == "services") return status();
        if (command == "connections") return connections(request);
        if (command == "reload") return reload();
        if (command == "clear_stats") return clear_stats();
        return {{"error", "unknown command \"" + command + "\""}};
    }

    // {"command": "connections", "limit": n, "from": {"worker": w, "entry": e}}:
    // a slice of the workers' flows and where the next one starts (LbControl::connections).
    nlohmann::json connections(const nlohmann::json& request) {
        if (!lb_.enabled()) return {{"connections", nlohmann::json::array()}};
        auto count = [](const nlohmann::json& j) {
            return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
        };
        const auto limit = request.value("limit", nlohmann::json(10000));
        const auto from = request.value("from", nlohmann::json::object());
        if (!count(limit) || !from.is_object() || !count(from.value("worker", nlohmann::json(0))) ||
            !count(from.value("entry", nlohmann::json(0))))
            return {{"error", "connections: limit, from.worker and from.entry are numbers >= 0"}};
        control::LbControl::ConnCursor cursor;
        cursor.worker = from.value("worker", size_t{0});
        cursor.entry = static_cast<uint32_t>(std::min<uint64_t>(from.value("entry", uint64_t{0}), UINT32_MAX));
        return lb_.connections(limit.get<size_t>(), cursor);   // LB
    }

    nlohmann::json clear_stats() {
        port_baseline_.clear();
        for (size_t i = 0; i < dataplane_.ports().size(); ++i) port_baseline_.push_back(dataplane_.port_stats(i));
        vrrp_.clear_counters();
        lb_.clear_counters();   // LB
        log_.info("Counters cleared");
        return {{"ok", true}};
    }

    // Validate first; a file with problems changes nothing.
    nlohmann::json reload() {
        auto result = config::load_file(options_.config_file);
        if (!result.problems.empty()) {
            nlohmann::json errors = nlohmann::json::array();
            for (const auto& p : result.problems) {
                log_.error("Reload refused: {}", p.str());
                errors.push_back(p.str());
            }
            return {{"ok", false}, {"errors", errors}};
        }
        const config::Config& now = current();
        config::Config& next = *result.config;
        // What the running dataplane was built from cannot change under it.
        std::vector<std::string> restart;
        if (!(next.ports == now.ports)) restart.push_back("ports");
        if (!(next.global.dpdk == now.global.dpdk)) restart.push_back("global.dpdk");
        if (next.global.control_socket != now.global.control_socket) restart.push_back("global.control_socket");
        if (next.global.connections_per_lcore != now.global.connections_per_lcore)
            restart.push_back("global.connections_per_lcore");
        if (!restart.empty()) {
            std::string what;
            for (const auto& r : restart) what += (what.empty() ? "" : ", ") + r;
            std::string message = "Reload refused: changes to " + what + " need a restart; nothing was changed";
            log_.error("{}", message);
            return {{"ok", false}, {"errors", {message}}};
        }
        const bool metrics_changed = next.global.metrics_listen != now.global.metrics_listen;
        // Kept: the engines refer to the config in force.
        reloaded_.push_back(std::move(next));
        const config::Config& applied = reloaded_.back();
        const config::Config& previous = reloaded_.size() > 1 ? reloaded_[reloaded_.size() - 2] : config_;
        // LB first: it is what may refuse (and then nothing changed).
        if (auto error = lb_.reconfigure(applied)) {
            reloaded_.pop_back();
            log_.error("Reload refused: {}; nothing was changed", *error);
            return {{"ok", false}, {"errors", {*error}}};
        }
        try {
            supervisor_.reset();   // scripts stop; tracking restarts from the new file below
            vrrp_.reconfigure(applied);
        } catch (const std::exception& e) {
            log_.error("Reload refused: {}", e.what());
            (void)lb_.reconfigure(previous);   // back as it was
            reloaded_.pop_back();
            start_supervisor();
            return {{"ok", false}, {"errors", {std::string(e.what())}}};
        }
        if (checks_) checks_->reconfigure(applied.virtual_servers);   // LB
        start_supervisor();
        if (metrics_changed) {
            metrics_.reset();
            if (current().global.metrics_listen)
                metrics_.emplace(loop_, log_, *current().global.metrics_listen, [this] { return status(); });
        }
        log_.info("Reloaded {}", options_.config_file);
        return {{"ok", true}, {"applied", true}, {"message", "reloaded " + options_.config_file}};
    }

    void dump_state() {
        const std::string& path = current().global.state_dump_file;
        std::ofstream out(path);
        out << status().dump(2) << "\n";
        if (out) log_.info("State written to {}", path);
        else log_.error("Cannot write the state to {}", path);
    }

    void on_signal() {
        while (int sig = signals_.next()) {
            switch (sig) {
            case SIGTERM:
            case SIGINT: loop_.stop(); break;
            case SIGHUP: reload(); break;
            case SIGUSR1: dump_state(); break;
            default: break;
            }
        }
    }

    // Health checks decide which real servers take new connections: a dead
    // one gets weight 0 (its established connections go on, unless
    // expire_nodest_conn), a lost quorum hands new connections to the sorry
    // server; published to the workers with RCU like any table change.
    void on_health(size_t vs, const std::vector<control::check::RealServerHealth>& servers, bool sorry) {
        for (size_t r = 0; r < servers.size(); ++r) lb_.set_real_server(vs, r, servers[r].weight, servers[r].alive);
        lb_.set_sorry_server(vs, sorry);
    }

    // VRRP adverts from the workers, straight into the state machines.
    void on_control_frames() {
        dataplane_.drain_control_frames(
            [](void* self, size_t port, const uint8_t* frame, size_t len) {
                auto* d = static_cast<Daemon*>(self);
                // LB: ARP replies / NAs the workers copied for neighbour resolution.
                if (!d->lb_.on_frame(port, frame, len)) d->vrrp_.on_frame(port, frame, len);
            },
            this);
    }

    config::Config config_;                 // as started: the dataplane and LB were built from it
    std::deque<config::Config> reloaded_;   // every applied reload, the last in force
    const DaemonOptions& options_;
    control::Log& log_;
    SignalFd& signals_;
    control::EventLoop loop_;
    dataplane::Dataplane dataplane_;
    control::Netlink netlink_;
    control::KernelMirror mirror_;
    DataplanePorts ports_;
    control::VrrpEngine vrrp_;
    control::ScriptRunner scripts_;
    std::optional<control::VrrpSupervisor> supervisor_;
    DataplaneLb lb_ports_;
    control::LbControl lb_;
    control::ControlSocket socket_;
    std::optional<control::MetricsServer> metrics_;
    std::optional<control::check::HealthChecks> checks_;
    std::vector<dataplane::PortStats> port_baseline_;   // `stats --clear`
};

} // namespace

int run_daemon(config::Config config, const DaemonOptions& options, control::Log& log) {
    try {
        SignalFd signals;
        PidFile pid(options.pid_file);
        Daemon daemon(std::move(config), options, log, signals);
        return daemon.run();
    } catch (const std::exception& e) {
        log.error("{}", e.what());
        return 1;
    }
}

} // namespace haplane
