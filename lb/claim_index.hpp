// The common question of LbWorker::claims, answered cheaply: is this IPv4
// TCP/UDP packet addressed to a virtual service's VIP:port? An exact set of
// (address, port, protocol) words, one 64-bit word per service, probed with
// one multiply: a claimed packet costs a load or two here instead of the
// service table's 40-byte-key hash (ServiceTable::find_service, whose
// answer this mirrors). Anything else — IPv6, port-0 services, fnat local
// addresses, nat sources, ICMP errors — takes the general path.
//
// Built by the worker when it adopts a new ServiceTable (a reload); the
// storage only grows, so a rebuild of the same size does not allocate.
#pragma once

#include "lb/flow.hpp"
#include "lb/service_table.hpp"

#include <bit>
#include <cstdint>
#include <vector>

namespace haplane::lb {

class ClaimIndexV4 {
public:
    // Every IPv4 service the table finds by its exact (VIP, port, protocol).
    void build(const ServiceTable& table) {
        size_t n = 0;
        for (const Service& s : table.services()) n += s.family == Family::v4;
        const size_t size = std::bit_ceil(n * 2 + 2);
        slots_.assign(size, 0);
        mask_ = size - 1;
        shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
        for (const Service& s : table.services()) {
            if (s.family != Family::v4) continue;
            const uint16_t port_net = net16(s.port);
            if (table.find_service(Family::v4, s.vip.bytes.data(), port_net, s.proto) < 0) continue;
            const uint64_t k = word(s.vip.v4_net(), port_net, s.proto);
            size_t i = slot(k);
            while (slots_[i] != 0 && slots_[i] != k) i = (i + 1) & mask_;
            slots_[i] = k;
        }
    }

    // addr_net, port_net: as read from the packet (network order).
    bool contains(uint32_t addr_net, uint16_t port_net, uint8_t proto) const {
        if (slots_.empty()) return false;
        const uint64_t k = word(addr_net, port_net, proto);
        for (size_t i = slot(k);; i = (i + 1) & mask_) {
            if (slots_[i] == k) return true;
            if (slots_[i] == 0) return false;
        }
    }

private:
    // Bit 56 marks a used slot (an all-zero word is empty).
    static uint64_t word(uint32_t addr_net, uint16_t port_net, uint8_t proto) {
        return uint64_t{addr_net} | uint64_t{port_net} << 32 | uint64_t{proto} << 48 | uint64_t{1} << 56;
    }
    size_t slot(uint64_t k) const { return static_cast<size_t>((k * 0x9e3779b97f4a7c15ull) >> shift_) & mask_; }

    std::vector<uint64_t> slots_;   // power-of-two size, linear probing, at most half full
    size_t mask_ = 0;
    unsigned shift_ = 63;
};

} // namespace haplane::lb
