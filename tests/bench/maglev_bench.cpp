// Load balancer micro-figures (a benchmark: it reports, asserts nothing).
//  - Maglev: build_maglev_table for M = 65537 with N = 10, 100, 1000 real
//    servers (equal weights, and N = 100 with weights 1..10), wall clock
//    per build, median / min / max over many builds.
//  - Connection entries: sizeof(Conn) and ConnTable::memory_bytes() /
//    capacity for the default 1,000,000 connections_per_lcore.
// Output: one JSON object per line (tests/bench/lb.py reads them).
//
//   maglev_bench [--runs N]
#include "lb/conn_table.hpp"
#include "lb/flow.hpp"
#include "lb/maglev.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace haplane::lb;

namespace {

std::vector<MaglevBackend> backends(size_t n, bool weighted) {
    std::vector<MaglevBackend> out;
    for (size_t i = 0; i < n; ++i)
        out.push_back({mix64(i + 1, 0x62656e6368ull), weighted ? static_cast<uint32_t>(1 + i % 10) : 1u});
    return out;
}

void maglev(size_t n, bool weighted, int runs) {
    const auto b = backends(n, weighted);
    std::vector<double> us;
    size_t check = 0;
    for (int r = 0; r < runs + 3; ++r) {   // 3 warm-up builds
        const auto t0 = std::chrono::steady_clock::now();
        const auto table = build_maglev_table(b, kMaglevDefaultSize);
        const auto t1 = std::chrono::steady_clock::now();
        check += static_cast<size_t>(table[static_cast<size_t>(r) % table.size()]);
        if (r >= 3) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf("{\"what\": \"maglev\", \"M\": %u, \"backends\": %zu, \"weighted\": %s, \"runs\": %d, "
                "\"median_us\": %.1f, \"min_us\": %.1f, \"max_us\": %.1f, \"check\": %zu}\n",
                kMaglevDefaultSize, n, weighted ? "true" : "false", runs, us[us.size() / 2], us.front(), us.back(),
                check);
}

} // namespace

int main(int argc, char** argv) {
    int runs = 201;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--runs") == 0) runs = std::max(1, std::atoi(argv[i + 1]));

    const uint32_t capacity = 1000000;
    ConnTable table(capacity);
    std::printf("{\"what\": \"conn_entry\", \"sizeof_conn\": %zu, \"sizeof_entry\": %zu, \"capacity\": %u, "
                "\"memory_bytes\": %zu, \"bytes_per_entry\": %.1f}\n",
                sizeof(Conn), sizeof(ConnEntry), table.capacity(), table.memory_bytes(),
                static_cast<double>(table.memory_bytes()) / table.capacity());

    for (size_t n : {10, 100, 1000}) maglev(n, false, runs);
    maglev(100, true, runs);
    return 0;
}
