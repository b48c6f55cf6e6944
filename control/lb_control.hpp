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
    // `config` must outlive the LbControl (or the next reconfigure).
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

    // A reload: the virtual servers, timeouts and expire_nodest_conn of
    // `next` (which must outlive the LbControl or the next reconfigure).
    // A service that stays (same VIP, port, protocol, method and, fnat,
    // local addresses) keeps its index, so its connections keep their real
    // servers; so does a real server that stays (same address and port).
    // Removed services and servers drain: their flows go on (or, with
    // expire_nodest_conn, end on their next packet), new ones go elsewhere.
    // Health and weights of servers that stay are kept; new servers start
    // healthy (down with alpha) until their checks report. Returns an error
    // and changes nothing when the fast path cannot take `next`.
    std::optional<std::string> reconfigure(const config::Config& next);

    // A frame the workers copied to the control thread. True if it was an
    // ARP / NA the load balancer looked at (VRRP frames are not).
    bool on_frame(size_t port, const uint8_t* frame, size_t len);

    // CONTRACT virtual_servers (the config's, in its order), with counters
    // summed over the workers.
    nlohmann::json virtual_servers() const;
    // {"drops": {reason: n}, "neighbours": [{address, port, mac}],
    //  "draining": [services and servers a reload removed that still hold flows],
    //  "routes": [the dataplane's route table], "handoffs": {"sent": n, "received": n, "workers": [{"sent", "received"}]},
    //  "connection_table": {"entries": n, "workers": [{"entries", "capacity"}]}}.
    nlohmann::json summary() const;
    // Like `ipvsadm -Lnc`: the workers' connections (one per flow), at most
    // `limit`, from `from` on: {"connections": [{"protocol", "state",
    // "expires_s", "client", "client_port", "virtual_server", "vip",
    // "vip_port", "real_server", "real_port", "worker"; fnat:
    // "local_address", "local_port"; persistence templates:
    // "persistence_template": true, state "NONE", client_port 0}],
    // "next": {"worker", "entry"}} ("next"
    // absent: no more). Workers answer between their bursts (lb::ConnDump);
    // this waits for them, some 20 ms at most, then returns what it has and
    // where to go on. A worker silent for 1 s is left out ("unanswered").
    struct ConnCursor {
        size_t worker = 0;
        uint32_t entry = 0;
    };
    nlohmann::json connections(size_t limit, ConnCursor from);
    // Counters read as zero from now on (`haplanectl stats --clear`); the
    // connection gauges (active, inactive) are not counters and stay.
    void clear_counters();

    const lb::ServiceTable* table() const { return table_.load(std::memory_order_acquire); }

    // Health checks: real server `rs` of virtual server `vs` (indices in the
    // config in force) now has this weight and health. An unhealthy server
    // gets weight 0 (no new flows; established ones continue, as
    // keepalived's inhibit_on_failure, unless expire_nodest_conn). A changed
    // table is rebuilt and published with RCU: returns once no worker uses
    // the old one.
    void set_real_server(size_t vs, size_t rs, unsigned weight, bool healthy);
    bool healthy(size_t vs, size_t rs) const;
    // Quorum lost: the sorry server alone takes the new flows of `vs`
    // (established flows to the others go on); false: back to the servers.
    void set_sorry_server(size_t vs, bool active);
    bool sorry_server_active(size_t vs) const;

    // The dataplane's route table: virtual_routes of the MASTER instances
    // (ports named). Real servers outside the ports' prefixes are reached
    // through them; a change republishes the table.
    void set_routes(const std::vector<config::VirtualRoute>& routes);

    // Where config index `vs` lives in the table (stable across reloads).
    size_t service_index(size_t vs) const { return by_config_.at(vs); }

    static constexpr std::chrono::seconds kProbeRetry{1};
    static constexpr std::chrono::seconds kProbeRefresh{30};

private:
    struct Neighbour {
        uint16_t port = 0;
        IpAddress address;
        std::optional<wire::Mac> mac;
        EventLoop::Clock::time_point last_probe{};
    };
    // A real server's place in a service, kept while flows may name it.
    struct RsSlot {
        IpAddress address;
        uint16_t port = 0;            // effective (the service's when the config says 0)
        unsigned weight = 1;          // as last set (config, then checks)
        bool healthy = true;
        bool inhibit_on_failure = false;
        bool sorry = false;           // the service's sorry server
        bool removed = false;         // left the config: drains
        bool vacant = false;          // removed and drained: free for a newcomer
        uint32_t stats_index = 0;
    };
    // A virtual service's place in the table.
    struct VsSlot {
        config::VirtualServer vs;     // as last configured
        std::vector<RsSlot> reals;    // stable indices
        std::vector<size_t> by_config;   // config real server index -> reals index
        bool sorry_active = false;
        bool removed = false;         // left the config: drains
        bool vacant = false;          // removed and drained
    };

    void probe(Neighbour& n);
    void publish();
    void adopt(std::unique_ptr<lb::ServiceTable> table);
    void tick();
    void publish_local_addresses();
    std::optional<std::string> rebuild(std::vector<VsSlot> slots, std::vector<uint32_t> free_stats,
                                       const config::Config& next);
    std::unique_ptr<lb::ServiceTable> build(const std::vector<VsSlot>& slots, const config::Config& cfg,
                                            std::vector<std::string>* warnings) const;
    static unsigned effective_weight(const VsSlot& v, const RsSlot& r);
    uint64_t connections_of(uint32_t stats_index) const;   // active + inactive, all workers
    lb::RealServerStats rs_stats(uint32_t stats_index) const;
    uint64_t drops(size_t reason) const;
    const RsSlot* config_rs(size_t vs, size_t rs) const;

    const config::Config* config_;
    EventLoop& loop_;
    Log& log_;
    LbPorts& dataplane_;
    std::vector<lb::PortView> ports_;
    unsigned worker_count_ = 1;
    size_t stats_capacity_ = 0;
    std::vector<VsSlot> slots_;
    std::vector<size_t> by_config_;            // config vs index -> slot
    std::vector<uint32_t> free_stats_;         // stats indices of vacant real servers
    std::unique_ptr<lb::ServiceTable> owner_;
    std::atomic<const lb::ServiceTable*> table_{nullptr};
    std::vector<std::unique_ptr<lb::WorkerStats>> stats_;
    std::vector<std::unique_ptr<lb::LbWorker>> workers_;
    std::vector<Neighbour> neighbours_;   // as the table's neighbour slots
    std::vector<lb::Route> routes_;
    uint64_t generation_ = 0;             // of the last table published
    std::vector<std::vector<IpAddress>> local_addresses_;   // published per port
    std::vector<std::vector<lb::ConnRecord>> dump_buffers_;   // per worker: connections() answers
    std::vector<bool> dump_open_;                 // per worker: a question it has not answered
    std::vector<lb::RealServerStats> baseline_;   // by stats index, at the last clear
    std::vector<uint64_t> drops_baseline_;
    std::vector<std::array<uint64_t, 2>> handoffs_baseline_;   // [worker]: sent, received
    std::optional<EventLoop::TimerId> timer_;
};

} // namespace haplane::control
