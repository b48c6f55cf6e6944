// config/: loading, validation (every problem, with its exact position),
// durations, addresses and the dump round trip.
#include "config/loader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

using namespace haplane;
using namespace haplane::config;
using namespace std::chrono_literals;

namespace {

// Joins lines with "\n" so a test's YAML shows its own line numbers:
// the n-th string is line n.
std::string yaml(std::initializer_list<const char*> lines) {
    std::string text;
    for (const char* line : lines) text += std::string(line) + "\n";
    return text;
}

// Every problem of `text` as "LINE:COLUMN: message".
std::vector<std::string> problems(const std::string& text) {
    const auto result = load_string(text, "t.yaml");
    EXPECT_EQ(result.config.has_value(), result.problems.empty());
    std::vector<std::string> out;
    for (const auto& p : result.problems) {
        EXPECT_EQ(p.file, "t.yaml");
        out.push_back(p.str().substr(std::string("t.yaml:").size()));
    }
    return out;
}

using Lines = std::vector<std::string>;

Config load_ok(const std::string& text) {
    auto result = load_string(text, "t.yaml");
    for (const auto& p : result.problems) ADD_FAILURE() << p.str();
    return result.config.value_or(Config{});
}

// The CONTRACT.md example, made valid: VI_1 uses VRRPv2 for its
// authentication, and VI_2 exists for the sync group.
const char* const contract_example = R"(global:
  router_id: lb1
  control_socket: /run/haplane/lb1.sock   # haplanectl talks to it
  state_dump_file: /tmp/haplane.json
  metrics: { listen: "127.0.0.1:9469" }
  notify_fifo: /run/haplane/notify.fifo
  script_user: nobody
  enable_script_security: true
  timeouts: { tcp: 900s, tcp_fin: 120s, tcp_syn: 30s, udp: 300s }
  connections_per_lcore: 1000000
  expire_nodest_conn: true
  dpdk:
    lcores: "0-1"
    memory_mb: 512
    hugepages: false
    args: []
    poll: busy

ports:
  - name: ext
    device: "net_af_packet0,iface=veth-ext"
    addresses: [10.10.0.2/24]
    kernel_mirror: ha-ext
  - name: int
    device: "0000:03:00.1"
    addresses: [10.20.0.2/24]
    kernel_mirror: ha-int

vrrp_scripts:
  chk_web:
    script: "/usr/local/bin/check-web"
    interval: 1s
    timeout: 1s
    weight: -20
    rise: 2
    fall: 2

vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 51
    priority: 150
    state: BACKUP
    version: 2
    advert_interval: 1s
    preempt: true
    preempt_delay: 0s
    authentication: { type: PASS, password: "1111" }
    unicast_peers: []
    use_vmac: true
    virtual_ipaddresses: [10.10.0.100/24]
    virtual_routes: []
    track_ports: [{ port: int, weight: 0 }]
    track_scripts: [{ name: chk_web, weight: -20 }]
    track_files: [{ path: /run/haplane/down, weight: -50 }]
    garp: { master_delay: 5s, master_repeat: 5, master_refresh: 0s }
    notify: { master: "/bin/m", backup: "/bin/b", fault: "/bin/f", stop: "/bin/s", any: "/bin/a" }
  - name: VI_2
    port: int
    vrid: 52
    virtual_ipaddresses: [10.20.0.100/24]

sync_groups:
  - name: VG_1
    instances: [VI_1, VI_2]
    notify: { master: "/bin/gm", backup: "/bin/gb", fault: "/bin/gf" }

virtual_servers:
  - name: web
    vip: 10.10.0.100
    port: 80
    protocol: tcp
    scheduler: mh
    method: dr
    persistence_timeout: 0s
    quorum: 1
    hysteresis: 0
    sorry_server: { address: 10.20.0.99, port: 80 }
    local_addresses: [10.20.0.200, 10.20.0.201]
    alpha: false
    notify: { quorum_up: "/bin/up", quorum_down: "/bin/down" }
    real_servers:
      - address: 10.20.0.11
        port: 80
        weight: 1
        inhibit_on_failure: false
        notify: { up: "/bin/rs-up", down: "/bin/rs-down" }
        check:
          type: http
          path: /health
          status: "200-299"
          interval: 1s
          timeout: 1s
          rise: 2
          fall: 2
)";

// Everything the example leaves out: IPv6, routes, string track entries,
// udp/script/tcp checks, fnat, unicast peers.
const char* const everything_else = R"(global:
  metrics: { listen: "[::1]:9469" }
  dpdk: { lcores: "1-3,5", memory_mb: 64, hugepages: true, args: [--no-pci, "-l 1"], poll: adaptive }
ports:
  - { name: a, device: "net_tap0,iface=t0", addresses: ["2001:db8::2/64", 10.0.0.2] }
  - { name: b, device: "03:00.0" }
vrrp_scripts:
  z_last: { script: /bin/true }
  a_first: { script: "/bin/check \"quoted\" arg", interval: 250ms, timeout: 1.5s }
vrrp_instances:
  - name: V6
    port: a
    vrid: 7
    priority: 255
    state: master
    advert_interval: 40.95s
    preempt: false
    preempt_delay: 2m
    unicast_peers: ["2001:db8::3", "fe80::1"]
    virtual_ipaddresses: ["2001:db8::100/64", "2001:db8::101"]
    virtual_routes:
      - "2001:db8:1::/48 via 2001:db8::1 dev b"
      - { to: "2001:db8:2::/48", port: a }
      - "2001:db8:3::/48"
    track_ports: [b]
    track_scripts: [z_last, { name: a_first }]
    track_files: [/run/down]
    garp: { master_refresh: 1h, master_refresh_repeat: 3 }
  - name: V4
    port: a
    vrid: 7
    version: 2
    advert_interval: 3
    authentication: { type: none }
    virtual_ipaddresses: [10.0.0.100]
virtual_servers:
  - name: dns
    vip: "2001:db8::100"
    port: 53
    protocol: udp
    scheduler: rr
    method: fnat
    persistence_timeout: 300
    quorum: 2
    hysteresis: 1
    alpha: true
    local_addresses: [10.0.0.200, "2001:db8::200"]
    real_servers:
      - address: 10.0.0.11
        weight: 0
        check: { type: udp, payload: ping, expect: pong, connect_ip: 10.0.0.12, connect_port: 5353, retry: 2, delay_before_retry: 100ms }
      - address: "2001:db8::11"
        port: 5353
        check: { type: script, script: "/bin/check-rs 2001:db8::11" }
      - address: "2001:db8::12"
        check: { type: tcp }
      - address: "2001:db8::13"
        check: { type: http, host: example.org, body_regex: "^ok$", status: "200,301-302" }
  - name: all-ports
    vip: 10.0.0.100
    sorry_server: { address: 10.0.0.99 }
)";

} // namespace

// --- valid configurations -------------------------------------------------

TEST(ConfigLoad, ContractExample) {
    const Config c = load_ok(contract_example);
    EXPECT_EQ(c.file, "t.yaml");
    EXPECT_EQ(c.global.router_id, "lb1");
    EXPECT_EQ(c.global.control_socket, "/run/haplane/lb1.sock");
    EXPECT_EQ(c.global.metrics_listen, "127.0.0.1:9469");
    EXPECT_EQ(c.global.notify_fifo, "/run/haplane/notify.fifo");
    EXPECT_EQ(c.global.script_user, "nobody");
    EXPECT_TRUE(c.global.enable_script_security);
    EXPECT_EQ(c.global.timeouts.tcp_fin, 120s);
    EXPECT_EQ(c.global.connections_per_lcore, 1000000u);
    EXPECT_TRUE(c.global.expire_nodest_conn);
    EXPECT_EQ(c.global.dpdk.lcores, "0-1");
    EXPECT_EQ(c.global.dpdk.poll, PollMode::busy);

    ASSERT_EQ(c.ports.size(), 2u);
    EXPECT_EQ(c.ports[0].name, "ext");
    EXPECT_EQ(c.ports[0].device, "net_af_packet0,iface=veth-ext");
    EXPECT_FALSE(c.ports[0].is_pci());
    EXPECT_TRUE(c.ports[1].is_pci());
    ASSERT_EQ(c.ports[0].addresses.size(), 1u);
    EXPECT_EQ(c.ports[0].addresses[0].str(), "10.10.0.2/24");
    EXPECT_EQ(c.ports[1].kernel_mirror, "ha-int");
    EXPECT_EQ(c.find_port("int"), &c.ports[1]);
    EXPECT_EQ(c.find_port("nope"), nullptr);

    ASSERT_EQ(c.vrrp_scripts.size(), 1u);
    EXPECT_EQ(c.vrrp_scripts[0].name, "chk_web");
    EXPECT_EQ(c.vrrp_scripts[0].weight, -20);
    EXPECT_EQ(c.vrrp_scripts[0].rise, 2u);

    ASSERT_EQ(c.vrrp_instances.size(), 2u);
    const VrrpInstance& vi = c.vrrp_instances[0];
    EXPECT_EQ(vi.name, "VI_1");
    EXPECT_EQ(vi.vrid, 51);
    EXPECT_EQ(vi.priority, 150);
    EXPECT_EQ(vi.state, VrrpState::BACKUP);
    EXPECT_EQ(vi.version, 2);
    EXPECT_EQ(vi.authentication.type, Authentication::Type::PASS);
    EXPECT_EQ(vi.authentication.password, "1111");
    EXPECT_TRUE(vi.use_vmac);
    EXPECT_EQ(vi.family(), Family::v4);
    ASSERT_EQ(vi.track_ports.size(), 1u);
    EXPECT_EQ(vi.track_ports[0].port, "int");
    EXPECT_EQ(vi.track_ports[0].weight, 0);
    ASSERT_EQ(vi.track_scripts.size(), 1u);
    EXPECT_EQ(vi.track_scripts[0].weight, -20);
    ASSERT_EQ(vi.track_files.size(), 1u);
    EXPECT_EQ(vi.track_files[0].weight, -50);
    EXPECT_EQ(vi.garp.master_delay, 5s);
    EXPECT_EQ(vi.notify.stop, "/bin/s");

    ASSERT_EQ(c.sync_groups.size(), 1u);
    EXPECT_EQ(c.sync_groups[0].instances, (std::vector<std::string>{"VI_1", "VI_2"}));
    EXPECT_EQ(c.sync_groups[0].notify.fault, "/bin/gf");
    EXPECT_FALSE(c.sync_groups[0].notify.any);

    ASSERT_EQ(c.virtual_servers.size(), 1u);
    const VirtualServer& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.vip.str(), "10.10.0.100");
    EXPECT_EQ(vs.port, 80);
    EXPECT_EQ(vs.scheduler, Scheduler::mh);
    EXPECT_EQ(vs.method, Method::dr);
    ASSERT_TRUE(vs.sorry_server);
    EXPECT_EQ(vs.sorry_server->port, 80);
    EXPECT_EQ(vs.local_addresses.size(), 2u);
    EXPECT_EQ(vs.notify.quorum_down, "/bin/down");
    ASSERT_EQ(vs.real_servers.size(), 1u);
    ASSERT_TRUE(vs.real_servers[0].check);
    EXPECT_EQ(vs.real_servers[0].check->type, HealthCheck::Type::http);
    EXPECT_EQ(vs.real_servers[0].check->path, "/health");
    EXPECT_EQ(vs.real_servers[0].notify.up, "/bin/rs-up");
}

TEST(ConfigLoad, EverythingElse) {
    const Config c = load_ok(everything_else);
    EXPECT_EQ(c.global.metrics_listen, "[::1]:9469");
    EXPECT_EQ(c.global.dpdk.args, (std::vector<std::string>{"--no-pci", "-l 1"}));
    EXPECT_EQ(c.global.dpdk.poll, PollMode::adaptive);
    EXPECT_TRUE(c.global.dpdk.hugepages);
    EXPECT_EQ(c.ports[0].addresses[1].str(), "10.0.0.2/32");   // bare = host prefix

    // vrrp_scripts come out ordered by name.
    ASSERT_EQ(c.vrrp_scripts.size(), 2u);
    EXPECT_EQ(c.vrrp_scripts[0].name, "a_first");
    EXPECT_EQ(c.vrrp_scripts[0].script, "/bin/check \"quoted\" arg");
    EXPECT_EQ(c.vrrp_scripts[0].interval, 250ms);
    EXPECT_EQ(c.vrrp_scripts[1].name, "z_last");

    const VrrpInstance& v6 = c.vrrp_instances[0];
    EXPECT_EQ(v6.family(), Family::v6);
    EXPECT_EQ(v6.state, VrrpState::MASTER);   // case-insensitive
    EXPECT_EQ(v6.advert_interval, 40950ms);
    EXPECT_EQ(v6.preempt_delay, 120s);
    EXPECT_EQ(v6.virtual_ipaddresses[1].length, 128);
    ASSERT_EQ(v6.virtual_routes.size(), 3u);
    EXPECT_EQ(v6.virtual_routes[0].destination.str(), "2001:db8:1::/48");
    EXPECT_EQ(v6.virtual_routes[0].gateway->str(), "2001:db8::1");
    EXPECT_EQ(v6.virtual_routes[0].port, "b");
    EXPECT_FALSE(v6.virtual_routes[1].gateway);
    EXPECT_EQ(v6.virtual_routes[1].port, "a");
    EXPECT_FALSE(v6.virtual_routes[2].port);
    EXPECT_EQ(v6.track_ports[0].port, "b");
    EXPECT_EQ(v6.track_ports[0].weight, 0);
    EXPECT_EQ(v6.track_scripts[0].name, "z_last");
    EXPECT_FALSE(v6.track_scripts[0].weight);
    EXPECT_EQ(v6.track_files[0].path, "/run/down");
    EXPECT_EQ(v6.track_files[0].weight, 1);
    EXPECT_EQ(v6.garp.master_refresh, 1h);

    // Same port and vrid as V6 is fine: the family differs.
    const VrrpInstance& v4 = c.vrrp_instances[1];
    EXPECT_EQ(v4.advert_interval, 3s);
    EXPECT_EQ(v4.authentication.type, Authentication::Type::NONE);

    const VirtualServer& dns = c.virtual_servers[0];
    EXPECT_EQ(dns.protocol, Protocol::udp);
    EXPECT_EQ(dns.method, Method::fnat);
    EXPECT_EQ(dns.persistence_timeout, 300s);
    EXPECT_TRUE(dns.alpha);
    ASSERT_EQ(dns.real_servers.size(), 4u);
    const HealthCheck& udp = *dns.real_servers[0].check;
    EXPECT_EQ(dns.real_servers[0].weight, 0u);
    EXPECT_EQ(udp.type, HealthCheck::Type::udp);
    EXPECT_EQ(udp.payload, "ping");
    EXPECT_EQ(udp.connect_ip->str(), "10.0.0.12");
    EXPECT_EQ(udp.connect_port, 5353);
    EXPECT_EQ(udp.retry, 2u);
    EXPECT_EQ(udp.delay_before_retry, 100ms);
    EXPECT_EQ(dns.real_servers[1].check->script, "/bin/check-rs 2001:db8::11");
    EXPECT_EQ(dns.real_servers[3].check->status, "200,301-302");
    EXPECT_EQ(c.virtual_servers[1].port, 0);
    EXPECT_EQ(c.virtual_servers[1].sorry_server->port, 0);
}

TEST(ConfigLoad, EmptyFileIsAllDefaults) {
    for (const char* text : {"", "# nothing\n", "---\n", "~\n"}) {
        const auto result = load_string(text, "empty.yaml");
        ASSERT_TRUE(result.config) << text;
        const Config& c = *result.config;
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        EXPECT_EQ(c.global.router_id, host);
        EXPECT_EQ(c.global.control_socket, "/run/haplane/haplane.sock");
        EXPECT_EQ(c.global.state_dump_file, "/tmp/haplane.json");
        EXPECT_FALSE(c.global.metrics_listen);
        EXPECT_EQ(c.global.timeouts.tcp, 900s);
        EXPECT_EQ(c.global.timeouts.udp, 300s);
        EXPECT_EQ(c.global.dpdk.lcores, "0-1");
        EXPECT_EQ(c.global.dpdk.memory_mb, 512u);
        EXPECT_FALSE(c.global.dpdk.hugepages);
        EXPECT_TRUE(c.ports.empty());
        EXPECT_TRUE(c.vrrp_instances.empty());
        EXPECT_TRUE(c.virtual_servers.empty());
    }
}

TEST(ConfigLoad, DefaultsFilled) {
    const Config c = load_ok(yaml({
        "ports: [{name: p, device: net_null0}]",
        "vrrp_instances:",
        "  - {name: V, port: p, vrid: 1, virtual_ipaddresses: [10.0.0.1/24]}",
        "virtual_servers:",
        "  - name: s",
        "    vip: 10.0.0.1",
        "    real_servers:",
        "      - address: 10.0.0.2",
        "        check: {}",
        "global:",
        "  dpdk:",          // null: defaults
        "  timeouts: {}",
    }));
    const VrrpInstance& vi = c.vrrp_instances[0];
    EXPECT_EQ(vi.priority, 100);
    EXPECT_EQ(vi.state, VrrpState::BACKUP);
    EXPECT_EQ(vi.version, 3);
    EXPECT_EQ(vi.advert_interval, 1s);
    EXPECT_TRUE(vi.preempt);
    EXPECT_EQ(vi.preempt_delay, 0s);
    EXPECT_EQ(vi.authentication.type, Authentication::Type::NONE);
    EXPECT_FALSE(vi.use_vmac);
    EXPECT_EQ(vi.garp.master_delay, 5s);
    EXPECT_EQ(vi.garp.master_repeat, 5u);
    EXPECT_EQ(vi.garp.master_refresh, 0s);
    EXPECT_EQ(vi.garp.master_refresh_repeat, 1u);
    const VirtualServer& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.port, 0);
    EXPECT_EQ(vs.protocol, Protocol::tcp);
    EXPECT_EQ(vs.scheduler, Scheduler::wlc);
    EXPECT_EQ(vs.method, Method::dr);
    EXPECT_EQ(vs.quorum, 1u);
    EXPECT_FALSE(vs.sorry_server);
    const RealServer& rs = vs.real_servers[0];
    EXPECT_EQ(rs.port, 0);
    EXPECT_EQ(rs.weight, 1u);
    ASSERT_TRUE(rs.check);
    EXPECT_EQ(rs.check->type, HealthCheck::Type::tcp);
    EXPECT_EQ(rs.check->interval, 1s);
    EXPECT_EQ(rs.check->rise, 1u);
    EXPECT_EQ(rs.check->delay_before_retry, 1s);
    EXPECT_FALSE(rs.check->connect_port);
    EXPECT_EQ(c.global.dpdk.memory_mb, 512u);
}

TEST(ConfigLoad, LcoreListForms) {
    for (const char* lcores : {"0-1", "0,2,3", "1-3,5", "4, 6", "0,1,2@1", "0@0,1@1,2@1"}) {
        const auto text = "global: {dpdk: {lcores: \"" + std::string(lcores) + "\"}}\n";
        EXPECT_EQ(load_ok(text).global.dpdk.lcores, lcores);
    }
}

TEST(ConfigLoad, FromFile) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("haplane-config-test-" + std::to_string(getpid()) + ".yaml");
    std::ofstream(path) << contract_example;
    const auto result = load_file(path.string());
    std::filesystem::remove(path);
    ASSERT_TRUE(result.config);
    EXPECT_EQ(result.config->file, path.string());
    EXPECT_EQ(result.config->virtual_servers.size(), 1u);

    const auto missing = load_file("/nonexistent/haplane.yaml");
    ASSERT_EQ(missing.problems.size(), 1u);
    EXPECT_EQ(missing.problems[0].str(),
              "/nonexistent/haplane.yaml: cannot read the file: No such file or directory");
    EXPECT_FALSE(load_file("/").config);
}

// --- problems: structure and types -----------------------------------------

TEST(ConfigProblems, UnknownKeys) {
    EXPECT_EQ(problems(yaml({
                  "global:",
                  "  router_id: x",
                  "  routerid: y",
                  "vrrp_instance: []",
                  "ports:",
                  "  - name: p",
                  "    device: d",
                  "    mtu: 9000",
              })),
              (Lines{
                  "3:3: unknown key \"routerid\" in global",
                  "4:1: unknown key \"vrrp_instance\" at top level",
                  "8:5: unknown key \"mtu\" in ports[0]",
              }));
}

TEST(ConfigProblems, DuplicateKeys) {
    EXPECT_EQ(problems(yaml({
                  "global:",
                  "  router_id: x",
                  "  router_id: y",
                  "vrrp_scripts:",
                  "  chk: {script: a}",
                  "  chk: {script: b}",
              })),
              (Lines{
                  "3:3: duplicate key \"router_id\" in global",
                  "6:3: duplicate key \"chk\" in vrrp_scripts",
              }));
}

TEST(ConfigProblems, MissingRequiredKeys) {
    EXPECT_EQ(problems(yaml({
                  "ports:",
                  "  - device: d",
                  "  - name:",
                  "    device: e",
                  "vrrp_instances:",
                  "  - name: V",
                  "virtual_servers:",
                  "  - {name: s}",
                  "sync_groups:",
                  "  - name: g",
              })),
              (Lines{
                  "2:5: missing required key \"name\" in ports[0]",
                  "3:5: missing value for ports[1].name",
                  "6:5: missing required key \"port\" in vrrp_instances[0]",
                  "6:5: missing required key \"vrid\" in vrrp_instances[0]",
                  "6:5: missing required key \"virtual_ipaddresses\" in vrrp_instances[0]",
                  "8:5: missing required key \"vip\" in virtual_servers[0]",
                  "10:5: missing required key \"instances\" in sync_groups[0]",
              }));
}

TEST(ConfigProblems, WrongTypes) {
    EXPECT_EQ(problems(yaml({
                  "global:",
                  "  enable_script_security: yes",
                  "  dpdk: [1]",
                  "  timeouts: {tcp: [1]}",
                  "  router_id: {a: b}",
                  "ports: {name: p}",
                  "vrrp_instances:",
                  "  - name: V",
                  "    port: p",
                  "    vrid: 1",
                  "    priority: high",
                  "    virtual_ipaddresses: 10.0.0.1",
                  "    preempt: 1",
                  "  - just a string",
              })),
              (Lines{
                  "2:27: expected true or false for global.enable_script_security",
                  "3:9: expected a mapping for global.dpdk",
                  "4:19: expected a duration for global.timeouts.tcp",
                  "5:14: expected a string for global.router_id",
                  "6:8: expected a list for ports",
                  "9:11: unknown port \"p\" for vrrp_instances[0].port",
                  "11:15: expected a number for vrrp_instances[0].priority",
                  "12:26: expected a list for vrrp_instances[0].virtual_ipaddresses",
                  "13:14: expected true or false for vrrp_instances[0].preempt",
                  "14:5: expected a mapping for vrrp_instances[1]",
              }));
    EXPECT_EQ(problems("- a\n- b\n"), (Lines{"1:1: expected a mapping at top level"}));
}

TEST(ConfigProblems, YamlSyntaxError) {
    EXPECT_EQ(problems(yaml({
                  "global:",
                  "  router_id: [lb1",
                  "ports: []",
              })),
              (Lines{"3:6: end of sequence flow not found"}));
    const auto bad_indent = problems("global:\n  router_id: a\n bad: b\n");
    ASSERT_EQ(bad_indent.size(), 1u);
    EXPECT_EQ(bad_indent[0], "3:2: end of map not found");
    const std::string deep = "a: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
    EXPECT_EQ(problems(deep), (Lines{"1:10004: the YAML is nested too deeply"}));
}

TEST(ConfigProblems, OnlyOneDocument) {
    EXPECT_EQ(problems("global: {}\n---\nports: []\n"),
              (Lines{"3:1: only one YAML document is allowed"}));
}

TEST(ConfigProblems, ManyAtOnceInFileOrder) {
    // Found in different passes (ports, instances, servers) and still sorted.
    EXPECT_EQ(problems(yaml({
                  "virtual_servers:",
                  "  - {name: s, vip: 10.0.0.300}",
                  "vrrp_instances:",
                  "  - {name: V, port: p, vrid: 256, virtual_ipaddresses: [10.0.0.1]}",
                  "ports:",
                  "  - {name: p, device: d, bogus: 1}",
              })),
              (Lines{
                  "2:20: invalid address \"10.0.0.300\" for virtual_servers[0].vip",
                  "4:30: vrrp_instances[0].vrid must be between 1 and 255 (got 256)",
                  "6:26: unknown key \"bogus\" in ports[0]",
              }));
}

// --- problems: values ---------------------------------------------------------

TEST(ConfigProblems, Ranges) {
    EXPECT_EQ(problems(yaml({
                  "global: {connections_per_lcore: 0, dpdk: {memory_mb: 0}}",
                  "ports: [{name: p, device: d}]",
                  "vrrp_scripts:",
                  "  c: {script: s, weight: -255, rise: 0, fall: 0}",
                  "vrrp_instances:",
                  "  - name: V",
                  "    port: p",
                  "    vrid: 0",
                  "    priority: 256",
                  "    version: 4",
                  "    virtual_ipaddresses: [10.0.0.1/24]",
                  "    track_ports: [{port: p, weight: 255}]",
                  "    track_scripts: [{name: c, weight: -255}]",
                  "    track_files: [{path: /f, weight: 300}]",
                  "virtual_servers:",
                  "  - name: s",
                  "    vip: 10.0.0.1",
                  "    port: 65536",
                  "    quorum: 0",
                  "    real_servers:",
                  "      - {address: 10.0.0.2, port: -1, weight: 65536, check: {rise: 0, connect_port: 70000}}",
              })),
              (Lines{
                  "1:33: global.connections_per_lcore must be at least 1 (got 0)",
                  "1:54: global.dpdk.memory_mb must be at least 1 (got 0)",
                  "4:26: vrrp_scripts.c.weight must be between -254 and 254 (got -255)",
                  "4:38: vrrp_scripts.c.rise must be at least 1 (got 0)",
                  "4:47: vrrp_scripts.c.fall must be at least 1 (got 0)",
                  "8:11: vrrp_instances[0].vrid must be between 1 and 255 (got 0)",
                  "9:15: vrrp_instances[0].priority must be between 1 and 255 (got 256)",
                  "10:14: vrrp_instances[0].version must be between 2 and 3 (got 4)",
                  "12:37: vrrp_instances[0].track_ports[0].weight must be between -254 and 254 (got 255)",
                  "13:39: vrrp_instances[0].track_scripts[0].weight must be between -254 and 254 (got -255)",
                  "14:38: vrrp_instances[0].track_files[0].weight must be between -254 and 254 (got 300)",
                  "18:11: virtual_servers[0].port must be between 0 and 65535 (got 65536)",
                  "19:13: virtual_servers[0].quorum must be at least 1 (got 0)",
                  "21:35: virtual_servers[0].real_servers[0].port must be between 0 and 65535 (got -1)",
                  "21:47: virtual_servers[0].real_servers[0].weight must be between 0 and 65535 (got 65536)",
                  "21:68: virtual_servers[0].real_servers[0].check.rise must be at least 1 (got 0)",
                  "21:85: virtual_servers[0].real_servers[0].check.connect_port must be between 1 and 65535 (got 70000)",
              }));
    EXPECT_EQ(problems("global: {dpdk: {memory_mb: 99999999999999999999}}\n"),
              (Lines{"1:28: global.dpdk.memory_mb must be at most 4294967295 (got 99999999999999999999)"}));
}

TEST(ConfigProblems, Durations) {
    EXPECT_EQ(problems(yaml({
                  "global:",
                  "  timeouts: {tcp: 10 parsecs, udp: -1s, tcp_syn: 0s}",
                  "vrrp_scripts:",
                  "  c: {script: s, interval: 0, timeout: 1.5ns}",
              })),
              (Lines{
                  "2:19: invalid duration \"10 parsecs\" for global.timeouts.tcp "
                  "(expected e.g. 10ms, 1s, 1.5s, 2m or a number of seconds)",
                  "2:36: global.timeouts.udp must not be negative (got -1s)",
                  "2:50: global.timeouts.tcp_syn must be greater than 0",
                  "4:28: vrrp_scripts.c.interval must be greater than 0",
                  "4:40: invalid duration \"1.5ns\" for vrrp_scripts.c.timeout "
                  "(expected e.g. 10ms, 1s, 1.5s, 2m or a number of seconds)",
              }));
}

TEST(ConfigProblems, AdvertInterval) {
    EXPECT_EQ(problems(yaml({
                  "ports: [{name: p, device: d}]",
                  "vrrp_instances:",
                  "  - {name: a, port: p, vrid: 1, advert_interval: 15ms, virtual_ipaddresses: [10.0.0.1]}",
                  "  - {name: b, port: p, vrid: 2, advert_interval: 41s, virtual_ipaddresses: [10.0.0.1]}",
                  "  - {name: c, port: p, vrid: 3, version: 2, advert_interval: 1500ms, virtual_ipaddresses: [10.0.0.1]}",
                  "  - {name: d, port: p, vrid: 4, version: 2, advert_interval: 256s, virtual_ipaddresses: [10.0.0.1]}",
                  "  - {name: e, port: p, vrid: 5, version: 3, advert_interval: 10ms, virtual_ipaddresses: [10.0.0.1]}",
                  "  - {name: f, port: p, vrid: 6, version: 2, advert_interval: 255s, virtual_ipaddresses: [10.0.0.1]}",
              })),
              (Lines{
                  "3:50: vrrp_instances[0].advert_interval must be a multiple of 10ms from 10ms to "
                  "40.95s with VRRP version 3 (got 15ms)",
                  "4:50: vrrp_instances[1].advert_interval must be a multiple of 10ms from 10ms to "
                  "40.95s with VRRP version 3 (got 41s)",
                  "5:62: vrrp_instances[2].advert_interval must be whole seconds from 1s to 255s "
                  "with VRRP version 2 (got 1500ms)",
                  "6:62: vrrp_instances[3].advert_interval must be whole seconds from 1s to 255s "
                  "with VRRP version 2 (got 256s)",
              }));
}

TEST(ConfigProblems, AddressesAndPrefixes) {
    EXPECT_EQ(problems(yaml({
                  "ports:",
                  "  - {name: p, device: d, addresses: [10.0.0.1/33, \"2001:db8::1/129\", 10.0.0.1/x]}",
                  "vrrp_instances:",
                  "  - name: V",
                  "    port: p",
                  "    vrid: 1",
                  "    virtual_ipaddresses: [10.0.0.256/24]",
                  "    unicast_peers: [10.0.0.2/32]",
                  "virtual_servers:",
                  "  - {name: s, vip: 10.0.0.1/32, local_addresses: [eth0]}",
              })),
              (Lines{
                  "2:38: invalid address prefix \"10.0.0.1/33\" for ports[0].addresses[0]",
                  "2:51: invalid address prefix \"2001:db8::1/129\" for ports[0].addresses[1]",
                  "2:70: invalid address prefix \"10.0.0.1/x\" for ports[0].addresses[2]",
                  "7:27: invalid address prefix \"10.0.0.256/24\" for vrrp_instances[0].virtual_ipaddresses[0]",
                  "8:21: invalid address \"10.0.0.2/32\" for vrrp_instances[0].unicast_peers[0]",
                  "10:20: invalid address \"10.0.0.1/32\" for virtual_servers[0].vip",
                  "10:51: invalid address \"eth0\" for virtual_servers[0].local_addresses[0]",
              }));
}

TEST(ConfigProblems, EnumValues) {
    EXPECT_EQ(problems(yaml({
                  "global: {dpdk: {poll: lazy}}",
                  "ports: [{name: p, device: d}]",
                  "vrrp_instances:",
                  "  - {name: V, port: p, vrid: 1, state: FAULT, virtual_ipaddresses: [10.0.0.1],",
                  "     version: 2, authentication: {type: AH}}",
                  "virtual_servers:",
                  "  - name: s",
                  "    vip: 10.0.0.1",
                  "    protocol: sctp",
                  "    scheduler: fast",
                  "    method: magic",
                  "    real_servers: [{address: 10.0.0.2, check: {type: icmp}}]",
              })),
              (Lines{
                  "1:23: invalid value \"lazy\" for global.dpdk.poll (expected one of: busy, adaptive)",
                  "4:40: invalid value \"FAULT\" for vrrp_instances[0].state (expected one of: MASTER, BACKUP)",
                  "5:41: invalid value \"AH\" for vrrp_instances[0].authentication.type (expected one of: PASS, NONE)",
                  "9:15: invalid value \"sctp\" for virtual_servers[0].protocol (expected one of: tcp, udp)",
                  "10:16: invalid value \"fast\" for virtual_servers[0].scheduler "
                  "(expected one of: rr, wrr, lc, wlc, sh, mh)",
                  "11:13: invalid value \"magic\" for virtual_servers[0].method (expected one of: dr, nat, tun, fnat)",
                  "12:54: invalid value \"icmp\" for virtual_servers[0].real_servers[0].check.type "
                  "(expected one of: tcp, http, udp, script)",
              }));
}

TEST(ConfigProblems, GlobalSettings) {
    EXPECT_EQ(problems(yaml({
                  "global:",
                  "  router_id: \"\"",
                  "  metrics: {listen: 127.0.0.1}",
                  "  dpdk: {lcores: \"3\"}",
              })),
              (Lines{
                  "2:14: global.router_id must not be empty",
                  "3:21: invalid listen address \"127.0.0.1\" for global.metrics.listen "
                  "(expected ADDR:PORT, IPv6 as [ADDR]:PORT)",
                  "4:18: global.dpdk.lcores must name at least 2 lcores: the control thread and a worker",
              }));
    EXPECT_EQ(problems("global: {metrics: {listen: \"::1:9469\"}, dpdk: {lcores: \"2-1\"}}\n"),
              (Lines{
                  "1:28: invalid listen address \"::1:9469\" for global.metrics.listen "
                  "(expected ADDR:PORT, IPv6 as [ADDR]:PORT)",
                  "1:56: invalid lcore list \"2-1\" for global.dpdk.lcores (expected e.g. \"0-1\", \"0,2-3\" or \"0,1,2@1\")",
              }));
    EXPECT_EQ(problems("global: {metrics: {}, dpdk: {lcores: \"0-2,1\"}}\n"),
              (Lines{
                  "1:19: missing required key \"listen\" in global.metrics",
                  "1:38: lcore 1 is listed twice in global.dpdk.lcores",
              }));
}

// --- problems: names and references ----------------------------------------------

TEST(ConfigProblems, DuplicateNames) {
    EXPECT_EQ(problems(yaml({
                  "ports:",
                  "  - {name: p, device: d, kernel_mirror: tap0}",
                  "  - {name: p, device: d, kernel_mirror: tap0}",
                  "vrrp_instances:",
                  "  - {name: V, port: p, vrid: 1, virtual_ipaddresses: [10.0.0.1]}",
                  "  - {name: V, port: p, vrid: 1, virtual_ipaddresses: [10.0.0.2]}",
                  "sync_groups:",
                  "  - {name: G, instances: [V]}",
                  "  - {name: G, instances: [V]}",
                  "virtual_servers:",
                  "  - {name: s, vip: 10.0.0.1, port: 80}",
                  "  - {name: s, vip: 10.0.0.1, port: 80}",
                  "  - name: t",
                  "    vip: 10.0.0.1",
                  "    port: 80",
                  "    protocol: udp",
                  "    real_servers: [{address: 10.0.0.2, port: 80}, {address: 10.0.0.2}]",
              })),
              (Lines{
                  "3:12: duplicate port name \"p\" in ports[1] (first defined on line 2)",
                  "3:23: duplicate device \"d\" in ports[1] (first defined on line 2)",
                  "3:41: duplicate kernel_mirror \"tap0\" in ports[1] (first defined on line 2)",
                  "6:12: duplicate vrrp instance name \"V\" in vrrp_instances[1] (first defined on line 5)",
                  "6:30: vrid 1 on port \"p\" (IPv4) is already used by vrrp instance \"V\" on line 5",
                  "9:12: duplicate sync group name \"G\" in sync_groups[1] (first defined on line 8)",
                  "9:27: vrrp instance \"V\" is already in sync group \"G\" (an instance can be in one group only)",
                  "12:12: duplicate virtual server name \"s\" in virtual_servers[1] (first defined on line 11)",
                  "12:20: duplicate virtual service \"10.0.0.1:80/tcp\" in virtual_servers[1] "
                  "(first defined on line 11)",
                  "17:61: duplicate real server \"10.0.0.2:80\" in virtual_servers[2].real_servers[1] "
                  "(first defined on line 17)",
              }));
}

TEST(ConfigProblems, DanglingReferences) {
    EXPECT_EQ(problems(yaml({
                  "ports: [{name: p, device: d}]",
                  "vrrp_scripts: {chk: {script: s}}",
                  "vrrp_instances:",
                  "  - name: V",
                  "    port: q",
                  "    vrid: 1",
                  "    virtual_ipaddresses: [10.0.0.1]",
                  "    track_ports: [x, {port: y}]",
                  "    track_scripts: [chk, nope, {name: nope2}]",
                  "    virtual_routes: [\"10.1.0.0/16 dev z\", {to: 10.2.0.0/16, port: w}]",
                  "sync_groups:",
                  "  - {name: G, instances: [V, W, V]}",
                  "  - {name: H, instances: []}",
              })),
              (Lines{
                  "5:11: unknown port \"q\" for vrrp_instances[0].port",
                  "8:19: unknown port \"x\" for vrrp_instances[0].track_ports[0]",
                  "8:29: unknown port \"y\" for vrrp_instances[0].track_ports[1].port",
                  "9:26: unknown vrrp_script \"nope\" for vrrp_instances[0].track_scripts[1]",
                  "9:39: unknown vrrp_script \"nope2\" for vrrp_instances[0].track_scripts[2].name",
                  "10:22: unknown port \"z\" for vrrp_instances[0].virtual_routes[0]",
                  "10:67: unknown port \"w\" for vrrp_instances[0].virtual_routes[1].port",
                  "12:30: unknown vrrp instance \"W\" for sync_groups[0].instances[1]",
                  "12:33: vrrp instance \"V\" is listed twice in sync_groups[0].instances",
                  "13:26: sync_groups[1].instances must not be empty",
              }));
}

// --- problems: VRRP rules ---------------------------------------------------

TEST(ConfigProblems, Authentication) {
    EXPECT_EQ(problems(yaml({
                  "ports: [{name: p, device: d}]",
                  "vrrp_instances:",
                  "  - name: a",
                  "    port: p",
                  "    vrid: 1",
                  "    virtual_ipaddresses: [10.0.0.1]",
                  "    authentication: {type: PASS, password: secret}",
                  "  - {name: b, port: p, vrid: 2, version: 2, virtual_ipaddresses: [10.0.0.1],",
                  "     authentication: {type: pass, password: \"123456789\"}}",
                  "  - {name: c, port: p, vrid: 3, version: 2, virtual_ipaddresses: [10.0.0.1],",
                  "     authentication: {type: PASS}}",
                  "  - {name: d, port: p, vrid: 4, version: 2, virtual_ipaddresses: [10.0.0.1],",
                  "     authentication: {type: NONE, password: x}}",
              })),
              (Lines{
                  "7:21: authentication is only supported with VRRP version 2 in vrrp_instances[0]",
                  "9:45: vrrp_instances[1].authentication.password must be 1 to 8 characters (got 9)",
                  "11:22: missing required key \"password\" in vrrp_instances[2].authentication",
                  "13:35: vrrp_instances[3].authentication.password is only used with type PASS",
              }));
}

TEST(ConfigProblems, MixedFamilies) {
    EXPECT_EQ(problems(yaml({
                  "ports: [{name: p, device: d}]",
                  "vrrp_instances:",
                  "  - name: V",
                  "    port: p",
                  "    vrid: 1",
                  "    virtual_ipaddresses: [10.0.0.1/24, \"2001:db8::1/64\"]",
                  "    unicast_peers: [10.0.0.2, \"fe80::2\"]",
                  "    virtual_routes: [\"10.1.0.0/16 via 2001:db8::9\"]",
              })),
              (Lines{
                  "6:40: mixed address families in vrrp_instances[0]: 2001:db8::1/64 is IPv6, "
                  "the first virtual address is IPv4",
                  "7:31: mixed address families in vrrp_instances[0]: unicast peer fe80::2 is IPv6, "
                  "the virtual addresses are IPv4",
                  "8:22: mixed address families in vrrp_instances[0].virtual_routes[0]: the gateway "
                  "is IPv6, the destination IPv4",
              }));
}

TEST(ConfigProblems, InstanceLists) {
    EXPECT_EQ(problems(yaml({
                  "ports: [{name: p, device: d}]",
                  "vrrp_instances:",
                  "  - name: V",
                  "    port: p",
                  "    vrid: 1",
                  "    virtual_ipaddresses: []",
                  "    virtual_routes: [\"10.1.0.0/16 via\", {via: 10.0.0.1}]",
                  "    track_files: [[x]]",
                  "    garp: {master_repeat: 0}",
                  "    notify: {master: /m, enter: /e}",
              })),
              (Lines{
                  "6:26: vrrp_instances[0].virtual_ipaddresses must not be empty",
                  "7:22: invalid route \"10.1.0.0/16 via\" for vrrp_instances[0].virtual_routes[0] "
                  "(expected \"PREFIX [via ADDRESS] [dev PORT]\")",
                  "7:41: missing required key \"to\" in vrrp_instances[0].virtual_routes[1]",
                  "8:19: expected a name or a mapping for vrrp_instances[0].track_files[0]",
                  "9:27: vrrp_instances[0].garp.master_repeat must be at least 1 (got 0)",
                  "10:26: unknown key \"enter\" in vrrp_instances[0].notify",
              }));
}

TEST(ConfigProblems, PortSettings) {
    EXPECT_EQ(problems(yaml({
                  "ports:",
                  "  - {name: p, device: \"\", kernel_mirror: a-name-longer-than-15}",
                  "vrrp_scripts:",
                  "  chk:",
                  "  chk2: {interval: 1s}",
              })),
              (Lines{
                  "2:23: ports[0].device must not be empty",
                  "2:42: ports[0].kernel_mirror must be a Linux interface name "
                  "(1 to 15 characters, no \"/\", \":\" or spaces)",
                  "4:3: missing value for vrrp_scripts.chk",
                  "5:9: missing required key \"script\" in vrrp_scripts.chk2",
              }));
}

// --- problems: virtual servers ----------------------------------------------

TEST(ConfigProblems, ServerFamiliesAndFnat) {
    EXPECT_EQ(problems(yaml({
                  "virtual_servers:",
                  "  - name: dr",
                  "    vip: 10.0.0.1",
                  "    sorry_server: {address: \"2001:db8::9\"}",
                  "    real_servers: [{address: \"2001:db8::2\"}]",
                  "  - name: fnat-none",
                  "    vip: 10.0.0.2",
                  "    method: fnat",
                  "  - name: fnat-wrong",
                  "    vip: 10.0.0.3",
                  "    method: fnat",
                  "    local_addresses: [10.0.0.200]",
                  "    real_servers: [{address: \"2001:db8::2\"}]",
              })),
              (Lines{
                  "4:29: mixed address families in virtual_servers[0].sorry_server: 2001:db8::9 is "
                  "IPv6, the VIP is IPv4 (only method fnat can mix them)",
                  "5:30: mixed address families in virtual_servers[0].real_servers[0]: 2001:db8::2 "
                  "is IPv6, the VIP is IPv4 (only method fnat can mix them)",
                  "8:13: method fnat needs at least one IPv4 address in virtual_servers[1].local_addresses",
                  "11:13: method fnat needs at least one IPv6 address in virtual_servers[2].local_addresses",
              }));
}

TEST(ConfigProblems, Checks) {
    EXPECT_EQ(problems(yaml({
                  "virtual_servers:",
                  "  - name: s",
                  "    vip: 10.0.0.1",
                  "    real_servers:",
                  "      - address: 10.0.0.2",
                  "        check: {type: script}",
                  "      - address: 10.0.0.3",
                  "        check: {type: tcp, path: /x, payload: p}",
                  "      - address: 10.0.0.4",
                  "        check: {type: http, status: \"200-600\", path: health}",
                  "      - address: 10.0.0.5",
                  "        check: {type: http, status: \"299-200\", body_regex: \"(\"}",
                  "      - address: 10.0.0.6",
                  "        check: {type: script, script: /s, connect_ip: 10.0.0.9}",
              })),
              (Lines{
                  "6:16: missing required key \"script\" in virtual_servers[0].real_servers[0].check",
                  "8:28: virtual_servers[0].real_servers[1].check.path does not apply to tcp checks",
                  "8:38: virtual_servers[0].real_servers[1].check.payload does not apply to tcp checks",
                  "10:37: invalid status \"200-600\" for virtual_servers[0].real_servers[2].check.status "
                  "(expected codes or ranges from 100 to 599, e.g. \"200-299,301\")",
                  "10:54: virtual_servers[0].real_servers[2].check.path must start with \"/\"",
                  "12:37: invalid status \"299-200\" for virtual_servers[0].real_servers[3].check.status "
                  "(expected codes or ranges from 100 to 599, e.g. \"200-299,301\")",
                  "12:60: invalid regular expression \"(\" for virtual_servers[0].real_servers[3].check.body_regex: "
                  "Mismatched '(' and ')' in regular expression",
                  "14:43: virtual_servers[0].real_servers[4].check.connect_ip does not apply to script checks",
              }));
}

// --- durations, addresses, enums ---------------------------------------------

TEST(Duration, Parse) {
    const struct { const char* text; std::optional<Duration> want; } table[] = {
        {"10ms", 10ms}, {"1s", 1s}, {"1.5s", 1500ms}, {"2m", 120s}, {"1h", 3600s},
        {"250us", 250us}, {"7ns", 7ns}, {"0", 0s}, {"0s", 0s}, {"3", 3s}, {"0.25", 250ms},
        {".5s", 500ms}, {"1.000s", 1s}, {"40.95s", 40950ms}, {"0.5m", 30s}, {"1.5ms", 1500us},
        {" 1s ", 1s}, {"-1s", -1s}, {"+2s", 2s}, {"007s", 7s},
        {"", std::nullopt}, {"s", std::nullopt}, {"1", 1s}, {"1.", std::nullopt},
        {"1 s", std::nullopt}, {"1sec", std::nullopt}, {"1.2.3s", std::nullopt},
        {"abc", std::nullopt}, {"1e3", std::nullopt}, {"1.5ns", std::nullopt},
        {"0.0000000001s", std::nullopt}, {"99999999999h", std::nullopt}, {"-", std::nullopt},
    };
    for (const auto& [text, want] : table) EXPECT_EQ(parse_duration(text), want) << '"' << text << '"';
}

TEST(Duration, FormatRoundTrips) {
    const struct { Duration d; const char* text; } table[] = {
        {0s, "0s"}, {1s, "1s"}, {900s, "900s"}, {1500ms, "1.5s"}, {10ms, "10ms"},
        {40950ms, "40.95s"}, {250us, "250us"}, {7ns, "7ns"}, {3600s, "3600s"},
        {1000001us, "1.000001s"}, {Duration(1000000001), "1.000000001s"}, {-2s, "-2s"},
    };
    for (const auto& [d, text] : table) {
        EXPECT_EQ(format_duration(d), text);
        EXPECT_EQ(parse_duration(format_duration(d)), d) << text;
    }
    for (int64_t ns = 1; ns < 4'000'000'000'000'000'000; ns = ns * 7 + 3)
        EXPECT_EQ(parse_duration(format_duration(Duration(ns))), Duration(ns)) << ns;
}

TEST(Address, Parse) {
    const struct { const char* text; const char* str; } table[] = {
        {"10.0.0.1", "10.0.0.1"}, {"0.0.0.0", "0.0.0.0"}, {"::", "::"},
        {"2001:DB8:0:0::1", "2001:db8::1"}, {"::ffff:10.0.0.1", "::ffff:10.0.0.1"},
        {"10.0.0.256", nullptr}, {"10.0.0", nullptr}, {"", nullptr}, {" 10.0.0.1", nullptr},
        {"10.0.0.1/24", nullptr}, {"fe80::1%eth0", nullptr}, {"host", nullptr},
    };
    for (const auto& [text, str] : table) {
        const auto a = IpAddress::parse(text);
        ASSERT_EQ(a.has_value(), str != nullptr) << text;
        if (a) {
            EXPECT_EQ(a->str(), str);
        }
    }
    const auto a = IpAddress::parse("10.1.2.3").value();
    EXPECT_TRUE(a.is_v4());
    EXPECT_EQ(a.size(), 4u);
    EXPECT_EQ(a.v4_host(), 0x0a010203u);
    const uint32_t in_packet = a.v4_net();
    uint8_t net[4];
    std::memcpy(net, &in_packet, 4);
    EXPECT_EQ(net[0], 10);
    EXPECT_EQ(net[3], 3);
    EXPECT_EQ(IpAddress::v4(0x0a010203), a);
    EXPECT_EQ(IpAddress::parse("::1")->size(), 16u);
    EXPECT_EQ(IpAddress::parse("::1")->family, Family::v6);

    EXPECT_TRUE(IpAddress::parse("224.0.0.18")->is_multicast());
    EXPECT_TRUE(IpAddress::parse("239.255.255.255")->is_multicast());
    EXPECT_FALSE(IpAddress::parse("240.0.0.1")->is_multicast());
    EXPECT_TRUE(IpAddress::parse("ff02::12")->is_multicast());
    EXPECT_FALSE(IpAddress::parse("fe80::1")->is_multicast());
    EXPECT_TRUE(IpAddress::parse("169.254.1.1")->is_link_local());
    EXPECT_FALSE(IpAddress::parse("169.255.1.1")->is_link_local());
    EXPECT_TRUE(IpAddress::parse("fe80::1")->is_link_local());
    EXPECT_TRUE(IpAddress::parse("febf::1")->is_link_local());
    EXPECT_FALSE(IpAddress::parse("fec0::1")->is_link_local());
}

TEST(Address, Prefix) {
    const struct { const char* text; const char* str; } table[] = {
        {"10.0.0.1/24", "10.0.0.1/24"}, {"10.0.0.1", "10.0.0.1/32"}, {"0.0.0.0/0", "0.0.0.0/0"},
        {"2001:db8::1/64", "2001:db8::1/64"}, {"2001:db8::1", "2001:db8::1/128"},
        {"10.0.0.1/33", nullptr}, {"::/129", nullptr}, {"10.0.0.1/", nullptr},
        {"10.0.0.1/24x", nullptr}, {"10.0.0.1/-1", nullptr}, {"10.0.0.1/0024", nullptr},
        {"/24", nullptr}, {"10.0.0.1/24/1", nullptr},
    };
    for (const auto& [text, str] : table) {
        const auto p = IpPrefix::parse(text);
        ASSERT_EQ(p.has_value(), str != nullptr) << text;
        if (p) {
            EXPECT_EQ(p->str(), str);
        }
    }
    const auto net = IpPrefix::parse("10.1.2.3/20").value();
    EXPECT_TRUE(net.contains(*IpAddress::parse("10.1.15.255")));
    EXPECT_FALSE(net.contains(*IpAddress::parse("10.1.16.0")));
    EXPECT_FALSE(net.contains(*IpAddress::parse("::a01:203")));
    EXPECT_TRUE(IpPrefix::parse("0.0.0.0/0")->contains(*IpAddress::parse("1.2.3.4")));
    const auto v6 = IpPrefix::parse("2001:db8::/33").value();
    EXPECT_TRUE(v6.contains(*IpAddress::parse("2001:db8:7fff::1")));
    EXPECT_FALSE(v6.contains(*IpAddress::parse("2001:db8:8000::1")));
}

TEST(ConfigTypes, NamesAndPci) {
    EXPECT_STREQ(to_string(VrrpState::INIT), "INIT");
    EXPECT_STREQ(to_string(VrrpState::BACKUP), "BACKUP");
    EXPECT_STREQ(to_string(VrrpState::MASTER), "MASTER");
    EXPECT_STREQ(to_string(VrrpState::FAULT), "FAULT");
    EXPECT_STREQ(to_string(Protocol::udp), "udp");
    EXPECT_STREQ(to_string(Scheduler::rr), "rr");
    EXPECT_STREQ(to_string(Scheduler::wlc), "wlc");
    EXPECT_STREQ(to_string(Scheduler::mh), "mh");
    EXPECT_STREQ(to_string(Method::fnat), "fnat");
    EXPECT_STREQ(to_string(Method::tun), "tun");

    Port port;
    for (const char* pci : {"0000:03:00.1", "03:00.1", "ABCD:ef:1f.7"}) {
        port.device = pci;
        EXPECT_TRUE(port.is_pci()) << pci;
    }
    for (const char* vdev : {"net_pcap0,rx_pcap=a", "net_tap0", "0000:03:00", "03:00.12",
                             "0000:03:00.1x", "g0:00.1", ""}) {
        port.device = vdev;
        EXPECT_FALSE(port.is_pci()) << vdev;
    }
}

// --- dump -----------------------------------------------------------------

TEST(ConfigDump, RoundTrips) {
    for (const char* text : {contract_example, everything_else, ""}) {
        const Config first = load_ok(text);
        const std::string dumped = dump(first);
        const auto again = load_string(dumped, "t.yaml");
        for (const auto& p : again.problems) ADD_FAILURE() << p.str() << "\n" << dumped;
        ASSERT_TRUE(again.config);
        EXPECT_TRUE(*again.config == first) << dumped;
        EXPECT_EQ(dump(*again.config), dumped);
    }
}

TEST(ConfigDump, WritesDefaults) {
    Config c = load_ok("ports: [{name: p, device: d}]\n");
    c.global.router_id = "lb1";
    const std::string out = dump(c);
    for (const char* line : {"router_id: lb1", "control_socket: /run/haplane/haplane.sock",
                             "timeouts: {tcp: 900s, tcp_fin: 120s, tcp_syn: 30s, udp: 300s}",
                             "memory_mb: 512", "poll: busy", "addresses: []", "vrrp_instances: []"})
        EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
    EXPECT_EQ(out.find("metrics"), std::string::npos);   // optional and unset
}

TEST(ConfigDump, QuotesAmbiguousStrings) {
    // Strings YAML would read as null must come back as the same strings.
    Config c = load_ok("global: {script_user: \"null\", notify_fifo: \"~\", router_id: \"true\"}\n");
    EXPECT_EQ(c.global.script_user, "null");
    const auto again = load_string(dump(c), "t.yaml");
    ASSERT_TRUE(again.config);
    EXPECT_EQ(again.config->global.script_user, "null");
    EXPECT_EQ(again.config->global.notify_fifo, "~");
    EXPECT_EQ(again.config->global.router_id, "true");
}

TEST(ConfigScriptSecurity, ScriptsInPathsNonRootCanWriteAreRefused) {
    // /tmp is world-writable: a script under it could be replaced by anyone.
    const std::string yaml = R"(global:
  enable_script_security: true
vrrp_scripts:
  chk_ok:
    script: "/bin/true --quiet"
  chk_tmp:
    script: "/tmp/haplane-nonexistent-check.sh"
  chk_shell:
    script: "[ -f /etc/down ] && exit 1 || exit 0"
)";
    auto r = haplane::config::load_string(yaml, "sec.yaml");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].line, 7);
    EXPECT_EQ(r.problems[0].column, 13);
    EXPECT_NE(r.problems[0].message.find("refused by enable_script_security"), std::string::npos)
        << r.problems[0].message;

    // Without the setting, the same file is fine.
    std::string relaxed = yaml;
    relaxed.replace(relaxed.find("true"), 4, "false");
    EXPECT_TRUE(haplane::config::load_string(relaxed, "sec.yaml").problems.empty());
}
