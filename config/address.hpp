// IP addresses and prefixes: pure value types shared by every room.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace haplane {

enum class Family : uint8_t { v4 = 4, v6 = 6 };

// An IPv4 or IPv6 address; bytes are in network order. IPv4 uses bytes[0..3].
struct IpAddress {
    Family family = Family::v4;
    std::array<uint8_t, 16> bytes{};

    static std::optional<IpAddress> parse(std::string_view text);
    static IpAddress v4(uint32_t host_order);
    std::string str() const;
    // IPv4 value in host byte order (only meaningful when family == v4).
    uint32_t v4_host() const;
    // IPv4 value in network byte order, as it lies in a packet.
    uint32_t v4_net() const;
    bool is_v4() const { return family == Family::v4; }
    bool is_multicast() const;
    bool is_link_local() const;
    size_t size() const { return family == Family::v4 ? 4 : 16; }

    auto operator<=>(const IpAddress&) const = default;
};

// An address with a prefix length, e.g. 10.0.0.1/24.
struct IpPrefix {
    IpAddress address;
    uint8_t length = 32;

    // Accepts "ADDR/LEN" or a bare "ADDR" (host prefix).
    static std::optional<IpPrefix> parse(std::string_view text);
    std::string str() const;
    bool contains(const IpAddress& a) const;
    auto operator<=>(const IpPrefix&) const = default;
};

} // namespace haplane
