// The load balancer's control side, on the control thread: builds the
// service table (lb::ServiceTable) from the config, owns each worker's
// fast path (lb::LbWorker) and counters, resolves real servers' MACs (ARP
// requests / neighbour solicitations out of the dataplane, answers copied
// back by the workers), and reports the CONTRACT's virtual_servers with
// their counters.
#pragma once

#include "config/config.hpp"
#include "control/event_loop.hpp"
#include "control/log.hpp"
#include "dataplane/forwarder.hpp"
#include "lb/lb_worker.hpp"
#include "lb/service_table.hpp"
#include "lb/stats.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace haplane::control {

// What the load balancer needs of the dataplane; the daemon implements it
// over dataplane::Dataplane, tests over anything.
struct LbPorts {
    virtual ~LbPorts() = default;
    virtual bool send(size_t port, const uint8_t* frame, size_t len) = 0;
    // RCU grace period: no worker still uses what it read before.
    virtual void synchronize() = 0;
    virtual void set_lb_addresses(size_t port, const std::vector<IpAddress>& addresses) = 0;
};

class LbControl {
public:
    // ports: name, MAC and own addresses of every dataplane port, in order.
    // Throws std::runtime_error for a config the fast path cannot take.
    LbControl(const config::Config& config, EventLoop& loop, Log& log, LbPorts& dataplane,
              std::vector<lb::PortView> ports, unsigned workers);
    ~LbControl();
    LbControl(const LbControl&) = delete;
    LbControl& operator=(const LbControl&) = delete;

    // Nothing to do without virtual servers: no forwarders, no memory.
    bool enabled() const { return !workers_.empty(); }
    // One per worker, for Dataplane::set_forwarders (empty when disabled).
    std::vector<dataplane::Forwarder*> forwarders();

    // Publishes fnat local addresses to the ports and starts resolving the
    // real servers' MACs (now, then every second until they answer, then
    // every 30 s).
    void start();
    void stop();

    // A frame the workers copied to the control thread. True if it was an
    // ARP / NA the load balancer looked at (VRRP frames are not).
    bool on_frame(size_t port, const uint8_t* frame, size_t len);

    // CONTRACT virtual_servers, with counters summed over the workers.
    nlohmann::json virtual_servers() const;
    // {"drops": {reason: n}, "neighbours": [{address, port, mac}],
    //  "handoffs": {"sent": n, "received": n, "workers": [{"sent", "received"}]}}.
    nlohmann::json summary() const;
    // Counters read as zero from now on (`haplanectl stats --clear`); the
    // connection gauges (active, inactive) are not counters and stay.
    void clear_counters();

    const lb::ServiceTable* table() const { return table_.load(std::memory_order_acquire); }

    // Health checks (and later reloads): real server `rs` of virtual server
    // `vs` (config indices) now has this weight and health. An unhealthy
    // server gets weight 0 (no new flows; established ones continue, as
    // keepalived's inhibit_on_failure). A changed table is rebuilt and
    // published with RCU: returns once no worker uses the old one.
    void set_real_server(size_t vs, size_t rs, unsigned weight, bool healthy);
    bool healthy(size_t vs, size_t rs) const { return healthy_.at(vs).at(rs); }

    static constexpr std::chrono::seconds kProbeRetry{1};
    static constexpr std::chrono::seconds kProbeRefresh{30};

private:
    struct Neighbour {
        uint16_t port = 0;
        IpAddress address;
        std::optional<wire::Mac> mac;
        EventLoop::Clock::time_point last_probe{};
    };

    void probe(Neighbour& n);
    void publish();
    void tick();
    lb::RealServerStats rs_stats(uint32_t stats_index) const;

    const config::Config& config_;
    EventLoop& loop_;
    Log& log_;
    LbPorts& dataplane_;
    std::vector<lb::PortView> ports_;
    unsigned worker_count_ = 1;
    config::Config effective_;                 // the config with effective weights
    std::vector<std::vector<bool>> healthy_;   // [vs][rs]
    std::vector<std::vector<unsigned>> weights_;   // [vs][rs] as last set
    std::unique_ptr<lb::ServiceTable> owner_;
    std::atomic<const lb::ServiceTable*> table_{nullptr};
    std::vector<std::unique_ptr<lb::WorkerStats>> stats_;
    std::vector<std::unique_ptr<lb::LbWorker>> workers_;
    std::vector<Neighbour> neighbours_;   // as the table's neighbour slots
    std::vector<lb::RealServerStats> baseline_;   // by stats index, at the last clear
    std::vector<uint64_t> drops_baseline_;
    std::vector<std::array<uint64_t, 2>> handoffs_baseline_;   // [worker]: sent, received
    uint64_t drops(size_t reason) const;
    std::optional<EventLoop::TimerId> timer_;
};

} // namespace haplane::control
