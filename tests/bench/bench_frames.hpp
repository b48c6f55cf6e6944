// The benchmark's frames (tests/bench/lb_pcap_gen.cpp writes them to pcap
// files, tests/bench/lb_forward_bench.cpp feeds them to lb::LbWorker):
// 64-byte IPv4/TCP frames from clients in 198.18.0.0/15 (RFC 2544's
// benchmark range) to one VIP:port, with correct IP and TCP checksums.
// Flow i is client 198.18.0.0 + (i mod 2^17), port 1024 + (i div 2^17):
// every i below kMaxFlows is a distinct 5-tuple.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bench {

using Mac = std::array<uint8_t, 6>;

inline constexpr size_t kFrame = 64;
inline constexpr uint32_t kClientBase = (198u << 24) | (18u << 16);   // 198.18.0.0/15
inline constexpr uint32_t kClientBits = 17;
inline constexpr uint64_t kMaxFlows = (uint64_t{65536} - 1024) << kClientBits;
inline constexpr Mac kClientMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0c};

inline void put16(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void put32(uint8_t* p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
    if (n & 1) s += uint32_t(p[n - 1]) << 8;
    return s;
}
inline uint16_t fold(uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(~s);
}

// A 64-byte frame (kFrame bytes at f) of flow i: SYN (with an MSS option)
// or ACK (with 10 bytes of data). vip: host order.
inline void tcp_frame(uint8_t* f, const Mac& dst, uint32_t vip, uint16_t vport, uint32_t i, bool syn) {
    std::memset(f, 0, kFrame);
    std::memcpy(f, dst.data(), 6);
    std::memcpy(f + 6, kClientMac.data(), 6);
    put16(f + 12, 0x0800);
    uint8_t* ip = f + 14;
    const uint32_t src = kClientBase + (i & ((1u << kClientBits) - 1));
    const uint16_t sport = static_cast<uint16_t>(1024 + (i >> kClientBits));
    const size_t tcp_len = syn ? 24 : 30;   // header (+ MSS option) / header + 10 bytes of data
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint32_t>(20 + tcp_len));
    put16(ip + 4, i & 0xffff);
    ip[6] = 0x40;   // DF
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, src);
    put32(ip + 16, vip);
    put16(ip + 10, fold(sum16(ip, 20)));
    uint8_t* tcp = ip + 20;
    put16(tcp, sport);
    put16(tcp + 2, vport);
    put32(tcp + 4, 1000 + i);
    if (syn) {
        tcp[12] = 6 << 4;
        tcp[13] = 0x02;
        tcp[20] = 2;   // MSS 1460
        tcp[21] = 4;
        put16(tcp + 22, 1460);
    } else {
        put32(tcp + 8, 1);
        tcp[12] = 5 << 4;
        tcp[13] = 0x10;
        std::memcpy(tcp + 20, "benchmark!", 10);
    }
    put16(tcp + 14, 65535);
    uint8_t pseudo[12];
    std::memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    put16(pseudo + 10, static_cast<uint32_t>(tcp_len));
    put16(tcp + 16, fold(sum16(tcp, tcp_len, sum16(pseudo, 12))));
}

// Uniform flow numbers in [0, flows): xorshift64, scaled without a division.
class FlowPicker {
public:
    FlowPicker(uint64_t flows, uint64_t seed) : flows_(flows), x_(seed | 1) {}
    uint32_t next() {
        x_ ^= x_ << 13, x_ ^= x_ >> 7, x_ ^= x_ << 17;
        return static_cast<uint32_t>((static_cast<unsigned __int128>(x_) * flows_) >> 64);
    }

private:
    uint64_t flows_;
    uint64_t x_;
};

} // namespace bench
