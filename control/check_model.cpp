#include "control/check_model.hpp"

#include "control/check_logic.hpp"

#include <fmt/format.h>

namespace haplane::control::check {

std::vector<Backend> effective_backends(const config::VirtualServer& vs,
                                        const std::vector<RealServerHealth>& servers,
                                        bool use_sorry_server) {
    std::vector<Backend> out;
    if (use_sorry_server && vs.sorry_server) {
        out.push_back({vs.sorry_server->address,
                       vs.sorry_server->port ? vs.sorry_server->port : vs.port, 1, true});
        return out;
    }
    for (const auto& s : servers)
        if (s.in_pool()) out.push_back({s.address, s.port, s.effective_weight(), false});
    return out;
}

ServiceModel::ServiceModel(const config::VirtualServer& vs)
    : protocol_(vs.protocol), quorum_(vs.quorum), hysteresis_(vs.hysteresis), alpha_(vs.alpha),
      has_sorry_(vs.sorry_server.has_value()), quorum_up_cmd_(vs.notify.quorum_up),
      quorum_down_cmd_(vs.notify.quorum_down),
      vs_label_(format_service(vs.vip, vs.port, vs.protocol)) {
    if (vs.sorry_server)
        sorry_label_ = format_service(vs.sorry_server->address,
                                      vs.sorry_server->port ? vs.sorry_server->port : vs.port,
                                      vs.protocol);
    for (const auto& rs : vs.real_servers) {
        RealServerHealth h;
        h.address = rs.address;
        h.port = rs.port ? rs.port : vs.port;
        h.configured_weight = h.weight = rs.weight;
        h.inhibit_on_failure = rs.inhibit_on_failure;
        h.has_check = rs.check.has_value();
        h.alive = true;
        servers_.push_back(h);
        notify_.push_back(rs.notify);
    }
}

std::string ServiceModel::rs_label(size_t rs) const {
    return format_service(servers_[rs].address, servers_[rs].port, protocol_);
}

uint64_t ServiceModel::live_weight() const {
    uint64_t sum = 0;
    for (const auto& s : servers_)
        if (s.alive) sum += s.weight;
    return sum;
}

Actions ServiceModel::start() {
    Actions out;
    quorum_up_ = true;
    for (auto& s : servers_) {
        s.alive = !(alpha_ && s.has_check);
        s.weight = s.configured_weight;
    }
    update_quorum(out);
    return out;
}

Actions ServiceModel::start(const std::vector<std::optional<RealServerHealth>>& seed, bool quorum_up) {
    Actions out;
    quorum_up_ = quorum_up;
    for (size_t i = 0; i < servers_.size(); ++i) {
        auto& s = servers_[i];
        s.alive = !(alpha_ && s.has_check);
        s.weight = s.configured_weight;
        if (i < seed.size() && seed[i]) {
            s.alive = seed[i]->alive;
            s.weight = seed[i]->weight;
        }
    }
    update_quorum(out);
    return out;
}

Actions ServiceModel::set_alive(size_t rs, bool alive) {
    Actions out;
    auto& s = servers_.at(rs);
    if (s.alive == alive) return out;
    const auto label = rs_label(rs);
    if (alive) {
        log(out, fmt::format("{} service {} to VS {}", s.inhibit_on_failure ? "Enabling" : "Adding",
                             label, vs_label_));
        s.alive = true;
        if (notify_[rs].up) {
            log(out, fmt::format("Executing [{}] for service {} in VS {}", *notify_[rs].up, label,
                                 vs_label_));
            notify(out, *notify_[rs].up);
        }
    } else {
        log(out, fmt::format("{} service {} from VS {}",
                             s.inhibit_on_failure ? "Disabling" : "Removing", label, vs_label_));
        s.alive = false;
        if (notify_[rs].down) {
            log(out, fmt::format("Executing [{}] for service {} in VS {}", *notify_[rs].down, label,
                                 vs_label_));
            notify(out, *notify_[rs].down);
        }
    }
    update_quorum(out);
    return out;
}

Actions ServiceModel::set_weight(size_t rs, unsigned weight) {
    Actions out;
    auto& s = servers_.at(rs);
    if (s.weight == weight) return out;
    log(out, fmt::format("Changing weight from {} to {} for {} service {} of VS {}", s.weight, weight,
                         s.alive ? "active" : "inactive", rs_label(rs), vs_label_));
    s.weight = weight;
    update_quorum(out);
    return out;
}

void ServiceModel::update_quorum(Actions& out) {
    const uint64_t w = live_weight();
    const bool next = next_quorum_state(quorum_up_, w, quorum_, hysteresis_);
    if (next == quorum_up_) return;
    quorum_up_ = next;
    if (next) {
        log(out, fmt::format("Gained quorum {}+{}={} <= {} for VS {}", quorum_, hysteresis_,
                             static_cast<int64_t>(quorum_) + hysteresis_, w, vs_label_));
        if (has_sorry_) {
            log(out, fmt::format("Removing sorry server {} from VS {}", sorry_label_, vs_label_));
            log(out, fmt::format("Adding alive servers to the pool for VS {}", vs_label_));
        }
        if (quorum_up_cmd_) {
            log(out, fmt::format("Executing [{}] for VS {}", *quorum_up_cmd_, vs_label_));
            notify(out, *quorum_up_cmd_);
        }
    } else {
        log(out, fmt::format("Lost quorum {}-{}={} > {} for VS {}", quorum_, hysteresis_,
                             static_cast<int64_t>(quorum_) - static_cast<int64_t>(hysteresis_), w,
                             vs_label_));
        if (quorum_down_cmd_) {
            log(out, fmt::format("Executing [{}] for VS {}", *quorum_down_cmd_, vs_label_));
            notify(out, *quorum_down_cmd_);
        }
        if (has_sorry_) {
            log(out, fmt::format("Adding sorry server {} to VS {}", sorry_label_, vs_label_));
            log(out, fmt::format("Removing alive servers from the pool for VS {}", vs_label_));
        }
    }
}

} // namespace haplane::control::check
