// One attempt of a health check, on the EventLoop: a non-blocking TCP
// connect, an HTTP GET, a UDP request/reply, or a script. Each attempt is
// bounded by the check's `timeout`. Sockets bind to nothing special: the
// kernel picks the source (the appliance's own addresses, on its kernel
// mirror).
#pragma once

#include "config/config.hpp"
#include "control/check_logic.hpp"
#include "control/event_loop.hpp"
#include "control/script_runner.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace haplane::control::check {

// Where a check goes: connect_ip / connect_port, defaulting to the real
// server's address and port (the virtual server's port when the real
// server's is 0). port 0: nothing to connect to (a port-0 virtual server
// without connect_port): every attempt fails.
struct Target {
    IpAddress address;
    uint16_t port = 0;
    config::Protocol protocol = config::Protocol::tcp;   // udp for udp checks

    std::string label() const { return format_service(address, port, protocol); }
};
Target check_target(const config::VirtualServer& vs, const config::RealServer& rs);

struct Attempt {
    bool success = false;
    std::string reason;                 // short, for status: "connection refused", "status 500", ...
    std::string message;                // keepalived-style log line about a failure
    std::optional<unsigned> weight;     // script checks: exit 2..255 -> code - 2
    std::optional<unsigned> http_status;
};

class Probe {
public:
    using Done = std::function<void(Attempt)>;
    virtual ~Probe() = default;
    // One attempt; `done` runs later, from the loop (never inside start()).
    virtual void start(Done done) = 0;
    // Abandon the attempt in flight (close its socket, kill its script);
    // `done` will not run.
    virtual void cancel() = 0;
};

struct ProbeContext {
    Target target;
    std::string rs_label;   // "[10.20.0.11]:tcp:80"
    std::string vs_label;   // "[10.10.0.100]:tcp:80"
};

std::unique_ptr<Probe> make_probe(EventLoop& loop, ScriptRunner& runner, const config::HealthCheck& check,
                                  const ProbeContext& context);

} // namespace haplane::control::check
