// The schedulers of virtual services: which real server gets a new flow.
//
// One interface for all of rr wrr lc wlc sh mh. A scheduler is built from
// the service's backends (index = real server index) and never changes
// afterwards; weight or membership changes build a new one. rr, wrr, lc and
// wlc keep a cursor that pick() advances, so every worker lcore owns its own
// instance (clone() one per worker); nothing is shared, nothing locked.
// pick() does not allocate, lock, throw or make system calls.
#pragma once

#include "config/config.hpp"
#include "lb/backend.hpp"
#include "lb/conn_counts.hpp"
#include "lb/flow.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace haplane::lb {

class Scheduler {
public:
    virtual ~Scheduler() = default;

    // The real server index for a new flow, or -1 when no backend has a
    // weight. `counts` matter to lc and wlc only; others ignore it.
    virtual int pick(const FlowKey& flow, const ConnCounts& counts) = 0;
    // An independent copy (cursor included) for another worker. Immutable
    // lookup tables (sh, mh) are shared, not copied.
    virtual std::unique_ptr<Scheduler> clone() const = 0;
    virtual config::Scheduler kind() const = 0;
};

// rr   round robin over the backends with weight > 0.
// wrr  smooth weighted round robin (nginx): proportional and interleaved.
// lc   least IPVS overhead (active*256 + inactive); ties rotate.
// wlc  least overhead/weight; ties rotate.
// sh   source hashing: Maglev table keyed by the client address only.
// mh   Maglev table keyed by the whole 5-tuple.
// Throws std::invalid_argument for more than 65535 backends (conn entries
// store the index in 16 bits).
std::unique_ptr<Scheduler> make_scheduler(config::Scheduler kind, std::vector<Backend> backends);

// sh/mh with a chosen table size (prime; see build_maglev_table).
std::unique_ptr<Scheduler> make_maglev_scheduler(config::Scheduler kind, std::vector<Backend> backends,
                                                 uint32_t table_size);

} // namespace haplane::lb
