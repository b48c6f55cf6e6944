#include "config/address.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace haplane {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    // inet_pton needs a NUL-terminated string; it also rejects zone ids
    // ("fe80::1%eth0") and surrounding junk, which is what we want.
    const std::string s(text);
    IpAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = Family::v4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = Family::v6;
        return a;
    }
    return std::nullopt;
}

IpAddress IpAddress::v4(uint32_t host_order) {
    IpAddress a;
    a.family = Family::v4;
    a.bytes[0] = static_cast<uint8_t>(host_order >> 24);
    a.bytes[1] = static_cast<uint8_t>(host_order >> 16);
    a.bytes[2] = static_cast<uint8_t>(host_order >> 8);
    a.bytes[3] = static_cast<uint8_t>(host_order);
    return a;
}

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

uint32_t IpAddress::v4_host() const {
    return uint32_t(bytes[0]) << 24 | uint32_t(bytes[1]) << 16 |
           uint32_t(bytes[2]) << 8 | uint32_t(bytes[3]);
}

uint32_t IpAddress::v4_net() const { return htonl(v4_host()); }

bool IpAddress::is_multicast() const {
    if (is_v4()) return (bytes[0] & 0xf0) == 0xe0;   // 224.0.0.0/4
    return bytes[0] == 0xff;                          // ff00::/8
}

bool IpAddress::is_link_local() const {
    if (is_v4()) return bytes[0] == 169 && bytes[1] == 254;       // 169.254.0.0/16
    return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;         // fe80::/10
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
    const auto slash = text.find('/');
    auto address = IpAddress::parse(text.substr(0, slash));
    if (!address) return std::nullopt;
    const unsigned max = address->is_v4() ? 32 : 128;
    if (slash == std::string_view::npos)
        return IpPrefix{*address, static_cast<uint8_t>(max)};

    // Digits only: from_chars alone would accept "24junk" up to the junk.
    const auto len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3) return std::nullopt;
    unsigned length = 0;
    const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), length);
    if (ec != std::errc{} || end != len_text.data() + len_text.size() || length > max)
        return std::nullopt;
    return IpPrefix{*address, static_cast<uint8_t>(length)};
}

std::string IpPrefix::str() const { return address.str() + "/" + std::to_string(length); }

bool IpPrefix::contains(const IpAddress& a) const {
    if (a.family != address.family) return false;
    const unsigned full = length / 8, rest = length % 8;
    for (unsigned i = 0; i < full; ++i)
        if (a.bytes[i] != address.bytes[i]) return false;
    if (rest == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == (address.bytes[full] & mask);
}

} // namespace haplane
