// The Prometheus text endpoint (global.metrics.listen), served by the
// control thread through the kernel (the kernel mirror carries the
// appliance's addresses). The metrics are rendered from the status
// document, so they never disagree with `haplanectl status`.
#pragma once

#include "control/event_loop.hpp"
#include "control/log.hpp"
#include "control/stream_server.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <optional>

namespace haplane::control {

// Prometheus text exposition format 0.0.4 from a status document.
std::string render_metrics(const nlohmann::json& status);

class MetricsServer {
public:
    using Source = std::function<nlohmann::json()>;
    // listen: "ADDR:PORT" or "[ADDR6]:PORT". Throws on a bad address or bind failure.
    MetricsServer(EventLoop& loop, Log& log, const std::string& listen, Source source);
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

private:
    std::optional<std::string> answer(const std::string& request);

    Source source_;
    std::optional<StreamServer> server_;
};

} // namespace haplane::control
