#include "lb/lb_worker.hpp"

#include "lb/rewrite.hpp"
#include "lb/steer.hpp"

#include <algorithm>
#include <cstring>

namespace haplane::lb {

using dataplane::LbPacket;

const char* to_string(LbDrop d) {
    switch (d) {
    case LbDrop::no_service: return "no_service";
    case LbDrop::no_real_server: return "no_real_server";
    case LbDrop::table_full: return "table_full";
    case LbDrop::no_neighbour: return "no_neighbour";
    case LbDrop::no_local_port: return "no_local_port";
    case LbDrop::ttl_exceeded: return "ttl_exceeded";
    case LbDrop::too_big: return "too_big";
    case LbDrop::fragment: return "fragment";
    case LbDrop::hop_table_full: return "hop_table_full";
    case LbDrop::dead_server: return "dead_server";
    case LbDrop::handoff_full: return "handoff_full";
    case LbDrop::count_: break;
    }
    return "?";
}

// Where a packet's headers are, and its flow.
struct LbWorker::Tuple {
    const FlowKey& key;    // not copied: built once per packet by forward()
    uint64_t hash;         // conns_.hash(key), TCP/UDP only
    uint8_t* ip;
    uint8_t* l4;
    uint16_t ip_len;       // IP datagram bytes (stats)
    uint8_t tcp_flags;     // 0 for UDP
    bool v4;
};

// An ICMP error and the packet it quotes (its IP header and at least the
// first 8 bytes of its TCP/UDP header: the ports).
struct LbWorker::IcmpError {
    uint8_t* icmp = nullptr;
    size_t icmp_len = 0;
    uint8_t* ip = nullptr;
    uint8_t* l4 = nullptr;
    size_t l4_avail = 0;
    FlowKey key;            // the quoted packet's 5-tuple

    bool parse(uint8_t* frame, const wire::Parsed& p) {
        QuotedPacket q;
        if (!parse_quoted(frame, p, q)) return false;
        icmp = frame + q.icmp;
        icmp_len = q.icmp_len;
        ip = frame + q.ip;
        l4 = frame + q.l4;
        l4_avail = q.l4_avail;
        key = q.key;
        return true;
    }
};

namespace {

bool v4_frame(const wire::Parsed& p) { return p.ethertype == wire::ETHERTYPE_IPV4; }
uint8_t icmp_proto(bool v4) { return v4 ? wire::IPPROTO_ICMP_ : wire::IPPROTO_ICMPV6_; }

// The outer header's address at `end` (ICMP translation).
void set_address(uint8_t* ip, bool v4, rewrite::End end, const uint8_t* addr) {
    if (v4) std::memcpy(ip + (end == rewrite::End::src ? 12 : 16), addr, 4);
    else std::memcpy(ip + (end == rewrite::End::src ? 8 : 24), addr, 16);
}

void nat_quoted(bool v4, uint8_t* ip, uint8_t* l4, uint8_t proto, rewrite::End end,
                const uint8_t* addr, uint16_t port_net, size_t l4_avail) {
    if (v4) {
        uint32_t a;
        std::memcpy(&a, addr, 4);
        rewrite::nat_v4(ip, l4, proto, end, a, port_net, l4_avail);
    } else {
        rewrite::nat_v6(ip, l4, proto, end, addr, port_net, l4_avail);
    }
}

const uint8_t* src_of(const uint8_t* ip, bool v4) { return ip + (v4 ? 12 : 8); }
const uint8_t* dst_of(const uint8_t* ip, bool v4) { return ip + (v4 ? 16 : 24); }

uint32_t fwd_index(const ConnEntry& e) { return uint32_t{e.service} << 16 | e.real_server; }

// The reply-direction key of a nat/fnat flow.
FlowKey reverse_key(const Service& s, const RealServerSlot& rs, const FlowKey& fk, const ConnEntry& e) {
    FlowKey r;
    r.family = fk.family;
    r.proto = fk.proto;
    std::memcpy(r.src, rs.address.bytes.data(), 16);
    r.src_port = rs.port_net ? rs.port_net : fk.dst_port;
    if (s.method == config::Method::fnat) {
        std::memcpy(r.dst, s.local_addresses[e.local_address].bytes.data(), 16);
        r.dst_port = e.local_port;
    } else {
        std::memcpy(r.dst, fk.src, 16);
        r.dst_port = fk.src_port;
    }
    return r;
}

bool has_reply_entry(config::Method m) { return m == config::Method::nat || m == config::Method::fnat; }

} // namespace

void LbWorker::port_range(unsigned worker, unsigned workers, uint16_t& first, uint16_t& last) {
    local_port_range(worker, workers, first, last);
}

LbWorker::LbWorker(unsigned worker, const std::atomic<const ServiceTable*>* table, WorkerStats* stats,
                   const Options& options, uint32_t now_s)
    : worker_(worker), table_ptr_(table), stats_(stats), options_(options),
      conns_(options.connections, options.timeouts, now_s, options.seed),
      persistence_(options.persistence == 0 ? 1 : options.persistence, now_s, options.seed ^ 1), now_(now_s) {
    adopt(table_ptr_->load(std::memory_order_acquire));
}

// A new table: per-service state grows to its shape (a reload, rare; the
// only allocation on the worker), existing flows keep their counts.
void LbWorker::adopt(const ServiceTable* t) {
    table_ = t;
    if (!t) return;
    generation_ = t->generation();
    port_range(worker_, t->workers(), port_first_, port_last_);
    claim_v4_.build(*t);
    const auto& services = t->services();
    while (counts_.size() < services.size()) counts_.emplace_back(services[counts_.size()].real_servers.size());
    for (size_t i = 0; i < services.size(); ++i) counts_[i].ensure(services[i].real_servers.size());
    while (fnat_next_.size() < services.size()) fnat_next_.push_back(port_first_);
    // Options::timeouts hold until a table brings other timeouts (a reload).
    if (!table_timeouts_) {
        table_timeouts_ = t->timeouts();
    } else if (!(t->timeouts() == *table_timeouts_)) {
        table_timeouts_ = t->timeouts();
        conns_.set_timeouts(*table_timeouts_);
    }
}

void LbWorker::begin_round(uint32_t now_s) {
    const ServiceTable* t = table_ptr_->load(std::memory_order_acquire);
    if (t != table_ || (t && t->generation() != generation_)) adopt(t);
    now_ = now_s;
    // Expire a bounded batch; reply entries of expired flows go right after.
    n_pending_ = 0;
    conns_.expire(now_, kExpireBatch, [this](const Conn& c) { on_expired(c); });
    for (size_t i = 0; i < n_pending_; ++i) {
        Conn* r = conns_.find(pending_[i].key);
        if (r && (r->entry.flags & kConnReverse) && fwd_index(r->entry) == pending_[i].forward) conns_.remove(r);
    }
    persistence_.expire(now_, kExpireBatch);
    stats_->table_entries.set(conns_.size());
    if (dump_.asked()) [[unlikely]]
        serve_dump();
}

// Flows first (forward entries only), then persistence templates.
void LbWorker::serve_dump() {
    const uint32_t flows = conns_.capacity();
    dump_.serve(dump_entries(), [this, flows](uint32_t n, ConnRecord& out) {
        if (n < flows) {
            const Conn* c = conns_.at(n);
            if (!c || (c->entry.flags & kConnReverse)) return false;
            out = conns_.record(*c, now_);
            return true;
        }
        const Conn* t = persistence_.at(n - flows);
        if (!t) return false;
        out = ConnRecord{t->key, t->entry, t->deadline() > now_ ? t->deadline() - now_ : 0};
        out.entry.flags |= kConnTemplate;
        return true;
    });
}

void LbWorker::on_expired(const Conn& c) {
    if (c.entry.flags & kConnReverse) return;   // pinned: removed with its flow
    if (!table_ || c.entry.service >= table_->services().size()) return;
    const Service& s = table_->services()[c.entry.service];
    if (c.entry.real_server >= s.real_servers.size()) return;
    counts_[c.entry.service].remove(c.entry.real_server, c.entry.state);
    update_gauges(c.entry.service, c.entry.real_server);
    if (has_reply_entry(s.method) && n_pending_ < kExpireBatch &&
        (s.method != config::Method::fnat || c.entry.local_address < s.local_addresses.size()))
        pending_[n_pending_++] = {reverse_key(s, s.real_servers[c.entry.real_server], c.key, c.entry),
                                  conns_.index_of(&c)};
}

// A flow ended before its time (its server is gone): its counts, its
// reply entry, then itself.
void LbWorker::end_flow(Conn* c) {
    const Service& s = table_->services()[c->entry.service];
    counts_[c->entry.service].remove(c->entry.real_server, c->entry.state);
    update_gauges(c->entry.service, c->entry.real_server);
    if (has_reply_entry(s.method) &&
        (s.method != config::Method::fnat || c->entry.local_address < s.local_addresses.size())) {
        const uint32_t forward = conns_.index_of(c);
        Conn* r = conns_.find(reverse_key(s, s.real_servers[c->entry.real_server], c->key, c->entry));
        if (r && (r->entry.flags & kConnReverse) && fwd_index(r->entry) == forward) conns_.remove(r);
    }
    conns_.remove(c);
}

void LbWorker::update_gauges(uint16_t service, uint16_t rs) {
    const RealServerSlot& slot = table_->services()[service].real_servers[rs];
    const ConnCounts v = counts_[service].view();
    RealServerCounters& c = stats_->real_servers[slot.stats_index];
    c.active.set(v.active_of(rs));
    c.inactive.set(v.inactive_of(rs));
}

bool LbWorker::claims(const uint8_t* frame, const wire::Parsed& p) const {
    // The common case first, in few instructions: IPv4 TCP/UDP to a VIP:port.
    if (table_ && p.l4_offset != 0 && v4_frame(p) && (p.ip_proto == kProtoTcp || p.ip_proto == kProtoUdp)) {
        uint32_t dst;
        uint16_t dport;
        std::memcpy(&dst, frame + p.l3_offset + 16, 4);
        std::memcpy(&dport, frame + p.l4_offset + 2, 2);
        if (claim_v4_.contains(dst, dport, p.ip_proto)) return true;
    }
    return claims_other(frame, p);
}

// Everything else claims() answers: IPv6, port-0 services, replies to nat
// and fnat, ICMP errors about tracked flows.
__attribute__((noinline)) bool LbWorker::claims_other(const uint8_t* frame, const wire::Parsed& p) const {
    if (!table_) return false;
    if (p.fragment && p.l4_offset == 0) return claims_fragment(frame, p);
    if (p.l4_offset == 0) return false;
    const bool v4 = v4_frame(p);
    const Family f = v4 ? Family::v4 : Family::v6;
    if (p.ip_proto == icmp_proto(v4)) {
        IcmpError e;
        if (!e.parse(const_cast<uint8_t*>(frame), p)) return false;   // read only here
        const uint8_t proto = e.key.proto;
        return table_->find_service(f, e.key.src, e.key.src_port, proto) >= 0 ||   // about a reply: client side
               table_->is_nat_source(f, e.key.dst, e.key.dst_port, proto) ||       // nat: server side
               table_->is_local_address(f, e.key.src, proto);                      // fnat: server side
    }
    if (p.ip_proto != kProtoTcp && p.ip_proto != kProtoUdp) return false;
    const uint8_t* ip = frame + p.l3_offset;
    const uint8_t* l4 = frame + p.l4_offset;
    uint16_t sport, dport;
    std::memcpy(&sport, l4, 2);
    std::memcpy(&dport, l4 + 2, 2);
    return table_->find_service(f, dst_of(ip, v4), dport, p.ip_proto) >= 0 ||
           table_->is_local_address(f, dst_of(ip, v4), p.ip_proto) ||
           table_->is_nat_source(f, src_of(ip, v4), sport, p.ip_proto);
}

// A fragment without the TCP/UDP header. Known when its datagram's first
// fragment went through here; but the first may be in the same burst, not
// forwarded yet (claims come before forward), so also any fragment to a
// VIP or local address of a service of its protocol, or from a nat/fnat
// real server: forward_fragment drops those whose first never came.
// Rare and not per established packet: a walk over the services.
bool LbWorker::claims_fragment(const uint8_t* frame, const wire::Parsed& p) const {
    FlowKey datagram;
    if (!fragment_key(frame, p, datagram)) return false;
    if (frags_.find(datagram, now_) != FragTable::kNone) return true;
    if (table_->is_local_address(datagram.family, datagram.dst, datagram.proto)) return true;
    const size_t alen = datagram.family == Family::v4 ? 4 : 16;
    for (const Service& s : table_->services()) {
        if (s.family != datagram.family || s.proto != datagram.proto) continue;
        if (std::memcmp(s.vip.bytes.data(), datagram.dst, alen) == 0) return true;
        if (has_reply_entry(s.method))
            for (const RealServerSlot& rs : s.real_servers)
                if (std::memcmp(rs.address.bytes.data(), datagram.src, alen) == 0) return true;
    }
    return false;
}

void LbWorker::held_dropped(uint16_t n) { stats_->drops[static_cast<size_t>(LbDrop::no_neighbour)].add(n); }

// The flow of a TCP/UDP packet (a whole datagram or its first fragment);
// false for others.
inline bool LbWorker::flow_key(const LbPacket& p, FlowKey& key) {
    const wire::Parsed& pr = p.parsed;
    if (pr.l4_offset == 0 || (pr.ip_proto != kProtoTcp && pr.ip_proto != kProtoUdp)) return false;
    const uint8_t* ip = p.frame + pr.l3_offset;
    const uint8_t* l4 = p.frame + pr.l4_offset;
    uint16_t sport, dport;
    std::memcpy(&sport, l4, 2);
    std::memcpy(&dport, l4 + 2, 2);
    if (v4_frame(pr)) {
        uint32_t s, d;
        std::memcpy(&s, ip + 12, 4);
        std::memcpy(&d, ip + 16, 4);
        key = FlowKey::v4(s, d, sport, dport, pr.ip_proto);
    } else {
        key = FlowKey::v6(ip + 8, ip + 24, sport, dport, pr.ip_proto);
    }
    return true;
}

void LbWorker::forward(LbPacket* pkts, uint16_t n) {
    // Connection lookups of a burst are independent: hint all their index
    // slots, then all their nodes, then do the lookups, so that with a big
    // table the two cache misses of each lookup overlap with the other
    // packets' instead of following one another. tests/bench/lb_forward_bench,
    // established flows drawn from 1 M: 534 -> 370 ns a packet (-> 205 with
    // the table on huge pages, flow_table.cpp; docs/performance.md).
    // Each packet's flow key and hash are computed once, here, into the
    // worker's own arrays (not zeroed per burst), and used by the hints,
    // the lookup and the insert of a new flow.
    for (uint16_t base = 0; base < n; base += kChunk) {
        const uint16_t m = static_cast<uint16_t>(std::min<int>(kChunk, n - base));
        for (uint16_t i = 0; i < m; ++i) {
            if ((chunk_ok_[i] = flow_key(pkts[base + i], chunk_keys_[i]))) {
                chunk_hashes_[i] = conns_.hash(chunk_keys_[i]);
                conns_.prefetch_slot(chunk_hashes_[i]);
            }
        }
        for (uint16_t i = 0; i < m; ++i)
            if (chunk_ok_[i]) conns_.prefetch_node(chunk_hashes_[i]);
        for (uint16_t i = 0; i < m; ++i) {
            LbPacket& p = pkts[base + i];
            if (!chunk_ok_[i]) {
                forward_other(p);
            } else if (!p.parsed.fragment) {
                forward_flow(p, chunk_keys_[i], chunk_hashes_[i]);
            } else {
                // A first fragment: its datagram's identity before the rewrite.
                FlowKey datagram;
                const bool known = fragment_key(p.frame, p.parsed, datagram);
                forward_flow(p, chunk_keys_[i], chunk_hashes_[i]);
                if (known) remember_fragment(p, datagram, chunk_keys_[i], chunk_hashes_[i]);
            }
        }
    }
}

// Whatever has no flow key: later IP fragments (their datagram's way),
// ICMP errors about tracked flows; the rest (other protocols) is dropped.
void LbWorker::forward_other(LbPacket& p) {
    p.out_port = LbPacket::kDrop;
    p.prepended = 0;
    if (!table_) return drop(p, LbDrop::no_service);
    const wire::Parsed& pr = p.parsed;
    if (pr.fragment && pr.l4_offset == 0) return forward_fragment(p);
    if (pr.fragment || pr.l4_offset == 0) return drop(p, LbDrop::fragment);   // e.g. a fragmented ICMP error
    const bool v4 = v4_frame(pr);
    if (pr.ip_proto != icmp_proto(v4)) return drop(p, LbDrop::no_service);
    IcmpError e;
    if (!e.parse(p.frame, pr)) return drop(p, LbDrop::no_service);
    const Tuple t{e.key, 0, p.frame + pr.l3_offset, p.frame + pr.l4_offset,
                  static_cast<uint16_t>(pr.l3_end - pr.l3_offset), 0, v4};
    forward_icmp(p, t, e);
}

// A forward flow's service and real server; false when the flow outlived
// them (a reload removed them).
inline bool LbWorker::server_of(const Conn* c, const Service*& s, const RealServerSlot*& rs) const {
    const auto& services = table_->services();
    if (c->entry.service >= services.size()) return false;
    s = &services[c->entry.service];
    if (c->entry.real_server >= s->real_servers.size()) return false;
    rs = &s->real_servers[c->entry.real_server];
    return true;
}

// A TCP/UDP packet with its flow key and hash.
inline void LbWorker::forward_flow(LbPacket& p, const FlowKey& key, uint64_t hash) {
    p.out_port = LbPacket::kDrop;
    p.prepended = 0;
    if (!table_) return drop(p, LbDrop::no_service);
    const wire::Parsed& pr = p.parsed;
    uint8_t* const l4 = p.frame + pr.l4_offset;
    const Tuple t{key, hash, p.frame + pr.l3_offset, l4, static_cast<uint16_t>(pr.l3_end - pr.l3_offset),
                  pr.ip_proto == kProtoTcp ? l4[13] : uint8_t{0}, v4_frame(pr)};

    Conn* c = conns_.find(key, hash);
    if (!c) return new_flow(p, t);
    if (c->entry.flags & kConnReverse) return to_client(p, t, c);
    const Service* sp;
    const RealServerSlot* rsp;
    if (!server_of(c, sp, rsp)) return drop(p, LbDrop::no_service);
    const Service& s = *sp;
    const RealServerSlot& rs = *rsp;
    if (rs.expire_flows) {
        end_flow(c);
        return drop(p, LbDrop::dead_server);
    }
    track(c, t, Direction::in);
    to_server(p, t, c, s, rs);
}

// Connection state and expiry from this packet, and the counts lc/wlc see.
inline void LbWorker::track(Conn* c, const Tuple& t, Direction dir) {
    if (t.key.proto != kProtoTcp) {
        conns_.touch(c, now_);
        return;
    }
    const StateChange ch = conns_.on_tcp(c, t.tcp_flags, dir, now_);
    if (ch.changed()) {
        counts_[c->entry.service].change(c->entry.real_server, ch.from, ch.to);
        update_gauges(c->entry.service, c->entry.real_server);
    }
}

void LbWorker::new_flow(LbPacket& p, const Tuple& t) {
    const int si = table_->find_service(t.key.family, t.key.dst, t.key.dst_port, t.key.proto);
    if (si < 0) return drop(p, LbDrop::no_service);   // e.g. a reply whose flow expired
    const auto service = static_cast<uint16_t>(si);
    const Service& s = table_->services()[service];
    if (s.draining) return drop(p, LbDrop::no_service);   // removed by a reload: old flows only
    if (t.key.proto == kProtoTcp && (t.tcp_flags & tcp_flag::rst)) return drop(p, LbDrop::no_service);

    // Persistence first: the client's server, unless it was drained since.
    int rs = -1;
    if (s.persistence_s) {
        rs = persistence_.lookup(t.key, service, s.persistence_s, now_);
        if (rs >= 0 && (static_cast<size_t>(rs) >= s.real_servers.size() ||
                        s.real_servers[static_cast<size_t>(rs)].weight == 0 ||
                        !s.real_servers[static_cast<size_t>(rs)].usable))
            rs = -1;
    }
    if (rs < 0) rs = table_->scheduler(worker_, service).pick(t.key, counts_[service].view());
    if (rs < 0) return drop(p, LbDrop::no_real_server);
    const RealServerSlot& slot = s.real_servers[static_cast<size_t>(rs)];

    ConnEntry e;
    e.service = service;
    e.real_server = static_cast<uint16_t>(rs);
    e.state = t.key.proto == kProtoTcp ? initial_tcp_state(t.tcp_flags) : ConnState::udp;

    FlowKey rkey;
    ConnEntry re;
    uint16_t hop = 0;
    if (has_reply_entry(s.method)) {
        hop = hops_.intern(p.frame + 6);
        if (hop == HopTable::kNone) return drop(p, LbDrop::hop_table_full);
        if (s.method == config::Method::fnat) {
            if (!pick_local_port(s, service, slot, t.key, e)) return drop(p, LbDrop::no_local_port);
        }
        rkey = reverse_key(s, slot, t.key, e);
        if (s.method == config::Method::nat && conns_.find(rkey))
            return drop(p, LbDrop::no_local_port);   // that server:port -> client:port is taken
    }

    Conn* c = conns_.insert(t.key, t.hash, e, now_);
    if (!c) return drop(p, LbDrop::table_full);
    if (has_reply_entry(s.method)) {
        const uint32_t idx = conns_.index_of(c);
        re.service = static_cast<uint16_t>(idx >> 16);
        re.real_server = static_cast<uint16_t>(idx);
        re.local_port = hop;
        re.local_address = static_cast<uint8_t>(p.in_port);
        re.flags = kConnReverse;
        if (!conns_.insert_pinned(rkey, re)) {
            conns_.remove(c);
            return drop(p, LbDrop::table_full);
        }
    }
    if (s.persistence_s) persistence_.stick(t.key, service, e.real_server, s.persistence_s, now_);
    counts_[service].add(e.real_server, e.state);
    update_gauges(service, e.real_server);
    stats_->real_servers[slot.stats_index].connections.add();
    to_server(p, t, c, s, slot);
}

// fnat: a local address and a port of this worker's range such that the
// server's replies (server -> local:port) name no other flow.
bool LbWorker::pick_local_port(const Service& s, size_t service, const RealServerSlot& rs, const FlowKey& flow,
                               ConnEntry& e) {
    const size_t n_lips = s.local_addresses.size();
    if (n_lips == 0) return false;
    uint16_t& next = fnat_next_[service];
    FlowKey r;
    r.family = flow.family;
    r.proto = flow.proto;
    std::memcpy(r.src, rs.address.bytes.data(), 16);
    r.src_port = rs.port_net ? rs.port_net : flow.dst_port;
    for (int attempt = 0; attempt < 64; ++attempt) {
        if (next < port_first_ || next > port_last_) next = port_first_;
        const uint16_t port = next++;
        const size_t lip = (port + attempt) % n_lips;
        std::memcpy(r.dst, s.local_addresses[lip].bytes.data(), 16);
        r.dst_port = net16(port);
        if (!conns_.find(r)) {
            e.local_address = static_cast<uint8_t>(lip);
            e.local_port = r.dst_port;
            return true;
        }
    }
    return false;
}

// A first fragment went by a flow entry: the datagram's other fragments
// will go by the same one (FragTable).
void LbWorker::remember_fragment(const LbPacket& p, const FlowKey& datagram, const FlowKey& key, uint64_t hash) {
    if (p.out_port == LbPacket::kDrop) return;
    if (const Conn* c = conns_.find(key, hash)) frags_.remember(datagram, conns_.index_of(c), now_);
}

// A fragment without the TCP/UDP header: as its datagram's first fragment
// went, with the same address rewrites (the L4 header and checksum were the
// first fragment's; the IPv4 header checksum follows here).
void LbWorker::forward_fragment(LbPacket& p) {
    const wire::Parsed& pr = p.parsed;
    FlowKey datagram;
    if (!fragment_key(p.frame, pr, datagram)) return drop(p, LbDrop::fragment);
    const uint32_t node = frags_.find(datagram, now_);
    Conn* c = node == FragTable::kNone ? nullptr : conns_.at(node);
    // The entry must still be that flow's (its node may have been reused).
    if (!c || c->key.proto != datagram.proto || c->key.family != datagram.family ||
        std::memcmp(c->key.src, datagram.src, 16) != 0 || std::memcmp(c->key.dst, datagram.dst, 16) != 0)
        return drop(p, LbDrop::fragment);
    const Tuple t{c->key, 0, p.frame + pr.l3_offset, nullptr, static_cast<uint16_t>(pr.l3_end - pr.l3_offset), 0,
                  v4_frame(pr)};
    if (c->entry.flags & kConnReverse) return fragment_to_client(p, t, c);

    const Service* sp;
    const RealServerSlot* rsp;
    if (!server_of(c, sp, rsp)) return drop(p, LbDrop::no_service);
    const Service& s = *sp;
    const RealServerSlot& rs = *rsp;
    if (!table_->neighbour_known(rs.neighbour)) {
        p.out_port = LbPacket::kHold;
        return;
    }
    if (rs.egress_port >= table_->ports().size()) return drop(p, LbDrop::no_neighbour);
    const wire::Mac& src_mac = table_->ports()[rs.egress_port].mac;
    wire::Mac mac;
    table_->neighbour_mac(rs.neighbour, mac);
    if (s.method == config::Method::tun) {
        if (!encapsulate(p, t, rs, mac, src_mac)) return;
    } else {
        if (s.method != config::Method::dr) {
            if (!(t.v4 ? rewrite::decrement_ttl_v4(t.ip) : rewrite::decrement_hop_limit_v6(t.ip)))
                return drop(p, LbDrop::ttl_exceeded);
            if (t.v4) rewrite::readdress_v4(t.ip, rewrite::End::dst, rs.address.v4_net());
            else rewrite::readdress_v6(t.ip, rewrite::End::dst, rs.address.bytes.data());
            if (s.method == config::Method::fnat) {
                const IpAddress& lip = s.local_addresses[c->entry.local_address];
                if (t.v4) rewrite::readdress_v4(t.ip, rewrite::End::src, lip.v4_net());
                else rewrite::readdress_v6(t.ip, rewrite::End::src, lip.bytes.data());
            }
        }
        rewrite::set_ethernet(p.frame, mac, src_mac);
    }
    p.out_port = rs.egress_port;
    RealServerCounters& st = stats_->real_servers[rs.stats_index];
    st.in_packets.add();
    st.in_bytes.add(t.ip_len);
}

// The end of a reply's way (nat, fnat): Ethernet to the client-side hop,
// out of the port the request came in on, counted for its server.
inline void LbWorker::send_to_client(LbPacket& p, const ConnEntry& reply, const Conn* c, const Service& s,
                                     uint16_t ip_len) {
    const uint16_t out = reply.local_address;
    rewrite::set_ethernet(p.frame, hops_.at(reply.local_port), table_->ports()[out].mac);
    p.out_port = out;
    RealServerCounters& st = stats_->real_servers[s.real_servers[c->entry.real_server].stats_index];
    st.out_packets.add();
    st.out_bytes.add(ip_len);
}

// A reply's fragment (nat, fnat): from the VIP, to the client.
void LbWorker::fragment_to_client(LbPacket& p, const Tuple& t, Conn* reply) {
    const ConnEntry re = reply->entry;
    const Conn* c = forward_of(reply, reply->key);
    if (!c) return drop(p, LbDrop::no_service);
    const Service& s = table_->services()[c->entry.service];
    if (!(t.v4 ? rewrite::decrement_ttl_v4(t.ip) : rewrite::decrement_hop_limit_v6(t.ip)))
        return drop(p, LbDrop::ttl_exceeded);
    if (t.v4) {
        uint32_t a;
        std::memcpy(&a, c->key.dst, 4);
        rewrite::readdress_v4(t.ip, rewrite::End::src, a);
        if (s.method == config::Method::fnat) {
            std::memcpy(&a, c->key.src, 4);
            rewrite::readdress_v4(t.ip, rewrite::End::dst, a);
        }
    } else {
        rewrite::readdress_v6(t.ip, rewrite::End::src, c->key.dst);
        if (s.method == config::Method::fnat) rewrite::readdress_v6(t.ip, rewrite::End::dst, c->key.src);
    }
    send_to_client(p, re, c, s, t.ip_len);
}

// Inline: the per-packet end of forward_flow; dr needs nothing more than
// the Ethernet addresses, the other methods rewrite out of line.
inline void LbWorker::to_server(LbPacket& p, const Tuple& t, const Conn* c, const Service& s,
                                const RealServerSlot& rs) {
    if (!table_->neighbour_known(rs.neighbour)) {
        // Resolution is under way: the worker keeps the frame (untouched) a while.
        p.out_port = LbPacket::kHold;
        return;
    }
    if (rs.egress_port >= table_->ports().size()) return drop(p, LbDrop::no_neighbour);
    const wire::Mac& src_mac = table_->ports()[rs.egress_port].mac;
    if (s.method == config::Method::dr) {
        table_->write_neighbour_mac(rs.neighbour, p.frame);
        std::memcpy(p.frame + 6, src_mac.data(), 6);
    } else if (!rewrite_to_server(p, t, c, s, rs, src_mac)) {
        return;
    }
    p.out_port = rs.egress_port;
    RealServerCounters& st = stats_->real_servers[rs.stats_index];
    st.in_packets.add();
    st.in_bytes.add(t.ip_len);
}

// nat, fnat, tun: the packet's headers for the server (false: dropped).
bool LbWorker::rewrite_to_server(LbPacket& p, const Tuple& t, const Conn* c, const Service& s,
                                 const RealServerSlot& rs, const wire::Mac& src_mac) {
    wire::Mac mac;
    table_->neighbour_mac(rs.neighbour, mac);   // known (to_server)
    const uint8_t proto = t.key.proto;
    const uint16_t dport = rs.port_net ? rs.port_net : t.key.dst_port;
    switch (s.method) {
    case config::Method::dr:
        break;
    case config::Method::nat:
    case config::Method::fnat:
        if (!(t.v4 ? rewrite::decrement_ttl_v4(t.ip) : rewrite::decrement_hop_limit_v6(t.ip))) {
            drop(p, LbDrop::ttl_exceeded);
            return false;
        }
        if (t.v4) {
            rewrite::nat_v4(t.ip, t.l4, proto, rewrite::End::dst, rs.address.v4_net(), dport);
        } else {
            rewrite::nat_v6(t.ip, t.l4, proto, rewrite::End::dst, rs.address.bytes.data(), dport);
        }
        if (s.method == config::Method::fnat) {
            const IpAddress& lip = s.local_addresses[c->entry.local_address];
            if (t.v4) rewrite::nat_v4(t.ip, t.l4, proto, rewrite::End::src, lip.v4_net(), c->entry.local_port);
            else rewrite::nat_v6(t.ip, t.l4, proto, rewrite::End::src, lip.bytes.data(), c->entry.local_port);
        }
        break;
    case config::Method::tun:
        // A SYN's MSS must leave room for the outer header.
        if (proto == kProtoTcp && (t.tcp_flags & tcp_flag::syn)) {
            const size_t overhead = t.v4 ? rewrite::kIpipOverhead : rewrite::kIp6ip6Overhead;
            const size_t inner_hdrs = (t.v4 ? 20 : 40) + 20;
            rewrite::clamp_mss(t.l4, static_cast<size_t>(p.parsed.l3_end - p.parsed.l4_offset),
                               static_cast<uint16_t>(options_.mtu - overhead - inner_hdrs));
        }
        return encapsulate(p, t, rs, mac, src_mac);   // writes the Ethernet header itself
    }
    rewrite::set_ethernet(p.frame, mac, src_mac);
    return true;
}

// tun: the whole IP datagram into an outer header to the server. False (and
// dropped) when it cannot go.
bool LbWorker::encapsulate(LbPacket& p, const Tuple& t, const RealServerSlot& rs, const wire::Mac& mac,
                           const wire::Mac& src_mac) {
    const size_t overhead = t.v4 ? rewrite::kIpipOverhead : rewrite::kIp6ip6Overhead;
    if (!rs.tunnel_source || p.headroom < overhead) {
        drop(p, LbDrop::no_neighbour);
        return false;
    }
    if (t.ip_len + overhead > options_.mtu) {
        const bool df = t.v4 ? (wire::load_be16(t.ip + 6) & 0x4000u) != 0 : true;
        if (df) {
            drop(p, LbDrop::too_big);
            return false;
        }
    }
    if (t.v4)
        rewrite::encap_ipip(p.frame, t.ip_len, rs.tunnel_source->v4_net(), rs.address.v4_net(), mac, src_mac);
    else
        rewrite::encap_ip6ip6(p.frame, t.ip_len, rs.tunnel_source->bytes.data(), rs.address.bytes.data(), mac,
                              src_mac);
    p.prepended = static_cast<uint16_t>(overhead);
    // Ethernet padding after the inner datagram is not carried on.
    p.len = static_cast<uint16_t>(wire::ETH_HLEN + overhead + t.ip_len);
    return true;
}

// The forward flow a reply entry names, if it still describes the packet
// whose (reply-direction) key is `key`.
Conn* LbWorker::forward_of(const Conn* reply, const FlowKey& key) {
    Conn* c = conns_.at(fwd_index(reply->entry));
    if (!c || (c->entry.flags & kConnReverse) || c->entry.service >= table_->services().size()) return nullptr;
    const Service& s = table_->services()[c->entry.service];
    if (!has_reply_entry(s.method) || c->entry.real_server >= s.real_servers.size()) return nullptr;
    // The node may have been reused by another flow since.
    if (s.method == config::Method::nat
            ? (std::memcmp(c->key.src, key.dst, 16) != 0 || c->key.src_port != key.dst_port)
            : c->entry.local_port != key.dst_port)
        return nullptr;
    if (!hops_.valid(reply->entry.local_port) || reply->entry.local_address >= table_->ports().size()) return nullptr;
    return c;
}

void LbWorker::forward_icmp(LbPacket& p, const Tuple& outer, IcmpError& e) {
    const bool v4 = outer.v4;
    const uint8_t proto = e.key.proto;
    Conn* c = conns_.find(e.key.reversed());
    if (!c) return drop(p, LbDrop::no_service);
    auto ttl_ok = [&] {
        return v4 ? rewrite::decrement_ttl_v4(outer.ip) : rewrite::decrement_hop_limit_v6(outer.ip);
    };

    if (c->entry.flags & kConnReverse) {
        // From the server side, about a packet we sent the server: back to
        // the client as if about the packet the client sent, from the VIP.
        Conn* f = forward_of(c, e.key.reversed());
        if (!f) return drop(p, LbDrop::no_service);
        if (!ttl_ok()) return drop(p, LbDrop::ttl_exceeded);
        const Service& s = table_->services()[f->entry.service];
        nat_quoted(v4, e.ip, e.l4, proto, rewrite::End::dst, f->key.dst, f->key.dst_port, e.l4_avail);
        if (s.method == config::Method::fnat)
            nat_quoted(v4, e.ip, e.l4, proto, rewrite::End::src, f->key.src, f->key.src_port, e.l4_avail);
        set_address(outer.ip, v4, rewrite::End::src, f->key.dst);
        set_address(outer.ip, v4, rewrite::End::dst, f->key.src);
        const uint16_t out = c->entry.local_address;
        rewrite::set_ethernet(p.frame, hops_.at(c->entry.local_port), table_->ports()[out].mac);
        p.out_port = out;
        RealServerCounters& st = stats_->real_servers[s.real_servers[f->entry.real_server].stats_index];
        st.out_packets.add();
        st.out_bytes.add(outer.ip_len);
    } else {
        // From the client side, about a packet we (or, dr/tun, the server)
        // sent the client: on to the server, about the packet it sent.
        if (c->entry.service >= table_->services().size() ||
            c->entry.real_server >= table_->services()[c->entry.service].real_servers.size())
            return drop(p, LbDrop::no_service);
        const Service& s = table_->services()[c->entry.service];
        const RealServerSlot& rs = s.real_servers[c->entry.real_server];
        wire::Mac mac;
        if (rs.egress_port >= table_->ports().size()) return drop(p, LbDrop::no_neighbour);
        if (!table_->neighbour_mac(rs.neighbour, mac)) {
            p.out_port = LbPacket::kHold;   // untouched so far
            return;
        }
        if (!ttl_ok()) return drop(p, LbDrop::ttl_exceeded);
        const uint16_t rport = rs.port_net ? rs.port_net : c->key.dst_port;
        if (s.method == config::Method::nat || s.method == config::Method::fnat) {
            nat_quoted(v4, e.ip, e.l4, proto, rewrite::End::src, rs.address.bytes.data(), rport, e.l4_avail);
            set_address(outer.ip, v4, rewrite::End::dst, rs.address.bytes.data());
            if (s.method == config::Method::fnat) {
                const IpAddress& lip = s.local_addresses[c->entry.local_address];
                nat_quoted(v4, e.ip, e.l4, proto, rewrite::End::dst, lip.bytes.data(), c->entry.local_port,
                           e.l4_avail);
                set_address(outer.ip, v4, rewrite::End::src, lip.bytes.data());
            }
        }
        p.out_port = rs.egress_port;
        RealServerCounters& st = stats_->real_servers[rs.stats_index];
        st.in_packets.add();
        st.in_bytes.add(outer.ip_len);
    }

    // The ICMP checksum covers the quoted packet (and, IPv6, the outer addresses).
    wire::store_be16(e.icmp + 2, 0);
    wire::store_be16(e.icmp + 2, v4 ? static_cast<uint16_t>(~wire::fold(wire::ones_sum(e.icmp, e.icmp_len)))
                                    : wire::l4_checksum_v6(outer.ip, e.icmp, e.icmp_len, 2));
    if (v4) {
        wire::store_be16(outer.ip + 10, 0);
        wire::store_be16(outer.ip + 10, wire::ipv4_header_checksum(outer.ip, static_cast<size_t>(outer.ip[0] & 0x0f) * 4));
    }
    if (!(c->entry.flags & kConnReverse)) {
        const Service& s = table_->services()[c->entry.service];
        const RealServerSlot& rs = s.real_servers[c->entry.real_server];
        wire::Mac mac;
        table_->neighbour_mac(rs.neighbour, mac);
        const wire::Mac& src_mac = table_->ports()[rs.egress_port].mac;
        if (s.method == config::Method::tun) {
            if (!encapsulate(p, outer, rs, mac, src_mac)) return;
        } else {
            rewrite::set_ethernet(p.frame, mac, src_mac);
        }
    }
}

void LbWorker::to_client(LbPacket& p, const Tuple& t, Conn* reply) {
    const ConnEntry re = reply->entry;
    Conn* c = forward_of(reply, t.key);
    if (!c) return drop(p, LbDrop::no_service);
    const Service& s = table_->services()[c->entry.service];

    track(c, t, Direction::out);
    if (!(t.v4 ? rewrite::decrement_ttl_v4(t.ip) : rewrite::decrement_hop_limit_v6(t.ip)))
        return drop(p, LbDrop::ttl_exceeded);
    const uint8_t proto = t.key.proto;
    // From VIP:port (the forward flow's destination) ...
    if (t.v4) {
        uint32_t vip;
        std::memcpy(&vip, c->key.dst, 4);
        rewrite::nat_v4(t.ip, t.l4, proto, rewrite::End::src, vip, c->key.dst_port);
    } else {
        rewrite::nat_v6(t.ip, t.l4, proto, rewrite::End::src, c->key.dst, c->key.dst_port);
    }
    // ... to the client (fnat: the server answered our local address).
    if (s.method == config::Method::fnat) {
        if (t.v4) {
            uint32_t client;
            std::memcpy(&client, c->key.src, 4);
            rewrite::nat_v4(t.ip, t.l4, proto, rewrite::End::dst, client, c->key.src_port);
        } else {
            rewrite::nat_v6(t.ip, t.l4, proto, rewrite::End::dst, c->key.src, c->key.src_port);
        }
    }
    send_to_client(p, re, c, s, t.ip_len);
}

} // namespace haplane::lb
