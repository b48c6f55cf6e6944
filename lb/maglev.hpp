// Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4): a
// lookup table of prime size M where every backend owns about M*w/W slots,
// and adding or removing one backend moves little more than its own share.
#pragma once

#include "lb/backend.hpp"

#include <cstdint>
#include <vector>

namespace haplane::lb {

using MaglevBackend = Backend;   // id = stable identity, weight 0 = no slots

inline constexpr uint32_t kMaglevDefaultSize = 65537;
inline constexpr uint32_t kMaglevMaxSize = 1u << 26;   // bounds the table's memory

bool is_prime(uint32_t n);

// A backend's preference list: slot_j = (offset + j * skip) mod M.
struct MaglevPermutation {
    uint32_t offset;
    uint32_t skip;    // 1..M-1
};
MaglevPermutation maglev_permutation(uint64_t id, uint32_t M);   // M >= 2

// The table: entry = index into `backends`. Empty when no backend has a
// weight (callers then have nobody to pick). Throws std::invalid_argument
// unless M is a prime in [2, kMaglevMaxSize]. Pure and deterministic: the
// result depends on the (id, weight) set, not on the order of `backends`
// beyond which index each identity has.
std::vector<int32_t> build_maglev_table(const std::vector<MaglevBackend>& backends,
                                        uint32_t M = kMaglevDefaultSize);

namespace detail {
// For tests: build_maglev_table uses vector code (AVX2) when the CPU has
// it; the table must be the same without it.
std::vector<int32_t> build_maglev_table_scalar(const std::vector<MaglevBackend>& backends, uint32_t M);
bool maglev_vector_code_available();
} // namespace detail

} // namespace haplane::lb
