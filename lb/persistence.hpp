// Persistence (a virtual server's persistence_timeout): a client, once sent
// to a real server, keeps going to it for new connections until it has
// opened none for the timeout. Like IPVS's persistence templates, keyed by
// (client address, virtual service). Per lcore, no locks, fixed capacity.
//
// The stuck server may since have been drained (weight 0) or removed: the
// caller checks it before use and reschedules if needed.
#pragma once

#include "lb/flow.hpp"
#include "lb/flow_table.hpp"

#include <cstddef>
#include <cstdint>

namespace haplane::lb {

class PersistenceTable {
public:
    explicit PersistenceTable(uint32_t capacity, uint32_t now = 0, uint64_t seed = FlowTable::kDefaultSeed ^ 1);

    // The real server the flow's client is stuck to for `service`, or -1.
    // A hit restarts the client's timeout (timeout_s: the service's
    // persistence_timeout in seconds).
    int lookup(const FlowKey& flow, uint16_t service, uint32_t timeout_s, uint32_t now) {
        Conn* c = table_.find(key(flow, service));
        if (!c) return -1;
        table_.set_deadline(c, now + timeout_s);
        return c->entry.real_server;
    }
    // Sticks the flow's client to real_server; false when the table is full.
    bool stick(const FlowKey& flow, uint16_t service, uint16_t real_server, uint32_t timeout_s, uint32_t now) {
        ConnEntry e;
        e.service = service;
        e.real_server = real_server;
        return table_.insert(key(flow, service), e, now + timeout_s) != nullptr;
    }
    size_t expire(uint32_t now, size_t max_work) {
        return table_.expire(now, max_work, [](const Conn&) {});
    }

    uint32_t size() const { return table_.size(); }
    uint32_t capacity() const { return table_.capacity(); }
    // Template number n (0 .. capacity-1) if live: client address and
    // family in key.src, the service in key.dst_port (host order), the
    // server in entry.real_server.
    const Conn* at(uint32_t n) { return table_.at(n); }
    uint64_t full_drops() const { return table_.full_drops(); }

private:
    // Client address and family from the flow; the service index stands in
    // the destination port; everything else zero.
    static FlowKey key(const FlowKey& flow, uint16_t service) {
        FlowKey k;
        k.family = flow.family;
        for (size_t i = 0; i < sizeof k.src; ++i) k.src[i] = flow.src[i];
        k.dst_port = service;
        return k;
    }

    FlowTable table_;
};

} // namespace haplane::lb
