// The door between the worker loop and the load balancer (lb/): frames
// classify() marked to_lb are handed over in bursts as plain bytes, and come
// back with the port to send them on. Pure (no DPDK): lb/ implements it and
// is unit-tested without EAL; the worker turns the answers into mbuf moves.
#pragma once

#include "dataplane/wire.hpp"

#include <cstdint>

namespace haplane::dataplane {

struct LbPacket {
    // In: the frame (one contiguous segment) and the room around it.
    uint8_t* frame = nullptr;
    uint16_t len = 0;             // frame length; forward() may change it
    uint16_t headroom = 0;        // writable bytes before `frame`
    uint16_t tailroom = 0;        // writable bytes after frame + len
    uint16_t in_port = 0;         // port index it arrived on
    wire::Parsed parsed;          // from classify()

    // Out: where it goes. kDrop: free it (the forwarder counted why).
    // kHold: keep it untouched and hand it over again next round (its next
    // hop is being resolved); the worker drops it after a while.
    // kHandoff (set by steer() only): untouched, for worker `owner`.
    static constexpr uint16_t kDrop = 0xffff;
    static constexpr uint16_t kHold = 0xfffe;
    static constexpr uint16_t kHandoff = 0xfffd;
    uint16_t out_port = kDrop;
    uint16_t owner = 0;
    // Bytes written before `frame` (a tunnel header): the frame now starts
    // at frame - prepended and is `len` bytes long.
    uint16_t prepended = 0;
};

// One per worker, owned by the control thread, used by that worker only.
class Forwarder {
public:
    virtual ~Forwarder() = default;
    // Start of a poll round: pick up the current tables (the worker reports
    // its RCU quiescent state at the end of the round) and expire flows.
    // now_s: seconds of a monotonic clock.
    virtual void begin_round(uint32_t now_s) = 0;
    // classify()'s LbHook: does a virtual service want this frame?
    virtual bool claims(const uint8_t* frame, const wire::Parsed& p) const = 0;
    // Rewrite each packet in place and set out_port (and prepended, len).
    virtual void forward(LbPacket* pkts, uint16_t n) = 0;
    // n packets answered kHold were dropped: their next hop never resolved.
    virtual void held_dropped(uint16_t n) = 0;

    // Several workers only (never called with one): packets of flows that
    // another worker owns get out_port kHandoff and `owner`, and are left
    // untouched for the owner to forward(). Returns how many. Packets
    // handed over by another worker are forwarded as they are, not steered.
    virtual uint16_t steer(LbPacket* pkts, uint16_t n) = 0;
    // For the counters: packets handed to other workers, dropped because
    // the owner's ring was full, and taken over from other workers.
    virtual void handoff_counts(uint32_t sent, uint32_t ring_full, uint32_t received) = 0;
};

} // namespace haplane::dataplane
