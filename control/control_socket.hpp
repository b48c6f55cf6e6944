// The Unix control socket haplanectl talks to. One request per connection:
// a JSON object on one line ({"command": "status"}), answered by one JSON
// document and a newline, then the daemon closes the connection.
#pragma once

#include "control/event_loop.hpp"
#include "control/log.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <unordered_map>

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
    struct Client { std::string in, out; size_t sent = 0; };
    void accept_clients();
    void on_client(int fd, uint32_t events);
    void drop(int fd);

    EventLoop& loop_;
    Log& log_;
    std::string path_;
    Handler handler_;
    int listen_fd_ = -1;
    std::unordered_map<int, Client> clients_;
};

} // namespace haplane::control
