// The VRRP engine: every configured instance's state machine on the control
// thread's event loop, fed by adverts the workers hand over and speaking
// through the dataplane (adverts, gratuitous ARP/NA, VIPs it answers for)
// and the kernel mirror (VIPs the host stack sees while MASTER).
#pragma once

#include "config/config.hpp"
#include "control/event_loop.hpp"
#include "control/log.hpp"
#include "control/vrrp_machine.hpp"
#include "control/vrrp_packet.hpp"
#include "dataplane/wire.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace haplane::control {

class KernelMirror;

// What the engine needs of the dataplane; the daemon implements it over
// dataplane::Dataplane, tests may implement it over anything.
struct VrrpPorts {
    struct VipBinding {
        IpAddress address;
        wire::Mac mac;
    };
    virtual ~VrrpPorts() = default;
    virtual wire::Mac mac(size_t port) const = 0;
    virtual bool send(size_t port, const uint8_t* frame, size_t len) = 0;
    // Every VIP the port answers for now; replaces the previous list.
    virtual void set_vips(size_t port, const std::vector<VipBinding>& vips) = 0;
    virtual void listen_on_mac(size_t port, const wire::Mac& mac) = 0;
    virtual bool link_up(size_t port) const = 0;
};

class VrrpEngine {
public:
    // Throws std::runtime_error when an instance cannot run (its port has
    // no IPv4 address to send v4 adverts from).
    VrrpEngine(const config::Config& config, EventLoop& loop, Log& log, VrrpPorts& ports,
               KernelMirror* mirror);
    ~VrrpEngine();
    VrrpEngine(const VrrpEngine&) = delete;
    VrrpEngine& operator=(const VrrpEngine&) = delete;

    void start();
    // Graceful stop: MASTERs send priority 0 and give their VIPs back.
    void stop();
    // Reload: instances whose election settings are unchanged keep their
    // state (no new election, no GARP); removed or changed ones resign;
    // new ones start. The ports must be the same. Instance indices follow
    // `next.vrrp_instances`.
    void reconfigure(const config::Config& next);
    // A frame classify() sent to VRRP, received on `port`.
    void on_frame(size_t port, const uint8_t* frame, size_t len);

    // The CONTRACT's "vrrp" list, with per-instance counters.
    nlohmann::json status() const;

    // For tracking, sync groups and notify (VrrpSupervisor) to steer and
    // watch instances, by index in config.vrrp_instances.
    size_t instance_count() const;
    vrrp::State state(size_t instance) const;
    uint8_t effective_priority(size_t instance) const;
    void set_effective_priority(size_t instance, uint8_t priority);
    void set_fault(size_t instance, bool fault);
    void force_master(size_t instance);
    void force_backup(size_t instance);
    // Called after every state change, once the change took effect.
    using Observer = std::function<void(size_t instance, vrrp::State from, vrrp::State to)>;
    void set_observer(Observer observer) { observer_ = std::move(observer); }
    // Extra status fields per instance (tracking), merged into status().
    using StatusExtra = std::function<void(size_t instance, nlohmann::json& entry)>;
    void set_status_extra(StatusExtra extra) { status_extra_ = std::move(extra); }
    // Asked before a BACKUP takes over on its own (sync groups hold it back).
    using Gate = std::function<bool(size_t instance)>;
    void set_gate(Gate gate) { gate_ = std::move(gate); }
    bool has_live_master(size_t instance) const;
    // virtual_routes of the instances that are MASTER now, each with its
    // port named (the route's, else its instance's): the dataplane's route
    // table. The observer runs whenever that set may have changed.
    std::vector<config::VirtualRoute> active_routes() const;
    void set_routes_observer(std::function<void()> observer) { routes_observer_ = std::move(observer); }
    // `haplanectl stats --clear`: the per-instance counters start again at 0.
    void clear_counters();

private:
    struct Instance;
    struct PortState;

    std::unique_ptr<Instance> make_instance(const config::Config& config, size_t index);
    void rebuild_views();
    void start_instance(Instance& in);
    void reschedule(Instance& in);
    void send_advert(Instance& in, uint8_t priority);
    void send_garp_burst(Instance& in, unsigned count);
    void schedule_garp_refresh(Instance& in);
    void state_changed(Instance& in, vrrp::State from, vrrp::State to);
    void apply_state(Instance& in, vrrp::State from, vrrp::State to);
    void publish_vips(size_t port);
    void mirror_vips(Instance& in, bool add);
    void log_drop(Instance* in, size_t port, vrrp::Drop drop, const vrrp::Received& r, uint8_t ttl);

    std::vector<std::string> port_names_;
    std::vector<std::optional<std::string>> port_mirrors_;   // kernel mirror TAP per port
    EventLoop& loop_;
    Log& log_;
    VrrpPorts& ports_;
    KernelMirror* mirror_;
    std::vector<std::unique_ptr<Instance>> instances_;
    std::vector<std::unique_ptr<PortState>> port_states_;   // index = port index
    bool running_ = false;
    Observer observer_;
    std::function<void()> routes_observer_;
    Gate gate_;
    StatusExtra status_extra_;
};

} // namespace haplane::control
