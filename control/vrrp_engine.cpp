#include "control/vrrp_engine.hpp"

#include "control/kernel_mirror.hpp"
#include "dataplane/classify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace haplane::control {

using namespace std::chrono_literals;
using vrrp::Drop;
using vrrp::State;

namespace {

constexpr size_t DROP_KINDS = static_cast<size_t>(Drop::count_);
// A flood of bad adverts must not flood the log: one line per reason and
// instance per interval, the count says the rest.
constexpr auto DROP_LOG_INTERVAL = 10s;

} // namespace

struct VrrpEngine::Instance : vrrp::Machine::Hooks {
    VrrpEngine& engine;
    config::VrrpInstance cfg;   // a copy: a reload replaces the daemon's config
    size_t index;
    size_t port;
    std::optional<std::string> mirror_if;
    wire::Mac src_mac{};
    IpAddress primary;
    vrrp::Machine machine;
    std::optional<EventLoop::TimerId> timer;
    std::optional<EventLoop::TimerId> garp_delay_timer;
    std::optional<EventLoop::TimerId> garp_refresh_timer;

    uint64_t adverts_sent = 0, adverts_received = 0, garps_sent = 0, address_mismatch = 0;
    std::array<uint64_t, DROP_KINDS> drops{};
    std::array<EventLoop::Clock::time_point, DROP_KINDS> last_drop_log{};

    Instance(VrrpEngine& e, config::VrrpInstance c, size_t i, size_t p, vrrp::MachineConfig mc)
        : engine(e), cfg(std::move(c)), index(i), port(p), machine(std::move(mc), *this) {}

    void send_advert(uint8_t priority) override { engine.send_advert(*this, priority); }
    void state_changed(State from, State to) override { engine.state_changed(*this, from, to); }
    void log(const std::string& line) override { engine.log_.info("{}", line); }
    bool may_become_master() override { return !engine.gate_ || engine.gate_(index); }
};

// Per port: the receive checks' view of its instances, peers' MACs learnt
// from their adverts (for unicast), and port-level drops.
struct VrrpEngine::PortState {
    std::vector<vrrp::InstanceView> views;
    std::vector<Instance*> view_owner;                 // parallel to views
    std::map<IpAddress, wire::Mac> peer_macs;
    std::array<uint64_t, DROP_KINDS> drops{};
    std::array<EventLoop::Clock::time_point, DROP_KINDS> last_drop_log{};
};

VrrpEngine::VrrpEngine(const config::Config& config, EventLoop& loop, Log& log, VrrpPorts& ports,
                       KernelMirror* mirror)
    : loop_(loop), log_(log), ports_(ports), mirror_(mirror) {
    for (const auto& p : config.ports) {
        port_names_.push_back(p.name);
        port_mirrors_.push_back(p.kernel_mirror);
        port_states_.push_back(std::make_unique<PortState>());
    }
    for (size_t i = 0; i < config.vrrp_instances.size(); ++i)
        instances_.push_back(make_instance(config, i));
    rebuild_views();
}

std::unique_ptr<VrrpEngine::Instance> VrrpEngine::make_instance(const config::Config& config, size_t i) {
    const auto& cfg = config.vrrp_instances[i];
    size_t port = 0;
    while (port < config.ports.size() && config.ports[port].name != cfg.port) ++port;
    if (port == config.ports.size()) throw std::runtime_error("(" + cfg.name + ") unknown port " + cfg.port);
    const auto& port_cfg = config.ports[port];
    const Family family = cfg.family();

    vrrp::MachineConfig mc;
    mc.name = cfg.name;
    mc.version = cfg.version;
    mc.priority = cfg.priority;
    mc.advert_interval = cfg.advert_interval;
    mc.preempt = cfg.preempt;
    mc.preempt_delay = cfg.preempt_delay;
    mc.wants_master = cfg.state == config::VrrpState::MASTER;
    if (family == Family::v4) {
        auto own = std::find_if(port_cfg.addresses.begin(), port_cfg.addresses.end(),
                                [](const IpPrefix& a) { return a.address.is_v4(); });
        if (own == port_cfg.addresses.end())
            throw std::runtime_error("(" + cfg.name + ") port " + cfg.port + " has no IPv4 address to send adverts from");
        mc.primary_ip = own->address;
    } else {
        mc.primary_ip.family = Family::v6;
        mc.primary_ip.bytes = dataplane::link_local_from_mac(ports_.mac(port));   // RFC 5798 §5.1.2.1
    }

    auto in = std::make_unique<Instance>(*this, cfg, i, port, mc);
    in->primary = mc.primary_ip;
    in->mirror_if = port_cfg.kernel_mirror;
    in->src_mac = cfg.use_vmac ? vrrp::virtual_mac(cfg.vrid, family) : ports_.mac(port);
    return in;
}

// The receive checks' view of each port's instances, from the instances.
void VrrpEngine::rebuild_views() {
    for (auto& ps : port_states_) {
        ps->views.clear();
        ps->view_owner.clear();
    }
    for (auto& in : instances_) {
        const auto& cfg = in->cfg;
        vrrp::InstanceView view;
        view.vrid = cfg.vrid;
        view.family = cfg.family();
        view.version = cfg.version;
        view.interval_cs = static_cast<uint16_t>(cfg.advert_interval / 10ms);
        if (cfg.authentication.type == config::Authentication::Type::PASS) {
            view.auth_type = vrrp::AUTH_PASS;
            view.auth_data = vrrp::auth_data_from(cfg.authentication.password);
        }
        for (const auto& v : cfg.virtual_ipaddresses) view.vips.push_back(v.address);
        view.unicast_peers = cfg.unicast_peers;
        port_states_[in->port]->views.push_back(std::move(view));
        port_states_[in->port]->view_owner.push_back(in.get());
    }
}

// What the election depends on. Tracking, notify and GARP settings may
// change under a running instance without a new election.
static bool same_router(const config::VrrpInstance& a, const config::VrrpInstance& b) {
    return a.name == b.name && a.port == b.port && a.vrid == b.vrid && a.priority == b.priority &&
           a.state == b.state && a.version == b.version && a.advert_interval == b.advert_interval &&
           a.preempt == b.preempt && a.preempt_delay == b.preempt_delay && a.authentication == b.authentication &&
           a.unicast_peers == b.unicast_peers && a.use_vmac == b.use_vmac &&
           a.virtual_ipaddresses == b.virtual_ipaddresses && a.virtual_routes == b.virtual_routes;
}

void VrrpEngine::reconfigure(const config::Config& next) {
    // 1. Which running instance carries on as which new one.
    std::vector<std::optional<size_t>> match(next.vrrp_instances.size());
    std::vector<bool> taken(instances_.size(), false);
    for (size_t i = 0; i < next.vrrp_instances.size(); ++i)
        for (size_t o = 0; o < instances_.size(); ++o)
            if (!taken[o] && same_router(instances_[o]->cfg, next.vrrp_instances[i])) {
                match[i] = o;
                taken[o] = true;
                break;
            }
    // 2. The new ones, built before anything changes (this may throw).
    std::vector<std::unique_ptr<Instance>> next_instances(next.vrrp_instances.size());
    for (size_t i = 0; i < next.vrrp_instances.size(); ++i)
        if (!match[i]) next_instances[i] = make_instance(next, i);
    // 3. What is gone or changed resigns (priority 0 if MASTER) and gives its VIPs back.
    for (size_t o = 0; o < instances_.size(); ++o) {
        if (taken[o]) continue;
        Instance& old = *instances_[o];
        log_.info("({}) Removed or changed by the reload", old.cfg.name);
        old.machine.shutdown(EventLoop::Clock::now());
        if (old.timer) loop_.cancel(*old.timer);
        old.timer.reset();
    }
    // 4. The rest carries on with its new settings (tracking, notify, GARP).
    for (size_t i = 0; i < next_instances.size(); ++i) {
        if (!match[i]) continue;
        next_instances[i] = std::move(instances_[*match[i]]);
        next_instances[i]->cfg = next.vrrp_instances[i];
        next_instances[i]->index = i;
    }
    instances_ = std::move(next_instances);
    rebuild_views();
    if (running_)
        for (size_t i = 0; i < instances_.size(); ++i)
            if (!match[i]) start_instance(*instances_[i]);
}

VrrpEngine::~VrrpEngine() {
    stop();
}

void VrrpEngine::start() {
    if (running_) return;
    running_ = true;
    for (auto& in : instances_) start_instance(*in);
}

void VrrpEngine::start_instance(Instance& in) {
    if (in.cfg.use_vmac) ports_.listen_on_mac(in.port, in.src_mac);
    log_.info("({}) Initialising on port {}: VRID {}, priority {}, VRRPv{}, advert every {}ms", in.cfg.name,
              in.cfg.port, in.cfg.vrid, in.cfg.priority, in.cfg.version, in.cfg.advert_interval / 1ms);
    in.machine.start(EventLoop::Clock::now());
    reschedule(in);
}

void VrrpEngine::stop() {
    if (!running_) return;
    for (auto& in : instances_) {
        in->machine.shutdown(EventLoop::Clock::now());
        if (in->timer) loop_.cancel(*in->timer);
        in->timer.reset();
    }
    running_ = false;
}

void VrrpEngine::reschedule(Instance& in) {
    if (in.timer) loop_.cancel(*in.timer);
    in.timer.reset();
    auto deadline = in.machine.next_deadline();
    if (!deadline) return;
    in.timer = loop_.at(*deadline, [this, &in] {
        in.timer.reset();
        in.machine.on_timer(EventLoop::Clock::now());
        reschedule(in);
    });
}

void VrrpEngine::send_advert(Instance& in, uint8_t priority) {
    const Family family = in.cfg.family();
    vrrp::Advert advert;
    advert.version = in.cfg.version;
    advert.vrid = in.cfg.vrid;
    advert.priority = priority;
    advert.interval_cs = static_cast<uint16_t>(in.cfg.advert_interval / 10ms);
    advert.family = family;
    if (in.cfg.authentication.type == config::Authentication::Type::PASS) {
        advert.auth_type = vrrp::AUTH_PASS;
        advert.auth_data = vrrp::auth_data_from(in.cfg.authentication.password);
    }
    for (const auto& v : in.cfg.virtual_ipaddresses) {
        if (advert.addresses.size() == vrrp::max_addresses(family)) break;
        advert.addresses.push_back(v.address);
    }

    vrrp::AdvertFrame frame;
    frame.src_mac = in.src_mac;
    frame.src_ip = in.primary;
    std::array<uint8_t, 1600> buf;
    auto emit = [&](const IpAddress& dst_ip, const wire::Mac& dst_mac) {
        frame.dst_ip = dst_ip;
        frame.dst_mac = dst_mac;
        size_t len = vrrp::build_advert(buf.data(), frame, advert);
        if (ports_.send(in.port, buf.data(), len)) ++in.adverts_sent;
        else log_.warning("({}) advert dropped: the port's send queue is full", in.cfg.name);
    };
    if (in.cfg.unicast_peers.empty()) {
        emit(vrrp::multicast_group(family), vrrp::multicast_mac(family));
    } else {
        // A peer's MAC is learnt from its own adverts; until then, broadcast.
        const auto& macs = port_states_[in.port]->peer_macs;
        for (const auto& peer : in.cfg.unicast_peers) {
            auto it = macs.find(peer);
            emit(peer, it != macs.end() ? it->second : wire::Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
        }
    }
    log_.detail("({}) Sent advert, priority {}", in.cfg.name, priority);
}

void VrrpEngine::send_garp_burst(Instance& in, unsigned count) {
    std::array<uint8_t, 128> buf;
    for (const auto& vip : in.cfg.virtual_ipaddresses) {
        for (unsigned n = 0; n < count; ++n) {
            size_t len = vip.address.is_v4()
                ? wire::build_garp(buf.data(), in.src_mac, vip.address.v4_net())
                : wire::build_unsolicited_na(buf.data(), in.src_mac, vip.address.bytes.data());
            if (ports_.send(in.port, buf.data(), len)) ++in.garps_sent;
        }
    }
    const char* what = in.cfg.family() == Family::v4 ? "gratuitous ARPs" : "unsolicited neighbour advertisements";
    for (const auto& vip : in.cfg.virtual_ipaddresses)
        log_.info("({}) Sending/queueing {} on {} for {}", in.cfg.name, what, in.cfg.port, vip.address.str());
}

void VrrpEngine::schedule_garp_refresh(Instance& in) {
    in.garp_refresh_timer = loop_.after(in.cfg.garp.master_refresh, [this, &in] {
        send_garp_burst(in, in.cfg.garp.master_refresh_repeat);
        schedule_garp_refresh(in);
    });
}

// The host stack sees the VIPs while MASTER; a netlink failure is logged,
// never allowed to stall the election.
void VrrpEngine::mirror_vips(Instance& in, bool add) {
    if (!mirror_) return;
    if (in.mirror_if) {
        for (const auto& v : in.cfg.virtual_ipaddresses) {
            try {
                if (add) mirror_->add(*in.mirror_if, v);
                else mirror_->remove(*in.mirror_if, v);
            } catch (const std::exception& e) {
                log_.error("({}) {}", in.cfg.name, e.what());
            }
        }
    }
    // virtual_routes: out of the named port's mirror, else the instance's;
    // after the VIPs (a gateway may only be reachable through one of them).
    for (const auto& r : in.cfg.virtual_routes) {
        const std::string& port = r.port ? *r.port : in.cfg.port;
        std::optional<std::string> ifname;
        for (size_t p = 0; p < port_names_.size(); ++p)
            if (port_names_[p] == port) ifname = port_mirrors_[p];
        if (!ifname) {
            log_.warning("({}) route {}: port {} has no kernel mirror", in.cfg.name, r.destination.str(), port);
            continue;
        }
        try {
            if (add) mirror_->add_route(*ifname, r.destination, r.gateway);
            else mirror_->remove_route(*ifname, r.destination, r.gateway);
        } catch (const std::exception& e) {
            log_.error("({}) {}", in.cfg.name, e.what());
        }
    }
}

void VrrpEngine::publish_vips(size_t port) {
    std::vector<VrrpPorts::VipBinding> vips;
    for (const auto& in : instances_) {
        if (in->port != port || in->machine.state() != State::MASTER) continue;
        for (const auto& v : in->cfg.virtual_ipaddresses) vips.push_back({v.address, in->src_mac});
    }
    ports_.set_vips(port, vips);
}

void VrrpEngine::state_changed(Instance& in, State from, State to) {
    apply_state(in, from, to);
    // The timer may have to move (a forced transition happens outside it);
    // the observer may steer other instances (sync groups).
    reschedule(in);
    if (observer_) observer_(in.index, from, to);
}

void VrrpEngine::apply_state(Instance& in, State from, State to) {
    auto cancel = [this](std::optional<EventLoop::TimerId>& t) {
        if (t) loop_.cancel(*t);
        t.reset();
    };
    if (to == State::MASTER) {
        // Answer for the VIPs first, then tell the segment (RFC 5798 §6.4.1).
        publish_vips(in.port);
        mirror_vips(in, true);
        log_.info("({}) setting VIPs.", in.cfg.name);
        send_garp_burst(in, in.cfg.garp.master_repeat);
        if (in.cfg.garp.master_delay > config::Duration::zero())
            in.garp_delay_timer = loop_.after(in.cfg.garp.master_delay, [this, &in] {
                in.garp_delay_timer.reset();
                send_garp_burst(in, in.cfg.garp.master_repeat);
            });
        if (in.cfg.garp.master_refresh > config::Duration::zero()) schedule_garp_refresh(in);
        if (!in.cfg.virtual_routes.empty() && routes_observer_) routes_observer_();
        return;
    }
    if (from == State::MASTER) {
        cancel(in.garp_delay_timer);
        cancel(in.garp_refresh_timer);
        publish_vips(in.port);
        mirror_vips(in, false);
        log_.info("({}) removing VIPs.", in.cfg.name);
        if (!in.cfg.virtual_routes.empty() && routes_observer_) routes_observer_();
    }
}

std::vector<config::VirtualRoute> VrrpEngine::active_routes() const {
    std::vector<config::VirtualRoute> out;
    for (const auto& in : instances_) {
        if (in->machine.state() != State::MASTER) continue;
        for (auto r : in->cfg.virtual_routes) {
            if (!r.port) r.port = in->cfg.port;
            out.push_back(std::move(r));
        }
    }
    return out;
}

void VrrpEngine::log_drop(Instance* in, size_t port, Drop drop, const vrrp::Received& r, uint8_t ttl) {
    auto now = EventLoop::Clock::now();
    auto& last = (in ? in->last_drop_log : port_states_[port]->last_drop_log)[static_cast<size_t>(drop)];
    if (last != EventLoop::Clock::time_point{} && now - last < DROP_LOG_INTERVAL) return;
    last = now;
    const auto& a = r.advert;
    std::string who = in ? "(" + in->cfg.name + ") " : "";
    switch (drop) {
    case Drop::bad_ttl: log_.warning("{}invalid TTL/HL. Received {} and expect 255", who, ttl); break;
    case Drop::too_short: log_.warning("{}Received a VRRP packet too short on {}", who, port_names_[port]); break;
    case Drop::bad_version:
        log_.warning("{}wrong version. Received {} and expect {}", who, a.version, in ? in->cfg.version : 3);
        break;
    case Drop::bad_auth_type: log_.warning("{}Received an advert with a mismatching auth type", who); break;
    case Drop::bad_password: log_.warning("{}Received an advert with an incorrect password", who); break;
    case Drop::bad_interval:
        log_.warning("{}advertisement interval mismatch mine={} sec rcv'd={} sec", who,
                     in ? in->cfg.advert_interval / 1s : 0, a.interval_cs / 100);
        break;
    case Drop::bad_type: log_.warning("{}Received a VRRP packet of an invalid type", who); break;
    case Drop::bad_checksum: log_.warning("{}Invalid VRRPv{} checksum", who, a.version); break;
    case Drop::unknown_vrid:
        log_.warning("Received advert for unknown VRID {} on port {} from {}", a.vrid, port_names_[port],
                     a.source.str());
        break;
    case Drop::not_a_peer:
        log_.warning("{}Received advert from {} that is not a unicast peer", who, a.source.str());
        break;
    case Drop::address_mismatch:
        log_.warning("{}ip address associated with VRID {} not present in MASTER advert from {}", who, a.vrid,
                     a.source.str());
        break;
    case Drop::none:
    case Drop::count_: break;
    }
}

void VrrpEngine::on_frame(size_t port, const uint8_t* frame, size_t len) {
    if (port >= port_states_.size()) return;
    PortState& ps = *port_states_[port];
    wire::Parsed parsed;
    if (wire::parse_frame(frame, len, parsed) != wire::Malformed::none) return;
    vrrp::Received r = vrrp::receive_advert(frame, len, parsed, ps.views);
    Instance* in = nullptr;
    if (r.instance) in = ps.view_owner[static_cast<size_t>(r.instance - ps.views.data())];
    // Checks that run before the VRID is looked up (TTL, length, version)
    // are still the business of the instance the advert names, if any.
    if (!in && r.drop != Drop::unknown_vrid && parsed.l4_offset && parsed.l4_offset + 1u < len) {
        const Family family = parsed.ethertype == wire::ETHERTYPE_IPV6 ? Family::v6 : Family::v4;
        for (size_t v = 0; v < ps.views.size(); ++v)
            if (ps.views[v].vrid == frame[parsed.l4_offset + 1] && ps.views[v].family == family) in = ps.view_owner[v];
    }

    if (r.drop != Drop::none) {
        if (in) ++in->drops[static_cast<size_t>(r.drop)];
        else ++ps.drops[static_cast<size_t>(r.drop)];
        log_drop(in, port, r.drop, r, parsed.ttl);
        return;
    }
    if (!in || !running_) return;
    // Our own advert, looped back by the segment: nothing to learn.
    if (r.advert.source == in->primary) return;

    ++in->adverts_received;
    wire::Mac src_mac;
    std::memcpy(src_mac.data(), frame + 6, 6);
    if (!in->cfg.unicast_peers.empty()) ps.peer_macs[r.advert.source] = src_mac;
    if (r.address_mismatch) {
        ++in->address_mismatch;
        log_drop(in, port, Drop::address_mismatch, r, parsed.ttl);
    }
    log_.detail("({}) Received advert from {} priority {} interval {}0ms", in->cfg.name, r.advert.source.str(),
                r.advert.priority, r.advert.interval_cs);
    in->machine.on_advert(EventLoop::Clock::now(), r.advert.source, r.advert.priority,
                          std::chrono::milliseconds(10) * r.advert.interval_cs);
    reschedule(*in);
}

nlohmann::json VrrpEngine::status() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& in : instances_) {
        nlohmann::json vips = nlohmann::json::array();
        for (const auto& v : in->cfg.virtual_ipaddresses) vips.push_back(v.str());
        nlohmann::json drops = nlohmann::json::object();
        for (size_t d = 1; d < DROP_KINDS; ++d)
            if (static_cast<Drop>(d) != Drop::address_mismatch)
                drops[vrrp::to_string(static_cast<Drop>(d))] = in->drops[d];
        auto master = in->machine.master_ip();
        list.push_back({{"name", in->cfg.name},
                        {"state", vrrp::to_string(in->machine.state())},
                        {"vrid", in->cfg.vrid},
                        {"priority", in->cfg.priority},
                        {"effective_priority", in->machine.effective_priority()},
                        {"port", in->cfg.port},
                        {"master_ip", master ? nlohmann::json(master->str()) : nlohmann::json(nullptr)},
                        {"vips", vips},
                        {"transitions", in->machine.transitions()},
                        {"version", in->cfg.version},
                        {"advert_interval_ms", in->cfg.advert_interval / 1ms},
                        {"master_adver_interval_ms", in->machine.master_adver_interval() / 1ms},
                        {"mac", dataplane::mac_to_string(in->src_mac)},
                        {"became_master", in->machine.became_master()},
                        {"adverts_sent", in->adverts_sent},
                        {"adverts_received", in->adverts_received},
                        {"garps_sent", in->garps_sent},
                        {"address_mismatch", in->address_mismatch},
                        {"drops", drops}});
        if (status_extra_) status_extra_(in->index, list.back());
    }
    return list;
}

size_t VrrpEngine::instance_count() const { return instances_.size(); }

void VrrpEngine::set_effective_priority(size_t instance, uint8_t priority) {
    Instance& in = *instances_.at(instance);
    in.machine.set_effective_priority(EventLoop::Clock::now(), priority);
    reschedule(in);
}

void VrrpEngine::set_fault(size_t instance, bool fault) {
    Instance& in = *instances_.at(instance);
    in.machine.set_fault(EventLoop::Clock::now(), fault);
    reschedule(in);
}

void VrrpEngine::force_master(size_t instance) {
    Instance& in = *instances_.at(instance);
    in.machine.force_master(EventLoop::Clock::now());
    reschedule(in);
}

void VrrpEngine::force_backup(size_t instance) {
    Instance& in = *instances_.at(instance);
    in.machine.force_backup(EventLoop::Clock::now());
    reschedule(in);
}

void VrrpEngine::clear_counters() {
    for (auto& in : instances_) {
        in->adverts_sent = in->adverts_received = in->garps_sent = in->address_mismatch = 0;
        in->drops = {};
    }
}

bool VrrpEngine::has_live_master(size_t instance) const {
    return instances_.at(instance)->machine.has_live_master(EventLoop::Clock::now());
}

State VrrpEngine::state(size_t instance) const { return instances_.at(instance)->machine.state(); }

uint8_t VrrpEngine::effective_priority(size_t instance) const {
    return instances_.at(instance)->machine.effective_priority();
}

} // namespace haplane::control
