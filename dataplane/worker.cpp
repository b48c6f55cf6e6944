#include "dataplane/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
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

// ---- load balancer stage (lb/ behind dataplane::Forwarder) ----

// ARP replies and neighbour advertisements to our addresses: the load
// balancer's control side learns real servers' MACs from them.
bool is_neighbour_answer(const uint8_t* frame, const Classified& c) {
    if (c.parsed.ethertype == wire::ETHERTYPE_ARP) return true;
    return c.parsed.ethertype == wire::ETHERTYPE_IPV6 && c.parsed.ip_proto == wire::IPPROTO_ICMPV6_ &&
           c.parsed.l4_offset != 0 && frame[c.parsed.l4_offset] == wire::ICMPV6_NA;
}

bool lb_claims(const void* ctx, const uint8_t* frame, const wire::Parsed& p) {
    return static_cast<const Forwarder*>(ctx)->claims(frame, p);
}

// Frames the load balancer claimed: collected per port burst, handed to the
// forwarder together, then sent out of whichever port it chose. Frames
// whose next hop is still being resolved wait here a little (like the
// kernel's unresolved-neighbour queue) and are offered again every round.
// With several workers, frames of flows another worker owns are first
// handed to that worker's ring, and frames handed to this one are taken
// over each round.
class LbStage {
public:
    void add(rte_mbuf* m, uint16_t port_index, const Classified& c) { put(m, port_index, c.parsed); }

    void flush(const WorkerContext& w, uint64_t now) {
        if (n_ == 0) return;
        if (w.handoff) hand_off(w);
        if (n_) {
            w.lb->forward(pkts_, n_);
            dispatch(w, mbufs_, pkts_, nullptr, n_, now);
        }
        n_ = 0;
    }

    // Several workers: what the others handed this one (its flows), as if
    // received here, but not steered again. Bounded per round so that the
    // worker's own queues are polled too. Returns how many.
    unsigned take_over(const WorkerContext& w, uint64_t now) {
        const unsigned limit = BURST * w.workers * static_cast<unsigned>(w.ports->size());
        unsigned total = 0, n;
        rte_mbuf* bufs[BURST];
        while (total < limit &&
               (n = rte_ring_dequeue_burst(w.handoff[w.queue], reinterpret_cast<void**>(bufs), BURST, nullptr)) > 0) {
            for (unsigned i = 0; i < n; ++i) {
                const HandoffMeta& h = *RTE_MBUF_DYNFIELD(bufs[i], w.handoff_field, const HandoffMeta*);
                put(bufs[i], h.in_port, h.parsed);
            }
            w.lb->forward(pkts_, n_);
            dispatch(w, mbufs_, pkts_, nullptr, n_, now);
            n_ = 0;
            total += n;
        }
        if (total) w.lb->handoff_counts(0, 0, total);
        return total;
    }

    void retry_held(const WorkerContext& w, uint64_t now) {
        if (n_held_ == 0) return;
        rte_mbuf* mbufs[kMaxHeld];
        LbPacket pkts[kMaxHeld];
        uint64_t deadlines[kMaxHeld];
        const uint16_t n = n_held_;
        for (uint16_t i = 0; i < n; ++i) {
            mbufs[i] = held_[i].m;
            pkts[i] = held_[i].pkt;
            deadlines[i] = held_[i].deadline;
        }
        n_held_ = 0;
        w.lb->forward(pkts, n);
        dispatch(w, mbufs, pkts, deadlines, n, now);
    }

    void release(const WorkerContext& w) {
        for (uint16_t i = 0; i < n_held_; ++i) rte_pktmbuf_free(held_[i].m);
        if (n_held_ && w.lb) w.lb->held_dropped(n_held_);
        n_held_ = 0;
    }

private:
    static constexpr uint16_t kMaxHeld = 64;
    static constexpr uint64_t kHoldSeconds = 2;
    struct Held {
        rte_mbuf* m;
        LbPacket pkt;
        uint64_t deadline;
    };

    void put(rte_mbuf* m, uint16_t port_index, const wire::Parsed& parsed) {
        // Field by field: `p = LbPacket{}` built a temporary whose copy
        // stalled on store forwarding (a 16-byte load over a 2-byte store).
        LbPacket& p = pkts_[n_];
        p.frame = frame_of(m);
        p.len = rte_pktmbuf_data_len(m);
        p.headroom = rte_pktmbuf_headroom(m);
        p.tailroom = rte_pktmbuf_tailroom(m);
        p.in_port = port_index;
        p.parsed = parsed;
        p.out_port = LbPacket::kDrop;
        p.owner = 0;
        p.prepended = 0;
        mbufs_[n_++] = m;
    }

    // The frames steer() marked go to their owners' rings, one enqueue per
    // owner (a full ring drops and counts); the rest stay, in order.
    void hand_off(const WorkerContext& w) {
        if (w.lb->steer(pkts_, n_) == 0) return;
        rte_mbuf* out[BURST];
        uint32_t sent = 0, full = 0;
        for (uint16_t i = 0; i < n_; ++i) {
            if (!mbufs_[i] || pkts_[i].out_port != LbPacket::kHandoff) continue;
            const uint16_t owner = pkts_[i].owner;
            unsigned k = 0;
            for (uint16_t j = i; j < n_; ++j) {
                if (!mbufs_[j] || pkts_[j].out_port != LbPacket::kHandoff || pkts_[j].owner != owner) continue;
                *RTE_MBUF_DYNFIELD(mbufs_[j], w.handoff_field, HandoffMeta*) = HandoffMeta{pkts_[j].parsed, pkts_[j].in_port};
                out[k++] = mbufs_[j];
                mbufs_[j] = nullptr;
            }
            const unsigned queued = rte_ring_enqueue_burst(w.handoff[owner], reinterpret_cast<void**>(out), k, nullptr);
            sent += queued;
            if (queued < k) {
                rte_pktmbuf_free_bulk(out + queued, k - queued);
                full += k - queued;
                w.counters[pkts_[i].in_port].rx_dropped.add(k - queued);
            }
        }
        uint16_t kept = 0;
        for (uint16_t i = 0; i < n_; ++i) {
            if (!mbufs_[i]) continue;
            pkts_[kept] = pkts_[i];
            mbufs_[kept++] = mbufs_[i];
        }
        n_ = kept;
        w.lb->handoff_counts(sent, full, 0);
    }

    void dispatch(const WorkerContext& w, rte_mbuf** mbufs, LbPacket* pkts, const uint64_t* deadlines, uint16_t n,
                  uint64_t now) {
        const auto& ports = *w.ports;
        rte_mbuf* out[kMaxHeld > BURST ? kMaxHeld : BURST];
        uint16_t to_send = 0, held_dropped = 0;
        for (uint16_t i = 0; i < n; ++i) {
            LbPacket& p = pkts[i];
            rte_mbuf* m = mbufs[i];
            if (p.out_port == LbPacket::kHold) {
                const uint64_t deadline = deadlines ? deadlines[i] : now + rte_get_timer_hz() * kHoldSeconds;
                if (n_held_ < kMaxHeld && now < deadline) {
                    held_[n_held_++] = Held{m, p, deadline};
                    mbufs[i] = nullptr;
                    continue;
                }
                ++held_dropped;
                p.out_port = LbPacket::kDrop;
            }
            if (p.out_port >= ports.size()) {
                rte_pktmbuf_free(m);
                w.counters[p.in_port].rx_dropped.add();
                mbufs[i] = nullptr;
                continue;
            }
            if (p.prepended) rte_pktmbuf_prepend(m, p.prepended);   // the bytes are already written
            m->data_len = p.len;
            m->pkt_len = p.len;
            ++to_send;
        }
        if (held_dropped) w.lb->held_dropped(held_dropped);
        if (to_send == 0) return;
        for (size_t port = 0; port < ports.size(); ++port) {
            uint16_t k = 0;
            for (uint16_t i = 0; i < n; ++i)
                if (mbufs[i] && pkts[i].out_port == port) out[k++] = mbufs[i];
            if (k) send_counted(ports[port].port_id, w.queue, out, k, w.counters[port]);
        }
    }

    rte_mbuf* mbufs_[BURST];
    LbPacket pkts_[BURST];
    uint16_t n_ = 0;
    Held held_[kMaxHeld];
    uint16_t n_held_ = 0;
};

void handle_port_burst(const WorkerContext& w, uint16_t port_index, const PortAddresses& addresses,
                       rte_mbuf** bufs, uint16_t n, LbStage& lb, uint64_t now) {
    const PortRuntime& port = (*w.ports)[port_index];
    PortCounters& cnt = w.counters[port_index];
    rte_mbuf* back_out[BURST];
    rte_mbuf* to_kernel[BURST];
    rte_mbuf* to_control[BURST];
    uint16_t n_back = 0, n_kernel = 0, n_control = 0;
    uint64_t bytes = 0;
    const LbHook hook = w.lb ? LbHook{lb_claims, w.lb} : LbHook{};

    for (uint16_t i = 0; i < n && i < 4; ++i) rte_prefetch0(frame_of(bufs[i]));
    for (uint16_t i = 0; i < n; ++i) {
        if (i + 4 < n) rte_prefetch0(frame_of(bufs[i + 4]));
        rte_mbuf* m = bufs[i];
        bytes += rte_pktmbuf_pkt_len(m);
        Classified c = classify(frame_of(m), rte_pktmbuf_data_len(m), addresses, hook);
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
            if (w.lb && is_neighbour_answer(frame_of(m), c)) {
                // A copy for the load balancer's neighbour table (slow path).
                if (rte_mbuf* copy = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX)) to_control[n_control++] = copy;
            }
            if (port.tap_id == NO_PORT) { rte_pktmbuf_free(m); cnt.rx_dropped.add(); break; }
            address_to_mirror(m, addresses);
            to_kernel[n_kernel++] = m;
            break;
        case Verdict::to_vrrp:
            to_control[n_control++] = m;
            break;
        case Verdict::to_lb:
            lb.add(m, port_index, c);
            break;
        case Verdict::malformed:
            cnt.malformed[static_cast<size_t>(c.malformed)].add();
            [[fallthrough]];
        case Verdict::not_mine:
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
    if (w.lb) lb.flush(w, now);
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
    LbStage lb;
    const uint64_t hz = rte_get_timer_hz();
    const uint64_t start = rte_get_timer_cycles();
    rte_rcu_qsbr_thread_register(w.rcu, w.queue);
    rte_rcu_qsbr_thread_online(w.rcu, w.queue);

    while (!w.quit->load(std::memory_order_relaxed)) {
        unsigned work = 0;
        const uint64_t now = rte_get_timer_cycles();
        const AddressTable* table = w.table->load(std::memory_order_acquire);
        if (w.lb) {
            w.lb->begin_round(static_cast<uint32_t>((now - start) / hz));
            lb.retry_held(w, now);
        }
        for (size_t i = 0; i < ports.size(); ++i) {
            const PortRuntime& port = ports[i];
            PortCounters& cnt = w.counters[i];
            uint16_t n = rte_eth_rx_burst(port.port_id, w.queue, bufs, BURST);
            if (n) handle_port_burst(w, static_cast<uint16_t>(i), table->ports[i], bufs, n, lb, now);
            work += n;
            if (port.tap_id != NO_PORT) work += forward_from_kernel(w, port, table->ports[i], cnt);
            if (w.queue == 0 && port.control_tx) work += send_from_control(w, port, cnt);
        }
        if (w.handoff) work += lb.take_over(w, now);   // several workers: packets of our flows
        rte_rcu_qsbr_quiescent(w.rcu, w.queue);   // done with `table` for this round
        if (w.poll == config::PollMode::adaptive) {
            if (work) backoff.busy();
            else backoff.idle(w.rcu, w.queue);
        }
    }
    lb.release(w);
    rte_rcu_qsbr_thread_offline(w.rcu, w.queue);
    rte_rcu_qsbr_thread_unregister(w.rcu, w.queue);
    return 0;
}

} // namespace haplane::dataplane
