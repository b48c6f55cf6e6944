// The Unix control socket haplanectl talks to. One request per connection:
// a JSON object on one line ({"command": "status"}), answered by one JSON
// document and a newline, then the daemon closes the connection.
#pragma once

#include "control/event_loop.hpp"
#include "control/log.hpp"
#include "control/stream_server.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <optional>

namespace haplane::control {

class ControlSocket {
public:
    using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

    // Creates the parent directory if needed; replaces a stale socket file.
    ControlSocket(EventLoop& loop, Log& log, std::string path, Handler handler);
    ~ControlSocket();
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;

private:
    std::optional<std::string> answer(const std::string& request);

    std::string path_;
    Handler handler_;
    std::optional<StreamServer> server_;
};

} // namespace haplane::control
