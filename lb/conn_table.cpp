#include "lb/conn_table.hpp"

namespace haplane::lb {

ConnTable::ConnTable(uint32_t capacity, const config::Timeouts& timeouts, uint32_t now, uint64_t seed)
    : flows_(capacity, now, seed), timeouts_(timeouts) {}

ConnRecord ConnTable::record(const Conn& c, uint32_t now) const {
    ConnRecord r;
    r.key = c.key;
    r.entry = c.entry;
    r.remaining = c.deadline() > now ? c.deadline() - now : 0;
    return r;
}

} // namespace haplane::lb
