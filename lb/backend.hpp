// What a scheduler knows of a real server: a stable identity and a weight.
#pragma once

#include "config/address.hpp"
#include "config/config.hpp"

#include <cstdint>
#include <vector>

namespace haplane::lb {

struct Backend {
    // Stable identity (backend_id of address:port). Maglev/sh derive a
    // server's slots from it, so the same server keeps its flows across
    // reloads, reorderings and on both HA nodes.
    uint64_t id = 0;
    // 0 = drain: the server keeps its existing flows but gets no new ones.
    uint32_t weight = 1;
};

uint64_t backend_id(const IpAddress& address, uint16_t port);

// One Backend per real server, in config order (index = real server index).
// Port 0 means the virtual server's port, as in the config.
std::vector<Backend> make_backends(const config::VirtualServer& vs);

} // namespace haplane::lb
