// VRRP advert bytes: RFC 3768 (v2) and RFC 5798 (v3). See vrrp_packet.hpp.
// Pure: no DPDK, no exceptions; the parse path allocates only to fill
// Advert::addresses.
#include "control/vrrp_packet.hpp"

#include <algorithm>
#include <cstring>

namespace haplane::vrrp {

namespace {

using wire::load_be16;
using wire::store_be16;

constexpr size_t ETH_MIN_FRAME = 60;       // without FCS
constexpr size_t VRRP_HLEN = 8;            // fixed part, both versions
constexpr size_t V2_AUTH_LEN = 8;          // authentication data, v2 only
constexpr uint8_t IP_TOS_VRRP = 0xc0;      // internetwork control
constexpr uint8_t VRRP_TTL = 255;

constexpr size_t addr_size(Family f) { return f == Family::v6 ? 16 : 4; }

bool same_address(const IpAddress& a, const IpAddress& b) {
    if (a.family != b.family)
        return false;
    return std::memcmp(a.bytes.data(), b.bytes.data(), a.size()) == 0;
}

bool contains(const std::vector<IpAddress>& set, const IpAddress& a) {
    for (const auto& x : set)
        if (same_address(x, a))
            return true;
    return false;
}

IpAddress address_at(Family family, const uint8_t* p) {
    IpAddress a;
    a.family = family;
    std::memcpy(a.bytes.data(), p, addr_size(family));
    return a;
}

const InstanceView* find_instance(const std::vector<InstanceView>& instances, uint8_t vrid,
                                  Family family) {
    for (const auto& inst : instances)
        if (inst.vrid == vrid && inst.family == family)
            return &inst;
    return nullptr;
}

// The set of addresses in the advert equals the instance's VIPs, count
// included.
bool same_address_set(const std::vector<IpAddress>& got, const std::vector<IpAddress>& vips) {
    if (got.size() != vips.size())
        return false;
    for (const auto& a : got)
        if (!contains(vips, a))
            return false;
    for (const auto& v : vips)
        if (!contains(got, v))
            return false;
    return true;
}

// One's-complement sum of the VRRPv3 pseudo header (RFC 5798 5.2.8).
uint32_t pseudo_header_sum(const uint8_t* ip, Family family, size_t vrrp_len) {
    uint32_t s;
    if (family == Family::v4) {
        s = wire::ones_sum(ip + 12, 8);                     // source, destination
        s += wire::IPPROTO_VRRP_;
        s += static_cast<uint32_t>(vrrp_len & 0xFFFFu);
    } else {
        s = wire::ones_sum(ip + 8, 32);                     // source, destination
        s += static_cast<uint32_t>(vrrp_len >> 16) & 0xFFFFu;
        s += static_cast<uint32_t>(vrrp_len & 0xFFFFu);
        s += wire::IPPROTO_VRRP_;                           // next header
    }
    return s;
}

} // namespace

wire::Mac virtual_mac(uint8_t vrid, Family family) {
    return {0x00, 0x00, 0x5e, 0x00, static_cast<uint8_t>(family == Family::v6 ? 0x02 : 0x01), vrid};
}

wire::Mac multicast_mac(Family family) {
    if (family == Family::v6)
        return {0x33, 0x33, 0x00, 0x00, 0x00, 0x12};
    return {0x01, 0x00, 0x5e, 0x00, 0x00, 0x12};
}

IpAddress multicast_group(Family family) {
    IpAddress a;
    a.family = family;
    if (family == Family::v6) {
        a.bytes[0] = 0xff;
        a.bytes[1] = 0x02;
        a.bytes[15] = 0x12;
    } else {
        a.bytes[0] = 224;
        a.bytes[3] = 18;
    }
    return a;
}

std::array<uint8_t, 8> auth_data_from(const std::string& password) {
    std::array<uint8_t, 8> out{};
    const size_t n = std::min(password.size(), out.size());
    std::memcpy(out.data(), password.data(), n);
    return out;
}

const char* to_string(Drop d) {
    switch (d) {
    case Drop::none: return "none";
    case Drop::bad_ttl: return "bad_ttl";
    case Drop::too_short: return "too_short";
    case Drop::bad_version: return "bad_version";
    case Drop::bad_auth_type: return "bad_auth_type";
    case Drop::bad_password: return "bad_password";
    case Drop::bad_interval: return "bad_interval";
    case Drop::bad_type: return "bad_type";
    case Drop::bad_checksum: return "bad_checksum";
    case Drop::unknown_vrid: return "unknown_vrid";
    case Drop::address_mismatch: return "address_mismatch";
    case Drop::not_a_peer: return "not_a_peer";
    case Drop::count_: break;
    }
    return "unknown";
}

size_t build_advert(uint8_t* out, const AdvertFrame& frame, const Advert& advert) {
    const Family family = advert.family;
    const bool v6 = family == Family::v6;
    const bool v2 = advert.version == 2;
    const size_t asz = addr_size(family);
    const size_t count = std::min(advert.addresses.size(), max_addresses(family));
    const size_t vrrp_len = VRRP_HLEN + count * asz + (v2 ? V2_AUTH_LEN : 0);
    const size_t ip_hlen = v6 ? wire::IPV6_HLEN : wire::IPV4_MIN_HLEN;

    // Ethernet
    std::memcpy(out, frame.dst_mac.data(), 6);
    std::memcpy(out + 6, frame.src_mac.data(), 6);
    store_be16(out + 12, v6 ? wire::ETHERTYPE_IPV6 : wire::ETHERTYPE_IPV4);

    // IP
    uint8_t* ip = out + wire::ETH_HLEN;
    std::memset(ip, 0, ip_hlen);
    if (v6) {
        ip[0] = static_cast<uint8_t>(0x60 | (IP_TOS_VRRP >> 4));   // version, traffic class
        ip[1] = static_cast<uint8_t>((IP_TOS_VRRP & 0x0F) << 4);
        store_be16(ip + 4, static_cast<uint16_t>(vrrp_len));
        ip[6] = wire::IPPROTO_VRRP_;
        ip[7] = VRRP_TTL;
        std::memcpy(ip + 8, frame.src_ip.bytes.data(), 16);
        std::memcpy(ip + 24, frame.dst_ip.bytes.data(), 16);
    } else {
        ip[0] = 0x45;
        ip[1] = IP_TOS_VRRP;
        store_be16(ip + 2, static_cast<uint16_t>(ip_hlen + vrrp_len));
        // id 0, flags 0 (DF clear), fragment offset 0
        ip[8] = VRRP_TTL;
        ip[9] = wire::IPPROTO_VRRP_;
        std::memcpy(ip + 12, frame.src_ip.bytes.data(), 4);
        std::memcpy(ip + 16, frame.dst_ip.bytes.data(), 4);
        store_be16(ip + 10, wire::ipv4_header_checksum(ip, ip_hlen));
    }

    // VRRP
    uint8_t* v = ip + ip_hlen;
    std::memset(v, 0, vrrp_len);
    v[0] = static_cast<uint8_t>((advert.version << 4) | VRRP_TYPE_ADVERT);
    v[1] = advert.vrid;
    v[2] = advert.priority;
    v[3] = static_cast<uint8_t>(count);
    if (v2) {
        v[4] = advert.auth_type;
        v[5] = static_cast<uint8_t>(std::min<unsigned>(advert.interval_cs / 100u, 255u));
    } else {
        store_be16(v + 4, static_cast<uint16_t>(advert.interval_cs & 0x0FFFu));
    }
    uint8_t* a = v + VRRP_HLEN;
    for (size_t i = 0; i < count; ++i, a += asz)
        std::memcpy(a, advert.addresses[i].bytes.data(), asz);
    if (v2 && advert.auth_type == AUTH_PASS)
        std::memcpy(a, advert.auth_data.data(), V2_AUTH_LEN);
    // (auth data of other types stays zero: RFC 3768 5.3.10)

    uint32_t sum = v2 ? 0 : pseudo_header_sum(ip, family, vrrp_len);
    sum = wire::ones_sum(v, vrrp_len, sum);
    store_be16(v + 6, static_cast<uint16_t>(~wire::fold(sum)));

    size_t len = wire::ETH_HLEN + ip_hlen + vrrp_len;
    if (len < ETH_MIN_FRAME) {
        std::memset(out + len, 0, ETH_MIN_FRAME - len);
        len = ETH_MIN_FRAME;
    }
    return len;
}

Received receive_advert(const uint8_t* frame, size_t len, const wire::Parsed& p,
                        const std::vector<InstanceView>& instances) {
    Received r;
    Advert& adv = r.advert;

    // Where things are. parse_frame validated the IP header; stay defensive
    // about a Parsed that does not describe an IP frame.
    const bool is_v4 = p.ethertype == wire::ETHERTYPE_IPV4;
    const bool is_v6 = p.ethertype == wire::ETHERTYPE_IPV6;
    const size_t l3_end = std::min<size_t>(p.l3_end, len);
    const size_t ip_min = is_v6 ? wire::IPV6_HLEN : wire::IPV4_MIN_HLEN;
    if ((!is_v4 && !is_v6) || p.l3_offset == 0 || p.l3_offset + ip_min > l3_end) {
        r.drop = Drop::too_short;
        return r;
    }
    const Family family = is_v6 ? Family::v6 : Family::v4;
    const uint8_t* ip = frame + p.l3_offset;
    const size_t asz = addr_size(family);
    adv.family = family;
    adv.source = address_at(family, ip + (is_v6 ? 8 : 12));
    const IpAddress dst = address_at(family, ip + (is_v6 ? 24 : 16));

    const uint8_t* v = nullptr;
    size_t vlen = 0;
    if (p.l4_offset != 0 && p.ip_proto == wire::IPPROTO_VRRP_ && p.l4_offset <= l3_end) {
        v = frame + p.l4_offset;
        vlen = l3_end - p.l4_offset;
    }

    // The fixed header, as soon as it is there.
    uint8_t version = 0, type = 0, count = 0;
    if (vlen >= VRRP_HLEN) {
        version = static_cast<uint8_t>(v[0] >> 4);
        type = static_cast<uint8_t>(v[0] & 0x0F);
        count = v[3];
        adv.version = version;
        adv.vrid = v[1];
        adv.priority = v[2];
        if (version == 2) {
            adv.auth_type = v[4];
            adv.interval_cs = static_cast<uint16_t>(v[5] * 100u);
        } else {
            adv.interval_cs = static_cast<uint16_t>(load_be16(v + 4) & 0x0FFFu);
        }
    }

    // 1. TTL / hop limit, for multicast destinations only.
    if (dst.is_multicast() && p.ttl != VRRP_TTL) {
        r.drop = Drop::bad_ttl;
        return r;
    }

    // 2. Length: header, the addresses it claims, v2 authentication data.
    const size_t need = VRRP_HLEN + count * asz + (version == 2 ? V2_AUTH_LEN : 0);
    if (vlen < VRRP_HLEN || vlen < need) {
        r.drop = Drop::too_short;
        return r;
    }
    adv.addresses.reserve(count);
    for (size_t i = 0; i < count; ++i)
        adv.addresses.push_back(address_at(family, v + VRRP_HLEN + i * asz));
    if (version == 2)
        std::memcpy(adv.auth_data.data(), v + VRRP_HLEN + count * asz, V2_AUTH_LEN);

    // 3. Version: 2 or 3, v2 over IPv4 only, and the instance's.
    if ((version != 2 && version != 3) || (version == 2 && is_v6)) {
        r.drop = Drop::bad_version;
        return r;
    }
    const InstanceView* inst = find_instance(instances, adv.vrid, family);
    r.instance = inst;
    if (inst && inst->version != version) {
        r.drop = Drop::bad_version;
        return r;
    }

    // 4.-5. v2 authentication and advert interval.
    if (version == 2 && inst) {
        if (adv.auth_type != inst->auth_type) {
            r.drop = Drop::bad_auth_type;
            return r;
        }
        if (adv.auth_type == AUTH_PASS && adv.auth_data != inst->auth_data) {
            r.drop = Drop::bad_password;
            return r;
        }
        if (v[5] != inst->interval_cs / 100u) {
            r.drop = Drop::bad_interval;
            return r;
        }
    }

    // 6. Type.
    if (type != VRRP_TYPE_ADVERT) {
        r.drop = Drop::bad_type;
        return r;
    }

    // 7. Checksum over the whole VRRP message (v3: plus the pseudo header).
    uint32_t sum = version == 2 ? 0 : pseudo_header_sum(ip, family, vlen);
    sum = wire::ones_sum(v, vlen, sum);
    if (wire::fold(sum) != 0xFFFF) {
        r.drop = Drop::bad_checksum;
        return r;
    }

    // 8. Known VRID.
    if (!inst) {
        r.drop = Drop::unknown_vrid;
        return r;
    }

    // 9. Addresses: counted and logged, still accepted.
    r.address_mismatch = !same_address_set(adv.addresses, inst->vips);

    // 10. Unicast: the source must be a configured peer.
    if (!inst->unicast_peers.empty() && !contains(inst->unicast_peers, adv.source)) {
        r.drop = Drop::not_a_peer;
        return r;
    }
    return r;
}

} // namespace haplane::vrrp
