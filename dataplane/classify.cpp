#include "dataplane/classify.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace haplane::dataplane {

using namespace haplane::wire;

const char* to_string(Verdict v) {
    switch (v) {
    case Verdict::malformed: return "malformed";
    case Verdict::not_mine: return "not_mine";
    case Verdict::arp_reply: return "arp_reply";
    case Verdict::nd_reply: return "nd_reply";
    case Verdict::to_kernel: return "to_kernel";
    case Verdict::to_vrrp: return "to_vrrp";
    case Verdict::to_lb: return "to_lb";
    case Verdict::count_: break;
    }
    return "?";
}

bool PortAddresses::owns_v6(const uint8_t* ip) const {
    return std::any_of(v6.begin(), v6.end(),
                       [ip](const auto& a) { return std::memcmp(a.data(), ip, 16) == 0; });
}

const wire::Mac* PortAddresses::answer_v4(uint32_t ip_net) const {
    if (owns_v4(ip_net)) return &mac;
    for (const auto& v : vip4)
        if (v.ip == ip_net) return &v.mac;
    if (std::find(lb4.begin(), lb4.end(), ip_net) != lb4.end()) return &mac;
    return nullptr;
}

const wire::Mac* PortAddresses::answer_v6(const uint8_t* ip) const {
    if (owns_v6(ip)) return &mac;
    for (const auto& v : vip6)
        if (std::memcmp(v.ip.data(), ip, 16) == 0) return &v.mac;
    for (const auto& a : lb6)
        if (std::memcmp(a.data(), ip, 16) == 0) return &mac;
    return nullptr;
}

std::array<uint8_t, 16> link_local_from_mac(const Mac& mac) {
    return {0xfe, 0x80, 0, 0, 0, 0, 0, 0,
            static_cast<uint8_t>(mac[0] ^ 0x02), mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]};
}

std::string mac_to_string(const Mac& m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

namespace {

constexpr uint32_t VRRP_GROUP_V4 = 0xe0000012;   // 224.0.0.18
constexpr std::array<uint8_t, 16> VRRP_GROUP_V6 = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                                   0, 0, 0, 0, 0, 0, 0, 0x12};

Verdict classify_arp(const uint8_t* frame, size_t len, const PortAddresses& port, Classified& c) {
    ArpView arp;
    if (!read_arp(frame + ETH_HLEN, len - ETH_HLEN, arp)) return Verdict::not_mine;
    c.answer_mac = port.answer_v4(arp.target_ip);
    if (!c.answer_mac) return Verdict::not_mine;
    if (arp.op == 1) return Verdict::arp_reply;
    // A reply to a request the kernel sent: it needs it to reach its peers.
    if (arp.op == 2) return Verdict::to_kernel;
    return Verdict::not_mine;
}

// Unicast to the port's MAC or to the virtual MAC of a VIP it holds: what a
// NIC without promiscuous mode would deliver. Frames a shared segment
// floods to us (or our own, looped back) are not forwarded.
bool addressed_to_port(const uint8_t* frame, const PortAddresses& port) {
    if (std::memcmp(frame, port.mac.data(), 6) == 0) return true;
    for (const auto& v : port.vip4)
        if (std::memcmp(frame, v.mac.data(), 6) == 0) return true;
    for (const auto& v : port.vip6)
        if (std::memcmp(frame, v.mac.data(), 6) == 0) return true;
    return false;
}

bool lb_claims(const LbHook& lb, const uint8_t* frame, const Parsed& p, const PortAddresses& port) {
    return lb.claims && addressed_to_port(frame, port) && lb.claims(lb.ctx, frame, p);
}

bool holds_vip4(const PortAddresses& port, uint32_t ip_net) {
    for (const auto& v : port.vip4)
        if (v.ip == ip_net) return true;
    return false;
}

bool holds_vip6(const PortAddresses& port, const uint8_t* ip) {
    for (const auto& v : port.vip6)
        if (std::memcmp(v.ip.data(), ip, 16) == 0) return true;
    return false;
}

Verdict classify_ipv4(const uint8_t* frame, const Parsed& p, const PortAddresses& port,
                      const LbHook& lb) {
    uint32_t dst_net;
    std::memcpy(&dst_net, frame + p.l3_offset + 16, 4);
    if (p.ip_proto == IPPROTO_VRRP_ && load_be32(frame + p.l3_offset + 16) == VRRP_GROUP_V4)
        return Verdict::to_vrrp;
    if (port.owns_v4(dst_net))
        return p.ip_proto == IPPROTO_VRRP_ ? Verdict::to_vrrp : Verdict::to_kernel;
    if (lb_claims(lb, frame, p, port)) return Verdict::to_lb;
    // A VIP no virtual service claimed: the host's services answer on it.
    if (holds_vip4(port, dst_net)) return Verdict::to_kernel;
    return Verdict::not_mine;
}

Verdict classify_ipv6(const uint8_t* frame, const Parsed& p, const PortAddresses& port,
                      const LbHook& lb, Classified& c) {
    const uint8_t* dst = frame + p.l3_offset + 24;
    if (p.ip_proto == IPPROTO_VRRP_ && std::memcmp(dst, VRRP_GROUP_V6.data(), 16) == 0)
        return Verdict::to_vrrp;
    if (p.ip_proto == IPPROTO_ICMPV6_ && p.l4_offset && frame[p.l4_offset] == ICMPV6_NS) {
        uint8_t target[16];
        if (!read_neighbor_solicit(frame, p, target)) return Verdict::not_mine;
        c.answer_mac = port.answer_v6(target);
        return c.answer_mac ? Verdict::nd_reply : Verdict::not_mine;
    }
    if (port.owns_v6(dst)) return p.ip_proto == IPPROTO_VRRP_ ? Verdict::to_vrrp : Verdict::to_kernel;
    if (lb_claims(lb, frame, p, port)) return Verdict::to_lb;
    if (holds_vip6(port, dst)) return Verdict::to_kernel;
    return Verdict::not_mine;
}

} // namespace

bool wear_vip_mac(uint8_t* frame, size_t len, const PortAddresses& port) {
    if (len < ETH_HLEN || (port.vip4.empty() && port.vip6.empty())) return false;
    const Mac* mac = nullptr;
    const uint16_t type = load_be16(frame + 12);
    if (type == ETHERTYPE_ARP && len >= ETH_HLEN + ARP_LEN) {
        uint32_t sender;
        std::memcpy(&sender, frame + ETH_HLEN + 14, 4);
        for (const auto& v : port.vip4)
            if (v.ip == sender) mac = &v.mac;
        if (mac) std::memcpy(frame + ETH_HLEN + 8, mac->data(), 6);
    } else if (type == ETHERTYPE_IPV4 && len >= ETH_HLEN + IPV4_MIN_HLEN) {
        uint32_t src;
        std::memcpy(&src, frame + ETH_HLEN + 12, 4);
        for (const auto& v : port.vip4)
            if (v.ip == src) mac = &v.mac;
    } else if (type == ETHERTYPE_IPV6 && len >= ETH_HLEN + IPV6_HLEN) {
        for (const auto& v : port.vip6)
            if (std::memcmp(v.ip.data(), frame + ETH_HLEN + 8, 16) == 0) mac = &v.mac;
    }
    if (!mac || *mac == port.mac) return false;
    std::memcpy(frame + 6, mac->data(), 6);
    return true;
}

Classified classify(const uint8_t* frame, size_t len, const PortAddresses& port, const LbHook& lb) {
    Classified c;
    c.malformed = parse_frame(frame, len, c.parsed);
    if (c.malformed != Malformed::none) {
        c.verdict = Verdict::malformed;
        return c;
    }
    switch (c.parsed.ethertype) {
    case ETHERTYPE_ARP: c.verdict = classify_arp(frame, len, port, c); break;
    case ETHERTYPE_IPV4: c.verdict = classify_ipv4(frame, c.parsed, port, lb); break;
    case ETHERTYPE_IPV6: c.verdict = classify_ipv6(frame, c.parsed, port, lb, c); break;
    default: c.verdict = Verdict::not_mine; break;
    }
    return c;
}

} // namespace haplane::dataplane
