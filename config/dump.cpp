// The effective configuration as YAML, in the order of CONTRACT.md. Every
// setting is written, defaults included; optional settings only when set.
#include "config/loader.hpp"

#include <yaml-cpp/yaml.h>

namespace haplane::config {

namespace {

class Dumper {
public:
    std::string run(const Config& c) {
        e_ << YAML::BeginMap;
        global(c.global);
        list("ports", c.ports, [&](const Port& p) { port(p); });
        e_ << YAML::Key << "vrrp_scripts" << YAML::Value;
        if (c.vrrp_scripts.empty()) e_ << YAML::Flow;
        e_ << YAML::BeginMap;
        for (const auto& s : c.vrrp_scripts) script(s);
        e_ << YAML::EndMap;
        list("vrrp_instances", c.vrrp_instances, [&](const VrrpInstance& vi) { instance(vi); });
        list("sync_groups", c.sync_groups, [&](const SyncGroup& g) { sync_group(g); });
        list("virtual_servers", c.virtual_servers, [&](const VirtualServer& vs) { virtual_server(vs); });
        e_ << YAML::EndMap;
        return std::string(e_.c_str()) + "\n";
    }

private:
    // Scalars. Integers go through unsigned/int so uint8_t is not a char.
    void kv(const char* key, const std::string& v) { e_ << YAML::Key << key << YAML::Value << v; }
    void kv(const char* key, const char* v) { e_ << YAML::Key << key << YAML::Value << v; }
    void kv(const char* key, bool v) { e_ << YAML::Key << key << YAML::Value << v; }
    void kv(const char* key, unsigned v) { e_ << YAML::Key << key << YAML::Value << v; }
    void kv(const char* key, int v) { e_ << YAML::Key << key << YAML::Value << v; }
    void kv(const char* key, Duration v) { kv(key, format_duration(v)); }
    void kv(const char* key, const IpAddress& v) { kv(key, v.str()); }
    void kv(const char* key, const std::optional<std::string>& v) {
        if (v) kv(key, *v);
    }

    template <class T, class Fn>
    void list(const char* key, const std::vector<T>& items, Fn&& fn, bool flow = false) {
        e_ << YAML::Key << key << YAML::Value;
        if (flow || items.empty()) e_ << YAML::Flow;   // "[]" on the key's line
        e_ << YAML::BeginSeq;
        for (const auto& item : items) fn(item);
        e_ << YAML::EndSeq;
    }
    void addresses(const char* key, const std::vector<IpAddress>& v) {
        list(key, v, [&](const IpAddress& a) { e_ << a.str(); }, true);
    }
    void prefixes(const char* key, const std::vector<IpPrefix>& v) {
        list(key, v, [&](const IpPrefix& p) { e_ << p.str(); }, true);
    }
    void begin_map(const char* key, bool flow) {
        e_ << YAML::Key << key << YAML::Value;
        if (flow) e_ << YAML::Flow;
        e_ << YAML::BeginMap;
    }

    void global(const Global& g) {
        begin_map("global", false);
        kv("router_id", g.router_id);
        kv("control_socket", g.control_socket);
        kv("state_dump_file", g.state_dump_file);
        if (g.metrics_listen) {
            begin_map("metrics", true);
            kv("listen", *g.metrics_listen);
            e_ << YAML::EndMap;
        }
        kv("notify_fifo", g.notify_fifo);
        kv("script_user", g.script_user);
        kv("enable_script_security", g.enable_script_security);
        begin_map("timeouts", true);
        kv("tcp", g.timeouts.tcp);
        kv("tcp_fin", g.timeouts.tcp_fin);
        kv("tcp_syn", g.timeouts.tcp_syn);
        kv("udp", g.timeouts.udp);
        e_ << YAML::EndMap;
        kv("connections_per_lcore", unsigned{g.connections_per_lcore});
        kv("expire_nodest_conn", g.expire_nodest_conn);
        begin_map("dpdk", false);
        kv("lcores", g.dpdk.lcores);
        kv("memory_mb", g.dpdk.memory_mb);
        kv("hugepages", g.dpdk.hugepages);
        list("args", g.dpdk.args, [&](const std::string& a) { e_ << a; }, true);
        kv("poll", g.dpdk.poll == PollMode::busy ? "busy" : "adaptive");
        e_ << YAML::EndMap << YAML::EndMap;
    }

    void port(const Port& p) {
        e_ << YAML::BeginMap;
        kv("name", p.name);
        kv("device", p.device);
        prefixes("addresses", p.addresses);
        kv("kernel_mirror", p.kernel_mirror);
        e_ << YAML::EndMap;
    }

    void script(const VrrpScript& s) {
        begin_map(s.name.c_str(), false);
        kv("script", s.script);
        kv("interval", s.interval);
        kv("timeout", s.timeout);
        kv("weight", s.weight);
        kv("rise", s.rise);
        kv("fall", s.fall);
        e_ << YAML::EndMap;
    }

    void notify(const Notify& n) {
        begin_map("notify", true);
        kv("master", n.master);
        kv("backup", n.backup);
        kv("fault", n.fault);
        kv("stop", n.stop);
        kv("any", n.any);
        e_ << YAML::EndMap;
    }

    void instance(const VrrpInstance& vi) {
        e_ << YAML::BeginMap;
        kv("name", vi.name);
        kv("port", vi.port);
        kv("vrid", unsigned{vi.vrid});
        kv("priority", unsigned{vi.priority});
        kv("state", to_string(vi.state));
        kv("version", unsigned{vi.version});
        kv("advert_interval", vi.advert_interval);
        kv("preempt", vi.preempt);
        kv("preempt_delay", vi.preempt_delay);
        begin_map("authentication", true);
        if (vi.authentication.type == Authentication::Type::PASS) {
            kv("type", "PASS");
            kv("password", vi.authentication.password);
        } else {
            kv("type", "NONE");
        }
        e_ << YAML::EndMap;
        addresses("unicast_peers", vi.unicast_peers);
        kv("use_vmac", vi.use_vmac);
        prefixes("virtual_ipaddresses", vi.virtual_ipaddresses);
        list("virtual_routes", vi.virtual_routes, [&](const VirtualRoute& r) {
            e_ << YAML::Flow << YAML::BeginMap;
            kv("to", r.destination.str());
            if (r.gateway) kv("via", *r.gateway);
            kv("port", r.port);
            e_ << YAML::EndMap;
        });
        list("track_ports", vi.track_ports, [&](const TrackPort& t) {
            e_ << YAML::Flow << YAML::BeginMap;
            kv("port", t.port);
            kv("weight", t.weight);
            e_ << YAML::EndMap;
        });
        list("track_scripts", vi.track_scripts, [&](const TrackScript& t) {
            e_ << YAML::Flow << YAML::BeginMap;
            kv("name", t.name);
            if (t.weight) kv("weight", *t.weight);
            e_ << YAML::EndMap;
        });
        list("track_files", vi.track_files, [&](const TrackFile& t) {
            e_ << YAML::Flow << YAML::BeginMap;
            kv("path", t.path);
            kv("weight", t.weight);
            e_ << YAML::EndMap;
        });
        begin_map("garp", true);
        kv("master_delay", vi.garp.master_delay);
        kv("master_repeat", vi.garp.master_repeat);
        kv("master_refresh", vi.garp.master_refresh);
        kv("master_refresh_repeat", vi.garp.master_refresh_repeat);
        e_ << YAML::EndMap;
        notify(vi.notify);
        e_ << YAML::EndMap;
    }

    void sync_group(const SyncGroup& g) {
        e_ << YAML::BeginMap;
        kv("name", g.name);
        list("instances", g.instances, [&](const std::string& i) { e_ << i; }, true);
        notify(g.notify);
        e_ << YAML::EndMap;
    }

    void virtual_server(const VirtualServer& vs) {
        e_ << YAML::BeginMap;
        kv("name", vs.name);
        kv("vip", vs.vip);
        kv("port", unsigned{vs.port});
        kv("protocol", to_string(vs.protocol));
        kv("scheduler", to_string(vs.scheduler));
        kv("method", to_string(vs.method));
        kv("persistence_timeout", vs.persistence_timeout);
        kv("quorum", vs.quorum);
        kv("hysteresis", vs.hysteresis);
        if (vs.sorry_server) {
            begin_map("sorry_server", true);
            kv("address", vs.sorry_server->address);
            kv("port", unsigned{vs.sorry_server->port});
            e_ << YAML::EndMap;
        }
        addresses("local_addresses", vs.local_addresses);
        kv("alpha", vs.alpha);
        begin_map("notify", true);
        kv("quorum_up", vs.notify.quorum_up);
        kv("quorum_down", vs.notify.quorum_down);
        e_ << YAML::EndMap;
        list("real_servers", vs.real_servers, [&](const RealServer& rs) { real_server(rs); });
        e_ << YAML::EndMap;
    }

    void real_server(const RealServer& rs) {
        e_ << YAML::BeginMap;
        kv("address", rs.address);
        kv("port", unsigned{rs.port});
        kv("weight", rs.weight);
        kv("inhibit_on_failure", rs.inhibit_on_failure);
        begin_map("notify", true);
        kv("up", rs.notify.up);
        kv("down", rs.notify.down);
        e_ << YAML::EndMap;
        if (rs.check) check(*rs.check);
        e_ << YAML::EndMap;
    }

    // Only the keys of the check's type: the loader rejects the others.
    void check(const HealthCheck& c) {
        using Type = HealthCheck::Type;
        begin_map("check", false);
        switch (c.type) {
        case Type::tcp: kv("type", "tcp"); break;
        case Type::http:
            kv("type", "http");
            kv("path", c.path);
            kv("status", c.status);
            kv("host", c.host);
            kv("body_regex", c.body_regex);
            break;
        case Type::udp:
            kv("type", "udp");
            kv("payload", c.payload);
            kv("expect", c.expect);
            break;
        case Type::script:
            kv("type", "script");
            kv("script", c.script);
            break;
        }
        kv("interval", c.interval);
        kv("timeout", c.timeout);
        kv("rise", c.rise);
        kv("fall", c.fall);
        kv("retry", c.retry);
        kv("delay_before_retry", c.delay_before_retry);
        if (c.connect_ip) kv("connect_ip", *c.connect_ip);
        if (c.connect_port) kv("connect_port", unsigned{*c.connect_port});
        e_ << YAML::EndMap;
    }

    YAML::Emitter e_;
};

} // namespace

std::string dump(const Config& config) { return Dumper().run(config); }

} // namespace haplane::config
