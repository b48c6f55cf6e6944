// The control thread's view of a worker's connections (`haplanectl
// connections`, like `ipvsadm -Lnc`). A worker's connection table is its
// own and nobody else reads it, so the control thread asks and the worker
// answers: between bursts (LbWorker::begin_round) it copies the live flows
// of a slice of its table into the asker's buffer, looking at a bounded
// number of entries per round so that forwarding does not stall on a big
// table. One question at a time; no locks: the question and the answer are
// published with release/acquire on one state word.
#pragma once

#include "lb/conn_record.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace haplane::lb {

class ConnDump {
public:
    // Entries a worker looks at per round: each is a cache miss in a big
    // table, so a round costs it some tens of microseconds at most.
    static constexpr uint32_t kVisitsPerRound = 512;

    // Control thread. Asks for up to `max` flows (`out` holds that many)
    // among at most `visits` entries from entry number `from` on (so that
    // the answer comes within visits / kVisitsPerRound rounds); not while a
    // question is open.
    void ask(uint32_t from, ConnRecord* out, uint32_t max, uint32_t visits = UINT32_MAX) {
        out_ = out;
        max_ = max;
        count_ = 0;
        cursor_ = from;
        end_ = visits > UINT32_MAX - from ? UINT32_MAX : from + visits;
        state_.store(kAsked, std::memory_order_release);
    }
    bool answered() const { return state_.load(std::memory_order_acquire) == kAnswered; }
    // After answered(): the flows copied, and the entry number to ask from
    // next (>= the worker's entries: none left). A full buffer stops right
    // after the last flow copied, so asking from next() misses none.
    uint32_t count() const { return count_; }
    uint32_t next() const { return cursor_; }
    // Ready for the next question.
    void reset() { state_.store(kIdle, std::memory_order_relaxed); }

    // Worker, whose tables hold `entries` numbered entries. `serve` looks at
    // up to kVisitsPerRound of them: `visit(n, record)` fills `record` and
    // returns true for an entry to list. It answers when the buffer is full,
    // the question's entries are seen or the entries end, else goes on next
    // round.
    bool asked() const { return state_.load(std::memory_order_acquire) == kAsked; }
    template <class Visit>
    void serve(uint32_t entries, Visit&& visit) {
        const uint32_t end = std::min(entries, end_);
        for (uint32_t visits = 0; visits < kVisitsPerRound && cursor_ < end && count_ < max_; ++visits, ++cursor_)
            if (visit(cursor_, out_[count_])) ++count_;
        if (cursor_ >= end || count_ >= max_) state_.store(kAnswered, std::memory_order_release);
    }

private:
    static constexpr uint32_t kIdle = 0, kAsked = 1, kAnswered = 2;
    std::atomic<uint32_t> state_{kIdle};
    ConnRecord* out_ = nullptr;
    uint32_t max_ = 0;
    uint32_t count_ = 0;
    uint32_t cursor_ = 0;
    uint32_t end_ = 0;
};

} // namespace haplane::lb
