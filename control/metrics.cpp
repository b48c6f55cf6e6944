#include "control/metrics.hpp"

#include "config/address.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace haplane::control {

using nlohmann::json;

namespace {

constexpr size_t MAX_REQUEST = 16 * 1024;

// Label values escape \, " and newlines.
std::string esc(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "";
    return v.dump();
}

double number(const json& v) {
    if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
    if (v.is_number()) return v.get<double>();
    return 0;
}

// Collects samples per metric so each family is printed once, with its
// HELP and TYPE, as the format requires.
class Families {
public:
    void add(const std::string& name, const char* type, const char* help, const std::string& labels, double value) {
        auto& f = families_[name];
        if (f.type.empty()) {
            f.type = type;
            f.help = help;
            order_.push_back(name);
        }
        f.samples += name + (labels.empty() ? "" : "{" + labels + "}") + " " + fmt::format("{}", value) + "\n";
    }
    std::string str() const {
        std::string out;
        for (const auto& name : order_) {
            const auto& f = families_.at(name);
            out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n" + f.samples;
        }
        return out;
    }

private:
    struct Family { std::string type, help, samples; };
    std::unordered_map<std::string, Family> families_;
    std::vector<std::string> order_;
};

int state_code(const std::string& s) {
    if (s == "BACKUP") return 1;
    if (s == "MASTER") return 2;
    if (s == "FAULT") return 3;
    return 0;
}

} // namespace

std::string render_metrics(const json& status) {
    Families m;
    m.add("haplane_up", "gauge", "1 while haplane runs.", "router_id=\"" + esc(text(status.value("router_id", json()))) + "\"", 1);
    const json ports = status.value("ports", json::array()), vrrp = status.value("vrrp", json::array()),
               services = status.value("virtual_servers", json::array());
    for (const auto& p : ports) {
        const std::string l = "port=\"" + esc(text(p["name"])) + "\"";
        m.add("haplane_port_link_up", "gauge", "DPDK link state of the port (1 up).", l, number(p.value("link_up", json(false))));
        for (const char* k : {"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped", "from_kernel"})
            if (p.contains(k))
                m.add(fmt::format("haplane_port_{}_total", k), "counter", "Per-port dataplane counter.", l, number(p[k]));
        const json malformed = p.value("malformed", json::object());   // items() must not outlive it
        for (const auto& [reason, n] : malformed.items())
            m.add("haplane_port_malformed_total", "counter", "Malformed frames dropped, by reason.",
                  l + ",reason=\"" + esc(reason) + "\"", number(n));
    }
    for (const auto& v : vrrp) {
        const std::string l = "instance=\"" + esc(text(v["name"])) + "\"";
        m.add("haplane_vrrp_state", "gauge", "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.", l,
              state_code(text(v["state"])));
        m.add("haplane_vrrp_priority", "gauge", "Configured priority.", l, number(v["priority"]));
        m.add("haplane_vrrp_effective_priority", "gauge", "Priority after tracking (what adverts carry).", l,
              number(v["effective_priority"]));
        m.add("haplane_vrrp_transitions_total", "counter", "State transitions.", l, number(v["transitions"]));
        for (const char* k : {"became_master", "adverts_sent", "adverts_received", "garps_sent", "address_mismatch"})
            if (v.contains(k))
                m.add(fmt::format("haplane_vrrp_{}_total", k), "counter", "Per-instance VRRP counter.", l, number(v[k]));
        const json drops = v.value("drops", json::object());
        for (const auto& [reason, n] : drops.items())
            m.add("haplane_vrrp_adverts_dropped_total", "counter", "Adverts refused by the receive checks, by reason.",
                  l + ",reason=\"" + esc(reason) + "\"", number(n));
    }
    for (const auto& vs : services) {
        const std::string l = "vs=\"" + esc(text(vs["name"])) + "\"";
        m.add("haplane_vs_connections_active", "gauge", "Active connections of the virtual server.", l,
              number(vs.value("active_connections", json(0))));
        m.add("haplane_vs_packets_total", "counter", "Packets forwarded for the virtual server.", l,
              number(vs.value("packets", json(0))));
        m.add("haplane_vs_bytes_total", "counter", "Bytes forwarded for the virtual server.", l,
              number(vs.value("bytes", json(0))));
        const json reals = vs.value("real_servers", json::array());
        for (const auto& rs : reals) {
            const std::string rl = l + ",address=\"" + esc(text(rs["address"])) + "\",port=\"" + text(rs["port"]) + "\"";
            m.add("haplane_rs_up", "gauge", "1 while the real server passes its checks.", rl,
                  number(rs.value("healthy", json(true))));
            m.add("haplane_rs_weight", "gauge", "Current weight of the real server.", rl, number(rs.value("weight", json(0))));
            m.add("haplane_rs_connections_active", "gauge", "Active connections to the real server.", rl,
                  number(rs.value("active_connections", json(0))));
            m.add("haplane_rs_packets_total", "counter", "Packets forwarded to the real server.", rl,
                  number(rs.value("packets", json(0))));
            m.add("haplane_rs_bytes_total", "counter", "Bytes forwarded to the real server.", rl,
                  number(rs.value("bytes", json(0))));
        }
        if (vs.contains("sorry_server"))
            m.add("haplane_vs_sorry_server_active", "gauge", "1 while the sorry server takes the new connections.", l,
                  number(vs["sorry_server"].value("active", json(false))));
    }
    const json lb = status.value("lb", json::object());
    const json lb_drops = lb.value("drops", json::object());
    for (const auto& [reason, n] : lb_drops.items())
        m.add("haplane_lb_drops_total", "counter", "Packets the load balancer dropped, by reason.",
              "reason=\"" + esc(reason) + "\"", number(n));
    const json handoffs = lb.value("handoffs", json::object());
    const json workers = handoffs.value("workers", json::array());
    for (size_t w = 0; w < workers.size(); ++w)
        m.add("haplane_lb_handoffs_total", "counter", "nat/fnat packets handed to the worker owning their flow.",
              fmt::format("worker=\"{}\"", w), number(workers[w].value("sent", json(0))));
    const json tables = lb.value("connection_table", json::object()).value("workers", json::array());
    for (size_t w = 0; w < tables.size(); ++w) {
        const std::string l = fmt::format("worker=\"{}\"", w);
        m.add("haplane_lb_connection_table_entries", "gauge",
              "Entries in the worker's connection table (a nat/fnat flow takes two).", l,
              number(tables[w].value("entries", json(0))));
        m.add("haplane_lb_connection_table_capacity", "gauge",
              "Entries the worker's connection table holds (connections_per_lcore).", l,
              number(tables[w].value("capacity", json(0))));
    }
    return m.str();
}

MetricsServer::MetricsServer(EventLoop& loop, Log& log, const std::string& listen, Source source)
    : source_(std::move(source)) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("metrics.listen: expected ADDR:PORT, got " + listen);
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto addr = IpAddress::parse(host);
    int port = std::atoi(listen.c_str() + colon + 1);
    if (!addr || port <= 0 || port > 65535) throw std::runtime_error("metrics.listen: bad address " + listen);
    sockaddr_storage ss{};
    socklen_t len;
    if (addr->is_v4()) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(port));
        std::memcpy(&a->sin_addr, addr->bytes.data(), 4);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        std::memcpy(&a->sin6_addr, addr->bytes.data(), 16);
        len = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // The address may be a VIP or arrive with the kernel mirror: bind anyway.
    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        throw std::runtime_error("metrics endpoint " + listen + ": " + std::strerror(err));
    }
    server_.emplace(loop, fd, MAX_REQUEST, [this](const std::string& in) { return answer(in); });
    log.info("Metrics on http://{}/metrics", listen);
}

// A minimal HTTP/1.1 GET, answered once and closed.
std::optional<std::string> MetricsServer::answer(const std::string& in) {
    if (in.find("\r\n\r\n") == std::string::npos && in.find("\n\n") == std::string::npos) return std::nullopt;
    const bool get = in.rfind("GET ", 0) == 0;
    const std::string path = get ? in.substr(4, in.find(' ', 4) - 4) : "";
    std::string body, status = "200 OK", type = "text/plain; version=0.0.4; charset=utf-8";
    if (!get) { status = "405 Method Not Allowed"; body = "GET only\n"; type = "text/plain"; }
    else if (path == "/metrics" || path == "/") body = render_metrics(source_());
    else { status = "404 Not Found"; body = "try /metrics\n"; type = "text/plain"; }
    return "HTTP/1.1 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace haplane::control
