// One request, one answer, per connection, on the control thread's event
// loop: what both the control socket and the metrics endpoint are. The
// owner supplies the listening socket and how to answer a request.
#pragma once

#include "control/event_loop.hpp"

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace haplane::control {

class StreamServer {
public:
    // Given everything read so far: the answer once the request is complete,
    // nullopt while more is needed.
    using Respond = std::function<std::optional<std::string>(const std::string& request)>;

    // Takes ownership of `listen_fd` (bound, listening, non-blocking).
    StreamServer(EventLoop& loop, int listen_fd, size_t max_request, Respond respond);
    ~StreamServer();
    StreamServer(const StreamServer&) = delete;
    StreamServer& operator=(const StreamServer&) = delete;

private:
    struct Client { std::string in, out; size_t sent = 0; };
    void accept_clients();
    void on_client(int fd, uint32_t events);
    void drop(int fd);

    EventLoop& loop_;
    int listen_fd_;
    size_t max_request_;
    Respond respond_;
    std::unordered_map<int, Client> clients_;
};

} // namespace haplane::control
