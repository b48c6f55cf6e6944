// Next-hop resolution for real servers: the control thread asks with ARP
// requests / neighbour solicitations sent from the port's own address, and
// learns from the answers the dataplane copies to it. Pure frame builders
// and readers; the timers live in control/lb_control.
#pragma once

#include "config/address.hpp"
#include "dataplane/wire.hpp"

#include <cstddef>
#include <cstdint>

namespace haplane::lb {

inline constexpr size_t kArpRequestLen = 60;          // padded to the Ethernet minimum
inline constexpr size_t kNeighborSolicitLen = 86;     // Eth + IPv6 + NS + source link-layer option

// "Who has target? Tell sender" (broadcast). `out` >= kArpRequestLen bytes.
size_t build_arp_request(uint8_t* out, const wire::Mac& src_mac, uint32_t sender_net, uint32_t target_net);

// NS for `target` from `src` (hop limit 255, to the solicited-node group,
// with our MAC in a source link-layer option). `out` >= kNeighborSolicitLen.
size_t build_neighbor_solicit(uint8_t* out, const wire::Mac& src_mac, const uint8_t* src16, const uint8_t* target16);

// Who a neighbour says it is: an ARP packet's sender, or an NA's target
// with its target link-layer option (else the Ethernet source). False for
// anything else or a malformed/invalid frame.
bool read_neighbour_answer(const uint8_t* frame, size_t len, IpAddress& address, wire::Mac& mac);

} // namespace haplane::lb
