// Per-lcore, per-port counters: each worker writes only its own copy (no
// locks, no shared cache lines); the control thread sums them on read.
#pragma once

#include "dataplane/classify.hpp"
#include "dataplane/wire.hpp"

#include <array>
#include <atomic>
#include <cstdint>

namespace haplane::dataplane {

// A counter with one writer. Relaxed atomics compile to plain loads and
// stores on x86 yet make the cross-thread read well defined.
class Counter {
public:
    void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }
    void clear() { v_.store(0, std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

struct alignas(64) PortCounters {
    Counter rx_packets, rx_bytes, tx_packets, tx_bytes;
    Counter rx_dropped;     // received and not used (malformed, not_mine, no room)
    Counter tx_dropped;     // the PMD would not take it
    Counter from_kernel;    // frames the kernel sent through the mirror
    Counter to_kernel_dropped;
    std::array<Counter, static_cast<size_t>(Verdict::count_)> verdicts;
    std::array<Counter, static_cast<size_t>(wire::Malformed::count_)> malformed;
};

// A plain snapshot of the sums, for status and tests.
struct PortStats {
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
    uint64_t rx_dropped = 0, tx_dropped = 0, from_kernel = 0, to_kernel_dropped = 0;
    std::array<uint64_t, static_cast<size_t>(Verdict::count_)> verdicts{};
    std::array<uint64_t, static_cast<size_t>(wire::Malformed::count_)> malformed{};

    void accumulate(const PortCounters& c);
    // What was counted since `baseline` was taken (`haplanectl stats --clear`:
    // the workers' counters are never written by anyone else).
    PortStats since(const PortStats& baseline) const;
};

} // namespace haplane::dataplane
