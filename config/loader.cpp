// The YAML schema of CONTRACT.md: sections are read in dependency order
// (ports and scripts before the instances naming them, instances before sync
// groups) so references can be checked while reading; problems are sorted
// into file order at the end.
#include "config/loader.hpp"
#include "config/reader.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>   // YAML::DeepRecursion, not in yaml.h

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

namespace haplane::config {

std::string Problem::str() const {
    if (line <= 0) return file + ": " + message;   // not about a place in the file
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

using detail::family_name;
using detail::Map;
using detail::quote;
using detail::Reader;

constexpr int max_track_weight = 254;

std::string line_of(const YAML::Node& n) { return std::to_string(n.Mark().line + 1); }

// "10.0.0.1:80", "[2001:db8::1]:80"
std::string endpoint(const IpAddress& a, unsigned port) {
    return (a.is_v4() ? a.str() : "[" + a.str() + "]") + ":" + std::to_string(port);
}

std::optional<unsigned> parse_uint(std::string_view s, size_t max_digits) {
    unsigned n = 0;
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return n;
}

std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == s.npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        const size_t end = s.find(sep, start);
        parts.push_back(trim(s.substr(start, end - start)));
        if (end == s.npos) return parts;
        start = end + 1;
    }
}


// "ADDR:PORT" with an IPv4 address, or "[ADDR]:PORT" with IPv6.
bool valid_listen(std::string_view s) {
    const auto colon = s.rfind(':');
    if (colon == s.npos) return false;
    auto host = s.substr(0, colon);
    const auto port = parse_uint(s.substr(colon + 1), 5);
    if (!port || *port == 0 || *port > 65535) return false;
    const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed) host = host.substr(1, host.size() - 2);
    const auto address = IpAddress::parse(host);
    return address && address->is_v4() != bracketed;
}

// HTTP status list: "200-299,301", codes 100..599.
bool valid_status(std::string_view s) {
    for (const auto part : split(s, ',')) {
        const auto dash = part.find('-');
        const auto low = parse_uint(part.substr(0, dash), 3);
        const auto high = dash == part.npos ? low : parse_uint(part.substr(dash + 1), 3);
        if (!low || !high || *low < 100 || *high > 599 || *low > *high) return false;
    }
    return true;
}

// A Linux interface name (the TAP of a kernel mirror): 1..15 bytes (IFNAMSIZ),
// none of which the kernel or `ip` would choke on.
bool valid_ifname(const std::string& s) {
    return !s.empty() && s.size() <= 15 && s != "." && s != ".." &&
           s.find_first_of("/ \t\n:") == s.npos;
}

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "haplane";
    return buf;
}

// Names defined so far in one namespace (ports, instances, ...), each with
// the line of its first definition for the "duplicate" message.
class Names {
public:
    // Reports `at` and returns false when `name` is already taken.
    bool add(Reader& r, const YAML::Node& at, const std::string& name, const std::string& what,
             const std::string& path) {
        const auto [it, inserted] = lines_.emplace(name, line_of(at));
        if (!inserted)
            r.error(at, "duplicate " + what + " " + quote(name) + " in " + path +
                            " (first defined on line " + it->second + ")");
        return inserted;
    }
    bool contains(const std::string& name) const { return lines_.count(name) != 0; }

private:
    std::map<std::string, std::string> lines_;
};

// A track entry: a bare name, or a mapping with the name under `key` and
// further settings (weight).
struct TrackEntry {
    std::string name;
    YAML::Node at;               // the name's node, for reference errors
    std::optional<Map> settings;
};

class Loader {
public:
    Loader(Reader& r, Config& c) : r_(r), c_(c) {}

    void load(const YAML::Node& root) {
        if (root.IsNull()) return;   // an empty document: all defaults
        const auto top = r_.open(root, "", {"global", "ports", "vrrp_scripts", "vrrp_instances",
                                            "sync_groups", "virtual_servers"});
        if (!top) return;
        global(*top);
        r_.each(*top, "ports", [&](const YAML::Node& n, const std::string& p) { port(n, p); });
        vrrp_scripts(*top);
        r_.each(*top, "vrrp_instances",
                [&](const YAML::Node& n, const std::string& p) { instance(n, p); });
        r_.each(*top, "sync_groups",
                [&](const YAML::Node& n, const std::string& p) { sync_group(n, p); });
        r_.each(*top, "virtual_servers",
                [&](const YAML::Node& n, const std::string& p) { virtual_server(n, p); });
        if (c_.global.enable_script_security) check_script_security();
    }

private:
    void global(const Map& top) {
        const auto m = r_.open(top, "global",
                               {"router_id", "control_socket", "state_dump_file", "metrics",
                                "notify_fifo", "script_user", "enable_script_security",
                                "timeouts", "connections_per_lcore", "expire_nodest_conn", "dpdk"});
        if (!m) return;
        Global& g = c_.global;
        r_.field(*m, "router_id", g.router_id);
        r_.field(*m, "control_socket", g.control_socket);
        r_.field(*m, "state_dump_file", g.state_dump_file);
        if (const auto metrics = r_.open(*m, "metrics", {"listen"})) {
            r_.require(*metrics, {"listen"});
            if (r_.field(*metrics, "listen", g.metrics_listen) && !valid_listen(*g.metrics_listen))
                r_.error(*r_.value(*metrics, "listen"),
                         "invalid listen address " + quote(*g.metrics_listen) + " for " +
                             metrics->at("listen") + " (expected ADDR:PORT, IPv6 as [ADDR]:PORT)");
        }
        r_.field(*m, "notify_fifo", g.notify_fifo);
        r_.field(*m, "script_user", g.script_user);
        r_.field(*m, "enable_script_security", g.enable_script_security);
        if (const auto t = r_.open(*m, "timeouts", {"tcp", "tcp_fin", "tcp_syn", "udp"})) {
            r_.field(*t, "tcp", g.timeouts.tcp, true);
            r_.field(*t, "tcp_fin", g.timeouts.tcp_fin, true);
            r_.field(*t, "tcp_syn", g.timeouts.tcp_syn, true);
            r_.field(*t, "udp", g.timeouts.udp, true);
        }
        r_.number(*m, "connections_per_lcore", g.connections_per_lcore, 1);
        r_.field(*m, "expire_nodest_conn", g.expire_nodest_conn);
        dpdk(*m);
    }

    void dpdk(const Map& global) {
        const auto m = r_.open(global, "dpdk", {"lcores", "memory_mb", "hugepages", "args", "poll"});
        if (!m) return;
        Dpdk& d = c_.global.dpdk;
        if (r_.field(*m, "lcores", d.lcores)) {
            const YAML::Node at = *r_.value(*m, "lcores");
            const std::string path = m->at("lcores");
            const auto lcores = parse_lcore_list(d.lcores);
            std::set<unsigned> distinct;
            if (!lcores) {
                r_.error(at, "invalid lcore list " + quote(d.lcores) + " for " + path +
                                 " (expected e.g. \"0-1\", \"0,2-3\" or \"0,1,2@1\")");
            } else {
                for (const unsigned l : *lcores)
                    if (!distinct.insert(l).second)
                        r_.error(at, "lcore " + std::to_string(l) + " is listed twice in " + path);
                if (lcores->size() < 2)
                    r_.error(at, path + " must name at least 2 lcores: the control thread and a worker");
            }
        }
        r_.number(*m, "memory_mb", d.memory_mb, 1);
        r_.field(*m, "hugepages", d.hugepages);
        r_.each(*m, "args", [&](const YAML::Node& n, const std::string& p) {
            if (const auto s = r_.string(n, p)) d.args.push_back(*s);
        });
        r_.choice(*m, "poll", d.poll, {{"busy", PollMode::busy}, {"adaptive", PollMode::adaptive}});
    }

    // Reads the string under `key` and registers it in `names`.
    bool name_field(const Map& m, std::string_view key, std::string& out, Names& names,
                    const std::string& what) {
        if (!r_.field(m, key, out)) return false;
        return names.add(r_, *r_.value(m, key), out, what, m.path);
    }

    void port(const YAML::Node& node, const std::string& path) {
        const auto m = r_.open(node, path, {"name", "device", "addresses", "kernel_mirror"});
        if (!m) return;
        r_.require(*m, {"name", "device"});
        Port p;
        name_field(*m, "name", p.name, port_names_, "port name");
        name_field(*m, "device", p.device, devices_, "device");
        r_.each(*m, "addresses", [&](const YAML::Node& n, const std::string& ip) {
            if (const auto a = r_.prefix(n, ip)) p.addresses.push_back(*a);
        });
        if (r_.field(*m, "kernel_mirror", p.kernel_mirror)) {
            const YAML::Node at = *r_.value(*m, "kernel_mirror");
            if (!valid_ifname(*p.kernel_mirror))
                r_.error(at, m->at("kernel_mirror") +
                                 " must be a Linux interface name (1 to 15 characters, no \"/\", \":\" or spaces)");
            else
                mirrors_.add(r_, at, *p.kernel_mirror, "kernel_mirror", path);
        }
        c_.ports.push_back(std::move(p));
    }

    // Reports a reference to a port that is not defined under ports.
    void check_port(const YAML::Node& at, const std::string& name, const std::string& path) {
        if (!port_names_.contains(name)) r_.error(at, "unknown port " + quote(name) + " for " + path);
    }

    void vrrp_scripts(const Map& top) {
        const auto scripts = r_.open_any(top, "vrrp_scripts");
        if (!scripts) return;
        for (const auto& kv : scripts->node) {
            const std::string name = kv.first.Scalar();
            if (!kv.first.IsScalar() || name.empty() || !script_names_.insert(name).second)
                continue;   // reported by open_any
            VrrpScript s;
            s.name = name;
            if (kv.second.IsNull())   // "chk:" alone; its own mark would be the next line
                r_.error(kv.first, "missing value for " + scripts->at(name));
            else if (const auto m = r_.open(kv.second, scripts->at(name),
                                       {"script", "interval", "timeout", "weight", "rise", "fall"})) {
                r_.require(*m, {"script"});
                script(*m, "script", s.script);
                r_.field(*m, "interval", s.interval, true);
                r_.field(*m, "timeout", s.timeout, true);
                r_.number(*m, "weight", s.weight, -max_track_weight, max_track_weight);
                r_.number(*m, "rise", s.rise, 1);
                r_.number(*m, "fall", s.fall, 1);
            }
            c_.vrrp_scripts.push_back(std::move(s));
        }
        std::sort(c_.vrrp_scripts.begin(), c_.vrrp_scripts.end(),
                  [](const VrrpScript& a, const VrrpScript& b) { return a.name < b.name; });
    }

    void instance(const YAML::Node& node, const std::string& path) {
        const auto m = r_.open(node, path,
                               {"name", "port", "vrid", "priority", "state", "version",
                                "advert_interval", "preempt", "preempt_delay", "authentication",
                                "unicast_peers", "use_vmac", "virtual_ipaddresses",
                                "virtual_routes", "track_ports", "track_scripts", "track_files",
                                "garp", "notify"});
        if (!m) return;
        r_.require(*m, {"name", "port", "vrid", "virtual_ipaddresses"});
        VrrpInstance vi;
        name_field(*m, "name", vi.name, instance_names_, "vrrp instance name");
        const bool port_ok = r_.field(*m, "port", vi.port);
        if (port_ok) check_port(*r_.value(*m, "port"), vi.port, m->at("port"));
        const bool vrid_ok = r_.number(*m, "vrid", vi.vrid, 1);
        r_.number(*m, "priority", vi.priority, 1);
        r_.choice(*m, "state", vi.state,
                  {{"MASTER", VrrpState::MASTER}, {"BACKUP", VrrpState::BACKUP}}, true);
        const bool version_ok = !r_.value(*m, "version") || r_.number(*m, "version", vi.version, 2, 3);
        if (r_.field(*m, "advert_interval", vi.advert_interval, true) && version_ok)
            check_advert_interval(*m, vi);
        r_.field(*m, "preempt", vi.preempt);
        r_.field(*m, "preempt_delay", vi.preempt_delay);
        if (version_ok) authentication(*m, vi);
        r_.field(*m, "use_vmac", vi.use_vmac);
        addresses(*m, vi);
        if (vrid_ok && port_ok && !vi.virtual_ipaddresses.empty()) {
            // One VRRP router per (port, vrid, family): adverts could not be told apart.
            const auto key = std::make_tuple(vi.port, vi.vrid, vi.family());
            const YAML::Node at = *r_.value(*m, "vrid");
            const auto [it, inserted] = routers_.emplace(key, std::make_pair(vi.name, line_of(at)));
            if (!inserted)
                r_.error(at, "vrid " + std::to_string(vi.vrid) + " on port " + quote(vi.port) + " (" +
                                 family_name(vi.family()) + ") is already used by vrrp instance " +
                                 quote(it->second.first) + " on line " + it->second.second);
        }
        r_.each(*m, "virtual_routes", [&](const YAML::Node& n, const std::string& p) {
            if (const auto route = virtual_route(n, p)) vi.virtual_routes.push_back(*route);
        });
        tracking(*m, vi);
        if (const auto g = r_.open(*m, "garp", {"master_delay", "master_repeat", "master_refresh",
                                                "master_refresh_repeat"})) {
            r_.field(*g, "master_delay", vi.garp.master_delay);
            r_.number(*g, "master_repeat", vi.garp.master_repeat, 1);
            r_.field(*g, "master_refresh", vi.garp.master_refresh);
            r_.number(*g, "master_refresh_repeat", vi.garp.master_refresh_repeat, 1);
        }
        notify(*m, vi.notify);
        c_.vrrp_instances.push_back(std::move(vi));
    }

    void check_advert_interval(const Map& m, const VrrpInstance& vi) {
        using std::chrono::milliseconds, std::chrono::seconds;
        const Duration d = vi.advert_interval;
        const YAML::Node at = *r_.value(m, "advert_interval");
        const std::string got = " (got " + at.Scalar() + ")";
        if (vi.version == 3 && (d % milliseconds(10) != Duration::zero() || d > milliseconds(40950)))
            // VRRPv3 carries the interval in centiseconds, in 12 bits.
            r_.error(at, m.at("advert_interval") +
                             " must be a multiple of 10ms from 10ms to 40.95s with VRRP version 3" + got);
        if (vi.version == 2 && (d % seconds(1) != Duration::zero() || d > seconds(255)))
            // VRRPv2 carries whole seconds in 8 bits.
            r_.error(at, m.at("advert_interval") +
                             " must be whole seconds from 1s to 255s with VRRP version 2" + got);
    }

    void authentication(const Map& instance, VrrpInstance& vi) {
        const auto m = r_.open(instance, "authentication", {"type", "password"});
        if (!m) return;
        Authentication& a = vi.authentication;
        const bool type_ok = !r_.value(*m, "type") ||
                             r_.choice(*m, "type", a.type,
                                       {{"PASS", Authentication::Type::PASS},
                                        {"NONE", Authentication::Type::NONE}}, true);
        if (!type_ok) return;
        if (a.type == Authentication::Type::NONE) {
            if (const auto k = r_.key_node(*m, "password"))
                r_.error(*k, m->at("password") + " is only used with type PASS");
            return;
        }
        // RFC 5798 removed authentication from VRRPv3.
        if (vi.version == 3)
            r_.error(m->node, "authentication is only supported with VRRP version 2 in " + instance.path);
        r_.require(*m, {"password"});
        if (r_.field(*m, "password", a.password) && a.password.size() > 8)
            r_.error(*r_.value(*m, "password"), m->at("password") + " must be 1 to 8 characters (got " +
                                                     std::to_string(a.password.size()) + ")");
    }

    // VIPs and unicast peers: all of one address family.
    void addresses(const Map& m, VrrpInstance& vi) {
        std::optional<Family> family;
        r_.each(m, "virtual_ipaddresses", [&](const YAML::Node& n, const std::string& p) {
            const auto a = r_.prefix(n, p);
            if (!a) return;
            if (!family) family = a->address.family;
            if (a->address.family != *family)
                r_.error(n, "mixed address families in " + m.path + ": " + n.Scalar() + " is " +
                                family_name(a->address.family) + ", the first virtual address is " +
                                family_name(*family));
            vi.virtual_ipaddresses.push_back(*a);
        });
        if (const auto v = r_.value(m, "virtual_ipaddresses"); v && v->IsSequence() && v->size() == 0)
            r_.error(*v, m.at("virtual_ipaddresses") + " must not be empty");
        r_.each(m, "unicast_peers", [&](const YAML::Node& n, const std::string& p) {
            const auto a = r_.address(n, p);
            if (!a) return;
            if (family && a->family != *family)
                r_.error(n, "mixed address families in " + m.path + ": unicast peer " + n.Scalar() +
                                " is " + family_name(a->family) + ", the virtual addresses are " +
                                family_name(*family));
            vi.unicast_peers.push_back(*a);
        });
    }

    // {to: PREFIX, via: ADDRESS, port: NAME} or "PREFIX [via ADDRESS] [dev NAME]".
    std::optional<VirtualRoute> virtual_route(const YAML::Node& node, const std::string& path) {
        VirtualRoute route;
        if (node.IsScalar()) {
            if (!parse_route(node.Scalar(), route)) {
                r_.error(node, "invalid route " + quote(node.Scalar()) + " for " + path +
                                   " (expected \"PREFIX [via ADDRESS] [dev PORT]\")");
                return std::nullopt;
            }
            if (route.port) check_port(node, *route.port, path);
            if (route.gateway && route.gateway->family != route.destination.address.family)
                r_.error(node, "mixed address families in " + path + ": the gateway is " +
                                   family_name(route.gateway->family) + ", the destination " +
                                   family_name(route.destination.address.family));
            return route;
        }
        const auto m = r_.open(node, path, {"to", "via", "port"});
        if (!m) return std::nullopt;
        r_.require(*m, {"to"});
        const auto to = r_.value(*m, "to");
        const auto destination = to ? r_.prefix(*to, m->at("to")) : std::nullopt;
        if (destination) route.destination = *destination;
        if (r_.field(*m, "via", route.gateway) && destination &&
            route.gateway->family != destination->address.family)
            r_.error(*r_.value(*m, "via"), "mixed address families in " + path + ": the gateway is " +
                                               family_name(route.gateway->family) + ", the destination " +
                                               family_name(destination->address.family));
        if (r_.field(*m, "port", route.port)) check_port(*r_.value(*m, "port"), *route.port, m->at("port"));
        return route;
    }

    static bool parse_route(const std::string& text, VirtualRoute& route) {
        std::istringstream words(text);
        std::string destination, word, argument;
        if (!(words >> destination)) return false;
        const auto prefix = IpPrefix::parse(destination);
        if (!prefix) return false;
        route.destination = *prefix;
        while (words >> word) {
            if (!(words >> argument)) return false;
            if (word == "via" && !route.gateway) {
                route.gateway = IpAddress::parse(argument);
                if (!route.gateway) return false;
            } else if (word == "dev" && !route.port) {
                route.port = argument;
            } else {
                return false;
            }
        }
        return true;
    }

    // A bare name, or a mapping naming it under `key`.
    std::optional<TrackEntry> track_entry(const YAML::Node& node, const std::string& path,
                                          std::string_view key,
                                          std::initializer_list<std::string_view> allowed) {
        if (node.IsScalar()) {
            const auto name = r_.string(node, path);
            if (!name) return std::nullopt;
            return TrackEntry{*name, node, std::nullopt};
        }
        if (!node.IsMap()) {
            r_.error(node, "expected a name or a mapping for " + path);
            return std::nullopt;
        }
        const auto m = r_.open(node, path, allowed);
        r_.require(*m, {key});
        std::string name;
        if (!r_.field(*m, key, name)) return std::nullopt;
        return TrackEntry{name, *r_.value(*m, key), m};
    }

    void tracking(const Map& m, VrrpInstance& vi) {
        r_.each(m, "track_ports", [&](const YAML::Node& n, const std::string& p) {
            const auto e = track_entry(n, p, "port", {"port", "weight"});
            if (!e) return;
            TrackPort t{e->name};
            check_port(e->at, t.port, e->settings ? e->settings->at("port") : p);
            if (e->settings) r_.number(*e->settings, "weight", t.weight, -max_track_weight, max_track_weight);
            vi.track_ports.push_back(t);
        });
        r_.each(m, "track_scripts", [&](const YAML::Node& n, const std::string& p) {
            const auto e = track_entry(n, p, "name", {"name", "weight"});
            if (!e) return;
            TrackScript t{e->name, std::nullopt};
            if (!script_names_.count(t.name))
                r_.error(e->at, "unknown vrrp_script " + quote(t.name) + " for " +
                                    (e->settings ? e->settings->at("name") : p));
            int weight = 0;
            if (e->settings && r_.number(*e->settings, "weight", weight, -max_track_weight, max_track_weight))
                t.weight = weight;
            vi.track_scripts.push_back(t);
        });
        r_.each(m, "track_files", [&](const YAML::Node& n, const std::string& p) {
            const auto e = track_entry(n, p, "path", {"path", "weight"});
            if (!e) return;
            TrackFile t{e->name};
            if (e->settings) r_.number(*e->settings, "weight", t.weight, -max_track_weight, max_track_weight);
            vi.track_files.push_back(t);
        });
    }

    void notify(const Map& parent, Notify& n) {
        const auto m = r_.open(parent, "notify", {"master", "backup", "fault", "stop", "any"});
        if (!m) return;
        script(*m, "master", n.master);
        script(*m, "backup", n.backup);
        script(*m, "fault", n.fault);
        script(*m, "stop", n.stop);
        script(*m, "any", n.any);
    }

    void sync_group(const YAML::Node& node, const std::string& path) {
        const auto m = r_.open(node, path, {"name", "instances", "notify"});
        if (!m) return;
        r_.require(*m, {"name", "instances"});
        SyncGroup g;
        name_field(*m, "name", g.name, group_names_, "sync group name");
        r_.each(*m, "instances", [&](const YAML::Node& n, const std::string& p) {
            const auto name = r_.string(n, p);
            if (!name) return;
            if (!instance_names_.contains(*name)) {
                r_.error(n, "unknown vrrp instance " + quote(*name) + " for " + p);
            } else if (const auto [it, inserted] = group_of_.emplace(*name, std::make_pair(path, g.name));
                       !inserted) {
                if (it->second.first == path)
                    r_.error(n, "vrrp instance " + quote(*name) + " is listed twice in " + m->at("instances"));
                else
                    r_.error(n, "vrrp instance " + quote(*name) + " is already in sync group " +
                                    quote(it->second.second) + " (an instance can be in one group only)");
            }
            g.instances.push_back(*name);
        });
        if (const auto v = r_.value(*m, "instances"); v && v->IsSequence() && v->size() == 0)
            r_.error(*v, m->at("instances") + " must not be empty");
        notify(*m, g.notify);
        c_.sync_groups.push_back(std::move(g));
    }

    void virtual_server(const YAML::Node& node, const std::string& path) {
        const auto m = r_.open(node, path,
                               {"name", "vip", "port", "protocol", "scheduler", "method",
                                "persistence_timeout", "quorum", "hysteresis", "sorry_server",
                                "local_addresses", "alpha", "notify", "real_servers"});
        if (!m) return;
        r_.require(*m, {"name", "vip"});
        VirtualServer vs;
        name_field(*m, "name", vs.name, vs_names_, "virtual server name");
        const bool vip_ok = r_.field(*m, "vip", vs.vip);
        const bool port_ok = r_.number(*m, "port", vs.port, 0) || !r_.value(*m, "port");
        const bool protocol_ok = r_.choice(*m, "protocol", vs.protocol,
                                           {{"tcp", Protocol::tcp}, {"udp", Protocol::udp}}) ||
                                 !r_.value(*m, "protocol");
        if (vip_ok && port_ok && protocol_ok)
            services_.add(r_, *r_.value(*m, "vip"),
                          endpoint(vs.vip, vs.port) + "/" + to_string(vs.protocol),
                          "virtual service", path);
        r_.choice(*m, "scheduler", vs.scheduler,
                  {{"rr", Scheduler::rr}, {"wrr", Scheduler::wrr}, {"lc", Scheduler::lc},
                   {"wlc", Scheduler::wlc}, {"sh", Scheduler::sh}, {"mh", Scheduler::mh}});
        const bool method_ok = r_.choice(*m, "method", vs.method,
                                         {{"dr", Method::dr}, {"nat", Method::nat},
                                          {"tun", Method::tun}, {"fnat", Method::fnat}}) ||
                               !r_.value(*m, "method");
        r_.field(*m, "persistence_timeout", vs.persistence_timeout);
        r_.number(*m, "quorum", vs.quorum, 1);
        r_.number(*m, "hysteresis", vs.hysteresis, 0);
        // Family checks need the VIP and the method; skip them if either is broken.
        const bool families = vip_ok && method_ok && vs.method != Method::fnat;
        if (const auto s = r_.open(*m, "sorry_server", {"address", "port"})) {
            r_.require(*s, {"address"});
            SorryServer sorry;
            if (r_.field(*s, "address", sorry.address) && families)
                check_family(*r_.value(*s, "address"), sorry.address, vs.vip, s->path);
            r_.number(*s, "port", sorry.port, 0);
            vs.sorry_server = sorry;
        }
        r_.each(*m, "local_addresses", [&](const YAML::Node& n, const std::string& p) {
            if (const auto a = r_.address(n, p)) vs.local_addresses.push_back(*a);
        });
        r_.field(*m, "alpha", vs.alpha);
        if (const auto n = r_.open(*m, "notify", {"quorum_up", "quorum_down"})) {
            script(*n, "quorum_up", vs.notify.quorum_up);
            script(*n, "quorum_down", vs.notify.quorum_down);
        }
        Names real_servers;
        r_.each(*m, "real_servers", [&](const YAML::Node& n, const std::string& p) {
            real_server(n, p, vs, families, real_servers);
        });
        if (vip_ok && method_ok && vs.method == Method::fnat) check_fnat(*m, vs);
        c_.virtual_servers.push_back(std::move(vs));
    }

    // Outside fnat, the kernel-less forwarding keeps the packet's family.
    void check_family(const YAML::Node& at, const IpAddress& a, const IpAddress& vip,
                      const std::string& path) {
        if (a.family != vip.family)
            r_.error(at, "mixed address families in " + path + ": " + a.str() + " is " +
                             family_name(a.family) + ", the VIP is " + family_name(vip.family) +
                             " (only method fnat can mix them)");
    }

    // fnat rewrites the source to a local address of the real servers' family
    // (of the VIP's when there are no real servers yet).
    void check_fnat(const Map& m, const VirtualServer& vs) {
        std::set<Family> needed;
        for (const auto& rs : vs.real_servers) needed.insert(rs.address.family);
        if (needed.empty()) needed.insert(vs.vip.family);
        for (const Family f : needed) {
            const bool have = std::any_of(vs.local_addresses.begin(), vs.local_addresses.end(),
                                          [&](const IpAddress& a) { return a.family == f; });
            if (!have)
                r_.error(*r_.value(m, "method"), "method fnat needs at least one " +
                                                     std::string(family_name(f)) + " address in " +
                                                     m.at("local_addresses"));
        }
    }

    void real_server(const YAML::Node& node, const std::string& path, VirtualServer& vs,
                     bool families, Names& seen) {
        const auto m = r_.open(node, path, {"address", "port", "weight", "inhibit_on_failure",
                                            "notify", "check"});
        if (!m) return;
        r_.require(*m, {"address"});
        RealServer rs;
        const bool address_ok = r_.field(*m, "address", rs.address);
        if (address_ok && families) check_family(*r_.value(*m, "address"), rs.address, vs.vip, path);
        const bool port_ok = r_.number(*m, "port", rs.port, 0) || !r_.value(*m, "port");
        if (address_ok && port_ok)
            seen.add(r_, *r_.value(*m, "address"), endpoint(rs.address, rs.port ? rs.port : vs.port),
                     "real server", path);
        r_.number(*m, "weight", rs.weight, 0, 65535);
        r_.field(*m, "inhibit_on_failure", rs.inhibit_on_failure);
        if (const auto n = r_.open(*m, "notify", {"up", "down"})) {
            script(*n, "up", rs.notify.up);
            script(*n, "down", rs.notify.down);
        }
        if (const auto c = r_.open(*m, "check",
                                   {"type", "path", "status", "host", "body_regex", "payload",
                                    "expect", "script", "interval", "timeout", "rise", "fall",
                                    "retry", "delay_before_retry", "connect_ip", "connect_port"}))
            rs.check = check(*c);
        vs.real_servers.push_back(std::move(rs));
    }

    HealthCheck check(const Map& m) {
        using Type = HealthCheck::Type;
        HealthCheck hc;
        const bool type_ok = r_.choice(m, "type", hc.type,
                                       {{"tcp", Type::tcp}, {"http", Type::http},
                                        {"udp", Type::udp}, {"script", Type::script}}) ||
                             !r_.value(m, "type");
        if (type_ok) {
            // Keys of another check type are mistakes (a leftover path on a tcp check).
            const struct { std::string_view key; std::initializer_list<Type> types; } scoped[] = {
                {"path", {Type::http}}, {"status", {Type::http}}, {"host", {Type::http}},
                {"body_regex", {Type::http}}, {"payload", {Type::udp}}, {"expect", {Type::udp}},
                {"script", {Type::script}},
                {"connect_ip", {Type::tcp, Type::http, Type::udp}},
                {"connect_port", {Type::tcp, Type::http, Type::udp}},
            };
            for (const auto& [key, types] : scoped) {
                const auto k = r_.key_node(m, key);
                if (k && std::find(types.begin(), types.end(), hc.type) == types.end())
                    r_.error(*k, m.at(key) + " does not apply to " + type_name(hc.type) + " checks");
            }
            if (hc.type == Type::script) r_.require(m, {"script"});
        }
        if (r_.field(m, "path", hc.path) && hc.path.front() != '/')
            r_.error(*r_.value(m, "path"), m.at("path") + " must start with \"/\"");
        if (r_.field(m, "status", hc.status) && !valid_status(hc.status))
            r_.error(*r_.value(m, "status"),
                     "invalid status " + quote(hc.status) + " for " + m.at("status") +
                         " (expected codes or ranges from 100 to 599, e.g. \"200-299,301\")");
        r_.field(m, "host", hc.host);
        if (r_.field(m, "body_regex", hc.body_regex)) {
            try {
                std::regex check(*hc.body_regex);
            } catch (const std::regex_error& e) {
                r_.error(*r_.value(m, "body_regex"), "invalid regular expression " +
                                                         quote(*hc.body_regex) + " for " +
                                                         m.at("body_regex") + ": " + e.what());
            }
        }
        r_.field(m, "payload", hc.payload);
        r_.field(m, "expect", hc.expect);
        script(m, "script", hc.script);
        r_.field(m, "interval", hc.interval, true);
        r_.field(m, "timeout", hc.timeout, true);
        r_.number(m, "rise", hc.rise, 1);
        r_.number(m, "fall", hc.fall, 1);
        r_.number(m, "retry", hc.retry, 0);
        r_.field(m, "delay_before_retry", hc.delay_before_retry);
        r_.field(m, "connect_ip", hc.connect_ip);
        uint16_t port = 0;
        if (r_.number(m, "connect_port", port, 1)) hc.connect_port = port;
        return hc;
    }

    static const char* type_name(HealthCheck::Type t) {
        switch (t) {
        case HealthCheck::Type::tcp: return "tcp";
        case HealthCheck::Type::http: return "http";
        case HealthCheck::Type::udp: return "udp";
        case HealthCheck::Type::script: return "script";
        }
        return "?";
    }

    // A command line read from the file, kept with its place for
    // enable_script_security's check once the global section is known.
    template <typename T> void script(const Map& m, std::string_view key, T& out) {
        if (!r_.field(m, key, out)) return;
        const std::string& text = [&]() -> const std::string& {
            if constexpr (std::is_same_v<T, std::string>) return out;
            else return *out;
        }();
        if (const auto node = r_.value(m, key)) scripts_.push_back({*node, text});
    }

    // keepalived's rule: with enable_script_security, a script must not be
    // replaceable by anyone but root: the file and every directory above it
    // root-owned and not writable by group or others.
    void check_script_security() {
        for (const auto& [node, command] : scripts_) {
            const std::string program = command.substr(0, command.find_first_of(" \t"));
            if (program.empty() || program[0] != '/') continue;   // shell syntax or PATH: /bin/sh decides
            if (auto why = unsafe_path(program))
                r_.error(node, "script " + quote(program) + " is refused by enable_script_security: " + *why);
        }
    }

    // A script that does not exist (yet) is judged by the directories that
    // do: whoever may create it there could plant it. It fails when run.
    static std::optional<std::string> unsafe_path(const std::string& program) {
        std::filesystem::path p(program);
        for (;;) {
            struct stat st;
            if (stat(p.c_str(), &st) != 0) {
                if (p == p.root_path()) return std::nullopt;
                p = p.parent_path();
                continue;
            }
            if (st.st_uid != 0) return p.string() + " is not owned by root";
            if (st.st_mode & (S_IWGRP | S_IWOTH)) return p.string() + " is writable by non-root users";
            if (p == p.root_path()) return std::nullopt;
            p = p.parent_path();
        }
    }

    Reader& r_;
    Config& c_;
    std::vector<std::pair<YAML::Node, std::string>> scripts_;
    Names port_names_, devices_, mirrors_, instance_names_, group_names_, vs_names_, services_;
    std::set<std::string> script_names_;
    std::map<std::tuple<std::string, uint8_t, Family>, std::pair<std::string, std::string>> routers_;
    // instance -> (path, name) of its sync group
    std::map<std::string, std::pair<std::string, std::string>> group_of_;
};

} // namespace

// "0-1", "0,2,3", "1-3,5" -> the lcores in order; nullopt on bad syntax.
std::optional<std::vector<unsigned>> parse_lcore_list(std::string_view text) {
    std::vector<unsigned> lcores;
    for (const auto part : split(text, ',')) {
        // "LCORE@CPU" (EAL's --lcores): the lcore runs on that CPU, so a
        // small box can have more workers than CPUs (labs, tests).
        if (const auto at = part.find('@'); at != part.npos) {
            const auto lcore = parse_uint(part.substr(0, at), 4);
            if (!lcore || !parse_uint(part.substr(at + 1), 4)) return std::nullopt;
            lcores.push_back(*lcore);
            continue;
        }
        const auto dash = part.find('-');
        const auto first = parse_uint(part.substr(0, dash), 4);
        const auto last = dash == part.npos ? first : parse_uint(part.substr(dash + 1), 4);
        if (!first || !last || *first > *last) return std::nullopt;
        for (unsigned l = *first; l <= *last; ++l) lcores.push_back(l);
    }
    return lcores;
}

LoadResult load_string(const std::string& yaml, const std::string& file_name) {
    Reader reader(file_name);
    Config config;
    config.file = file_name;
    config.global.router_id = host_name();
    try {
        const auto documents = YAML::LoadAll(yaml);
        if (documents.size() > 1) reader.error(documents[1], "only one YAML document is allowed");
        if (!documents.empty()) Loader(reader, config).load(documents.front());
    } catch (const YAML::DeepRecursion& e) {
        reader.error(e.mark, "the YAML is nested too deeply");   // yaml-cpp just says "bad file"
    } catch (const YAML::ParserException& e) {
        reader.error(e.mark, e.msg);
    } catch (const std::exception& e) {
        // Not expected: the loader reports instead of throwing. Still never escape.
        reader.error(YAML::Mark(), std::string("internal error: ") + e.what());
    }
    LoadResult result;
    result.problems = reader.problems();
    if (result.problems.empty()) result.config = std::move(config);
    return result;
}

LoadResult load_file(const std::string& path) {
    const auto fail = [&](const std::string& why) {
        LoadResult result;
        result.problems.push_back({path, 0, 0, "cannot read the file: " + why});
        return result;
    };
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return fail("it is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return fail(std::strerror(errno));
    return load_string(text.str(), path);
}

} // namespace haplane::config
