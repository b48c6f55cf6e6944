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
    std::vector<uint32_t> next(n), skip(n), weight(n);
    std::vector<uint64_t> credit(n, 0);
    uint32_t max_weight = 0;
    for (size_t k = 0; k < n; ++k) {
        const Backend& b = backends[order[k]];
        const MaglevPermutation p = maglev_permutation(b.id, M);
        next[k] = p.offset;
        skip[k] = p.skip;
        weight[k] = b.weight;
        max_weight = std::max(max_weight, b.weight);
    }

    std::vector<int32_t> table(M, -1);
    uint32_t filled = 0;

    // Opening: walk the permutation until a free slot. Occupancy is a
    // bitmap: 8 KB for M = 65537 stays in L1 while the walks probe at random.
    std::vector<uint64_t> taken((M + 63) / 64, 0);
    auto walk = [&](size_t k) {
        uint32_t c = next[k];
        while (taken[c >> 6] >> (c & 63) & 1) {
            c += skip[k];
            if (c >= M) c -= M;
        }
        taken[c >> 6] |= uint64_t{1} << (c & 63);
        return c;
    };

    // End game: with F slots free a walk costs M/F probes, and the last few
    // hundred slots would take most of the build. Instead compute, for each
    // free slot, how many steps of the backend's permutation lead to it
    // ((slot - next) * skip^-1 mod M) and take the nearest: the same slot
    // the walk would find, in O(F).
    const uint32_t endgame = std::min(kEndgameSlots, M);
    std::vector<uint32_t> free_slots;
    std::vector<uint32_t> inverse_skip;
    const ModM mod(M);
    auto nearest_free = [&](size_t k) {
        const uint32_t c = next[k];
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
        free_slots.reserve(M - filled);
        for (uint32_t w = 0; w < taken.size(); ++w)
            for (uint64_t bits = ~taken[w]; bits != 0; bits &= bits - 1) {
                const uint32_t s = w * 64 + static_cast<uint32_t>(std::countr_zero(bits));
                if (s < M) free_slots.push_back(s);
            }
        inverse_skip.resize(n);
        for (size_t k = 0; k < n; ++k) inverse_skip[k] = inverse_mod(skip[k], M);
    };

    // Weights, as Katran's MaglevV2: in every round each backend earns its
    // weight in credit and places one slot per max_weight of credit. The
    // heaviest backend places exactly one slot per round, a backend of
    // weight w places w/max_weight per round on average, so shares are
    // proportional to weight; with equal weights this is the paper's plain
    // round robin (slot counts differ by at most one).
    for (;;) {
        for (size_t k = 0; k < n; ++k) {
            credit[k] += weight[k];
            while (credit[k] >= max_weight) {
                credit[k] -= max_weight;
                const bool opening = M - filled > endgame;
                if (!opening && inverse_skip.empty()) enter_endgame();
                uint32_t c = opening ? walk(k) : nearest_free(k);
                table[c] = static_cast<int32_t>(order[k]);
                c += skip[k];
                if (c >= M) c -= M;
                next[k] = c;
                if (++filled == M) return table;
            }
        }
    }
}

} // namespace haplane::lb
