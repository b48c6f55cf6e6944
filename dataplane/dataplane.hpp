// The door of dataplane/: bring up EAL, the ports and their kernel mirrors,
// run the worker lcores, and report counters. Everything DPDK stays behind
// this class; the control room sees names, MACs and numbers.
#pragma once

#include "config/address.hpp"
#include "config/config.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/forwarder.hpp"
#include "dataplane/wire.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace haplane::dataplane {

struct PortInfo {
    std::string name;                       // config name ("ext")
    std::string device;                     // EAL device name
    wire::Mac mac{};
    std::optional<std::string> kernel_mirror;   // TAP interface name
};

// A virtual address a port answers for, with the MAC it answers with.
struct Vip {
    IpAddress address;
    wire::Mac mac{};
};

class Dataplane {
public:
    // Initialises EAL (once per process), probes every port, creates the TAPs,
    // starts the ports. Throws std::runtime_error with an operator-readable
    // message when anything fails; what was set up is torn down again.
    Dataplane(const config::Config& config, const std::vector<std::string>& extra_eal_args,
              bool detailed_logs);
    ~Dataplane();
    Dataplane(const Dataplane&) = delete;
    Dataplane& operator=(const Dataplane&) = delete;

    void start_workers();
    void stop_workers();

    const std::vector<PortInfo>& ports() const;
    PortStats port_stats(size_t port_index) const;
    void clear_stats();
    unsigned worker_count() const;
    bool link_up(size_t port_index) const;

    // The VIPs a port holds now (all of them: the list replaces the last).
    // Published to the workers as a new table with RCU; returns once no
    // worker can still see the old one (bounded by one poll round).
    void set_vips(size_t port_index, const std::vector<Vip>& vips);
    // Receive frames sent to `mac` too (a VRRP virtual MAC): a MAC filter
    // entry, or promiscuous mode where the PMD has none.
    void listen_on_mac(size_t port_index, const wire::Mac& mac);

    // ---- load balancer (lb/) ----
    // One forwarder per worker (index = worker number), or an empty list
    // for none. Call before start_workers; they outlive the workers.
    void set_forwarders(const std::vector<Forwarder*>& forwarders);
    // Addresses the load balancer sends from on this port (fnat local
    // addresses): ARP/ND answered like own ones, traffic to them offered to
    // the load balancer. Replaces the port's list; published like set_vips.
    void set_lb_addresses(size_t port_index, const std::vector<IpAddress>& addresses);
    // An RCU grace period: returns once every worker has finished the poll
    // round it was in, so what they read before is no longer in use.
    void synchronize();

    // The control thread's packet door. send_frame copies the bytes into an
    // mbuf and queues it for worker 0 to transmit; false if the queue is full.
    bool send_frame(size_t port_index, const uint8_t* frame, size_t len);
    // Frames the workers handed to the control thread (VRRP adverts); the
    // eventfd becomes readable when there are some. Returns how many were seen.
    using FrameHandler = void (*)(void* ctx, size_t port_index, const uint8_t* frame, size_t len);
    size_t drain_control_frames(FrameHandler handler, void* ctx);
    // True when worker 0 has sent everything send_frame queued.
    bool control_tx_idle() const;
    int control_event_fd() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace haplane::dataplane
