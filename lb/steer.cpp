#include "lb/steer.hpp"

#include "lb/lb_worker.hpp"
#include "lb/service_table.hpp"

namespace haplane::lb {

namespace {

bool reply_through_us(config::Method m) { return m == config::Method::nat || m == config::Method::fnat; }

} // namespace

bool parse_quoted(const uint8_t* frame, const wire::Parsed& p, QuotedPacket& out) {
    if (p.fragment || p.l4_offset == 0 || p.l3_end < p.l4_offset + 8) return false;
    const bool v4 = p.ethertype == wire::ETHERTYPE_IPV4;
    const uint8_t* icmp = frame + p.l4_offset;
    const uint8_t type = icmp[0];
    if (v4 ? !(type == 3 || type == 4 || type == 11 || type == 12) : !(type >= 1 && type <= 4)) return false;
    const uint8_t* ip = icmp + 8;
    const size_t avail = static_cast<size_t>(p.l3_end - p.l4_offset) - 8;
    size_t hlen;
    uint8_t proto;
    if (v4) {
        if (avail < 20 || (ip[0] >> 4) != 4) return false;
        hlen = static_cast<size_t>(ip[0] & 0x0f) * 4;
        if (hlen < 20 || (wire::load_be16(ip + 6) & 0x1fff) != 0) return false;
        proto = ip[9];
    } else {
        if (avail < 40 || (ip[0] >> 4) != 6) return false;
        hlen = 40;   // quoted extension headers are not looked through
        proto = ip[6];
    }
    if ((proto != kProtoTcp && proto != kProtoUdp) || avail < hlen + 8) return false;
    uint16_t sport, dport;
    std::memcpy(&sport, ip + hlen, 2);
    std::memcpy(&dport, ip + hlen + 2, 2);
    if (v4) {
        uint32_t s, d;
        std::memcpy(&s, ip + 12, 4);
        std::memcpy(&d, ip + 16, 4);
        out.key = FlowKey::v4(s, d, sport, dport, proto);
    } else {
        out.key = FlowKey::v6(ip + 8, ip + 24, sport, dport, proto);
    }
    out.icmp = p.l4_offset;
    out.icmp_len = static_cast<size_t>(p.l3_end - p.l4_offset);
    out.ip = p.l4_offset + 8;
    out.l4 = out.ip + hlen;
    out.l4_avail = avail - hlen;
    return true;
}

bool quoted_flow(const uint8_t* frame, const wire::Parsed& p, FlowKey& out) {
    QuotedPacket q;
    if (!parse_quoted(frame, p, q)) return false;
    out = q.key;
    return true;
}

// In the order LbWorker::claims asks its questions, so a packet is owned
// for the same reason it was claimed.
int flow_owner(const ServiceTable& table, const uint8_t* frame, const wire::Parsed& p, unsigned workers,
               uint64_t seed) {
    if (workers <= 1) return 0;
    // A first fragment has its ports; the others stay where RSS put them (docs/architecture.md).
    if (p.l4_offset == 0) return kNoOwner;
    const bool v4 = p.ethertype == wire::ETHERTYPE_IPV4;
    const Family f = v4 ? Family::v4 : Family::v6;
    if (p.ip_proto == (v4 ? wire::IPPROTO_ICMP_ : wire::IPPROTO_ICMPV6_)) {
        FlowKey q;   // the quoted packet, as it was sent
        if (!quoted_flow(frame, p, q)) return kNoOwner;
        const int s = table.find_service(f, q.src, q.src_port, q.proto);
        if (s >= 0)   // from the client side, about a reply we sent it: VIP -> client
            return reply_through_us(table.services()[static_cast<size_t>(s)].method)
                       ? static_cast<int>(client_owner(f, q.dst, q.dst_port, workers, seed))
                       : kNoOwner;
        if (table.is_nat_source(f, q.dst, q.dst_port, q.proto))   // nat, server side: client -> server
            return static_cast<int>(client_owner(f, q.src, q.src_port, workers, seed));
        if (table.is_local_address(f, q.src, q.proto))            // fnat, server side: local -> server
            return local_port_owner(net16(q.src_port), workers);
        return kNoOwner;
    }
    if (p.ip_proto != kProtoTcp && p.ip_proto != kProtoUdp) return kNoOwner;
    const uint8_t* ip = frame + p.l3_offset;
    const uint8_t* l4 = frame + p.l4_offset;
    const uint8_t* src = ip + (v4 ? 12 : 8);
    const uint8_t* dst = ip + (v4 ? 16 : 24);
    uint16_t sport, dport;
    std::memcpy(&sport, l4, 2);
    std::memcpy(&dport, l4 + 2, 2);
    const int s = table.find_service(f, dst, dport, p.ip_proto);
    if (s >= 0)   // client -> VIP
        return reply_through_us(table.services()[static_cast<size_t>(s)].method)
                   ? static_cast<int>(client_owner(f, src, sport, workers, seed))
                   : kNoOwner;
    if (table.is_local_address(f, dst, p.ip_proto)) return local_port_owner(net16(dport), workers);   // fnat reply
    if (table.is_nat_source(f, src, sport, p.ip_proto))                                                // nat reply
        return static_cast<int>(client_owner(f, dst, dport, workers, seed));
    return kNoOwner;
}

// ---- LbWorker's side: mark what belongs to another worker ----

uint16_t LbWorker::steer(dataplane::LbPacket* pkts, uint16_t n) {
    if (!table_ || table_->workers() <= 1) return 0;
    if (!table_->has_reply_services()) return 0;
    const unsigned workers = table_->workers();
    uint16_t handed = 0;
    for (uint16_t i = 0; i < n; ++i) {
        dataplane::LbPacket& p = pkts[i];
        const int owner = flow_owner(*table_, p.frame, p.parsed, workers, options_.seed);
        if (owner < 0 || static_cast<unsigned>(owner) == worker_) continue;
        p.out_port = dataplane::LbPacket::kHandoff;
        p.owner = static_cast<uint16_t>(owner);
        ++handed;
    }
    return handed;
}

void LbWorker::handoff_counts(uint32_t sent, uint32_t ring_full, uint32_t received) {
    if (sent) stats_->handoffs_sent.add(sent);
    if (received) stats_->handoffs_received.add(received);
    if (ring_full) stats_->drops[static_cast<size_t>(LbDrop::handoff_full)].add(ring_full);
}

} // namespace haplane::lb
