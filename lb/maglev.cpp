#include "lb/maglev.hpp"

#include "lb/flow.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include <immintrin.h>

namespace haplane::lb {

namespace {

// Fixed seeds: both HA nodes must compute the same permutations.
constexpr uint64_t kOffsetSeed = 0x4d61676c65764f66ull;
constexpr uint64_t kSkipSeed = 0x4d61676c65765370ull;

// Free slots left when the build switches from walking to the end game
// (measured best for M = 65537; any value gives the same table).
constexpr uint32_t kEndgameSlots = 256;

// Vector walks (AVX2), by fill: up to 50 % the first three slots of eight
// turns in three gathers (a lane per turn); up to 80 % each walk probes
// eight slots at a time, then sixteen. Measured for M = 65537; any values
// give the same table.
constexpr uint32_t kLanesUntilPermille = 500;
constexpr uint32_t kWideWalksFromPermille = 800;

// Walks of one batch run from the same occupancy (see place_batches).
constexpr size_t kBatch = 8;

// Per backend: i * skip mod M for i = 0..16 (a walk's probe offsets and its
// stride), padded to a multiple of 32 bytes.
constexpr uint32_t kMults = 24;

__extension__ typedef unsigned __int128 u128;

// x mod m by multiplication (Barrett), for any 64-bit x: divisions would
// dominate the end game below. The quotient estimate is at most two short.
class Mod64 {
public:
    explicit Mod64(uint32_t m) : m_(m), r_(~uint64_t{0} / m) {}
    uint32_t operator()(uint64_t x) const {
        const uint64_t q = static_cast<uint64_t>((static_cast<u128>(x) * r_) >> 64);
        uint64_t rem = x - q * m_;
        rem = rem >= m_ ? rem - m_ : rem;
        return static_cast<uint32_t>(rem >= m_ ? rem - m_ : rem);
    }

private:
    uint64_t m_;
    uint64_t r_;
};

uint32_t inverse_mod(uint32_t a, uint32_t m) {
    int32_t t = 0, new_t = 1;
    uint32_t r = m, new_r = a;
    while (new_r != 0) {
        const uint32_t q = r / new_r;
        t = std::exchange(new_t, t - static_cast<int32_t>(q) * new_t);
        r = std::exchange(new_r, r - q * new_r);
    }
    return static_cast<uint32_t>(t < 0 ? t + static_cast<int32_t>(m) : t);
}

inline uint32_t mod_once(uint32_t c, uint32_t M) { return c >= M ? c - M : c; }   // c < 2M

// The build's state. Backends are numbered by turn order (k); `order`
// maps k to the index in the caller's vector.
struct Build {
    uint32_t M;
    uint32_t filled;
    const uint32_t* order;
    uint32_t* next;           // k's next slot to try: offset + j * skip mod M
    const uint32_t* skip;
    const uint32_t* mults;    // kMults per backend
    uint32_t* bits;           // occupancy, a bit per slot
    int32_t* table;
    size_t batch;             // turns per batch, <= kBatch
};

// Takes turns[0..count), one slot each: the first free slot of each
// backend's permutation from its next one on.
void place_scalar(Build& b, const uint32_t* turns, size_t count) {
    const uint32_t M = b.M;
    uint32_t* const bits = b.bits;
    for (size_t t = 0; t < count; ++t) {
        const uint32_t k = turns[t];
        const uint32_t s = b.skip[k];
        uint32_t c = b.next[k];
        while (bits[c >> 5] & (1u << (c & 31))) c = mod_once(c + s, M);
        bits[c >> 5] |= 1u << (c & 31);
        b.table[c] = static_cast<int32_t>(b.order[k]);
        b.next[k] = mod_once(c + s, M);
    }
    b.filled += static_cast<uint32_t>(count);
}

// --- AVX2 ------------------------------------------------------------------
// A walk probes eight (or sixteen) slots of its permutation at once: their
// positions are next + i * skip mod M (an add and an unsigned min with the
// sum minus M), their bits one gather from the bitmap (8 KB for M = 65537,
// in L1), the first free one a movemask and a count of trailing zeros.
// Same slots as the scalar walk, with no branch per probe.

#define HAPLANE_AVX2 __attribute__((target("avx2,bmi")))
#define HAPLANE_AVX2_INLINE __attribute__((target("avx2,bmi"), always_inline)) inline

struct Avx2Walker {
    __m256i vM, v31, one;
    const int* bits;
    uint32_t M;

    explicit HAPLANE_AVX2_INLINE Avx2Walker(const Build& b)
        : vM(_mm256_set1_epi32(static_cast<int>(b.M))), v31(_mm256_set1_epi32(31)), one(_mm256_set1_epi32(1)),
          bits(reinterpret_cast<const int*>(b.bits)), M(b.M) {}

    // All ones in the lanes whose slot (< M) is free.
    HAPLANE_AVX2_INLINE __m256i free_at(__m256i x) const {
        const __m256i w = _mm256_i32gather_epi32(bits, _mm256_srli_epi32(x, 5), 4);
        const __m256i bit = _mm256_sllv_epi32(one, _mm256_and_si256(x, v31));
        return _mm256_cmpeq_epi32(_mm256_and_si256(w, bit), _mm256_setzero_si256());
    }
    // Bit i set if slot c + mv[i] mod M is free.
    HAPLANE_AVX2_INLINE uint32_t probe(uint32_t c, __m256i mv) const {
        __m256i x = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(c)), mv);
        x = _mm256_min_epu32(x, _mm256_sub_epi32(x, vM));
        return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(free_at(x))));
    }
    // The first free slot from c on along the permutation with offsets mk.
    template <bool wide>
    HAPLANE_AVX2_INLINE uint32_t walk(const uint32_t* mk, uint32_t c) const {
        const __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(mk));
        if (!wide) {
            for (;;) {
                const uint32_t f = probe(c, m0);
                if (f) return mod_once(c + mk[_tzcnt_u32(f)], M);
                c = mod_once(c + mk[8], M);
            }
        }
        const __m256i m1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(mk + 8));
        for (;;) {
            const uint32_t f = probe(c, m0) | probe(c, m1) << 8;
            if (f) return mod_once(c + mk[_tzcnt_u32(f)], M);
            c = mod_once(c + mk[16], M);
        }
    }
};

// Marks slot[i] for turns[i], i < count, in turn order. A slot an earlier
// turn took since the walk found it makes the walk go on from there: the
// slots it passed were taken then and still are, so it ends on the slot
// the walk would have found after the earlier turns.
template <bool wide>
HAPLANE_AVX2_INLINE void commit(Build& b, const Avx2Walker& wk, const uint32_t* turns, const uint32_t* slot,
                                size_t count) {
    uint32_t* const bits = b.bits;
    int32_t* const table = b.table;
    const uint32_t* const order = b.order;
    uint32_t* const next = b.next;
    const uint32_t* const skip = b.skip;
    const uint32_t M = b.M;
    for (size_t i = 0; i < count; ++i) {
        const uint32_t k = turns[i];
        uint32_t s = slot[i];
        uint32_t w = bits[s >> 5];
        if (w & (1u << (s & 31))) [[unlikely]] {
            s = wk.walk<wide>(b.mults + size_t{k} * kMults, s);
            w = bits[s >> 5];
        }
        bits[s >> 5] = w | 1u << (s & 31);
        table[s] = static_cast<int32_t>(order[k]);
        next[k] = mod_once(s + skip[k], M);
    }
}

// The first eight (sixteen) probes of every walk of the batch, with no
// branch between them; then the walks that found nothing go on. A walk's
// end is a mispredicted branch about as often as not: resolved on masks
// already computed, it no longer waits for a gather, and the batch's other
// gathers are under way before it.
template <bool wide>
struct WalkEach {
    HAPLANE_AVX2_INLINE void operator()(const Build& b, const Avx2Walker& wk, const uint32_t* turns, size_t count,
                                        uint32_t* slot) const {
        uint32_t found[kBatch];
        for (size_t i = 0; i < count; ++i) {
            const uint32_t* mk = b.mults + size_t{turns[i]} * kMults;
            const uint32_t c = b.next[turns[i]];
            const __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(mk));
            found[i] = wk.probe(c, m0);
            if (wide) found[i] |= wk.probe(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(mk + 8))) << 8;
        }
        for (size_t i = 0; i < count; ++i) {
            const uint32_t* mk = b.mults + size_t{turns[i]} * kMults;
            const uint32_t c = b.next[turns[i]];
            slot[i] = found[i] ? mod_once(c + mk[_tzcnt_u32(found[i])], wk.M)
                               : wk.walk<wide>(mk, mod_once(c + mk[wide ? 16 : 8], wk.M));
        }
    }
};

// Low fill: the first kLaneProbes slots of up to eight turns, a gather for
// each (a lane per turn); only the turns whose slots are all taken walk on.
// Fewer probes would leave a turn or two of most batches to walk (a branch
// mispredicted per batch); more would mostly find nothing new.
constexpr int kLaneProbes = 3;
static_assert(kBatch == 8, "WalkLanes takes a batch as one vector of eight lanes");

struct WalkLanes {
    HAPLANE_AVX2_INLINE void operator()(const Build& b, const Avx2Walker& wk, const uint32_t* turns, size_t count,
                                        uint32_t* slot) const {
        const __m256i live =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i k = _mm256_maskload_epi32(reinterpret_cast<const int*>(turns), live);
        __m256i c = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(b.next), k,
                                                live, 4);
        const __m256i sk = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(b.skip),
                                                       k, live, 4);
        __m256i pending = live, found = _mm256_setzero_si256();
        for (int r = 0; r < kLaneProbes; ++r) {
            const __m256i f = _mm256_and_si256(wk.free_at(c), pending);
            found = _mm256_blendv_epi8(found, c, f);
            pending = _mm256_andnot_si256(f, pending);
            c = _mm256_add_epi32(c, sk);
            c = _mm256_min_epu32(c, _mm256_sub_epi32(c, wk.vM));
        }
        // found slots, and where the others go on
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(slot), _mm256_blendv_epi8(found, c, pending));
        uint32_t walking = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(pending)));
        while (walking) {
            const uint32_t i = _tzcnt_u32(walking);
            walking &= walking - 1;
            slot[i] = wk.walk<false>(b.mults + size_t{turns[i]} * kMults, slot[i]);
        }
    }
};

// Takes turns[0..count) in batches: a batch's walks run from the occupancy
// before the previous batch is marked, and only then is the previous batch
// committed. The walks' gathers so do not wait for the marks' stores, nor
// each walk for the one before. A backend with a turn in the previous batch
// (or earlier in its own) walks from an earlier slot of its permutation than
// its latest; the slots between are taken, and commit() goes on from the
// slot it found: the same slot in the end, at the cost of a second walk
// (turn lists keep a backend's turns apart).
template <bool wide, class Walk>
HAPLANE_AVX2_INLINE void place_batches(Build& b, const uint32_t* turns, size_t count, Walk walk) {
    const Avx2Walker wk(b);
    alignas(32) uint32_t slots[2][kBatch];
    const size_t batch = b.batch;
    size_t cur = 0, size = std::min(batch, count), t = 0;
    walk(b, wk, turns, size, slots[0]);
    while (t + size < count) {
        const size_t next_size = std::min(batch, count - t - size);
        walk(b, wk, turns + t + size, next_size, slots[cur ^ 1]);
        commit<wide>(b, wk, turns + t, slots[cur], size);
        t += size;
        cur ^= 1;
        size = next_size;
    }
    commit<wide>(b, wk, turns + t, slots[cur], size);
    b.filled += static_cast<uint32_t>(count);
}

HAPLANE_AVX2 void place_lanes(Build& b, const uint32_t* turns, size_t count) {
    place_batches<false>(b, turns, count, WalkLanes{});
}
HAPLANE_AVX2 void place_narrow(Build& b, const uint32_t* turns, size_t count) {
    place_batches<false>(b, turns, count, WalkEach<false>{});
}
HAPLANE_AVX2 void place_wide(Build& b, const uint32_t* turns, size_t count) {
    place_batches<true>(b, turns, count, WalkEach<true>{});
}

// --- End game --------------------------------------------------------------
// Index of the free slot fewest steps of the permutation (skip^-1 = inv)
// away from c. free_slots[count..) holds copies of free_slots[0] up to a
// multiple of 16 (nearest_avx2 reads them; they never win).
size_t nearest_scalar(const uint32_t* free_slots, size_t count, uint32_t c, uint32_t inv, uint32_t M,
                      const Mod64& mod) {
    size_t best = 0;
    uint32_t best_steps = UINT32_MAX;
    for (size_t i = 0; i < count; ++i) {
        const uint32_t s = free_slots[i];
        const uint32_t steps = mod(uint64_t{s >= c ? s - c : s + M - c} * inv);
        if (steps < best_steps) {
            best_steps = steps;
            best = i;
        }
    }
    return best;
}

// (s - c) * inv mod M in doubles, four at a time: exact, as the product is
// below M^2 < 2^52 and floor(product * (1/M)) is its exact quotient (the
// rounding error, below M * 2^-52 <= 1/M, is less than the distance of
// product / M to the next integer). Key = steps * 2^26 + index (< 2^52,
// exact): the smallest key is the nearest slot, and a copy of entry 0 in
// the padding has a larger key than entry 0.
__attribute__((target("avx2,fma"))) size_t nearest_avx2(const uint32_t* free_slots, size_t count, uint32_t c,
                                                       uint32_t inv, uint32_t M) {
    const __m128i vc = _mm_set1_epi32(static_cast<int>(c)), vM = _mm_set1_epi32(static_cast<int>(M));
    const __m256d dinv = _mm256_set1_pd(inv), dM = _mm256_set1_pd(M), rM = _mm256_set1_pd(1.0 / M);
    const __m256d shift = _mm256_set1_pd(static_cast<double>(uint64_t{1} << 26));
    auto key = [&](const uint32_t* p, __m256d idx) __attribute__((target("avx2,fma"), always_inline)) {
        __m128i d = _mm_sub_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), vc);
        d = _mm_min_epu32(d, _mm_add_epi32(d, vM));   // (s - c) mod M
        const __m256d prod = _mm256_mul_pd(_mm256_cvtepi32_pd(d), dinv);
        const __m256d q = _mm256_floor_pd(_mm256_mul_pd(prod, rM));
        return _mm256_fmadd_pd(_mm256_fnmadd_pd(q, dM, prod), shift, idx);
    };
    // Four minima: one would wait for the previous compare every step.
    const __m256d inf = _mm256_set1_pd(INFINITY);
    __m256d b0 = inf, b1 = inf, b2 = inf, b3 = inf;
    __m256d idx = _mm256_setr_pd(0, 1, 2, 3);
    const __m256d four = _mm256_set1_pd(4), sixteen = _mm256_set1_pd(16);
    for (size_t i = 0; i < count; i += 16) {
        const __m256d i1 = _mm256_add_pd(idx, four), i2 = _mm256_add_pd(i1, four), i3 = _mm256_add_pd(i2, four);
        b0 = _mm256_min_pd(b0, key(free_slots + i, idx));
        b1 = _mm256_min_pd(b1, key(free_slots + i + 4, i1));
        b2 = _mm256_min_pd(b2, key(free_slots + i + 8, i2));
        b3 = _mm256_min_pd(b3, key(free_slots + i + 12, i3));
        idx = _mm256_add_pd(idx, sixteen);
    }
    const __m256d m = _mm256_min_pd(_mm256_min_pd(b0, b1), _mm256_min_pd(b2, b3));
    __m128d h = _mm_min_pd(_mm256_castpd256_pd128(m), _mm256_extractf128_pd(m, 1));
    h = _mm_min_sd(h, _mm_unpackhi_pd(h, h));
    return static_cast<size_t>(static_cast<uint64_t>(_mm_cvtsd_f64(h)) & ((uint64_t{1} << 26) - 1));
}

bool vector_code_available() {
    static const bool ok =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("fma");
    return ok;
}

std::vector<int32_t> build(const std::vector<MaglevBackend>& backends, uint32_t M, bool vector) {
    if (M < 2 || M > kMaglevMaxSize || !is_prime(M))
        throw std::invalid_argument("maglev table size " + std::to_string(M) +
                                    " must be a prime between 2 and " + std::to_string(kMaglevMaxSize));

    // Turn order by identity, so the table does not depend on config order.
    struct Key {
        uint64_t id;
        uint32_t index;
    };
    std::vector<Key> keys;
    keys.reserve(backends.size());
    for (uint32_t i = 0; i < backends.size(); ++i)
        if (backends[i].weight > 0) keys.push_back({backends[i].id, i});
    if (keys.empty()) return {};
    if (keys.size() < 256) {
        std::sort(keys.begin(), keys.end(),
                  [](const Key& a, const Key& b) { return a.id != b.id ? a.id < b.id : a.index < b.index; });
    } else {
        // Radix sort, a byte at a time from the lowest: no comparisons
        // (random ids make a comparison sort mispredict about every other
        // one), and stable, so equal ids stay in index order.
        std::vector<Key> tmp(keys.size());
        uint32_t count[8][256] = {};
        for (const Key& key : keys)
            for (int d = 0; d < 8; ++d) ++count[d][(key.id >> (8 * d)) & 0xff];
        for (int d = 0; d < 8; ++d) {
            if (count[d][(keys[0].id >> (8 * d)) & 0xff] == keys.size()) continue;   // one value: no reorder
            uint32_t sum = 0;
            for (uint32_t& c : count[d]) sum += std::exchange(c, sum);
            for (const Key& key : keys) tmp[count[d][(key.id >> (8 * d)) & 0xff]++] = key;
            keys.swap(tmp);
        }
    }
    std::vector<uint32_t> order(keys.size());
    for (size_t k = 0; k < keys.size(); ++k) order[k] = keys[k].index;

    // Scratch memory of the build, kept by the thread between builds: a
    // fresh 100 KB or more per build would come from mmap and cost as many
    // page faults as it has pages (glibc's mmap threshold is 128 KB).
    struct Scratch {
        std::vector<uint32_t> next, skip, turns, inverse_skip, mults, bitmap, free_slots;
        std::vector<uint64_t> weight, credit;
    };
    thread_local Scratch scratch;
    struct Release {   // but not much of it
        ~Release() {
            const size_t bytes = 4 * (scratch.mults.capacity() + scratch.bitmap.capacity() +
                                      scratch.free_slots.capacity() + 4 * scratch.next.capacity());
            if (bytes > (size_t{4} << 20)) scratch = Scratch{};
        }
    } release;

    // Permutation of backend k: slot_j = (offset + j * skip) mod M. M prime
    // and 1 <= skip < M make it visit every slot, so a free slot is always
    // found.
    const size_t n = order.size();
    auto& next = scratch.next;
    auto& skip = scratch.skip;
    auto& turns = scratch.turns;
    auto& inverse_skip = scratch.inverse_skip;
    auto& weight = scratch.weight;
    auto& credit = scratch.credit;
    next.resize(n);
    skip.resize(n);
    turns.resize(n);
    inverse_skip.assign(n, 0);
    weight.resize(n);
    credit.assign(n, 0);
    scratch.mults.resize(n * kMults + 8);
    uint32_t* const mults =   // 32-byte aligned
        scratch.mults.data() + (8 - reinterpret_cast<uintptr_t>(scratch.mults.data()) / 4 % 8) % 8;
    uint32_t max_weight = 0;
    const Mod64 mod_m(M), mod_m1(M - 1);
    for (size_t k = 0; k < n; ++k) {
        const Backend& be = backends[order[k]];
        // maglev_permutation(), without its two 64-bit divisions
        const uint32_t offset = mod_m(mix64(be.id, kOffsetSeed)), s = mod_m1(mix64(be.id, kSkipSeed)) + 1;
        next[k] = offset;
        skip[k] = s;
        uint32_t* const mk = mults + k * kMults;   // i * s mod M, i <= 16
        mk[0] = 0;
        for (uint32_t i = 1; i <= 8; ++i) mk[i] = mod_once(mk[i - 1] + s, M);
        for (uint32_t i = 9; i <= 16; ++i) mk[i] = mod_once(mk[i - 8] + mk[8], M);
        weight[k] = be.weight;
        max_weight = std::max(max_weight, be.weight);
    }

    std::vector<int32_t> table(M, -1);
    auto& bitmap = scratch.bitmap;
    bitmap.assign((M + 31) / 32, 0);
    Build b{M, 0, order.data(), next.data(), skip.data(), mults, bitmap.data(), table.data(), kBatch};

    const uint32_t walking = M - std::min(kEndgameSlots, M);   // slots found by walks; the rest by the end game
    const uint32_t lanes_until = std::min(walking, static_cast<uint32_t>(uint64_t{M} * kLanesUntilPermille / 1000));
    const uint32_t wide_from = std::min(walking, static_cast<uint32_t>(uint64_t{M} * kWideWalksFromPermille / 1000));
    // Places turns tt[0..m) until `walking` slots are taken; returns where
    // it stopped.
    auto walk_turns = [&](const uint32_t* tt, size_t m) {
        size_t t = 0;
        while (t < m && b.filled < walking) {
            const uint32_t limit = !vector                ? walking
                                   : b.filled < lanes_until ? lanes_until
                                   : b.filled < wide_from   ? wide_from
                                                            : walking;
            const size_t count = std::min(m - t, size_t{limit - b.filled});
            if (!vector) place_scalar(b, tt + t, count);
            else if (b.filled < lanes_until) place_lanes(b, tt + t, count);
            else if (b.filled < wide_from) place_narrow(b, tt + t, count);
            else place_wide(b, tt + t, count);
            t += count;
        }
        return t;
    };

    // End game: with F slots free a walk costs M/F probes, and the last few
    // hundred slots would take most of the build. Instead compute, for each
    // free slot, how many steps of the backend's permutation lead to it
    // ((slot - next) * skip^-1 mod M) and take the nearest: the same slot
    // the walk would find, in O(F). skip^-1 only for the backends that
    // still take a turn then (a few hundred at most, of however many).
    auto& free_slots = scratch.free_slots;
    free_slots.clear();
    size_t nfree = 0;
    const Mod64 mod(M);
    auto pad = [&] {
        for (size_t i = nfree; i % 16 != 0; ++i) free_slots[i] = free_slots[0];
    };
    auto end_game_turn = [&](uint32_t k) {
        if (free_slots.empty()) {
            free_slots.resize(M - b.filled + 16);
            for (uint32_t w = 0; w < bitmap.size(); ++w)
                for (uint32_t x = ~bitmap[w]; x != 0; x &= x - 1) {
                    const uint32_t slot = w * 32 + static_cast<uint32_t>(std::countr_zero(x));
                    if (slot < M) free_slots[nfree++] = slot;
                }
            pad();
        }
        if (inverse_skip[k] == 0) inverse_skip[k] = inverse_mod(skip[k], M);
        const size_t best = vector ? nearest_avx2(free_slots.data(), nfree, next[k], inverse_skip[k], M)
                                   : nearest_scalar(free_slots.data(), nfree, next[k], inverse_skip[k], M, mod);
        const uint32_t slot = free_slots[best];
        free_slots[best] = free_slots[--nfree];
        pad();
        table[slot] = static_cast<int32_t>(order[k]);
        next[k] = mod_once(slot + skip[k], M);
        return ++b.filled == M;
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
    uint64_t total_weight = 0;
    for (uint64_t w : weight) total_weight += w;
    auto round = [&](uint32_t* out) {
        size_t m = 0;
        for (size_t k = 0; k < n; ++k) {
            const uint64_t c = credit[k] + weight[k];
            const bool turn = c >= max_weight;
            out[m] = static_cast<uint32_t>(k);
            m += turn;
            credit[k] = turn ? c - max_weight : c;
        }
        return m;
    };
    // The turns repeat: with equal weights every round is 0, 1, ..., n - 1;
    // with weights, every max_weight rounds (each credit is back to 0 then),
    // total_weight turns. Up to M turns of a period are listed once and
    // replayed; rounds are walked a kilo-turn at a time, not one by one.
    bool replay = true;
    if (equal) {
        // Batches of at most n / 2 turns: no backend in two batches in a row.
        b.batch = std::min(kBatch, std::max<size_t>(1, n / 2));
        const size_t rounds = n > 1 ? std::max<size_t>(1, 1024 / n) : 1;
        turns.resize(rounds * n);
        for (size_t r = 0; r < rounds; ++r)
            for (size_t k = 0; k < n; ++k) turns[r * n + k] = static_cast<uint32_t>(k);
    } else if (total_weight < M) {
        turns.resize(total_weight + n);
        size_t m = 0;
        for (uint32_t r = 0; r < max_weight; ++r) m += round(turns.data() + m);
        turns.resize(m);
    } else {
        replay = false;
    }
    for (;;) {
        const size_t m = replay ? turns.size() : round(turns.data());
        for (size_t t = walk_turns(turns.data(), m); t < m; ++t)
            if (end_game_turn(turns[t])) return table;
    }
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
    return build(backends, M, vector_code_available());
}

namespace detail {

std::vector<int32_t> build_maglev_table_scalar(const std::vector<MaglevBackend>& backends, uint32_t M) {
    return build(backends, M, false);
}

bool maglev_vector_code_available() { return vector_code_available(); }

} // namespace detail

} // namespace haplane::lb
