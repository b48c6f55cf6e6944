#include "lb/persistence.hpp"

namespace haplane::lb {

PersistenceTable::PersistenceTable(uint32_t capacity, uint32_t now, uint64_t seed)
    : table_(capacity, now, seed) {}

} // namespace haplane::lb
