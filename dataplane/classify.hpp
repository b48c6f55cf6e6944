// Classify: the one question the worker asks of each received frame, "what
// is this to us?". Pure (no DPDK): frame bytes and an immutable table in,
// a verdict out, so every branch is unit-tested with crafted bytes.
#pragma once

#include "dataplane/wire.hpp"

#include <array>
#include <string>
#include <cstdint>
#include <vector>

namespace haplane::dataplane {

// What one port answers for. Built by the control thread, read-only for the
// workers; replaced as a whole (never edited) when it changes.
struct PortAddresses {
    // A virtual address this port holds while its VRRP instance is MASTER,
    // and the MAC it answers ARP/ND with (virtual MAC or the port's).
    struct Vip4 { uint32_t ip; wire::Mac mac; };
    struct Vip6 { std::array<uint8_t, 16> ip; wire::Mac mac; };

    wire::Mac mac{};
    std::vector<uint32_t> v4;                     // own, network byte order
    std::vector<std::array<uint8_t, 16>> v6;      // own, includes the port's link-local
    std::vector<Vip4> vip4;
    std::vector<Vip6> vip6;
    // Addresses the load balancer uses as sources (fnat local_addresses):
    // ARP/ND answered with the port MAC, traffic to them offered to lb/.
    std::vector<uint32_t> lb4;                    // network byte order
    std::vector<std::array<uint8_t, 16>> lb6;

    bool owns_v4(uint32_t ip_net) const {   // per packet: inline, a port has a few addresses
        for (const uint32_t a : v4)
            if (a == ip_net) return true;
        return false;
    }
    bool owns_v6(const uint8_t* ip) const;
    // The MAC to answer ARP/ND for this address with, or nullptr: not ours.
    const wire::Mac* answer_v4(uint32_t ip_net) const;
    const wire::Mac* answer_v6(const uint8_t* ip) const;
};

enum class Verdict : uint8_t {
    malformed,      // dropped, counted by wire::Malformed reason
    not_mine,       // dropped: not for the appliance (it does not route)
    arp_reply,      // ARP request for an own address: answer in place
    nd_reply,       // NS for an own address: answer with an NA
    to_kernel,      // for the host's own stack: out the kernel mirror
    to_vrrp,        // VRRP advert: to the control thread
    to_lb,          // a virtual service claimed it (lb/ hook)
    count_
};
const char* to_string(Verdict v);

// The lb/ hook: does a virtual service want this packet? Asked only for IP
// frames unicast to the port (its MAC or a VIP's MAC) and not to an own
// address. Without a hook nothing is claimed.
struct LbHook {
    bool (*claims)(const void* ctx, const uint8_t* frame, const wire::Parsed& p) = nullptr;
    const void* ctx = nullptr;
};

struct Classified {
    Verdict verdict = Verdict::not_mine;
    const wire::Mac* answer_mac = nullptr;   // arp_reply / nd_reply: who we say we are
    wire::Malformed malformed = wire::Malformed::none;
    wire::Parsed parsed;
};

Classified classify(const uint8_t* frame, size_t len, const PortAddresses& port,
                    const LbHook& lb = {});

// A frame the kernel sends from a VIP wears the VIP's MAC (its virtual MAC
// with use_vmac), as keepalived's VMAC interface makes it: Ethernet source
// and, for ARP, the sender hardware address. Returns true if it changed.
bool wear_vip_mac(uint8_t* frame, size_t len, const PortAddresses& port);

// fe80::/64 with the modified EUI-64 interface id of `mac` (RFC 4291 2.5.1),
// the link-local address the kernel gives an interface with that MAC.
std::array<uint8_t, 16> link_local_from_mac(const wire::Mac& mac);

// "02:11:22:33:44:55"
std::string mac_to_string(const wire::Mac& mac);

} // namespace haplane::dataplane
