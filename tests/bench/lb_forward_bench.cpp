// The load balancer's own per-packet cost, without DPDK: frames from memory
// through what the worker does per packet — dataplane::classify (parse, own
// addresses, LbWorker::claims), then LbWorker::forward in bursts of 32, with
// begin_round once per burst — for one dr service (4 real servers, mh).
// A benchmark: it reports, asserts nothing. Pin it to an idle core.
//
//   lb_forward_bench [--flows N] [--hot K] [--passes P]
//
// Phases, each timed on its own (ns per packet, Mpps):
//   new_empty    N SYNs of new flows into an empty table
//   new_full     N more new flows while the table holds N .. 2N
//   est_uniform  ACKs of flows drawn uniformly from the first N (a 64 MB
//                stream of frames in that order, read sequentially as
//                frames from a NIC would be), P passes
//   est_hot      the same, K flows (K frames, as the pcap replays), P passes
// Table capacity 2N (connections_per_lcore). Output: JSON lines.
#include "bench_frames.hpp"

#include "config/loader.hpp"
#include "dataplane/classify.hpp"
#include "lb/lb_worker.hpp"
#include "lb/service_table.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>
#include <arpa/inet.h>

using namespace haplane;

namespace {

constexpr uint32_t kVip = (10u << 24) | (10u << 16) | 100;   // 10.10.0.100
constexpr uint16_t kVport = 80;
constexpr uint16_t kBurst = 32;
const bench::Mac kExtMac = {0x02, 0x70, 0x63, 0x61, 0x70, 0x00};
const bench::Mac kIntMac = {0x02, 0x70, 0x63, 0x61, 0x70, 0x01};

const char* kConfig = R"(
global:
  router_id: bench
ports:
  - name: ext
    device: net_null0
    addresses: [10.10.0.2/24]
  - name: int
    device: net_null1
    addresses: [10.20.0.2/24]
virtual_servers:
  - name: web
    vip: 10.10.0.100
    port: 80
    scheduler: mh
    method: dr
    real_servers: [{address: 10.20.0.11}, {address: 10.20.0.12}, {address: 10.20.0.13}, {address: 10.20.0.14}]
)";

// Frames back to back, kFrame bytes apart.
struct Frames {
    std::vector<uint8_t> bytes;
    size_t count = 0;
    uint8_t* at(size_t i) { return bytes.data() + i * bench::kFrame; }
};

Frames syns(uint32_t first, uint32_t n) {
    Frames f{std::vector<uint8_t>(size_t{n} * bench::kFrame), n};
    for (uint32_t i = 0; i < n; ++i) bench::tcp_frame(f.at(i), kExtMac, kVip, kVport, first + i, true);
    return f;
}

Frames acks(uint32_t flows, uint32_t n, uint64_t seed) {
    Frames f{std::vector<uint8_t>(size_t{n} * bench::kFrame), n};
    bench::FlowPicker pick(flows, seed);
    for (uint32_t i = 0; i < n; ++i) bench::tcp_frame(f.at(i), kExtMac, kVip, kVport, pick.next(), false);
    return f;
}

struct Rig {
    std::unique_ptr<lb::ServiceTable> table;
    std::atomic<const lb::ServiceTable*> ptr{nullptr};
    std::unique_ptr<lb::WorkerStats> stats;
    std::unique_ptr<lb::LbWorker> worker;
    uint64_t forwarded = 0, other = 0;
    dataplane::PortAddresses ext_port;

    explicit Rig(uint32_t capacity) {
        auto loaded = config::load_string(kConfig, "bench.yaml");
        if (!loaded.config) throw std::runtime_error("bench config: " + loaded.problems.front().str());
        const config::Config& c = *loaded.config;
        std::vector<lb::PortView> views = {{"ext", kExtMac, c.ports[0].addresses},
                                           {"int", kIntMac, c.ports[1].addresses}};
        table = lb::ServiceTable::build(c, views, 1);
        for (size_t i = 0; i < table->neighbours().size(); ++i)
            table->set_neighbour_mac(static_cast<uint32_t>(i), {0x02, 0, 0, 0, 1, static_cast<uint8_t>(0x0b + i)});
        ptr.store(table.get());
        stats = std::make_unique<lb::WorkerStats>(table->real_server_count());
        lb::LbWorker::Options o;
        o.connections = capacity;
        o.timeouts = c.global.timeouts;
        worker = std::make_unique<lb::LbWorker>(0, &ptr, stats.get(), o, 1);
        ext_port.mac = kExtMac;
        ext_port.v4 = {htonl((10u << 24) | (10u << 16) | 2)};   // 10.10.0.2
    }

    // One pass over the frames, as the worker loop handles a port's bursts.
    void pass(Frames& f) {
        const dataplane::LbHook hook{[](const void* ctx, const uint8_t* frame, const wire::Parsed& p) {
                                         return static_cast<const lb::LbWorker*>(ctx)->claims(frame, p);
                                     },
                                     worker.get()};
        dataplane::LbPacket pkts[kBurst];
        for (size_t base = 0; base < f.count; base += kBurst) {
            worker->begin_round(1);
            uint16_t n = 0;
            const size_t end = std::min(f.count, base + kBurst);
            for (size_t i = base; i < end; ++i) {
                // As the worker: classify (parse, own addresses, the lb/ hook), then the burst.
                uint8_t* frame = f.at(i);
                std::memcpy(frame, kExtMac.data(), 6);   // a pass before rewrote it (dr: the server's MAC)
                const dataplane::Classified c = dataplane::classify(frame, bench::kFrame, ext_port, hook);
                if (c.verdict != dataplane::Verdict::to_lb) {
                    ++other;
                    continue;
                }
                dataplane::LbPacket& p = pkts[n++];
                p.frame = frame;
                p.len = bench::kFrame;
                p.parsed = c.parsed;
                p.in_port = 0;
            }
            worker->forward(pkts, n);
            for (uint16_t i = 0; i < n; ++i) pkts[i].out_port == 1 ? ++forwarded : ++other;
        }
    }
};

void report(const char* phase, uint64_t packets, double seconds, const Rig& rig, uint32_t flows_after) {
    std::printf("{\"what\": \"lb_forward\", \"phase\": \"%s\", \"packets\": %llu, \"ns_per_packet\": %.1f, "
                "\"mpps\": %.2f, \"table_flows\": %u, \"forwarded\": %llu, \"other\": %llu}\n",
                phase, static_cast<unsigned long long>(packets), seconds * 1e9 / static_cast<double>(packets),
                static_cast<double>(packets) / seconds / 1e6, flows_after,
                static_cast<unsigned long long>(rig.forwarded), static_cast<unsigned long long>(rig.other));
    std::fflush(stdout);
}

template <class Fn>
double timed(Fn&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
    uint32_t flows = 1000000, hot = 16384, passes = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const auto v = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
        if (a == "--flows") flows = v;
        else if (a == "--hot") hot = v;
        else if (a == "--passes") passes = v;
        else {
            std::fprintf(stderr, "usage: lb_forward_bench [--flows N] [--hot K] [--passes P]\n");
            return 2;
        }
    }
    if (flows == 0 || hot == 0 || passes == 0 || uint64_t{flows} * 2 > bench::kMaxFlows) return 2;

    Rig rig(2 * flows);
    {
        Frames f = syns(0, flows);
        const double s = timed([&] { rig.pass(f); });
        report("new_empty", flows, s, rig, rig.worker->conns().size());
    }
    {
        Frames f = syns(flows, flows);
        const double s = timed([&] { rig.pass(f); });
        report("new_full", flows, s, rig, rig.worker->conns().size());
    }
    const uint32_t stream = std::min<uint32_t>(flows, 1u << 20);
    {
        Frames f = acks(flows, stream, 42);
        rig.pass(f);   // warm-up: syn_recv -> established
        const double s = timed([&] {
            for (uint32_t p = 0; p < passes; ++p) rig.pass(f);
        });
        report("est_uniform", uint64_t{stream} * passes, s, rig, rig.worker->conns().size());
    }
    {
        Frames f = acks(flows, hot, 7);
        rig.pass(f);
        const uint32_t reps = passes * std::max<uint32_t>(1, stream / hot);
        const double s = timed([&] {
            for (uint32_t p = 0; p < reps; ++p) rig.pass(f);
        });
        report("est_hot", uint64_t{hot} * reps, s, rig, rig.worker->conns().size());
    }
    return 0;
}
