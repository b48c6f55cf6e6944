// IP fragments: only a datagram's first fragment carries the TCP/UDP header,
// so only it can be looked up in the connection table. The worker remembers
// which flow entry the first fragment went by, keyed by the datagram's
// identity (addresses, protocol, IP identification), and forwards the
// datagram's other fragments the same way, without reassembling anything
// (the real server or the client reassembles, as behind IPVS).
//
// A fixed, direct-mapped table per worker: a datagram whose slot another
// one took, or whose later fragments come first or after kLifetime, loses
// those fragments (dropped and counted as "fragment"; the sender's
// retransmission or path-MTU discovery recovers, as after any loss).
// Pure: no allocation after construction, no locks (one worker's own).
#pragma once

#include "dataplane/wire.hpp"
#include "lb/flow.hpp"

#include <cstdint>
#include <vector>

namespace haplane::lb {

// The datagram's identity in a FlowKey: addresses, protocol and family as
// a flow's, the identification in the port fields (IPv4: 16 bits; IPv6:
// the fragment header's 32). False when the frame is not a fragment.
bool fragment_key(const uint8_t* frame, const wire::Parsed& p, FlowKey& out);

class FragTable {
public:
    static constexpr uint32_t kNone = 0xffffffffu;
    static constexpr uint32_t kLifetime = 30;   // seconds, Linux's ipfrag_time

    // size: slots, rounded up to a power of two.
    explicit FragTable(uint32_t size = 4096, uint64_t seed = 0x667261672d746162ull);

    // The first fragment of `datagram` went by connection entry `node`.
    void remember(const FlowKey& datagram, uint32_t node, uint32_t now) {
        Slot& s = slots_[slot(datagram)];
        s.key = datagram;
        s.node = node;
        s.expires = now + kLifetime;
    }
    // That entry's node, or kNone (never seen, replaced, or expired).
    uint32_t find(const FlowKey& datagram, uint32_t now) const {
        const Slot& s = slots_[slot(datagram)];
        return s.node != kNone && now < s.expires && s.key == datagram ? s.node : kNone;
    }

private:
    struct Slot {
        FlowKey key;
        uint32_t node = kNone;
        uint32_t expires = 0;
    };
    size_t slot(const FlowKey& k) const { return static_cast<size_t>(hash_flow(k, seed_)) & mask_; }

    std::vector<Slot> slots_;
    size_t mask_;
    uint64_t seed_;
};

} // namespace haplane::lb
