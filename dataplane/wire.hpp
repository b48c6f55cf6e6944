// Packet bytes: header layouts, parse with validation, and builders.
// Pure: no DPDK, no allocation, no exceptions. Callers hand in raw buffers
// (an mbuf's data in the dataplane, a std::vector in tests).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace haplane::wire {

using Mac = std::array<uint8_t, 6>;

constexpr uint16_t ETHERTYPE_IPV4 = 0x0800;
constexpr uint16_t ETHERTYPE_ARP = 0x0806;
constexpr uint16_t ETHERTYPE_IPV6 = 0x86DD;
constexpr uint16_t ETHERTYPE_VLAN = 0x8100;

constexpr uint8_t IPPROTO_ICMP_ = 1;
constexpr uint8_t IPPROTO_TCP_ = 6;
constexpr uint8_t IPPROTO_UDP_ = 17;
constexpr uint8_t IPPROTO_ICMPV6_ = 58;
constexpr uint8_t IPPROTO_VRRP_ = 112;

constexpr uint8_t ICMPV6_NS = 135;
constexpr uint8_t ICMPV6_NA = 136;

constexpr size_t ETH_HLEN = 14;
constexpr size_t ARP_LEN = 28;          // Ethernet/IPv4 ARP payload
constexpr size_t IPV4_MIN_HLEN = 20;
constexpr size_t IPV6_HLEN = 40;

// Why a frame was judged malformed (each has a dataplane counter).
enum class Malformed : uint8_t {
    none = 0,
    truncated_ethernet,   // shorter than 14 bytes
    truncated_arp,        // ARP shorter than 28 bytes or not Ethernet/IPv4
    truncated_ip,         // shorter than the minimal IP header
    bad_ip_version,       // IPv4 ethertype but version != 4 (likewise v6)
    bad_ihl,              // IHL < 5 or header longer than the frame
    bad_ip_length,        // total/payload length beyond the frame, or < header
    bad_ip_checksum,      // IPv4 header checksum wrong
    truncated_l4,         // TCP/UDP/ICMP header does not fit in the IP payload
    count_
};
const char* to_string(Malformed m);

// Offsets into the frame found by parse_frame. L3/L4 fields are valid only
// for the ethertype/protocol that has them. Fragments other than the first
// have l4_offset == 0 (no L4 header to look at).
struct Parsed {
    uint16_t ethertype = 0;
    uint16_t l3_offset = 0;
    uint16_t l4_offset = 0;     // 0: none
    uint16_t l3_end = 0;        // end of the IP datagram (frame may be padded)
    uint8_t ip_proto = 0;       // IPv4 protocol / IPv6 next header (after no ext headers)
    uint8_t ttl = 0;            // TTL / hop limit
    bool fragment = false;      // IPv4 MF or offset != 0, or IPv6 fragment header
};

// Validate and locate headers. Does not look at L4 checksums.
Malformed parse_frame(const uint8_t* frame, size_t len, Parsed& out);

// Header accessors (unaligned-safe loads, host order results).
// Inline: they run several times per packet.
inline uint16_t load_be16(const uint8_t* p) {
    return static_cast<uint16_t>((static_cast<uint16_t>(p[0]) << 8) | p[1]);
}
inline uint32_t load_be32(const uint8_t* p) {
    return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
           (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}
inline void store_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

// ---- checksums (checksum.cpp) ----
// One's-complement sum of bytes, folded to 16 bits, not inverted.
uint32_t ones_sum(const uint8_t* data, size_t len, uint32_t initial = 0);
uint16_t fold(uint32_t sum);
// Full IPv4 header checksum (the field itself treated as zero).
uint16_t ipv4_header_checksum(const uint8_t* ip, size_t header_len);
// TCP/UDP/ICMPv6/VRRPv3 checksum over the IPv4 or IPv6 pseudo header plus
// the L4 bytes (checksum field treated as zero). `ip` points at the IP
// header, `l4` at the L4 header, `l4_len` bytes of it.
uint16_t l4_checksum_v4(const uint8_t* ip, const uint8_t* l4, size_t l4_len, size_t csum_offset);
uint16_t l4_checksum_v6(const uint8_t* ip, const uint8_t* l4, size_t l4_len, size_t csum_offset);
// RFC 1624 incremental update: a 16-bit field changed from old_v to new_v.
uint16_t csum_update16(uint16_t csum, uint16_t old_v, uint16_t new_v);
uint16_t csum_update32(uint16_t csum, uint32_t old_v, uint32_t new_v);

// ---- ARP (Ethernet/IPv4) ----
struct ArpView {
    uint16_t op;          // 1 request, 2 reply
    Mac sender_mac;
    uint32_t sender_ip;   // network byte order as on the wire
    Mac target_mac;
    uint32_t target_ip;   // network byte order
};
// `arp` points at the ARP payload (frame + 14). False if not Ethernet/IPv4.
bool read_arp(const uint8_t* arp, size_t len, ArpView& out);

// Turn the ARP request in `frame` (at least 42 bytes) into the reply "target_ip
// is at our_mac", in place: Ethernet dst = requester, src = our_mac.
void arp_request_to_reply(uint8_t* frame, const Mac& our_mac);

// Write a gratuitous ARP (request, sender = target = ip, broadcast) into
// `out` (>= 60 bytes, padded to the Ethernet minimum). Returns its length.
size_t build_garp(uint8_t* out, const Mac& src_mac, uint32_t ip_net);

// ---- IPv6 Neighbour Discovery ----
// Is this frame an ICMPv6 NS (hop limit 255, valid checksum)? If so, the
// target address is copied to target[16].
bool read_neighbor_solicit(const uint8_t* frame, const Parsed& p, uint8_t target[16]);
// Build a Neighbour Advertisement answering the NS in `ns_frame` for
// `target` with `our_mac` (solicited, override, router=false) into `out`
// (>= 86 bytes). Source address = target; destination = the solicitor (or
// ff02::1 if the NS came from ::). Returns the frame length.
size_t build_neighbor_advert(uint8_t* out, const uint8_t* ns_frame, const Parsed& ns,
                             const uint8_t target[16], const Mac& our_mac);
// Unsolicited NA for `target` (to ff02::1, override, not solicited), source
// address `src` (normally the target itself). Returns the frame length.
size_t build_unsolicited_na(uint8_t* out, const Mac& src_mac, const uint8_t target[16]);

} // namespace haplane::wire
