#include "lb/backend.hpp"

#include "lb/flow.hpp"

namespace haplane::lb {

namespace {
constexpr uint64_t kBackendIdSeed = 0x6261636b656e6421ull;   // fixed: ids must match across nodes
}

uint64_t backend_id(const IpAddress& address, uint16_t port) {
    uint8_t buf[19] = {};
    buf[0] = static_cast<uint8_t>(address.family);
    for (size_t i = 0; i < 16; ++i) buf[1 + i] = address.bytes[i];
    buf[17] = static_cast<uint8_t>(port >> 8);
    buf[18] = static_cast<uint8_t>(port);
    return hash_bytes(buf, sizeof buf, kBackendIdSeed);
}

std::vector<Backend> make_backends(const config::VirtualServer& vs) {
    std::vector<Backend> out;
    out.reserve(vs.real_servers.size());
    for (const auto& rs : vs.real_servers) {
        uint16_t port = rs.port != 0 ? rs.port : vs.port;
        out.push_back(Backend{backend_id(rs.address, port), static_cast<uint32_t>(rs.weight)});
    }
    return out;
}

} // namespace haplane::lb
