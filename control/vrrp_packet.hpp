// VRRP advert bytes: RFC 3768 (v2, with PASS authentication) and RFC 5798
// (v3, IPv4 and IPv6). Builds and parses whole Ethernet frames, nothing
// more: no state, no DPDK, no allocation on the parse path.
#pragma once

#include "config/address.hpp"
#include "dataplane/wire.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace haplane::vrrp {

constexpr uint8_t VRRP_TYPE_ADVERT = 1;
constexpr uint8_t AUTH_NONE = 0;
constexpr uint8_t AUTH_PASS = 1;
constexpr size_t MAX_ADDRESSES = 255;

// Addresses one advert can carry: the 8-bit count field, and an IP datagram
// within a 1500-byte MTU (IPv6: (1500 - 40 - 8) / 16 = 90). build_advert
// sends at most this many.
constexpr size_t max_addresses(Family family) {
    return family == Family::v6 ? (1500 - 40 - 8) / 16 : MAX_ADDRESSES;
}

// 00:00:5e:00:01:VRID (IPv4) / 00:00:5e:00:02:VRID (IPv6), RFC 5798 7.3.
wire::Mac virtual_mac(uint8_t vrid, Family family);
// 01:00:5e:00:00:12 / 33:33:00:00:00:12
wire::Mac multicast_mac(Family family);
// 224.0.0.18 / ff02::12
IpAddress multicast_group(Family family);

// What an advert says (host order, decoded).
struct Advert {
    uint8_t version = 3;                 // 2 or 3
    uint8_t vrid = 0;
    uint8_t priority = 0;
    // v3: Max Advertise Interval in centiseconds (12 bits); v2: Adver Int in
    // whole seconds (8 bits). Kept in centiseconds here for both.
    uint16_t interval_cs = 100;
    uint8_t auth_type = AUTH_NONE;       // v2 only
    std::array<uint8_t, 8> auth_data{};  // v2 PASS: password, zero padded
    Family family = Family::v4;
    IpAddress source;                    // IP source of the packet
    std::vector<IpAddress> addresses;    // the VIPs it carries
};

// Everything a frame needs to leave: Ethernet and IP addressing.
struct AdvertFrame {
    wire::Mac src_mac{};
    wire::Mac dst_mac{};                 // multicast_mac() or a peer's MAC
    IpAddress src_ip;                    // v4: primary address; v6: link-local
    IpAddress dst_ip;                    // multicast_group() or a unicast peer
};

// Builds the whole Ethernet frame into `out` (>= 1600 bytes): IPv4 with TTL
// 255, TOS 0xc0, DF clear, header checksum; IPv6 with hop limit 255, traffic
// class 0xc0; VRRP checksum: v2 over the VRRP message only, v3 over the IPv4
// or IPv6 pseudo header plus the message. Returns the frame length.
size_t build_advert(uint8_t* out, const AdvertFrame& frame, const Advert& advert);

// Why a received advert was refused, in the order the checks run
// (RFC 5798 7.1, RFC 3768 7.1, keepalived's own order).
enum class Drop : uint8_t {
    none = 0,
    bad_ttl,              // TTL / hop limit != 255
    too_short,            // shorter than the header and the addresses it claims
    bad_version,          // not 2 or 3, or not the instance's version
    bad_auth_type,        // v2: type differs from ours
    bad_password,         // v2 PASS: password differs
    bad_interval,         // v2: advert interval differs from ours
    bad_type,             // VRRP type != 1 (advertisement)
    bad_checksum,
    unknown_vrid,         // no instance on this port has this VRID
    address_mismatch,     // counted and logged, but still accepted
    not_a_peer,           // unicast: source is not one of unicast_peers
    count_
};
const char* to_string(Drop d);

// What a port's instances look like to the receive checks.
struct InstanceView {
    uint8_t vrid = 0;
    Family family = Family::v4;
    uint8_t version = 3;
    uint16_t interval_cs = 100;          // v2: compared in whole seconds
    uint8_t auth_type = AUTH_NONE;
    std::array<uint8_t, 8> auth_data{};
    std::vector<IpAddress> vips;         // for the address-mismatch check
    std::vector<IpAddress> unicast_peers;   // empty = multicast
};

struct Received {
    Drop drop = Drop::none;              // none: accept
    bool address_mismatch = false;       // accepted, but counted and logged
    const InstanceView* instance = nullptr;   // the instance it is for, if known
    Advert advert;                       // decoded as far as the checks got
};

// All receive checks on a frame classify() sent to VRRP, in this order:
// TTL/hop limit 255 (multicast destination only), length, version (2 or 3,
// and the instance's), auth type and password (v2), advert interval (v2),
// type, checksum, VRID unknown on this port (none of `instances` has this
// VRID and family), VIP count/content mismatch (accepted), unicast source
// not a configured peer.
Received receive_advert(const uint8_t* frame, size_t len, const wire::Parsed& p,
                        const std::vector<InstanceView>& instances);

// Password as it goes on the wire: up to 8 bytes, zero padded.
std::array<uint8_t, 8> auth_data_from(const std::string& password);

} // namespace haplane::vrrp
