// The whole haplane configuration as plain typed structs, defaults filled in.
// The schema is the one in CONTRACT.md; the loader (loader.hpp) fills these
// from YAML and validates them, the dumper writes them back as YAML.
#pragma once

#include "config/address.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace haplane::config {

using Duration = std::chrono::nanoseconds;

enum class PollMode { busy, adaptive };

struct Dpdk {
    std::string lcores = "0-1";       // first = control thread, rest = workers
    unsigned memory_mb = 512;
    bool hugepages = false;
    std::vector<std::string> args;    // further EAL arguments
    PollMode poll = PollMode::busy;

    bool operator==(const Dpdk&) const = default;
};

struct Timeouts {
    Duration tcp = std::chrono::seconds(900);
    Duration tcp_fin = std::chrono::seconds(120);
    Duration tcp_syn = std::chrono::seconds(30);
    Duration udp = std::chrono::seconds(300);

    bool operator==(const Timeouts&) const = default;
};

struct Global {
    std::string router_id;            // default: the host name
    std::string control_socket = "/run/haplane/haplane.sock";
    std::string state_dump_file = "/tmp/haplane.json";
    std::optional<std::string> metrics_listen;   // "ADDR:PORT"
    std::optional<std::string> notify_fifo;
    std::optional<std::string> script_user;
    bool enable_script_security = false;
    Timeouts timeouts;
    uint32_t connections_per_lcore = 1000000;
    // IPVS's expire_nodest_conn: a flow whose real server died (failed its
    // check) or left the config is ended on its next packet (dropped, so the
    // client's retry reaches a live server) instead of going on until idle.
    bool expire_nodest_conn = false;
    Dpdk dpdk;

    bool operator==(const Global&) const = default;
};

struct Port {
    std::string name;
    std::string device;               // PCI address or vdev string
    std::vector<IpPrefix> addresses;
    std::optional<std::string> kernel_mirror;   // TAP name

    bool is_pci() const;              // device looks like DDDD:BB:DD.F or BB:DD.F

    bool operator==(const Port&) const = default;
};

struct VrrpScript {
    std::string name;
    std::string script;
    Duration interval = std::chrono::seconds(1);
    Duration timeout = std::chrono::seconds(1);
    int weight = 0;                   // -254..254
    unsigned rise = 1;
    unsigned fall = 1;

    bool operator==(const VrrpScript&) const = default;
};

enum class VrrpState { INIT, BACKUP, MASTER, FAULT };
const char* to_string(VrrpState s);

struct Authentication {
    enum class Type { NONE, PASS } type = Type::NONE;
    std::string password;             // PASS: up to 8 bytes

    bool operator==(const Authentication&) const = default;
};

struct VirtualRoute {
    IpPrefix destination;
    std::optional<IpAddress> gateway;
    std::optional<std::string> port;  // dataplane port name

    bool operator==(const VirtualRoute&) const = default;
};

struct TrackPort {
    std::string port;
    int weight = 0;
    bool operator==(const TrackPort&) const = default;
};
struct TrackScript {
    std::string name;
    std::optional<int> weight;        // none = the script's weight
    bool operator==(const TrackScript&) const = default;
};
struct TrackFile {
    std::string path;
    int weight = 1;
    bool operator==(const TrackFile&) const = default;
};

struct Garp {
    Duration master_delay = std::chrono::seconds(5);
    unsigned master_repeat = 5;
    Duration master_refresh = Duration::zero();   // 0 = off
    unsigned master_refresh_repeat = 1;

    bool operator==(const Garp&) const = default;
};

struct Notify {
    std::optional<std::string> master, backup, fault, stop, any;

    bool operator==(const Notify&) const = default;
};

struct VrrpInstance {
    std::string name;
    std::string port;
    uint8_t vrid = 0;
    uint8_t priority = 100;
    VrrpState state = VrrpState::BACKUP;   // initial wish: MASTER or BACKUP
    uint8_t version = 3;
    Duration advert_interval = std::chrono::seconds(1);
    bool preempt = true;
    Duration preempt_delay = Duration::zero();
    Authentication authentication;
    std::vector<IpAddress> unicast_peers;
    bool use_vmac = false;
    std::vector<IpPrefix> virtual_ipaddresses;
    std::vector<VirtualRoute> virtual_routes;
    std::vector<TrackPort> track_ports;
    std::vector<TrackScript> track_scripts;
    std::vector<TrackFile> track_files;
    Garp garp;
    Notify notify;

    Family family() const;            // of the VIPs (all one family)

    bool operator==(const VrrpInstance&) const = default;
};

struct SyncGroup {
    std::string name;
    std::vector<std::string> instances;
    Notify notify;

    bool operator==(const SyncGroup&) const = default;
};

enum class Protocol { tcp, udp };
enum class Scheduler { rr, wrr, lc, wlc, sh, mh };
enum class Method { dr, nat, tun, fnat };
const char* to_string(Protocol p);
const char* to_string(Scheduler s);
const char* to_string(Method m);

struct HealthCheck {
    enum class Type { tcp, http, udp, script } type = Type::tcp;
    std::string path = "/";                 // http
    std::string status = "200-299";         // http: ranges "200-299,301"
    std::optional<std::string> host;        // http Host header
    std::optional<std::string> body_regex;  // http
    std::optional<std::string> payload;     // udp
    std::optional<std::string> expect;      // udp
    std::optional<std::string> script;      // script
    Duration interval = std::chrono::seconds(1);
    Duration timeout = std::chrono::seconds(1);
    unsigned rise = 1;
    unsigned fall = 1;
    unsigned retry = 0;
    Duration delay_before_retry = std::chrono::seconds(1);
    std::optional<IpAddress> connect_ip;
    std::optional<uint16_t> connect_port;

    bool operator==(const HealthCheck&) const = default;
};

struct RealServerNotify {
    std::optional<std::string> up, down;
    bool operator==(const RealServerNotify&) const = default;
};
struct QuorumNotify {
    std::optional<std::string> quorum_up, quorum_down;
    bool operator==(const QuorumNotify&) const = default;
};

struct RealServer {
    IpAddress address;
    uint16_t port = 0;                       // 0 = the virtual server's port
    unsigned weight = 1;
    bool inhibit_on_failure = false;
    RealServerNotify notify;
    std::optional<HealthCheck> check;

    bool operator==(const RealServer&) const = default;
};

struct SorryServer {
    IpAddress address;
    uint16_t port = 0;
    bool operator==(const SorryServer&) const = default;
};

struct VirtualServer {
    std::string name;
    IpAddress vip;
    uint16_t port = 0;                       // 0 = all ports
    Protocol protocol = Protocol::tcp;
    Scheduler scheduler = Scheduler::wlc;
    Method method = Method::dr;
    Duration persistence_timeout = Duration::zero();
    unsigned quorum = 1;
    unsigned hysteresis = 0;
    std::optional<SorryServer> sorry_server;
    std::vector<IpAddress> local_addresses;  // fnat
    bool alpha = false;
    QuorumNotify notify;
    std::vector<RealServer> real_servers;

    bool operator==(const VirtualServer&) const = default;
};

struct Config {
    std::string file;                        // where it was loaded from
    Global global;
    std::vector<Port> ports;
    std::vector<VrrpScript> vrrp_scripts;    // ordered by name
    std::vector<VrrpInstance> vrrp_instances;
    std::vector<SyncGroup> sync_groups;
    std::vector<VirtualServer> virtual_servers;

    const Port* find_port(const std::string& name) const;

    bool operator==(const Config&) const = default;
};

} // namespace haplane::config
