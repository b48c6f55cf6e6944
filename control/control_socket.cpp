#include "control/control_socket.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace haplane::control {

namespace {
constexpr size_t MAX_REQUEST = 64 * 1024;
}

ControlSocket::ControlSocket(EventLoop& loop, Log&, std::string path, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
    sockaddr_un addr{};
    if (path_.size() >= sizeof addr.sun_path)
        throw std::runtime_error("control socket path too long: " + path_);
    std::error_code ec;
    auto parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    unlink(path_.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 16) != 0) {
        int err = errno;
        close(fd);
        throw std::runtime_error("control socket " + path_ + ": " + std::strerror(err));
    }
    server_.emplace(loop, fd, MAX_REQUEST, [this](const std::string& in) { return answer(in); });
}

ControlSocket::~ControlSocket() {
    server_.reset();
    unlink(path_.c_str());
}

// One JSON object on one line in, one JSON document and a newline out.
std::optional<std::string> ControlSocket::answer(const std::string& in) {
    auto nl = in.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    nlohmann::json reply;
    try {
        reply = handler_(nlohmann::json::parse(in.substr(0, nl)));
    } catch (const nlohmann::json::exception& e) {
        reply = {{"error", std::string("bad request: ") + e.what()}};
    } catch (const std::exception& e) {
        reply = {{"error", e.what()}};
    }
    return reply.dump() + "\n";
}

} // namespace haplane::control
