// haplanectl: the operator CLI over the daemon's control socket.
#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <cstring>
#include <iostream>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace po = boost::program_options;
using nlohmann::json;

namespace {

constexpr const char* DEFAULT_SOCKET = "/run/haplane/haplane.sock";

struct CtlError : std::runtime_error { using std::runtime_error::runtime_error; };

json request(const std::string& path, const std::string& command, const json& args = json::object()) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw CtlError(std::string("socket: ") + std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw CtlError("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        close(fd);
        throw CtlError("cannot reach haplane at " + path + ": " + std::strerror(err) +
                       (err == ENOENT || err == ECONNREFUSED ? " (is the daemon running? -s SOCKET names another)" : ""));
    }
    json req = args;
    req["command"] = command;
    std::string line = req.dump() + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        close(fd);
        throw CtlError("cannot send the request to " + path);
    }
    std::string reply;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
    close(fd);
    if (reply.empty()) throw CtlError("haplane closed the connection without answering");
    json doc = json::parse(reply);
    if (doc.contains("error")) throw CtlError(doc["error"].get<std::string>());
    return doc;
}

std::string join(const json& list) {
    std::string out;
    for (const auto& v : list) out += (out.empty() ? "" : ",") + v.get<std::string>();
    return out;
}

std::string text(const json& v) { return v.is_null() ? "-" : v.is_string() ? v.get<std::string>() : v.dump(); }

void print_vrrp(const json& doc) {
    fmt::print("{:<16} {:<7} {:>4} {:>4} {:>9} {:<8} {:<16} {}\n", "INSTANCE", "STATE", "VRID", "PRIO",
               "EFFECTIVE", "PORT", "MASTER", "VIPS");
    for (const auto& v : doc["vrrp"])
        fmt::print("{:<16} {:<7} {:>4} {:>4} {:>9} {:<8} {:<16} {}\n", text(v["name"]), text(v["state"]),
                   text(v["vrid"]), text(v["priority"]), text(v["effective_priority"]), text(v["port"]),
                   text(v["master_ip"]), join(v["vips"]));
}

std::string endpoint(const json& address, const json& port) {
    std::string a = address.get<std::string>();
    if (a.find(':') != std::string::npos) a = "[" + a + "]";
    return a + ":" + text(port);
}

uint64_t count(const json& o, const char* key, const char* fallback = nullptr) {
    if (o.contains(key) && o[key].is_number()) return o[key].get<uint64_t>();
    if (fallback && o.contains(fallback) && o[fallback].is_number()) return o[fallback].get<uint64_t>();
    return 0;
}

std::string proto_upper(const json& vs) {
    std::string p = text(vs["protocol"]);
    for (auto& c : p) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return p;
}

// Like `ipvsadm -Ln --stats`, with ipvsadm -Ln's ActiveConn / InActConn
// (flows now) before the totals since start (or since `stats --clear`).
// Service and server rows share the columns from Conns on.
void print_services(const json& doc) {
    // ipvsadm's "(size=...)" line: how full the connection tables are.
    if (doc.contains("lb") && doc["lb"].contains("connection_table")) {
        const json& t = doc["lb"]["connection_table"];
        uint64_t capacity = 0;
        for (const auto& w : t.value("workers", json::array())) capacity += count(w, "capacity");
        fmt::print("haplane load balancer: {} connection entries of {} ({} worker(s))\n", count(t, "entries"), capacity,
                   t.value("workers", json::array()).size());
    }
    constexpr auto row = "{:<4} {:<28} {:<6} {:<6} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}\n";
    constexpr auto server_row = "  -> {:<28} {:>6} {:<6} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}\n";
    fmt::print(row, "Prot", "LocalAddress:Port", "Sched", "Method", "ActConn", "InActConn", "Conns", "InPkts",
               "OutPkts", "InBytes", "OutBytes");
    fmt::print("  -> {:<28} {:>6} {}\n", "RemoteAddress:Port", "Weight", "Health");
    auto server = [&](const json& rs, const json& weight, const char* health) {
        fmt::print(server_row, endpoint(rs["address"], rs["port"]), text(weight), health,
                   count(rs, "active_connections"), count(rs, "inactive_connections"),
                   count(rs, "connections", "active_connections"), count(rs, "in_packets", "packets"),
                   count(rs, "out_packets"), count(rs, "in_bytes", "bytes"), count(rs, "out_bytes"));
    };
    for (const auto& vs : doc["virtual_servers"]) {
        fmt::print(row, proto_upper(vs), endpoint(vs["vip"], vs["port"]), text(vs["scheduler"]), text(vs["method"]),
                   count(vs, "active_connections"), count(vs, "inactive_connections"),
                   count(vs, "connections", "active_connections"), count(vs, "in_packets", "packets"),
                   count(vs, "out_packets"), count(vs, "in_bytes", "bytes"), count(vs, "out_bytes"));
        for (const auto& rs : vs["real_servers"]) server(rs, rs["weight"], rs.value("healthy", true) ? "up" : "down");
        // The sorry server: taking the new connections while the quorum is lost.
        if (vs.contains("sorry_server")) {
            const auto& ss = vs["sorry_server"];
            const bool active = ss.value("active", false);
            server(ss, json(active ? 1 : 0), active ? "sorry" : "spare");
        }
    }
}

// Like `ipvsadm -Ln --rate`: per-second rates between two samples.
void print_rates(const json& a, const json& b, double seconds) {
    auto rate = [seconds](const json& x, const json& y, const char* k, const char* fb = nullptr) {
        return static_cast<uint64_t>(static_cast<double>(count(y, k, fb) - std::min(count(y, k, fb), count(x, k, fb))) / seconds);
    };
    fmt::print("Prot LocalAddress:Port\n  -> RemoteAddress:Port                CPS    InPPS   OutPPS    InBPS   OutBPS\n");
    const auto& before = a["virtual_servers"];
    const auto& after = b["virtual_servers"];
    for (size_t i = 0; i < after.size() && i < before.size(); ++i) {
        const auto &x = before[i], &y = after[i];
        fmt::print("{:<4} {:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n", proto_upper(y), endpoint(y["vip"], y["port"]),
                   rate(x, y, "connections"), rate(x, y, "in_packets", "packets"), rate(x, y, "out_packets"),
                   rate(x, y, "in_bytes", "bytes"), rate(x, y, "out_bytes"));
        for (size_t r = 0; r < y["real_servers"].size() && r < x["real_servers"].size(); ++r) {
            const auto &rx = x["real_servers"][r], &ry = y["real_servers"][r];
            fmt::print("  -> {:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n", endpoint(ry["address"], ry["port"]),
                       rate(rx, ry, "connections"), rate(rx, ry, "in_packets", "packets"), rate(rx, ry, "out_packets"),
                       rate(rx, ry, "in_bytes", "bytes"), rate(rx, ry, "out_bytes"));
        }
    }
}

// A table row without the blanks an empty last column leaves.
void print_row(std::string line) {
    line.erase(line.find_last_not_of(' ') + 1);
    std::cout << line << "\n";
}

// Like `ipvsadm -Lnc`: one line per connection (fnat: the local address
// the server sees it come from, last).
void print_connections(const json& doc) {
    constexpr auto row = "{:<3} {:>6} {:<11} {:<30} {:<30} {:<30} {}";
    print_row(fmt::format(row, "pro", "expire", "state", "source", "virtual", "destination", "local"));
    for (const auto& c : doc["connections"]) {
        const uint64_t s = count(c, "expires_s");
        print_row(fmt::format(row, text(c["protocol"]), fmt::format("{:02}:{:02}", s / 60, s % 60), text(c["state"]),
                              endpoint(c["client"], c["client_port"]), endpoint(c["vip"], c["vip_port"]),
                              endpoint(c["real_server"], c["real_port"]),
                              c.contains("local_address") ? endpoint(c["local_address"], c["local_port"]) : ""));
    }
    if (doc.value("truncated", false)) std::cout << "(more not shown: --limit N)\n";
    for (const auto& w : doc.value("unanswered", json::array())) std::cout << "(worker " << text(w) << " did not answer)\n";
}

void print_ports(const json& doc) {
    fmt::print("{:<10} {:<17} {:<4} {:>12} {:>12} {:>10} {:>10}\n", "PORT", "MAC", "LINK", "RX", "TX",
               "RX-DROP", "TX-DROP");
    for (const auto& p : doc["ports"])
        fmt::print("{:<10} {:<17} {:<4} {:>12} {:>12} {:>10} {:>10}\n", text(p["name"]), text(p["mac"]),
                   p.value("link_up", false) ? "up" : "down", text(p["rx_packets"]), text(p["tx_packets"]),
                   text(p["rx_dropped"]), text(p["tx_dropped"]));
}

} // namespace

int main(int argc, char** argv) {
    po::options_description desc(
        "Usage: haplanectl [-s SOCKET] COMMAND [--json]\n"
        "Commands: status, vrrp, services [--rate], connections [--limit N], reload, stats --clear\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("socket,s", po::value<std::string>()->default_value(DEFAULT_SOCKET), "the daemon's control socket")
        ("json", "print JSON instead of tables")
        ("rate", "services: per-second rates over one second (like ipvsadm --rate)")
        ("clear", "stats: zero the counters")
        ("limit", po::value<size_t>()->default_value(10000), "connections: at most this many (like ipvsadm -Lnc)");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>());
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description positional;
    positional.add("command", 1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "haplanectl: " << e.what() << "\n";
        return 2;
    }
    if (vm.count("help") || !vm.count("command")) {
        std::cout << desc << "\n";
        return vm.count("help") ? 0 : 2;
    }
    const std::string command = vm["command"].as<std::string>();
    const bool as_json = vm.count("json") > 0;
    if (command != "status" && command != "vrrp" && command != "services" && command != "connections" &&
        command != "reload" && command != "stats") {
        std::cerr << "haplanectl: unknown command '" << command << "'\n";
        return 2;
    }
    const std::string socket_path = vm["socket"].as<std::string>();
    try {
        if (command == "stats") {
            if (!vm.count("clear")) {
                std::cerr << "haplanectl: stats takes --clear\n";
                return 2;
            }
            json doc = request(socket_path, "clear_stats");
            if (as_json) std::cout << doc.dump(2) << "\n";
            else std::cout << "counters cleared\n";
            return 0;
        }
        if (command == "services" && vm.count("rate")) {
            json a = request(socket_path, "services");
            auto t0 = std::chrono::steady_clock::now();
            std::this_thread::sleep_for(std::chrono::seconds(1));
            json b = request(socket_path, "services");
            double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (as_json) std::cout << json{{"before", a["virtual_servers"]}, {"after", b["virtual_servers"]},
                                           {"seconds", seconds}}.dump(2) << "\n";
            else print_rates(a, b, seconds);
            return 0;
        }
        if (command == "connections") {
            // The daemon answers in slices (its control thread must not stay
            // away long); each reply says where the next one starts.
            const size_t limit = vm["limit"].as<size_t>();
            json all = {{"connections", json::array()}, {"truncated", false}};
            json args = json::object();
            for (;;) {
                args["limit"] = limit - all["connections"].size();
                json doc = request(socket_path, command, args);
                if (doc.contains("error")) throw CtlError(doc["error"].get<std::string>());
                for (auto& c : doc["connections"]) all["connections"].push_back(std::move(c));
                for (auto& w : doc.value("unanswered", json::array())) all["unanswered"].push_back(w);
                if (!doc.contains("next")) break;
                if (all["connections"].size() >= limit) {
                    all["truncated"] = true;   // more may follow
                    break;
                }
                args["from"] = doc["next"];
            }
            if (as_json) std::cout << all.dump(2) << "\n";
            else print_connections(all);
            return 0;
        }
        json doc = request(socket_path, command);
        if (command == "reload") {
            if (as_json) std::cout << doc.dump(2) << "\n";
            else if (doc.value("ok", false)) std::cout << doc.value("message", std::string("reloaded")) << "\n";
            else for (const auto& e : doc["errors"]) std::cerr << e.get<std::string>() << "\n";
            return doc.value("ok", false) ? 0 : 1;
        }
        if (command == "vrrp") {
            if (as_json) std::cout << json{{"vrrp", doc["vrrp"]}}.dump(2) << "\n";
            else print_vrrp(doc);
        } else if (command == "services") {
            if (as_json) std::cout << json{{"virtual_servers", doc["virtual_servers"]}}.dump(2) << "\n";
            else print_services(doc);
        } else {
            if (as_json) std::cout << doc.dump(2) << "\n";
            else {
                fmt::print("router_id: {}\n\n", text(doc["router_id"]));
                print_vrrp(doc);
                std::cout << "\n";
                print_services(doc);
                std::cout << "\n";
                print_ports(doc);
            }
        }
    } catch (const CtlError& e) {
        std::cerr << "haplanectl: " << e.what() << "\n";
        return 1;
    } catch (const json::exception& e) {
        std::cerr << "haplanectl: bad reply from haplane: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
