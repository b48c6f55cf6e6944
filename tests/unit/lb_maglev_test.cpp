// Maglev table: size validation, full coverage, balance, weights, minimal
// disruption and build time.
#include "lb/backend.hpp"
#include "lb/maglev.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <vector>

using namespace haplane;
using namespace haplane::lb;

namespace {

MaglevBackend server(uint32_t n, uint32_t weight = 1) {
    return {backend_id(IpAddress::v4(0x0a140000u + n), 80), weight};
}

std::vector<MaglevBackend> servers(uint32_t count, uint32_t first = 1) {
    std::vector<MaglevBackend> out;
    for (uint32_t i = 0; i < count; ++i) out.push_back(server(first + i));
    return out;
}

std::vector<uint32_t> slot_counts(const std::vector<int32_t>& table, size_t backends) {
    std::vector<uint32_t> counts(backends, 0);
    for (int32_t e : table) {
        EXPECT_GE(e, 0);
        EXPECT_LT(static_cast<size_t>(e), backends);
        if (e >= 0 && static_cast<size_t>(e) < backends) ++counts[static_cast<size_t>(e)];
    }
    return counts;
}

// The table in terms of backend identities, to compare tables of different sets.
std::vector<uint64_t> owners(const std::vector<int32_t>& table, const std::vector<MaglevBackend>& b) {
    std::vector<uint64_t> out;
    out.reserve(table.size());
    for (int32_t e : table) out.push_back(b[static_cast<size_t>(e)].id);
    return out;
}

// The paper's population loop taken literally (permutation[i][next[i]]),
// with the same weighted turns: the fast build must produce exactly this.
std::vector<int32_t> reference_table(const std::vector<MaglevBackend>& b, uint32_t M) {
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < b.size(); ++i)
        if (b[i].weight > 0) order.push_back(i);
    if (order.empty()) return {};
    std::sort(order.begin(), order.end(),
              [&](uint32_t x, uint32_t y) { return b[x].id != b[y].id ? b[x].id < b[y].id : x < y; });
    uint32_t max_weight = 0;
    for (uint32_t i : order) max_weight = std::max(max_weight, b[i].weight);
    std::vector<uint64_t> j(order.size(), 0), credit(order.size(), 0);
    std::vector<int32_t> entry(M, -1);
    uint32_t filled = 0;
    for (;;) {
        for (size_t k = 0; k < order.size(); ++k) {
            credit[k] += b[order[k]].weight;
            while (credit[k] >= max_weight) {
                credit[k] -= max_weight;
                const MaglevPermutation p = maglev_permutation(b[order[k]].id, M);
                uint64_t c;
                do {
                    c = (p.offset + j[k] * p.skip) % M;
                    ++j[k];
                } while (entry[c] >= 0);
                entry[c] = static_cast<int32_t>(order[k]);
                if (++filled == M) return entry;
            }
        }
    }
}

} // namespace

TEST(LbMaglev, SameTableAsThePapersAlgorithm) {
    auto weighted = servers(100);
    for (size_t i = 0; i < weighted.size(); ++i) weighted[i].weight = 1 + static_cast<uint32_t>(i % 4);
    auto mixed = servers(6);
    mixed[1].weight = 0;
    mixed[4].weight = 7;
    struct Case {
        std::vector<MaglevBackend> backends;
        uint32_t M;
    } cases[] = {{servers(5), 65537}, {weighted, 65537}, {mixed, 251}, {servers(7), 13},
                 {servers(1), 2},     {servers(50), 7},  {mixed, 1009}};
    for (const auto& c : cases)
        EXPECT_EQ(build_maglev_table(c.backends, c.M), reference_table(c.backends, c.M))
            << c.backends.size() << " backends, M = " << c.M;
}

// The vector build (AVX2 walks and end game) must give the scalar build's
// table, and both the paper's: HA peers on different CPUs compute the same
// table. Sizes from tiny primes (the end game only, walks of a few slots)
// to several phases of the vector walks; backends fewer than, about as many
// as and more than the slots; equal, mixed and zero weights.
TEST(LbMaglev, VectorBuildSameAsScalarAndPaper) {
    if (!detail::maglev_vector_code_available()) std::printf("no AVX2 on this CPU: scalar build only\n");
    auto weights = [](std::vector<MaglevBackend> b, uint32_t mode) {
        for (size_t i = 0; i < b.size(); ++i) {
            const uint32_t r = static_cast<uint32_t>((i * 2654435761u) >> 7);
            if (mode == 1) b[i].weight = 1 + static_cast<uint32_t>(i % 10);
            if (mode == 2) b[i].weight = r % 4;   // some zero
            if (mode == 3) b[i].weight = 1 + r % 1000;
        }
        return b;
    };
    size_t cases = 0;
    for (uint32_t M : {2u, 3u, 7u, 13u, 251u, 257u, 1009u, 4099u, 65521u, 65537u, 131071u})
        for (uint32_t n : {1u, 2u, 3u, 5u, 10u, 17u, 100u, 1000u, 3000u})
            for (uint32_t mode = 0; mode < 4; ++mode) {
                if (M > 5000 && n == 3000) continue;
                if (M > 70000 && (n > 100 || mode > 1)) continue;
                const auto b = weights(servers(n, 7 * M + mode), mode);
                const auto fast = build_maglev_table(b, M);
                EXPECT_EQ(fast, detail::build_maglev_table_scalar(b, M))
                    << n << " backends, M = " << M << ", weights " << mode;
                EXPECT_EQ(fast, reference_table(b, M)) << n << " backends, M = " << M << ", weights " << mode;
                ++cases;
            }
    EXPECT_GT(cases, 300u);
    // Repeated identities (they keep index order), in a list long enough
    // for the radix sort.
    std::vector<MaglevBackend> twins;
    for (uint32_t i = 0; i < 600; ++i) twins.push_back(server(1 + i % 250, 1 + i % 3));
    for (uint32_t M : {251u, 65537u})
        EXPECT_EQ(build_maglev_table(twins, M), reference_table(twins, M)) << "M = " << M;
}

TEST(LbMaglev, TableSizeMustBePrime) {
    EXPECT_TRUE(is_prime(2));
    EXPECT_TRUE(is_prime(65537));
    EXPECT_TRUE(is_prime(251));
    EXPECT_FALSE(is_prime(1));
    EXPECT_FALSE(is_prime(65536));
    EXPECT_FALSE(is_prime(65535));
    EXPECT_FALSE(is_prime(4294967295u));
    for (uint32_t bad : {0u, 1u, 4u, 100u, 65535u, 65536u, 65541u})
        EXPECT_THROW(build_maglev_table(servers(3), bad), std::invalid_argument) << bad;
    EXPECT_THROW(build_maglev_table(servers(3), 67108879u), std::invalid_argument);   // prime, too big
    for (uint32_t good : {2u, 3u, 251u, 65537u, 655373u})
        EXPECT_EQ(build_maglev_table(servers(3), good).size(), good);
}

TEST(LbMaglev, EverySlotFilled) {
    auto b = servers(5);
    auto table = build_maglev_table(b, 65537);
    ASSERT_EQ(table.size(), 65537u);
    auto counts = slot_counts(table, b.size());
    for (uint32_t c : counts) EXPECT_GT(c, 0u);
}

TEST(LbMaglev, EqualWeightsBalanceWithinOnePercent) {
    for (uint32_t n : {5u, 100u}) {
        auto counts = slot_counts(build_maglev_table(servers(n), 65537), n);
        auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
        EXPECT_LE(static_cast<double>(*hi) / *lo, 1.01) << n << " backends: " << *lo << ".." << *hi;
    }
}

TEST(LbMaglev, WeightedSharesProportional) {
    std::vector<MaglevBackend> b{server(1, 1), server(2, 2), server(3, 3), server(4, 4), server(5, 10)};
    auto counts = slot_counts(build_maglev_table(b, 65537), b.size());
    const double total_weight = 20;
    for (size_t i = 0; i < b.size(); ++i) {
        double expected = 65537.0 * b[i].weight / total_weight;
        EXPECT_NEAR(counts[i] / expected, 1.0, 0.03) << i;
    }
}

TEST(LbMaglev, WeightZeroGetsNothing) {
    std::vector<MaglevBackend> b{server(1, 1), server(2, 0), server(3, 1)};
    auto counts = slot_counts(build_maglev_table(b, 65537), b.size());
    EXPECT_EQ(counts[1], 0u);
    EXPECT_NEAR(static_cast<double>(counts[0]) / counts[2], 1.0, 0.01);
    EXPECT_TRUE(build_maglev_table({server(1, 0), server(2, 0)}, 65537).empty());
    EXPECT_TRUE(build_maglev_table({}, 65537).empty());
}

TEST(LbMaglev, IndependentOfBackendOrder) {
    auto b = servers(10);
    auto reversed = b;
    std::reverse(reversed.begin(), reversed.end());
    EXPECT_EQ(owners(build_maglev_table(b, 65537), b), owners(build_maglev_table(reversed, 65537), reversed));
}

TEST(LbMaglev, RemovingOneMovesAboutItsShare) {
    for (uint32_t n : {5u, 20u, 100u}) {
        auto before = servers(n);
        auto after = before;
        after.erase(after.begin() + n / 2);
        auto t0 = owners(build_maglev_table(before, 65537), before);
        auto t1 = owners(build_maglev_table(after, 65537), after);
        size_t moved_other = 0, moved_total = 0;
        for (size_t s = 0; s < t0.size(); ++s) {
            if (t0[s] == t1[s]) continue;
            ++moved_total;
            if (t0[s] != before[n / 2].id) ++moved_other;
        }
        double share = 1.0 / n;
        double total = static_cast<double>(moved_total) / 65537, other = static_cast<double>(moved_other) / 65537;
        std::printf("maglev remove 1 of %u: %.4f of slots moved (its share %.4f), %.4f from survivors\n", n,
                    total, share, other);
        EXPECT_LE(total, share * 1.25 + 0.005) << n;
        EXPECT_LE(other, share * 0.25 + 0.005) << n;
    }
}

TEST(LbMaglev, DrainingOneIsTheSameAsRemovingIt) {
    auto b = servers(10);
    auto drained = b;
    drained[3].weight = 0;
    auto removed = b;
    removed.erase(removed.begin() + 3);
    EXPECT_EQ(owners(build_maglev_table(drained, 65537), drained), owners(build_maglev_table(removed, 65537), removed));
}

TEST(LbMaglev, AddingOneMovesAboutItsShare) {
    for (uint32_t n : {5u, 20u, 100u}) {
        auto before = servers(n);
        auto after = before;
        after.push_back(server(1000));
        auto t0 = owners(build_maglev_table(before, 65537), before);
        auto t1 = owners(build_maglev_table(after, 65537), after);
        size_t moved = 0, to_new = 0;
        for (size_t s = 0; s < t0.size(); ++s) {
            if (t0[s] == t1[s]) continue;
            ++moved;
            to_new += t1[s] == after.back().id;
        }
        double share = 1.0 / (n + 1);
        double total = static_cast<double>(moved) / 65537;
        std::printf("maglev add 1 to %u: %.4f of slots moved (its share %.4f), %.4f between old ones\n", n, total,
                    share, static_cast<double>(moved - to_new) / 65537);
        EXPECT_LE(total, share * 1.25 + 0.005) << n;
        EXPECT_NEAR(static_cast<double>(to_new) / 65537, share, share * 0.02 + 0.0005) << n;
    }
}

TEST(LbMaglev, BuildTime) {
    auto b = servers(100);
    for (size_t i = 0; i < b.size(); ++i) b[i].weight = 1 + static_cast<uint32_t>(i % 4);
    auto equal = servers(100);
    build_maglev_table(equal, 65537);   // warm up allocator and caches
    double best_equal = 1e9, best_weighted = 1e9;
    for (int round = 0; round < 5; ++round) {
        auto t0 = std::chrono::steady_clock::now();
        auto t = build_maglev_table(equal, 65537);
        auto t1 = std::chrono::steady_clock::now();
        auto w = build_maglev_table(b, 65537);
        auto t2 = std::chrono::steady_clock::now();
        ASSERT_EQ(t.size(), 65537u);
        ASSERT_EQ(w.size(), 65537u);
        best_equal = std::min(best_equal, std::chrono::duration<double, std::milli>(t1 - t0).count());
        best_weighted = std::min(best_weighted, std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    std::printf("maglev build M=65537 N=100: %.3f ms equal weights, %.3f ms weights 1..4\n", best_equal,
                best_weighted);
    EXPECT_LT(best_equal, 50.0);
    EXPECT_LT(best_weighted, 50.0);
}
