// A connection in transferable form, for syncing flows to the HA peer: a
// fixed 52-byte layout, multi-byte fields in network order, versioned.
//
//  0 version  1 family  2 proto  3 state  4 flags  5 local_address
//  6 local_port (as in the entry: network order)
//  8 src_port  10 dst_port (network order, as in the key)
// 12 service  14 real_server  16 remaining seconds (u32)
// 20 src[16]  36 dst[16]
#pragma once

#include "lb/flow.hpp"
#include "lb/flow_table.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace haplane::lb {

struct ConnRecord {
    static constexpr size_t kSize = 52;
    static constexpr uint8_t kVersion = 1;

    FlowKey key;
    ConnEntry entry;
    uint32_t remaining = 0;    // seconds until it expires unless refreshed

    std::array<uint8_t, kSize> to_bytes() const;
    // nullopt for a short buffer, another version, or an unknown family or state.
    static std::optional<ConnRecord> from_bytes(std::span<const uint8_t> bytes);

    bool operator==(const ConnRecord&) const = default;
};

} // namespace haplane::lb
