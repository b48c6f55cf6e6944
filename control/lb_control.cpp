#include "control/lb_control.hpp"

#include "dataplane/classify.hpp"
#include "lb/neighbour.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

namespace haplane::control {

using nlohmann::json;

namespace {

std::string mac_text(const wire::Mac& m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

// The address to ask from: one of the port's own in the target's prefix,
// else any of its family; IPv6 falls back to the port's link-local.
std::optional<IpAddress> probe_source(const lb::PortView& port, const IpAddress& target) {
    std::optional<IpAddress> any;
    for (const auto& p : port.addresses) {
        if (p.address.family != target.family) continue;
        if (p.contains(target)) return p.address;
        if (!any) any = p.address;
    }
    if (any) return any;
    if (!target.is_v4()) {
        IpAddress ll;
        ll.family = Family::v6;
        ll.bytes = dataplane::link_local_from_mac(port.mac);
        return ll;
    }
    return std::nullopt;
}

} // namespace

LbControl::LbControl(const config::Config& config, EventLoop& loop, Log& log, LbPorts& dataplane,
                     std::vector<lb::PortView> ports, unsigned workers)
    : config_(&config), loop_(loop), log_(log), dataplane_(dataplane), ports_(std::move(ports)),
      worker_count_(workers) {
    if (config.virtual_servers.empty()) return;
    // Room for the real servers later reloads add (their counters are
    // written by the workers, so the arrays never move).
    size_t servers = 0;
    for (const auto& vs : config.virtual_servers) servers += vs.real_servers.size() + (vs.sorry_server ? 1 : 0);
    stats_capacity_ = std::max<size_t>(1024, 4 * servers);
    if (auto error = rebuild({}, {}, config)) throw std::runtime_error("virtual servers: " + *error);

    lb::LbWorker::Options options;
    options.connections = config.global.connections_per_lcore;
    options.timeouts = config.global.timeouts;
    // Persistence templates: plenty when a service uses them, some for a
    // reload that turns persistence on.
    const bool persistent = std::any_of(config.virtual_servers.begin(), config.virtual_servers.end(),
                                        [](const auto& vs) { return vs.persistence_timeout.count() > 0; });
    options.persistence = std::max<uint32_t>(1024, options.connections / (persistent ? 4 : 16));
    // A secret seed: clients cannot aim many flows at one probe chain.
    std::random_device rd;
    options.seed = (uint64_t{rd()} << 32) ^ rd();
    for (unsigned w = 0; w < workers; ++w) {
        stats_.push_back(std::make_unique<lb::WorkerStats>(stats_capacity_));
        workers_.push_back(std::make_unique<lb::LbWorker>(w, &table_, stats_.back().get(), options));
    }
    // nat/fnat flows, their replies and ICMP errors find their worker
    // (lb/steer.hpp); a dr/tun flow's worker is wherever RSS put it, which
    // an ICMP error from the client side cannot name.
    if (workers > 1)
        for (const auto& vs : config.virtual_servers)
            if (vs.method == config::Method::dr || vs.method == config::Method::tun)
                log_.warning("virtual server {}: with {} workers, ICMP errors from the client side about {} flows "
                             "(fragmentation needed) reach the real server only when RSS gives them to the flow's "
                             "worker", vs.name, workers, config::to_string(vs.method));
    log_.info("Load balancer: {} virtual server(s), {} real server(s), {} connections per worker",
              owner_->services().size(), servers, options.connections);
}

namespace {

uint16_t effective_port(const config::VirtualServer& vs, uint16_t port) { return port ? port : vs.port; }

// Same service for the connections it holds: what their entries and keys depend on.
bool same_service(const config::VirtualServer& a, const config::VirtualServer& b) {
    return a.vip == b.vip && a.port == b.port && a.protocol == b.protocol && a.method == b.method &&
           (a.method != config::Method::fnat || a.local_addresses == b.local_addresses);
}

} // namespace

unsigned LbControl::effective_weight(const VsSlot& v, const RsSlot& r) {
    if (r.vacant || r.removed || v.removed || v.vacant) return 0;
    if (r.sorry) return v.sorry_active ? 1 : 0;
    if (v.sorry_active) return 0;
    return r.healthy ? r.weight : 0;
}

// Lines `slots` (the current ones, or none at start) up with `next`: kept
// services and servers keep their indices, the rest drain; then builds,
// publishes and takes over. Nothing changes on error.
std::optional<std::string> LbControl::rebuild(std::vector<VsSlot> slots, std::vector<uint32_t> free_stats,
                                              const config::Config& next) {
    // Drained: removed servers and services no flow names any more.
    for (auto& v : slots) {
        bool all_vacant = true;
        for (auto& r : v.reals) {
            if ((r.removed || v.removed) && !r.vacant && connections_of(r.stats_index) == 0) {
                r.vacant = true;
                free_stats.push_back(r.stats_index);
            }
            all_vacant = all_vacant && r.vacant;
        }
        if (v.removed && all_vacant) v.vacant = true;
    }
    uint32_t next_stats = 0;
    for (const auto& v : slots)
        for (const auto& r : v.reals) next_stats = std::max(next_stats, r.stats_index + 1);
    std::vector<uint32_t> reused;   // stats slots handed to newcomers: their counters restart
    auto alloc_stats = [&]() -> std::optional<uint32_t> {
        if (!free_stats.empty()) {
            const uint32_t i = free_stats.back();
            free_stats.pop_back();
            reused.push_back(i);
            return i;
        }
        if (next_stats >= stats_capacity_) return std::nullopt;
        return next_stats++;
    };
    // A real server for slot `v`: a drained place if there is one. Its index, or nullopt when full.
    auto place = [&](VsSlot& v, RsSlot r) -> std::optional<size_t> {
        const auto stats = alloc_stats();
        if (!stats) return std::nullopt;
        r.stats_index = *stats;
        for (size_t i = 0; i < v.reals.size(); ++i)
            if (v.reals[i].vacant) {
                v.reals[i] = r;
                return i;
            }
        v.reals.push_back(r);
        return v.reals.size() - 1;
    };
    const bool initial = config_ == &next;
    std::vector<std::string> notes;   // logged once the change is in
    const std::string too_many = "more real servers than the " + std::to_string(stats_capacity_) +
                                 " this run has room for (4 x those at start); restart haplane";

    std::vector<bool> claimed(slots.size(), false);
    std::vector<size_t> by_config;
    for (const auto& vs : next.virtual_servers) {
        size_t j = slots.size();
        for (size_t k = 0; k < slots.size(); ++k)
            if (!claimed[k] && !slots[k].vacant && same_service(slots[k].vs, vs)) {
                j = k;
                break;
            }
        if (j == slots.size()) {
            for (size_t k = 0; k < slots.size(); ++k)
                if (!claimed[k] && slots[k].vacant) {
                    j = k;
                    break;
                }
            if (j == slots.size()) {
                slots.emplace_back();
                claimed.push_back(false);
            }
            if (slots[j].vacant) {   // a drained place: its servers are all vacant, for the newcomer's
                VsSlot fresh;
                fresh.reals = std::move(slots[j].reals);
                slots[j] = std::move(fresh);
            }
            if (!initial) notes.push_back(fmt::format("Load balancer: virtual server {} added", vs.name));
        }
        claimed[j] = true;
        VsSlot& v = slots[j];
        const config::VirtualServer before = v.vs;
        if (v.removed) notes.push_back(fmt::format("Load balancer: virtual server {} is back", vs.name));
        v.removed = false;
        v.vacant = false;
        v.vs = vs;
        // Its servers: those that stay keep their place and health.
        std::vector<bool> kept(v.reals.size(), false);
        v.by_config.clear();
        for (const auto& rs : vs.real_servers) {
            const uint16_t port = effective_port(vs, rs.port);
            size_t k = v.reals.size();
            for (size_t i = 0; i < v.reals.size(); ++i)
                if (!kept[i] && !v.reals[i].vacant && !v.reals[i].sorry && v.reals[i].address == rs.address &&
                    v.reals[i].port == port) {
                    k = i;
                    break;
                }
            if (k < v.reals.size()) {
                RsSlot& r = v.reals[k];
                const config::RealServer* old_rs = nullptr;
                for (const auto& o : before.real_servers)
                    if (o.address == rs.address && effective_port(before, o.port) == port) old_rs = &o;
                // A changed weight in the file wins over what a check had set.
                if (!old_rs || old_rs->weight != rs.weight || r.removed) r.weight = rs.weight;
                r.removed = false;
                r.inhibit_on_failure = rs.inhibit_on_failure;
            } else {
                RsSlot r{.address = rs.address, .port = port, .weight = rs.weight,
                         .healthy = !(vs.alpha && rs.check), .inhibit_on_failure = rs.inhibit_on_failure};
                const auto at = place(v, r);
                if (!at) return too_many;
                k = *at;
                kept.resize(v.reals.size(), false);
                if (!initial && !before.real_servers.empty())
                    notes.push_back(fmt::format("Load balancer: real server {} joined virtual server {}", rs.address.str(), vs.name));
            }
            kept[k] = true;
            v.by_config.push_back(k);
        }
        // The sorry server: one more server, weight 0 until the quorum is lost.
        if (vs.sorry_server) {
            const uint16_t port = effective_port(vs, vs.sorry_server->port);
            size_t k = v.reals.size();
            for (size_t i = 0; i < v.reals.size(); ++i)
                if (!kept[i] && !v.reals[i].vacant && v.reals[i].sorry && v.reals[i].address == vs.sorry_server->address &&
                    v.reals[i].port == port)
                    k = i;
            if (k < v.reals.size()) {
                v.reals[k].removed = false;
            } else {
                RsSlot r{.address = vs.sorry_server->address, .port = port, .weight = 1, .sorry = true};
                const auto at = place(v, r);
                if (!at) return too_many;
                k = *at;
                kept.resize(v.reals.size(), false);
            }
            kept[k] = true;
        } else {
            v.sorry_active = false;
        }
        for (size_t i = 0; i < v.reals.size(); ++i)
            if (!kept[i] && !v.reals[i].vacant && !v.reals[i].removed) {
                v.reals[i].removed = true;
                if (!initial)
                    notes.push_back(fmt::format("Load balancer: real server {} left virtual server {}; its connections drain",
                              v.reals[i].address.str(), vs.name));
            }
        by_config.push_back(j);
    }
    for (size_t k = 0; k < slots.size(); ++k)
        if (!claimed[k] && !slots[k].removed && !slots[k].vacant) {
            slots[k].removed = true;
            notes.push_back(fmt::format("Load balancer: virtual server {} removed; its connections drain", slots[k].vs.name));
        }
    if (slots.size() > 65535) return "more than 65535 virtual services, counting those still draining";

    std::vector<std::string> warnings;
    std::unique_ptr<lb::ServiceTable> table;
    try {
        table = build(slots, next, &warnings);
    } catch (const std::exception& e) {
        return std::string(e.what());
    }
    for (const auto& w : warnings) log_.warning("{}", w);

    if (baseline_.size() < stats_capacity_) baseline_.resize(stats_capacity_);
    for (uint32_t i : reused) {
        lb::RealServerStats now;
        for (const auto& w : stats_) now.add(w->real_servers[i]);
        now.active = now.inactive = 0;   // gauges are never offset
        baseline_[i] = now;
    }

    slots_ = std::move(slots);
    by_config_ = std::move(by_config);
    free_stats_ = std::move(free_stats);
    config_ = &next;
    adopt(std::move(table));
    for (const auto& n : notes) log_.info("{}", n);
    return std::nullopt;
}

// Publishes `table` with RCU: learnt MACs carry over (by port and address),
// new next hops are probed at once once running.
void LbControl::adopt(std::unique_ptr<lb::ServiceTable> table) {
    std::vector<Neighbour> neighbours;
    for (size_t i = 0; i < table->neighbours().size(); ++i) {
        const auto& slot = table->neighbours()[i];
        Neighbour n{slot.port, slot.address, {}, {}};
        for (const auto& old : neighbours_)
            if (old.port == n.port && old.address == n.address) n = old;
        if (n.mac) table->set_neighbour_mac(static_cast<uint32_t>(i), *n.mac);
        neighbours.push_back(n);
    }
    neighbours_ = std::move(neighbours);
    table->set_generation(++generation_);
    table_.store(table.get(), std::memory_order_release);
    if (owner_) dataplane_.synchronize();   // no worker still reads the old table
    owner_ = std::move(table);
    if (timer_)
        for (auto& n : neighbours_)
            if (!n.mac && n.last_probe == EventLoop::Clock::time_point{}) probe(n);
}

std::unique_ptr<lb::ServiceTable> LbControl::build(const std::vector<VsSlot>& slots, const config::Config& cfg,
                                                   std::vector<std::string>* warnings) const {
    config::Config effective;
    effective.global = cfg.global;
    effective.ports = cfg.ports;
    effective.vrrp_instances = cfg.vrrp_instances;
    lb::TableLayout layout;
    layout.stats_slots = stats_capacity_;
    const bool expire = cfg.global.expire_nodest_conn;
    layout.routes = routes_;
    for (const auto& v : slots) {
        config::VirtualServer vs = v.vs;
        vs.real_servers.clear();
        std::vector<uint32_t> stats;
        std::vector<bool> ends;
        if (v.vacant) vs.local_addresses.clear();
        else
            for (const auto& r : v.reals) {
                config::RealServer rs;
                rs.address = r.address;
                rs.port = r.port;
                rs.weight = effective_weight(v, r);
                vs.real_servers.push_back(rs);
                stats.push_back(r.stats_index);
                const bool dead = !r.healthy && !r.inhibit_on_failure && !r.sorry;
                ends.push_back(expire && !r.vacant && (r.removed || v.removed || dead));
            }
        effective.virtual_servers.push_back(std::move(vs));
        layout.draining.push_back(v.removed || v.vacant);
        layout.stats_index.push_back(std::move(stats));
        layout.expire_flows.push_back(std::move(ends));
    }
    return lb::ServiceTable::build(effective, ports_, worker_count_, warnings, &layout);
}

std::optional<std::string> LbControl::reconfigure(const config::Config& next) {
    if (!enabled()) {
        if (!next.virtual_servers.empty())
            return "virtual_servers: the load balancer starts with the first virtual servers; "
                   "adding them to a running haplane needs a restart";
        config_ = &next;
        return std::nullopt;
    }
    if (next.global.connections_per_lcore != config_->global.connections_per_lcore)
        return "global.connections_per_lcore: the connection tables are sized at start; changing it needs a restart";
    if (auto error = rebuild(slots_, free_stats_, next)) return "virtual servers: " + *error;
    publish_local_addresses();
    const auto now = EventLoop::Clock::now();
    for (auto& n : neighbours_)
        if (!n.mac && now - n.last_probe >= kProbeRetry) probe(n);
    return std::nullopt;
}

uint64_t LbControl::connections_of(uint32_t stats_index) const {
    uint64_t n = 0;
    for (const auto& w : stats_)
        if (stats_index < w->real_servers.size())
            n += w->real_servers[stats_index].active.get() + w->real_servers[stats_index].inactive.get();
    return n;
}

LbControl::~LbControl() { stop(); }

std::vector<dataplane::Forwarder*> LbControl::forwarders() {
    std::vector<dataplane::Forwarder*> out;
    for (auto& w : workers_) out.push_back(w.get());
    return out;
}

void LbControl::start() {
    if (!enabled()) return;
    publish_local_addresses();
    for (auto& n : neighbours_) probe(n);
    timer_ = loop_.after(kProbeRetry, [this] { tick(); });
}

// fnat local addresses (of services still holding flows too): the port
// whose prefix holds them answers ARP/ND for them.
void LbControl::publish_local_addresses() {
    std::vector<std::vector<IpAddress>> per_port(ports_.size());
    for (const auto& s : owner_->services()) {
        for (const auto& a : s.local_addresses) {
            uint16_t p = lb::ServiceTable::port_for(ports_, a);
            if (p == lb::kNoPort) {
                p = s.real_servers.empty() ? s.vip_port : s.real_servers.front().egress_port;
                log_.warning("virtual server {}: local address {} is in no port's prefix; answering for it on {}",
                             s.name, a.str(), ports_[p].name);
            }
            if (std::find(per_port[p].begin(), per_port[p].end(), a) == per_port[p].end()) per_port[p].push_back(a);
        }
    }
    local_addresses_.resize(ports_.size());
    for (size_t p = 0; p < per_port.size(); ++p)
        if (per_port[p] != local_addresses_[p]) {
            dataplane_.set_lb_addresses(p, per_port[p]);
            local_addresses_[p] = per_port[p];
        }
}

void LbControl::stop() {
    if (timer_) loop_.cancel(*timer_);
    timer_.reset();
}

void LbControl::probe(Neighbour& n) {
    n.last_probe = EventLoop::Clock::now();
    if (n.port >= ports_.size()) return;
    const lb::PortView& port = ports_[n.port];
    uint8_t frame[lb::kNeighborSolicitLen];
    size_t len = 0;
    const auto src = probe_source(port, n.address);
    if (n.address.is_v4()) {
        len = lb::build_arp_request(frame, port.mac, src ? src->v4_net() : 0, n.address.v4_net());
    } else {
        len = lb::build_neighbor_solicit(frame, port.mac, src->bytes.data(), n.address.bytes.data());
    }
    if (!dataplane_.send(n.port, frame, len))
        log_.detail("Load balancer: could not queue a neighbour probe for {} on {}", n.address.str(), port.name);
}

void LbControl::tick() {
    const auto now = EventLoop::Clock::now();
    for (auto& n : neighbours_) {
        const auto since = now - n.last_probe;
        if ((!n.mac && since >= kProbeRetry) || since >= kProbeRefresh) probe(n);
    }
    timer_ = loop_.after(kProbeRetry, [this] { tick(); });
}

bool LbControl::on_frame(size_t port, const uint8_t* frame, size_t len) {
    if (!enabled()) return false;
    IpAddress address;
    wire::Mac mac;
    if (!lb::read_neighbour_answer(frame, len, address, mac)) return false;
    for (size_t i = 0; i < neighbours_.size(); ++i) {
        Neighbour& n = neighbours_[i];
        if (n.port != port || n.address != address) continue;
        if (n.mac && *n.mac == mac) continue;
        if (n.mac)
            log_.info("Load balancer: real server {} on {} moved from {} to {}", address.str(), ports_[port].name,
                      mac_text(*n.mac), mac_text(mac));
        else
            log_.info("Load balancer: real server {} on {} is at {}", address.str(), ports_[port].name, mac_text(mac));
        n.mac = mac;
        owner_->set_neighbour_mac(static_cast<uint32_t>(i), mac);
    }
    return true;
}

const LbControl::RsSlot* LbControl::config_rs(size_t vs, size_t rs) const {
    if (vs >= by_config_.size()) return nullptr;
    const VsSlot& v = slots_[by_config_[vs]];
    return rs < v.by_config.size() ? &v.reals[v.by_config[rs]] : nullptr;
}

bool LbControl::healthy(size_t vs, size_t rs) const {
    const RsSlot* r = config_rs(vs, rs);
    return r && r->healthy;
}

bool LbControl::sorry_server_active(size_t vs) const {
    return vs < by_config_.size() && slots_[by_config_[vs]].sorry_active;
}

void LbControl::set_real_server(size_t vs, size_t rs, unsigned weight, bool healthy) {
    if (!config_rs(vs, rs)) return;
    VsSlot& v = slots_[by_config_[vs]];
    RsSlot& r = v.reals[v.by_config[rs]];
    const bool expire = config_->global.expire_nodest_conn;
    const bool ended_before = expire && !r.healthy && !r.inhibit_on_failure;
    const unsigned before = effective_weight(v, r);
    r.weight = weight;
    r.healthy = healthy;
    if (effective_weight(v, r) == before && ended_before == (expire && !healthy && !r.inhibit_on_failure)) return;
    publish();
}

void LbControl::set_sorry_server(size_t vs, bool active) {
    if (vs >= by_config_.size()) return;
    VsSlot& v = slots_[by_config_[vs]];
    const bool has_sorry = std::any_of(v.reals.begin(), v.reals.end(),
                                       [](const RsSlot& r) { return r.sorry && !r.removed && !r.vacant; });
    if (!has_sorry || v.sorry_active == active) return;
    v.sorry_active = active;
    if (active)
        log_.warning("Load balancer: virtual server {} lost its quorum; new connections go to its sorry server",
                     v.vs.name);
    else
        log_.info("Load balancer: virtual server {} has its quorum back; new connections go to its real servers",
                  v.vs.name);
    publish();
}

// A new table from the slots as they are.
void LbControl::publish() {
    if (!enabled()) return;
    adopt(build(slots_, *config_, nullptr));
}

void LbControl::set_routes(const std::vector<config::VirtualRoute>& routes) {
    std::vector<lb::Route> next;
    for (const auto& r : routes) {
        lb::Route route{r.destination, r.gateway, lb::kNoPort};
        for (size_t p = 0; p < ports_.size(); ++p)
            if (r.port && ports_[p].name == *r.port) route.port = static_cast<uint16_t>(p);
        if (route.port == lb::kNoPort && r.gateway) route.port = lb::ServiceTable::port_for(ports_, *r.gateway);
        if (route.port == lb::kNoPort) continue;
        next.push_back(route);
    }
    if (next == routes_) return;
    routes_ = std::move(next);
    if (!enabled()) return;
    log_.info("Load balancer: {} route(s) in the dataplane's table", routes_.size());
    publish();
}

lb::RealServerStats LbControl::rs_stats(uint32_t stats_index) const {
    lb::RealServerStats s;
    for (const auto& w : stats_) s.add(w->real_servers[stats_index]);
    if (stats_index < baseline_.size()) {
        const lb::RealServerStats& b = baseline_[stats_index];
        auto since = [](uint64_t now, uint64_t then) { return now >= then ? now - then : 0; };
        s.connections = since(s.connections, b.connections);
        s.in_packets = since(s.in_packets, b.in_packets);
        s.in_bytes = since(s.in_bytes, b.in_bytes);
        s.out_packets = since(s.out_packets, b.out_packets);
        s.out_bytes = since(s.out_bytes, b.out_bytes);
    }
    return s;
}

uint64_t LbControl::drops(size_t reason) const {
    uint64_t n = 0;
    for (const auto& w : stats_) n += w->drops[reason].get();
    const uint64_t base = reason < drops_baseline_.size() ? drops_baseline_[reason] : 0;
    return n >= base ? n - base : 0;
}

void LbControl::clear_counters() {
    if (!owner_) return;
    std::vector<lb::RealServerStats> now(stats_capacity_);
    for (size_t i = 0; i < now.size(); ++i)
        for (const auto& w : stats_) now[i].add(w->real_servers[i]);
    baseline_ = std::move(now);
    std::vector<uint64_t> d(static_cast<size_t>(lb::LbDrop::count_), 0);
    for (size_t r = 0; r < d.size(); ++r)
        for (const auto& w : stats_) d[r] += w->drops[r].get();
    drops_baseline_ = std::move(d);
    handoffs_baseline_.clear();
    for (const auto& w : stats_) handoffs_baseline_.push_back({w->handoffs_sent.get(), w->handoffs_received.get()});
}

namespace {

void put_counters(json& j, const lb::RealServerStats& st) {
    j["active_connections"] = st.active;
    j["inactive_connections"] = st.inactive;
    j["connections"] = st.connections;
    j["packets"] = st.in_packets + st.out_packets;
    j["bytes"] = st.in_bytes + st.out_bytes;
    j["in_packets"] = st.in_packets;
    j["out_packets"] = st.out_packets;
    j["in_bytes"] = st.in_bytes;
    j["out_bytes"] = st.out_bytes;
}

} // namespace

json LbControl::virtual_servers() const {
    json list = json::array();
    for (size_t i = 0; i < config_->virtual_servers.size(); ++i) {
        const auto& vs = config_->virtual_servers[i];
        const VsSlot* v = i < by_config_.size() ? &slots_[by_config_[i]] : nullptr;
        const lb::Service* service = v && owner_ ? &owner_->services()[by_config_[i]] : nullptr;
        lb::RealServerStats total;
        json reals = json::array();
        for (size_t r = 0; r < vs.real_servers.size(); ++r) {
            const auto& rs = vs.real_servers[r];
            lb::RealServerStats st;
            const RsSlot* slot = v ? &v->reals[v->by_config[r]] : nullptr;
            if (slot) st = rs_stats(slot->stats_index);
            total.add(st);
            json j = {{"address", rs.address.str()},
                      {"port", rs.port ? rs.port : vs.port},
                      {"weight", slot ? slot->weight : rs.weight},
                      {"healthy", slot ? slot->healthy : true},
                      {"effective_weight", service ? service->real_servers[v->by_config[r]].weight : 0}};
            put_counters(j, st);
            reals.push_back(std::move(j));
        }
        json entry = {{"name", vs.name},
                      {"vip", vs.vip.str()},
                      {"port", vs.port},
                      {"protocol", config::to_string(vs.protocol)},
                      {"scheduler", config::to_string(vs.scheduler)},
                      {"method", config::to_string(vs.method)}};
        if (vs.sorry_server && v) {
            for (const auto& r : v->reals)
                if (r.sorry && !r.removed && !r.vacant) {
                    const lb::RealServerStats st = rs_stats(r.stats_index);
                    total.add(st);
                    json j = {{"address", r.address.str()}, {"port", r.port}, {"active", v->sorry_active}};
                    put_counters(j, st);
                    entry["sorry_server"] = std::move(j);
                }
        }
        put_counters(entry, total);
        entry["real_servers"] = std::move(reals);
        list.push_back(std::move(entry));
    }
    return list;
}

namespace {

IpAddress address_of(const uint8_t* bytes, Family family) {
    IpAddress a;
    a.family = family;
    std::memcpy(a.bytes.data(), bytes, family == Family::v4 ? 4 : 16);
    return a;
}

} // namespace

json LbControl::connections(size_t limit, ConnCursor from) {
    json list = json::array();
    json unanswered = json::array();
    dump_buffers_.resize(workers_.size());
    dump_open_.resize(workers_.size(), false);
    // Each question covers at most kQuestionEntries table entries, so its
    // answer comes within a few rounds of the worker; after kBudget the
    // reply goes with a cursor (haplanectl asks on from there), so the
    // control thread never stays away from its event loop for long.
    constexpr uint32_t kQuestionEntries = 32 * lb::ConnDump::kVisitsPerRound;
    constexpr auto kBudget = std::chrono::milliseconds(20);
    const auto started = std::chrono::steady_clock::now();
    size_t w = from.worker;
    uint32_t entry = from.entry;
    for (; w < workers_.size(); ++w, entry = 0) {
        lb::ConnDump& dump = workers_[w]->conn_dump();
        if (dump_open_[w]) {   // it did not answer last time: not asked again until it has
            if (!dump.answered()) {
                unanswered.push_back(w);
                continue;
            }
            dump.reset();
            dump_open_[w] = false;
        }
        const uint32_t capacity = workers_[w]->dump_entries();   // fixed at construction
        std::vector<lb::ConnRecord>& records = dump_buffers_[w];    // the worker writes into it
        while (entry < capacity && list.size() < limit &&
               std::chrono::steady_clock::now() - started < kBudget) {
            records.resize(std::min<size_t>(limit - list.size(), kQuestionEntries));
            dump.ask(entry, records.data(), static_cast<uint32_t>(records.size()), kQuestionEntries);
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
            while (!dump.answered() && std::chrono::steady_clock::now() < give_up)
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            if (!dump.answered()) {
                // The question stays open; the worker may still write into
                // `records`, which is kept (a member) until it has answered.
                unanswered.push_back(w);
                dump_open_[w] = true;
                break;
            }
            for (uint32_t i = 0; i < dump.count(); ++i) {
                const lb::ConnRecord& r = records[i];
                // A persistence template names its service in dst_port
                // (host order) and has no ports of its own, as ipvsadm's
                // (state NONE, client port 0, the service's VIP:port).
                const bool tmpl = r.entry.flags & lb::kConnTemplate;
                const size_t service = tmpl ? r.key.dst_port : r.entry.service;
                if (service >= slots_.size()) continue;
                const VsSlot& v = slots_[service];
                if (r.entry.real_server >= v.reals.size()) continue;
                const RsSlot& rs = v.reals[r.entry.real_server];
                const uint16_t vport = tmpl ? v.vs.port : ntohs(r.key.dst_port);
                json c = {{"protocol", tmpl ? (v.vs.protocol == config::Protocol::udp ? "UDP" : "TCP")
                                            : r.key.proto == lb::kProtoTcp ? "TCP" : "UDP"},
                          {"state", tmpl ? "NONE" : lb::to_string(r.entry.state)},
                          {"expires_s", r.remaining},
                          {"client", address_of(r.key.src, r.key.family).str()},
                          {"client_port", tmpl ? 0 : ntohs(r.key.src_port)},
                          {"virtual_server", v.vs.name},
                          {"vip", tmpl ? v.vs.vip.str() : address_of(r.key.dst, r.key.family).str()},
                          {"vip_port", vport},
                          {"real_server", rs.address.str()},
                          {"real_port", rs.port ? rs.port : vport},
                          {"worker", w}};
                if (tmpl) c["persistence_template"] = true;
                if (!tmpl && v.vs.method == config::Method::fnat &&
                    r.entry.local_address < v.vs.local_addresses.size()) {
                    c["local_address"] = v.vs.local_addresses[r.entry.local_address].str();
                    c["local_port"] = ntohs(r.entry.local_port);
                }
                list.push_back(std::move(c));
            }
            entry = dump.next();
            dump.reset();
        }
        if (entry < capacity && !dump_open_[w]) break;   // the budget or the limit: go on from here next time
    }
    json doc = {{"connections", std::move(list)}};
    if (w < workers_.size()) doc["next"] = {{"worker", w}, {"entry", entry}};
    if (!unanswered.empty()) doc["unanswered"] = std::move(unanswered);
    return doc;
}

json LbControl::summary() const {
    json drops = json::object();
    for (size_t d = 0; d < static_cast<size_t>(lb::LbDrop::count_); ++d)
        drops[lb::to_string(static_cast<lb::LbDrop>(d))] = this->drops(d);
    json neighbours = json::array();
    for (const auto& n : neighbours_)
        neighbours.push_back({{"address", n.address.str()},
                              {"port", n.port < ports_.size() ? ports_[n.port].name : std::string("?")},
                              {"mac", n.mac ? json(mac_text(*n.mac)) : json(nullptr)}});
    // What reloads removed and still holds flows.
    json draining = json::array();
    for (const auto& v : slots_) {
        if (v.vacant) continue;
        for (const auto& r : v.reals) {
            if (r.vacant || !(r.removed || v.removed)) continue;
            const lb::RealServerStats st = rs_stats(r.stats_index);
            if (st.active + st.inactive == 0) continue;   // its place is freed at the next reload
            draining.push_back({{"virtual_server", v.vs.name},
                                {"vip", v.vs.vip.str()},
                                {"port", v.vs.port},
                                {"protocol", config::to_string(v.vs.protocol)},
                                {"service_removed", v.removed},
                                {"real_server", r.address.str()},
                                {"real_server_port", r.port},
                                {"active_connections", st.active},
                                {"inactive_connections", st.inactive}});
        }
    }
    json routes = json::array();
    for (const auto& r : routes_)
        routes.push_back({{"destination", r.destination.str()},
                          {"gateway", r.gateway ? json(r.gateway->str()) : json(nullptr)},
                          {"port", r.port < ports_.size() ? ports_[r.port].name : std::string("?")}});
    // Several workers: packets handed to the worker owning their flow.
    json per_worker = json::array();
    uint64_t sent = 0, received = 0;
    for (size_t w = 0; w < stats_.size(); ++w) {
        const auto base = w < handoffs_baseline_.size() ? handoffs_baseline_[w] : std::array<uint64_t, 2>{};
        const uint64_t s = stats_[w]->handoffs_sent.get() - base[0];
        const uint64_t r = stats_[w]->handoffs_received.get() - base[1];
        per_worker.push_back({{"sent", s}, {"received", r}});
        sent += s;
        received += r;
    }
    json handoffs = {{"sent", sent}, {"received", received}, {"workers", per_worker}};
    // How full the connection tables are (ipvsadm's "size=" line; full
    // tables drop new flows as table_full).
    json tables = json::array();
    uint64_t entries = 0;
    for (size_t w = 0; w < stats_.size(); ++w) {
        const uint64_t n = stats_[w]->table_entries.get();
        tables.push_back({{"entries", n}, {"capacity", w < workers_.size() ? workers_[w]->conns().capacity() : 0}});
        entries += n;
    }
    json table_summary = {{"entries", entries}, {"workers", tables}};
    return {{"drops", drops}, {"neighbours", neighbours}, {"draining", draining}, {"routes", routes},
            {"handoffs", handoffs}, {"connection_table", table_summary}};
}

} // namespace haplane::control
