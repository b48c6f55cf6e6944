#include "lb/maglev.hpp"

#include "lb/flow.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>
#include <utility>

namespace haplane::lb {

namespace {

// Fixed seeds: both HA nodes must compute the same permutations.
constexpr uint64_t kOffsetSeed = 0x4d61676c65764f66ull;
constexpr uint64_t kSkipSeed = 0x4d61676c65765370ull;

// Free slots left when the build switches from walking to the end game
// (measured best for M = 65537; any value gives the same table).
constexpr uint32_t kEndgameSlots = 256;

__extension__ typedef unsigned __int128 u128;

// x mod m by multiplication (Barrett) for x < 2^52: a division per free
// slot would dominate the end game below.
class ModM {
public:
    explicit ModM(uint32_t m) : m_(m), r_(~uint64_t{0} / m) {}
    uint32_t operator()(uint64_t x) const {
        uint64_t q = static_cast<uint64_t>((static_cast<u128>(x) * r_) >> 64);
        uint64_t rem = x - q * m_;
        return static_cast<uint32_t>(rem >= m_ ? rem - m_ : rem);
    }

private:
    uint64_t m_;
    uint64_t r_;
};

uint32_t inverse_mod(uint32_t a, uint32_t m) {
    int64_t t = 0, new_t = 1, r = m, new_r = a;
    while (new_r != 0) {
        int64_t q = r / new_r;
        t = std::exchange(new_t, t - q * new_t);
        r = std::exchange(new_r, r - q * new_r);
    }
    return static_cast<uint32_t>(t < 0 ? t + m : t);
}

} // namespace

bool is_prime(uint32_t n) {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0) return false;
    return true;
}

MaglevPermutation maglev_permutation(uint64_t id, uint32_t M) {
    if (M < 2) return {0, 1};
    return {static_cast<uint32_t>(mix64(id, kOffsetSeed) % M),
            static_cast<uint32_t>(mix64(id, kSkipSeed) % (M - 1)) + 1};
}

std::vector<int32_t> build_maglev_table(const std::vector<MaglevBackend>& backends, uint32_t M) {
    if (M < 2 || M > kMaglevMaxSize || !is_prime(M))
        throw std::invalid_argument("maglev table size " + std::to_string(M) +
                                    " must be a prime between 2 and " + std::to_string(kMaglevMaxSize));

    // Turn order by identity, so the table does not depend on config order.
    std::vector<uint32_t> order;
    order.reserve(backends.size());
    for (uint32_t i = 0; i < backends.size(); ++i)
        if (backends[i].weight > 0) order.push_back(i);
    if (order.empty()) return {};
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return backends[a].id != backends[b].id ? backends[a].id < backends[b].id : a < b;
    });

    const size_t n = order.size();
    // Permutation of backend k: slot_j = (offset + j * skip) mod M. M prime
    // and 1 <= skip < M make it visit every slot, so a free slot is always
    // found. `next` is the slot at the backend's current j.
    struct Walker {
        uint32_t next;
        uint32_t skip;
    };
    std::vector<Walker> walkers(n);
    std::vector<uint64_t> weight(n), credit(n, 0);
    std::vector<uint32_t> turns(n), inverse_skip(n, 0);
    uint32_t max_weight = 0;
    for (size_t k = 0; k < n; ++k) {
        const Backend& b = backends[order[k]];
        const MaglevPermutation p = maglev_permutation(b.id, M);
        walkers[k] = {p.offset, p.skip};
        weight[k] = b.weight;
        max_weight = std::max(max_weight, b.weight);
    }

    std::vector<int32_t> table(M, -1);
    uint32_t filled = 0;

    // Occupancy: one byte per slot (64 KB for M = 65537): a probe is a
    // byte load and a test, a step an add and a conditional subtract (never
    // a division). 5.9 M instructions for M = 65537 and 100 backends, 8.9 M
    // before (valgrind), though the time went down much less: the walks'
    // ends are unpredictable branches.
    std::vector<uint8_t> taken(M, 0);
    uint8_t* const busy = taken.data();
    auto mod_once = [M](uint32_t c) { return c >= M ? c - M : c; };   // c < 2M
    // The first free slot of backend w's permutation from w.next on.
    auto walk = [busy, mod_once](const Walker& w) {
        uint32_t c = w.next;
        while (busy[c]) c = mod_once(c + w.skip);
        return c;
    };

    // End game: with F slots free a walk costs M/F probes, and the last few
    // hundred slots would take most of the build. Instead compute, for each
    // free slot, how many steps of the backend's permutation lead to it
    // ((slot - next) * skip^-1 mod M) and take the nearest: the same slot
    // the walk would find, in O(F). skip^-1 only for the backends that
    // still take a turn then (a few hundred at most, of however many).
    const uint32_t endgame = std::min(kEndgameSlots, M);
    std::vector<uint32_t> free_slots;
    bool in_endgame = false;
    const ModM mod(M);
    auto nearest_free = [&](size_t k) {
        const uint32_t c = walkers[k].next;
        if (inverse_skip[k] == 0) inverse_skip[k] = inverse_mod(walkers[k].skip, M);
        const uint64_t inv = inverse_skip[k];
        size_t best = 0;
        uint32_t best_steps = UINT32_MAX;
        for (size_t i = 0; i < free_slots.size(); ++i) {
            const uint32_t s = free_slots[i];
            const uint32_t steps = mod(uint64_t{s >= c ? s - c : s + M - c} * inv);
            if (steps < best_steps) {
                best_steps = steps;
                best = i;
            }
        }
        const uint32_t slot = free_slots[best];
        free_slots[best] = free_slots.back();
        free_slots.pop_back();
        return slot;
    };
    auto enter_endgame = [&] {
        in_endgame = true;
        free_slots.reserve(M - filled);
        for (uint32_t slot = 0; slot < M; ++slot)
            if (!busy[slot]) free_slots.push_back(slot);
    };
    const uint32_t walking = M - endgame;   // slots found by walks; the rest by the end game
    auto place = [&](uint32_t k) {
        Walker& w = walkers[k];
        uint32_t c;
        if (filled < walking) {
            c = walk(w);
            busy[c] = 1;
        } else {
            if (!in_endgame) enter_endgame();
            c = nearest_free(k);
        }
        table[c] = static_cast<int32_t>(order[k]);
        w.next = mod_once(c + w.skip);
        return ++filled == M;
    };

    // Weights, as Katran's MaglevV2: in every round each backend earns its
    // weight in credit and places one slot per max_weight of credit. The
    // heaviest backend places exactly one slot per round, a backend of
    // weight w places w/max_weight per round on average, so shares are
    // proportional to weight; with equal weights this is the paper's plain
    // round robin (slot counts differ by at most one). As weight <=
    // max_weight, a backend places at most one slot a round: the round's
    // turns are listed first without a branch per backend (a weight-1
    // backend among weight-10 ones would mispredict most rounds), then taken.
    const bool equal = std::all_of(weight.begin(), weight.end(), [&](uint64_t w) { return w == max_weight; });
    for (size_t k = 0; k < n; ++k) turns[k] = static_cast<uint32_t>(k);
    for (;;) {
        size_t m = n;
        if (!equal) {
            m = 0;
            for (size_t k = 0; k < n; ++k) {
                const uint64_t c = credit[k] + weight[k];
                const bool turn = c >= max_weight;
                turns[m] = static_cast<uint32_t>(k);
                m += turn;
                credit[k] = turn ? c - max_weight : c;
            }
        }
        size_t t = 0;
        // Four walks from the same occupancy, then their marks: the walks'
        // loads do not wait behind the previous walk's store, and a later
        // walk that found an earlier one's slot goes on from there (the
        // same slot as one after the other).
        for (; t + 4 <= m && filled + 4 <= walking; t += 4) {
            uint32_t c[4];
            for (int i = 0; i < 4; ++i) c[i] = walk(walkers[turns[t + i]]);
            for (int i = 0; i < 4; ++i) {
                Walker& w = walkers[turns[t + i]];
                if (busy[c[i]]) {
                    w.next = c[i];
                    c[i] = walk(w);
                }
                busy[c[i]] = 1;
                table[c[i]] = static_cast<int32_t>(order[turns[t + i]]);
                w.next = mod_once(c[i] + w.skip);
            }
            filled += 4;
        }
        for (; t < m; ++t)
            if (place(turns[t])) return table;
    }
}

} // namespace haplane::lb
