// The health of one virtual server, as keepalived's ipwrapper.c keeps it:
// which real servers are alive and with what weight, whether the quorum
// holds, whether the sorry server stands in. Pure: every change returns the
// log lines and notify commands it causes, in keepalived's order, and the
// caller (ServiceHealth) carries them out.
#pragma once

#include "config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace haplane::control::check {

struct RealServerHealth {
    IpAddress address;
    uint16_t port = 0;               // effective: the server's, or the virtual server's when 0
    unsigned configured_weight = 1;
    unsigned weight = 1;             // current weight (a script check may change it)
    bool alive = true;               // the health verdict
    bool inhibit_on_failure = false;
    bool has_check = false;

    // In the scheduler's table at all: alive, or dead but inhibited (weight 0,
    // its established connections go on).
    bool in_pool() const { return alive || inhibit_on_failure; }
    // The weight the scheduler should use (0: no new connections).
    unsigned effective_weight() const { return alive ? weight : 0; }

    bool operator==(const RealServerHealth&) const = default;
};

// One backend of the table the load balancer should publish.
struct Backend {
    IpAddress address;
    uint16_t port = 0;
    unsigned weight = 0;
    bool sorry = false;              // the sorry server

    bool operator==(const Backend&) const = default;
};

// The table for a virtual server: the sorry server alone while it stands in,
// otherwise every server in_pool() with its effective weight.
std::vector<Backend> effective_backends(const config::VirtualServer& vs,
                                        const std::vector<RealServerHealth>& servers,
                                        bool use_sorry_server);

struct Action {
    enum class Kind { log, notify } kind = Kind::log;
    std::string text;                // the log line (info), or the command to run

    bool operator==(const Action&) const = default;
};
using Actions = std::vector<Action>;

class ServiceModel {
public:
    explicit ServiceModel(const config::VirtualServer& vs);

    // Initial state: servers with a check start dead under alpha, alive
    // otherwise; servers without a check are always alive. Then the quorum
    // is evaluated, as keepalived does at start (alpha: usually lost at once,
    // and the sorry server stands in until the first servers come up).
    Actions start();
    // The same, but servers with a seed start as it says (a reload keeping
    // the health of unchanged servers), and so does the quorum.
    Actions start(const std::vector<std::optional<RealServerHealth>>& seed, bool quorum_up);
    Actions set_alive(size_t rs, bool alive);
    Actions set_weight(size_t rs, unsigned weight);

    const std::vector<RealServerHealth>& servers() const { return servers_; }
    bool quorum_up() const { return quorum_up_; }
    bool use_sorry_server() const { return !quorum_up_ && has_sorry_; }
    uint64_t live_weight() const;

    const std::string& vs_label() const { return vs_label_; }
    std::string rs_label(size_t rs) const;

private:
    void update_quorum(Actions& out);
    static void log(Actions& out, std::string text) { out.push_back({Action::Kind::log, std::move(text)}); }
    static void notify(Actions& out, const std::string& cmd) { out.push_back({Action::Kind::notify, cmd}); }

    config::Protocol protocol_;
    unsigned quorum_, hysteresis_;
    bool alpha_;
    bool has_sorry_;
    std::string sorry_label_;
    std::optional<std::string> quorum_up_cmd_, quorum_down_cmd_;
    std::vector<config::RealServerNotify> notify_;
    std::string vs_label_;
    std::vector<RealServerHealth> servers_;
    bool quorum_up_ = true;
};

} // namespace haplane::control::check
