#include "lb/scheduler.hpp"

#include "lb/maglev.hpp"

#include <stdexcept>

namespace haplane::lb {

namespace {

// Fixed seeds: sh/mh must map a flow to the same server on both HA nodes.
constexpr uint64_t kMaglevFlowSeed = 0x6d682d666c6f7773ull;
constexpr uint64_t kMaglevSourceSeed = 0x73682d736f757263ull;

struct Weighted {
    uint32_t index;
    uint32_t weight;
};

std::vector<Weighted> eligible(const std::vector<Backend>& backends) {
    std::vector<Weighted> out;
    for (uint32_t i = 0; i < backends.size(); ++i)
        if (backends[i].weight > 0) out.push_back({i, backends[i].weight});
    return out;
}

class RoundRobin final : public Scheduler {
public:
    explicit RoundRobin(const std::vector<Backend>& backends) {
        for (const Weighted& w : eligible(backends)) order_.push_back(static_cast<int>(w.index));
    }
    int pick(const FlowKey&, const ConnCounts&) override {
        if (order_.empty()) return -1;
        int chosen = order_[cursor_];
        if (++cursor_ == order_.size()) cursor_ = 0;
        return chosen;
    }
    std::unique_ptr<Scheduler> clone() const override { return std::make_unique<RoundRobin>(*this); }
    config::Scheduler kind() const override { return config::Scheduler::rr; }

private:
    std::vector<int> order_;
    size_t cursor_ = 0;
};

// nginx's smooth weighted round robin: every pick adds each weight to its
// backend's current value, takes the largest and subtracts the total from
// it. Over one cycle of sum(weights) picks each backend is chosen exactly
// weight times, and heavy backends are spread out instead of bunched.
class WeightedRoundRobin final : public Scheduler {
public:
    explicit WeightedRoundRobin(const std::vector<Backend>& backends) {
        for (const Weighted& w : eligible(backends)) {
            peers_.push_back({w.index, w.weight, 0});
            total_ += w.weight;
        }
    }
    int pick(const FlowKey&, const ConnCounts&) override {
        Peer* best = nullptr;
        for (Peer& p : peers_) {
            p.current += p.weight;
            if (!best || p.current > best->current) best = &p;
        }
        if (!best) return -1;
        best->current -= total_;
        return static_cast<int>(best->index);
    }
    std::unique_ptr<Scheduler> clone() const override { return std::make_unique<WeightedRoundRobin>(*this); }
    config::Scheduler kind() const override { return config::Scheduler::wrr; }

private:
    struct Peer {
        uint32_t index;
        int64_t weight;
        int64_t current;
    };
    std::vector<Peer> peers_;
    int64_t total_ = 0;
};

// lc and wlc. The scan starts after the previous choice so equal candidates
// take turns; with counts that lag behind (or are all zero) new flows still
// spread instead of piling onto the lowest index.
class LeastConnection final : public Scheduler {
public:
    LeastConnection(const std::vector<Backend>& backends, bool weighted)
        : peers_(eligible(backends)), weighted_(weighted) {}

    int pick(const FlowKey&, const ConnCounts& counts) override {
        const size_t n = peers_.size();
        if (n == 0) return -1;
        size_t best = n;
        uint64_t best_overhead = 0;
        for (size_t k = 0, j = cursor_; k < n; ++k, j = j + 1 == n ? 0 : j + 1) {
            uint64_t overhead = counts.overhead(peers_[j].index);
            if (best == n || better(overhead, peers_[j].weight, best_overhead, peers_[best].weight)) {
                best = j;
                best_overhead = overhead;
            }
        }
        cursor_ = best + 1 == n ? 0 : best + 1;
        return static_cast<int>(peers_[best].index);
    }
    std::unique_ptr<Scheduler> clone() const override { return std::make_unique<LeastConnection>(*this); }
    config::Scheduler kind() const override { return weighted_ ? config::Scheduler::wlc : config::Scheduler::lc; }

private:
    bool better(uint64_t overhead, uint32_t weight, uint64_t best_overhead, uint32_t best_weight) const {
        if (!weighted_) return overhead < best_overhead;
        // overhead/weight < best_overhead/best_weight, without division.
        __extension__ typedef unsigned __int128 u128;
        return static_cast<u128>(overhead) * best_weight < static_cast<u128>(best_overhead) * weight;
    }

    std::vector<Weighted> peers_;
    bool weighted_;
    size_t cursor_ = 0;
};

// sh and mh: a Maglev table, immutable, shared by all clones.
class MaglevScheduler final : public Scheduler {
public:
    MaglevScheduler(config::Scheduler kind, const std::vector<Backend>& backends, uint32_t table_size)
        : table_(std::make_shared<const std::vector<int32_t>>(build_maglev_table(backends, table_size))),
          size_(table_size), kind_(kind) {}

    int pick(const FlowKey& flow, const ConnCounts&) override {
        if (table_->empty()) return -1;
        uint64_t h = kind_ == config::Scheduler::sh ? hash_source(flow, kMaglevSourceSeed)
                                                    : hash_flow(flow, kMaglevFlowSeed);
        return (*table_)[h % size_];
    }
    std::unique_ptr<Scheduler> clone() const override { return std::make_unique<MaglevScheduler>(*this); }
    config::Scheduler kind() const override { return kind_; }

private:
    std::shared_ptr<const std::vector<int32_t>> table_;
    uint32_t size_;
    config::Scheduler kind_;
};

void check_count(const std::vector<Backend>& backends) {
    if (backends.size() > 65535)
        throw std::invalid_argument("a virtual service has at most 65535 real servers");
}

} // namespace

std::unique_ptr<Scheduler> make_scheduler(config::Scheduler kind, std::vector<Backend> backends) {
    check_count(backends);
    switch (kind) {
    case config::Scheduler::rr: return std::make_unique<RoundRobin>(backends);
    case config::Scheduler::wrr: return std::make_unique<WeightedRoundRobin>(backends);
    case config::Scheduler::lc: return std::make_unique<LeastConnection>(backends, false);
    case config::Scheduler::wlc: return std::make_unique<LeastConnection>(backends, true);
    case config::Scheduler::sh:
    case config::Scheduler::mh: return make_maglev_scheduler(kind, std::move(backends), kMaglevDefaultSize);
    }
    throw std::invalid_argument("unknown scheduler");
}

std::unique_ptr<Scheduler> make_maglev_scheduler(config::Scheduler kind, std::vector<Backend> backends,
                                                 uint32_t table_size) {
    check_count(backends);
    if (kind != config::Scheduler::sh && kind != config::Scheduler::mh)
        throw std::invalid_argument("only sh and mh use a maglev table");
    return std::make_unique<MaglevScheduler>(kind, backends, table_size);
}

} // namespace haplane::lb
