#include "dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>
#include <sys/prctl.h>
#include <unistd.h>

namespace haplane::dataplane {

namespace {

uint8_t* frame_of(rte_mbuf* m) { return rte_pktmbuf_mtod(m, uint8_t*); }

// Send out of a port and count it; what the PMD does not take is freed.
// Lengths are read before the hand-over: after it the mbufs are the PMD's.
uint16_t send_counted(uint16_t port, uint16_t queue, rte_mbuf** bufs, uint16_t n, PortCounters& cnt) {
    if (n == 0) return 0;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(bufs[i]);
    uint16_t sent = rte_eth_tx_burst(port, queue, bufs, n);
    if (sent < n) {
        for (uint16_t i = sent; i < n; ++i) bytes -= rte_pktmbuf_pkt_len(bufs[i]);
        rte_pktmbuf_free_bulk(bufs + sent, n - sent);
        cnt.tx_dropped.add(n - sent);
    }
    cnt.tx_packets.add(sent);
    cnt.tx_bytes.add(bytes);
    return sent;
}

// Replace the NS in `m` by our NA. The NA is built aside first: it is made
// from the NS's own fields.
bool answer_neighbor_solicit(rte_mbuf* m, const Classified& c) {
    uint8_t target[16];
    uint8_t na[128];
    const uint8_t* frame = frame_of(m);
    if (!wire::read_neighbor_solicit(frame, c.parsed, target)) return false;
    size_t len = wire::build_neighbor_advert(na, frame, c.parsed, target, *c.answer_mac);
    if (m->nb_segs != 1 || len > rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m)) return false;
    std::memcpy(frame_of(m), na, len);
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = static_cast<uint32_t>(len);
    return true;
}

// The kernel mirror has the port's MAC; frames for a virtual MAC would be
// dropped by it, so unicast frames are addressed to the mirror's MAC.
void address_to_mirror(rte_mbuf* m, const PortAddresses& port) {
    uint8_t* frame = frame_of(m);
    if ((frame[0] & 1) == 0) std::memcpy(frame, port.mac.data(), 6);
}

void handle_port_burst(const WorkerContext& w, const PortRuntime& port, const PortAddresses& addresses,
                       PortCounters& cnt, rte_mbuf** bufs, uint16_t n) {
    rte_mbuf* back_out[BURST];
    rte_mbuf* to_kernel[BURST];
    rte_mbuf* to_control[BURST];
    uint16_t n_back = 0, n_kernel = 0, n_control = 0;
    uint64_t bytes = 0;

    for (uint16_t i = 0; i < n && i < 4; ++i) rte_prefetch0(frame_of(bufs[i]));
    for (uint16_t i = 0; i < n; ++i) {
        if (i + 4 < n) rte_prefetch0(frame_of(bufs[i + 4]));
        rte_mbuf* m = bufs[i];
        bytes += rte_pktmbuf_pkt_len(m);
        Classified c = classify(frame_of(m), rte_pktmbuf_data_len(m), addresses);
        switch (c.verdict) {
        case Verdict::arp_reply:
            wire::arp_request_to_reply(frame_of(m), *c.answer_mac);
            back_out[n_back++] = m;
            break;
        case Verdict::nd_reply:
            if (answer_neighbor_solicit(m, c)) back_out[n_back++] = m;
            else { rte_pktmbuf_free(m); cnt.rx_dropped.add(); }
            break;
        case Verdict::to_kernel:
            if (port.tap_id == NO_PORT) { rte_pktmbuf_free(m); cnt.rx_dropped.add(); break; }
            address_to_mirror(m, addresses);
            to_kernel[n_kernel++] = m;
            break;
        case Verdict::to_vrrp:
            to_control[n_control++] = m;
            break;
        case Verdict::malformed:
            cnt.malformed[static_cast<size_t>(c.malformed)].add();
            [[fallthrough]];
        case Verdict::not_mine:
        case Verdict::to_lb:     // lb/ has no forwarding yet
        case Verdict::count_:
            rte_pktmbuf_free(m);
            cnt.rx_dropped.add();
            break;
        }
        cnt.verdicts[static_cast<size_t>(c.verdict)].add();
    }
    cnt.rx_packets.add(n);
    cnt.rx_bytes.add(bytes);

    send_counted(port.port_id, w.queue, back_out, n_back, cnt);
    if (n_kernel) {
        uint16_t sent = rte_eth_tx_burst(port.tap_id, w.queue, to_kernel, n_kernel);
        if (sent < n_kernel) {
            rte_pktmbuf_free_bulk(to_kernel + sent, n_kernel - sent);
            cnt.to_kernel_dropped.add(n_kernel - sent);
        }
    }

    if (n_control) {
        unsigned queued = w.to_control ? rte_ring_enqueue_burst(w.to_control, reinterpret_cast<void**>(to_control), n_control, nullptr) : 0;
        if (queued < n_control) {
            rte_pktmbuf_free_bulk(to_control + queued, n_control - queued);
            cnt.rx_dropped.add(n_control - queued);
        }
        // A slow-path wake-up for the control thread: adverts are rare.
        if (queued && w.to_control_event_fd >= 0) {
            uint64_t one = 1;
            [[maybe_unused]] ssize_t r = write(w.to_control_event_fd, &one, sizeof one);
        }
    }
}

// Whatever the kernel sends on the mirror goes out of the port, unchanged
// but for frames from a VIP, which wear the VIP's MAC.
uint16_t forward_from_kernel(const WorkerContext& w, const PortRuntime& port, const PortAddresses& addresses,
                             PortCounters& cnt) {
    rte_mbuf* bufs[BURST];
    uint16_t n = rte_eth_rx_burst(port.tap_id, w.queue, bufs, BURST);
    if (n == 0) return 0;
    cnt.from_kernel.add(n);
    for (uint16_t i = 0; i < n; ++i) wear_vip_mac(frame_of(bufs[i]), rte_pktmbuf_data_len(bufs[i]), addresses);
    send_counted(port.port_id, w.queue, bufs, n, cnt);
    return n;
}

uint16_t send_from_control(const WorkerContext& w, const PortRuntime& port, PortCounters& cnt) {
    rte_mbuf* bufs[BURST];
    unsigned n = rte_ring_dequeue_burst(port.control_tx, reinterpret_cast<void**>(bufs), BURST, nullptr);
    if (n == 0) return 0;
    send_counted(port.port_id, w.queue, bufs, static_cast<uint16_t>(n), cnt);
    return static_cast<uint16_t>(n);
}

// Adaptive polling: after a run of empty polls, sleep, doubling up to a cap,
// so an idle lab does not burn a core; the first packet resets it.
// While asleep the worker is offline for RCU, so a table update never
// waits for it.
class IdleBackoff {
public:
    void busy() { idle_polls_ = 0; sleep_us_ = 1; }
    void idle(rte_rcu_qsbr* rcu, unsigned rcu_id) {
        if (++idle_polls_ < 256) return;
        rte_rcu_qsbr_thread_offline(rcu, rcu_id);
        rte_delay_us_sleep(sleep_us_);
        rte_rcu_qsbr_thread_online(rcu, rcu_id);
        sleep_us_ = std::min(sleep_us_ * 2, MAX_SLEEP_US);
    }

private:
    // Bounds the extra latency of an idle worker: VRRP with 10 ms adverts
    // must take over within Master_Down_Interval + 1 ms, across an RX and a TX.
    static constexpr unsigned MAX_SLEEP_US = 100;
    unsigned idle_polls_ = 0;
    unsigned sleep_us_ = 1;
};

} // namespace

int worker_main(void* arg) {
    const WorkerContext& w = *static_cast<const WorkerContext*>(arg);
    const auto& ports = *w.ports;
    IdleBackoff backoff;
    rte_mbuf* bufs[BURST];
    // Sleeps of a few microseconds must not be rounded up by the default 50 µs slack.
    if (w.poll == config::PollMode::adaptive) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    rte_rcu_qsbr_thread_register(w.rcu, w.queue);
    rte_rcu_qsbr_thread_online(w.rcu, w.queue);

    while (!w.quit->load(std::memory_order_relaxed)) {
        unsigned work = 0;
        const AddressTable* table = w.table->load(std::memory_order_acquire);
        for (size_t i = 0; i < ports.size(); ++i) {
            const PortRuntime& port = ports[i];
            PortCounters& cnt = w.counters[i];
            uint16_t n = rte_eth_rx_burst(port.port_id, w.queue, bufs, BURST);
            if (n) handle_port_burst(w, port, table->ports[i], cnt, bufs, n);
            work += n;
            if (port.tap_id != NO_PORT) work += forward_from_kernel(w, port, table->ports[i], cnt);
            if (w.queue == 0 && port.control_tx) work += send_from_control(w, port, cnt);
        }
        rte_rcu_qsbr_quiescent(w.rcu, w.queue);   // done with `table` for this round
        if (w.poll == config::PollMode::adaptive) {
            if (work) backoff.busy();
            else backoff.idle(w.rcu, w.queue);
        }
    }
    rte_rcu_qsbr_thread_offline(w.rcu, w.queue);
    rte_rcu_qsbr_thread_unregister(w.rcu, w.queue);
    return 0;
}

} // namespace haplane::dataplane
