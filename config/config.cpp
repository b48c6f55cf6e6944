#include "config/config.hpp"

#include <cctype>

namespace haplane::config {

const char* to_string(VrrpState s) {
    switch (s) {
    case VrrpState::INIT: return "INIT";
    case VrrpState::BACKUP: return "BACKUP";
    case VrrpState::MASTER: return "MASTER";
    case VrrpState::FAULT: return "FAULT";
    }
    return "?";
}

const char* to_string(Protocol p) {
    switch (p) {
    case Protocol::tcp: return "tcp";
    case Protocol::udp: return "udp";
    }
    return "?";
}

const char* to_string(Scheduler s) {
    switch (s) {
    case Scheduler::rr: return "rr";
    case Scheduler::wrr: return "wrr";
    case Scheduler::lc: return "lc";
    case Scheduler::wlc: return "wlc";
    case Scheduler::sh: return "sh";
    case Scheduler::mh: return "mh";
    }
    return "?";
}

const char* to_string(Method m) {
    switch (m) {
    case Method::dr: return "dr";
    case Method::nat: return "nat";
    case Method::tun: return "tun";
    case Method::fnat: return "fnat";
    }
    return "?";
}

namespace {

// True when `s` starts at `pos` with `n` hex digits followed by `sep`
// (or by the end of the string when sep is '\0'); advances pos.
bool hex_field(const std::string& s, size_t& pos, size_t n, char sep) {
    for (size_t i = 0; i < n; ++i, ++pos)
        if (pos >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[pos]))) return false;
    if (sep == '\0') return pos == s.size();
    return pos < s.size() && s[pos++] == sep;
}

} // namespace

bool Port::is_pci() const {
    // DDDD:BB:DD.F (with PCI domain) or BB:DD.F; anything else is a vdev string.
    size_t pos = 0;
    if (device.size() == 12 && !hex_field(device, pos, 4, ':')) return false;
    if (device.size() != 12 && device.size() != 7) return false;
    return hex_field(device, pos, 2, ':') && hex_field(device, pos, 2, '.') &&
           hex_field(device, pos, 1, '\0');
}

Family VrrpInstance::family() const {
    return virtual_ipaddresses.empty() ? Family::v4 : virtual_ipaddresses.front().address.family;
}

const Port* Config::find_port(const std::string& name) const {
    for (const auto& p : ports)
        if (p.name == name) return &p;
    return nullptr;
}

} // namespace haplane::config
