// Header rewrites of the forwarding methods, on raw frame bytes: Ethernet
// addresses, NAT of addresses and ports with incremental checksum updates
// (RFC 1624), TTL / hop limit, IPIP and IPv6-in-IPv6 encapsulation, TCP MSS
// clamping. Pure: no allocation, no exceptions, no DPDK; each is unit-tested
// against a full recomputation of the checksums.
//
// `ip` points at the IP header, `l4` at the TCP/UDP header; addresses are in
// network byte order as in the packet (16 bytes for IPv6, 4 for IPv4).
#pragma once

#include "dataplane/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdint>

namespace haplane::lb::rewrite {

inline constexpr uint8_t kProtoIpip = 4;     // IPv4 in IPv4
inline constexpr uint8_t kProtoIpv6 = 41;    // IPv6 in IPv6
inline constexpr size_t kIpipOverhead = 20;
inline constexpr size_t kIp6ip6Overhead = 40;

inline void set_ethernet(uint8_t* frame, const wire::Mac& dst, const wire::Mac& src) {   // per packet: inline
    std::memcpy(frame, dst.data(), 6);
    std::memcpy(frame + 6, src.data(), 6);
}

// Which end of the flow to rewrite.
enum class End : uint8_t { src, dst };

// Replace one end's address and port; the IPv4 header checksum and the
// TCP/UDP checksum (pseudo header included) follow incrementally. A UDP
// datagram without checksum (IPv4, 0) keeps none. l4_avail: bytes of L4
// header present (the packet quoted in an ICMP error may stop after the
// ports); a checksum field beyond it is left alone.
void nat_v4(uint8_t* ip, uint8_t* l4, uint8_t proto, End end, uint32_t addr_net, uint16_t port_net,
            size_t l4_avail = SIZE_MAX);
void nat_v6(uint8_t* ip, uint8_t* l4, uint8_t proto, End end, const uint8_t* addr16, uint16_t port_net,
            size_t l4_avail = SIZE_MAX);

// Replace one end's address only (fragments without the TCP/UDP header):
// IPv4's header checksum follows; the L4 checksum is the first fragment's
// business (nat_v4 / nat_v6 updated it there for the whole datagram).
void readdress_v4(uint8_t* ip, End end, uint32_t addr_net);
void readdress_v6(uint8_t* ip, End end, const uint8_t* addr16);

// Decrement the TTL / hop limit (IPv4 checksum updated). False, and the
// packet untouched, when it must not be forwarded (TTL <= 1).
bool decrement_ttl_v4(uint8_t* ip);
bool decrement_hop_limit_v6(uint8_t* ip);

// Tunnel: write Ethernet + outer IP header in the `overhead` bytes before
// `frame` plus frame's own 14 Ethernet bytes, so the result starts at
// frame - overhead: [Ethernet][outer IP][inner IP datagram unchanged].
// inner_len: the inner IP datagram's length. Outer TTL / hop limit 64;
// IPv4 copies TOS and DF from the inner header.
void encap_ipip(uint8_t* frame, size_t inner_len, uint32_t src_net, uint32_t dst_net,
                const wire::Mac& dst_mac, const wire::Mac& src_mac);
void encap_ip6ip6(uint8_t* frame, size_t inner_len, const uint8_t* src16, const uint8_t* dst16,
                  const wire::Mac& dst_mac, const wire::Mac& src_mac);

// Lower a TCP SYN's MSS option to at most `mss` (checksum updated). True if
// it changed. l4_len: bytes of TCP header available.
bool clamp_mss(uint8_t* tcp, size_t l4_len, uint16_t mss);

// The L4 checksum field's offset: TCP 16, UDP 6.
inline size_t l4_csum_offset(uint8_t proto) { return proto == wire::IPPROTO_TCP_ ? 16 : 6; }

} // namespace haplane::lb::rewrite
