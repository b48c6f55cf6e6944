// haplanectl: the operator CLI over the daemon's control socket.
#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
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

json request(const std::string& path, const std::string& command) {
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
    std::string line = json{{"command", command}}.dump() + "\n";
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

// Like `ipvsadm -Ln --stats`.
void print_services(const json& doc) {
    fmt::print("Prot LocalAddress:Port Scheduler Method\n  -> RemoteAddress:Port       Weight  Healthy  ActiveConn   Packets     Bytes\n");
    for (const auto& vs : doc["virtual_servers"]) {
        std::string proto = vs["protocol"].get<std::string>();
        for (auto& c : proto) c = static_cast<char>(std::toupper(c));
        fmt::print("{:<4} {} {} {}  ActiveConn {} Packets {} Bytes {}\n", proto, endpoint(vs["vip"], vs["port"]),
                   text(vs["scheduler"]), text(vs["method"]), text(vs["active_connections"]),
                   text(vs["packets"]), text(vs["bytes"]));
        for (const auto& rs : vs["real_servers"])
            fmt::print("  -> {:<24} {:>6}  {:<7}  {:>10} {:>9} {:>9}\n", endpoint(rs["address"], rs["port"]),
                       text(rs["weight"]), rs["healthy"].get<bool>() ? "yes" : "no",
                       text(rs["active_connections"]), text(rs["packets"]), text(rs["bytes"]));
    }
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
        "Commands: status, vrrp, services, reload\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("socket,s", po::value<std::string>()->default_value(DEFAULT_SOCKET), "the daemon's control socket")
        ("json", "print JSON instead of tables");
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
    if (command != "status" && command != "vrrp" && command != "services" && command != "reload") {
        std::cerr << "haplanectl: unknown command '" << command << "'\n";
        return 2;
    }
    try {
        json doc = request(vm["socket"].as<std::string>(), command);
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
