// Writes the pcap files the load-balancer benchmark replays (tests/bench/lb.py):
// the frames of bench_frames.hpp, and ARP replies that tell haplane where
// the real servers are.
//
//   lb_pcap_gen syn  FILE DST_MAC VIP PORT FIRST COUNT
//       one SYN per flow FIRST .. FIRST+COUNT-1, in order (new flows)
//   lb_pcap_gen ack  FILE DST_MAC VIP PORT FLOWS COUNT SEED
//       COUNT ACKs, each of a flow drawn uniformly from 0 .. FLOWS-1
//       (established flows, in the order a busy VIP sees them)
//   lb_pcap_gen arp  FILE DST_MAC OWN_IP IP=MAC...
//       one ARP reply per IP=MAC, "IP is at MAC", to OWN_IP
//
// Files are appended to when they exist (so "arp", "syn" then "ack" into
// one file make a stream that opens flows and then uses them). Written with
// plain stdio: the format is 24 + 16 bytes of headers.
#include "bench_frames.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

using namespace bench;

namespace {

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "lb_pcap_gen: %s\n", why.c_str());
    std::exit(2);
}

Mac parse_mac(const char* s) {
    Mac m{};
    unsigned v[6];
    if (std::sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) die("bad MAC " + std::string(s));
    for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
    return m;
}

uint32_t parse_ip(const std::string& s) {
    unsigned a, b, c, d;
    if (std::sscanf(s.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4) die("bad IPv4 address " + s);
    return (a << 24) | (b << 16) | (c << 8) | d;
}

class Writer {
public:
    explicit Writer(const char* path) {
        struct stat st;
        const bool fresh = stat(path, &st) != 0 || st.st_size == 0;
        f_ = std::fopen(path, "ab");
        if (!f_) die(std::string("cannot write ") + path);
        std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
        if (fresh) {
            uint8_t h[24] = {};
            const uint32_t magic = 0xa1b2c3d4, snap = 65535, link = 1;   // microseconds, Ethernet
            const uint16_t major = 2, minor = 4;
            std::memcpy(h, &magic, 4);
            std::memcpy(h + 4, &major, 2);
            std::memcpy(h + 6, &minor, 2);
            std::memcpy(h + 16, &snap, 4);
            std::memcpy(h + 20, &link, 4);
            std::fwrite(h, 1, sizeof h, f_);
        }
    }
    ~Writer() {
        if (std::fclose(f_) != 0) die("write failed");
    }
    void frame(const uint8_t* data, size_t len) {
        uint32_t h[4] = {0, 0, static_cast<uint32_t>(len), static_cast<uint32_t>(len)};
        std::fwrite(h, 1, sizeof h, f_);
        std::fwrite(data, 1, len, f_);
    }

private:
    FILE* f_;
};

} // namespace

int main(int argc, char** argv) {
    if (argc < 4) die("usage: see the comment at the top of lb_pcap_gen.cpp");
    const std::string mode = argv[1];
    Writer out(argv[2]);
    const Mac dst = parse_mac(argv[3]);
    uint8_t f[kFrame];
    if (mode == "syn" && argc == 8) {
        const uint32_t vip = parse_ip(argv[4]);
        const auto port = static_cast<uint16_t>(std::strtoul(argv[5], nullptr, 10));
        const uint64_t first = std::strtoull(argv[6], nullptr, 10), count = std::strtoull(argv[7], nullptr, 10);
        if (first + count > kMaxFlows) die("too many flows");
        for (uint64_t i = first; i < first + count; ++i) {
            tcp_frame(f, dst, vip, port, static_cast<uint32_t>(i), true);
            out.frame(f, kFrame);
        }
    } else if (mode == "ack" && argc == 9) {
        const uint32_t vip = parse_ip(argv[4]);
        const auto port = static_cast<uint16_t>(std::strtoul(argv[5], nullptr, 10));
        const uint64_t flows = std::strtoull(argv[6], nullptr, 10), count = std::strtoull(argv[7], nullptr, 10);
        if (flows == 0 || flows > kMaxFlows) die("bad flow count");
        FlowPicker pick(flows, std::strtoull(argv[8], nullptr, 10));
        for (uint64_t n = 0; n < count; ++n) {
            tcp_frame(f, dst, vip, port, pick.next(), false);
            out.frame(f, kFrame);
        }
    } else if (mode == "arp" && argc >= 5) {
        const uint32_t own = parse_ip(argv[4]);
        for (int a = 5; a < argc; ++a) {
            const std::string arg = argv[a];
            const size_t eq = arg.find('=');
            if (eq == std::string::npos) die("want IP=MAC, got " + arg);
            const uint32_t ip = parse_ip(arg.substr(0, eq));
            const Mac mac = parse_mac(arg.c_str() + eq + 1);
            std::memset(f, 0, kFrame);
            std::memcpy(f, dst.data(), 6);
            std::memcpy(f + 6, mac.data(), 6);
            put16(f + 12, 0x0806);
            uint8_t* arp = f + 14;
            put16(arp, 1);
            put16(arp + 2, 0x0800);
            arp[4] = 6;
            arp[5] = 4;
            put16(arp + 6, 2);   // reply
            std::memcpy(arp + 8, mac.data(), 6);
            put32(arp + 14, ip);
            std::memcpy(arp + 18, dst.data(), 6);
            put32(arp + 24, own);
            out.frame(f, 60);
        }
    } else {
        die("bad arguments for mode " + mode);
    }
    return 0;
}
