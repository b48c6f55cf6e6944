#include "control/lb_control.hpp"

#include "dataplane/classify.hpp"
#include "lb/neighbour.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>

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
    : config_(config), loop_(loop), log_(log), dataplane_(dataplane), ports_(std::move(ports)),
      worker_count_(workers) {
    for (const auto& vs : config.virtual_servers) {
        // alpha: servers start down until their first successful check.
        healthy_.emplace_back(vs.real_servers.size(), !vs.alpha);
        std::vector<unsigned> w;
        for (const auto& rs : vs.real_servers) w.push_back(rs.weight);
        weights_.push_back(std::move(w));
    }
    if (config.virtual_servers.empty()) return;
    effective_.ports = config.ports;
    effective_.vrrp_instances = config.vrrp_instances;
    effective_.virtual_servers = config.virtual_servers;
    for (size_t v = 0; v < healthy_.size(); ++v)
        for (size_t r = 0; r < healthy_[v].size(); ++r)
            if (!healthy_[v][r]) effective_.virtual_servers[v].real_servers[r].weight = 0;
    std::vector<std::string> warnings;
    try {
        owner_ = lb::ServiceTable::build(effective_, ports_, workers, &warnings);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("virtual servers: ") + e.what());
    }
    for (const auto& w : warnings) log_.warning("{}", w);
    table_.store(owner_.get(), std::memory_order_release);

    lb::LbWorker::Options options;
    options.connections = config.global.connections_per_lcore;
    options.timeouts = config.global.timeouts;
    const bool persistent = std::any_of(config.virtual_servers.begin(), config.virtual_servers.end(),
                                        [](const auto& vs) { return vs.persistence_timeout.count() > 0; });
    options.persistence = persistent ? std::max<uint32_t>(1024, options.connections / 4) : 1;
    // A secret seed: clients cannot aim many flows at one probe chain.
    std::random_device rd;
    options.seed = (uint64_t{rd()} << 32) ^ rd();
    for (unsigned w = 0; w < workers; ++w) {
        stats_.push_back(std::make_unique<lb::WorkerStats>(owner_->real_server_count()));
        workers_.push_back(std::make_unique<lb::LbWorker>(w, &table_, stats_.back().get(), options));
    }
    for (const auto& slot : owner_->neighbours()) neighbours_.push_back({slot.port, slot.address, {}, {}});
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
              owner_->services().size(), owner_->real_server_count(), options.connections);
}

LbControl::~LbControl() { stop(); }

std::vector<dataplane::Forwarder*> LbControl::forwarders() {
    std::vector<dataplane::Forwarder*> out;
    for (auto& w : workers_) out.push_back(w.get());
    return out;
}

void LbControl::start() {
    if (!enabled()) return;
    // fnat local addresses: the port whose prefix holds them answers ARP/ND.
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
    for (size_t p = 0; p < per_port.size(); ++p)
        if (!per_port[p].empty()) dataplane_.set_lb_addresses(p, per_port[p]);
    for (auto& n : neighbours_) probe(n);
    timer_ = loop_.after(kProbeRetry, [this] { tick(); });
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

void LbControl::set_real_server(size_t vs, size_t rs, unsigned weight, bool healthy) {
    if (vs >= weights_.size() || rs >= weights_[vs].size()) return;
    const unsigned before = effective_.virtual_servers.empty() ? 0 : effective_.virtual_servers[vs].real_servers[rs].weight;
    weights_[vs][rs] = weight;
    healthy_[vs][rs] = healthy;
    if (!enabled()) return;
    const unsigned now = healthy ? weight : 0;
    if (now == before) return;
    effective_.virtual_servers[vs].real_servers[rs].weight = now;
    publish();
}

// A new table from effective_, the MACs learnt so far carried over.
void LbControl::publish() {
    auto next = lb::ServiceTable::build(effective_, ports_, worker_count_);
    for (size_t i = 0; i < neighbours_.size() && i < next->neighbours().size(); ++i)
        if (neighbours_[i].mac) next->set_neighbour_mac(static_cast<uint32_t>(i), *neighbours_[i].mac);
    table_.store(next.get(), std::memory_order_release);
    dataplane_.synchronize();   // no worker still reads the old table
    owner_ = std::move(next);
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
    std::vector<lb::RealServerStats> now(owner_->real_server_count());
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

json LbControl::virtual_servers() const {
    json list = json::array();
    for (size_t i = 0; i < config_.virtual_servers.size(); ++i) {
        const auto& vs = config_.virtual_servers[i];
        lb::RealServerStats total;
        json reals = json::array();
        for (size_t r = 0; r < vs.real_servers.size(); ++r) {
            const auto& rs = vs.real_servers[r];
            lb::RealServerStats st;
            if (owner_ && i < owner_->services().size() && r < owner_->services()[i].real_servers.size())
                st = rs_stats(owner_->services()[i].real_servers[r].stats_index);
            total.add(st);
            reals.push_back({{"address", rs.address.str()},
                             {"port", rs.port ? rs.port : vs.port},
                             {"weight", weights_[i][r]},
                             {"healthy", bool(healthy_[i][r])},
                             {"effective_weight", owner_ ? owner_->services()[i].real_servers[r].weight : 0},
                             {"active_connections", st.active},
                             {"inactive_connections", st.inactive},
                             {"connections", st.connections},
                             {"packets", st.in_packets + st.out_packets},
                             {"bytes", st.in_bytes + st.out_bytes},
                             {"in_packets", st.in_packets},
                             {"out_packets", st.out_packets},
                             {"in_bytes", st.in_bytes},
                             {"out_bytes", st.out_bytes}});
        }
        list.push_back({{"name", vs.name},
                        {"vip", vs.vip.str()},
                        {"port", vs.port},
                        {"protocol", config::to_string(vs.protocol)},
                        {"scheduler", config::to_string(vs.scheduler)},
                        {"method", config::to_string(vs.method)},
                        {"active_connections", total.active},
                        {"inactive_connections", total.inactive},
                        {"connections", total.connections},
                        {"packets", total.in_packets + total.out_packets},
                        {"bytes", total.in_bytes + total.out_bytes},
                        {"in_packets", total.in_packets},
                        {"out_packets", total.out_packets},
                        {"in_bytes", total.in_bytes},
                        {"out_bytes", total.out_bytes},
                        {"real_servers", reals}});
    }
    return list;
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
    return {{"drops", drops}, {"neighbours", neighbours}, {"handoffs", handoffs}};
}

} // namespace haplane::control
