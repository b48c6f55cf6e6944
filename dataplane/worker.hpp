// The per-lcore loop (internal to dataplane/): RX burst per port, classify,
// act, TX burst; and the kernel mirror's frames back out of the port.
#pragma once

#include "config/config.hpp"
#include "dataplane/classify.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/forwarder.hpp"

#include <atomic>
#include <cstdint>
#include <vector>

struct rte_ring;
struct rte_mempool;
struct rte_rcu_qsbr;

namespace haplane::dataplane {

constexpr uint16_t NO_PORT = UINT16_MAX;
constexpr uint16_t BURST = 32;

// What the workers know of one port. Immutable while workers run.
struct PortRuntime {
    uint16_t port_id = NO_PORT;
    uint16_t tap_id = NO_PORT;           // kernel mirror, or NO_PORT
    rte_ring* control_tx = nullptr;      // frames the control thread sends; worker 0 drains
};

// What every port answers for, as one immutable snapshot. The control
// thread publishes a new one (RCU) when VIPs come or go; workers load the
// pointer once per round and report a quiescent state after it.
struct AddressTable {
    std::vector<PortAddresses> ports;    // index = port index
};

// What travels with a packet handed to the worker that owns its flow (in
// an mbuf dynamic field): what classify() found, and where it came in.
struct HandoffMeta {
    wire::Parsed parsed;
    uint16_t in_port = 0;
};

struct WorkerContext {
    unsigned queue = 0;                  // this worker's RX/TX queue on every port
    const std::vector<PortRuntime>* ports = nullptr;
    const std::atomic<const AddressTable*>* table = nullptr;
    rte_rcu_qsbr* rcu = nullptr;         // this worker's thread id there = queue
    PortCounters* counters = nullptr;    // this worker's, one per port
    const std::atomic<bool>* quit = nullptr;
    config::PollMode poll = config::PollMode::busy;
    rte_ring* to_control = nullptr;      // VRRP adverts for the control thread
    int to_control_event_fd = -1;        // eventfd poked when to_control got frames
    // The load balancer's fast path for this worker (nullptr: no virtual
    // services). Set before the workers start.
    Forwarder* lb = nullptr;
    // Several workers with a load balancer: handoff[w] is worker w's ring
    // (multi-producer, single consumer) of packets whose flows it owns,
    // handed over by the others (lb.steer); handoff_field is the offset of
    // the mbufs' HandoffMeta. nullptr with one worker: nothing is steered.
    rte_ring* const* handoff = nullptr;
    unsigned workers = 1;
    int handoff_field = -1;
};

// rte_eal_remote_launch entry point; arg is a WorkerContext*.
int worker_main(void* arg);

} // namespace haplane::dataplane
