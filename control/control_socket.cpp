#include "control/control_socket.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace haplane::control {

namespace {
constexpr size_t MAX_REQUEST = 64 * 1024;
}

ControlSocket::ControlSocket(EventLoop& loop, Log& log, std::string path, Handler handler)
    : loop_(loop), log_(log), path_(std::move(path)), handler_(std::move(handler)) {
    sockaddr_un addr{};
    if (path_.size() >= sizeof addr.sun_path)
        throw std::runtime_error("control socket path too long: " + path_);
    std::error_code ec;
    auto parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    unlink(path_.c_str());
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 16) != 0) {
        int err = errno;
        close(listen_fd_);
        throw std::runtime_error("control socket " + path_ + ": " + std::strerror(err));
    }
    loop_.watch(listen_fd_, EPOLLIN, [this](uint32_t) { accept_clients(); });
}

ControlSocket::~ControlSocket() {
    for (auto& [fd, c] : clients_) {
        loop_.unwatch(fd);
        close(fd);
    }
    loop_.unwatch(listen_fd_);
    close(listen_fd_);
    unlink(path_.c_str());
}

void ControlSocket::accept_clients() {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        clients_[fd] = Client{};
        loop_.watch(fd, EPOLLIN, [this, fd](uint32_t ev) { on_client(fd, ev); });
    }
}

void ControlSocket::drop(int fd) {
    loop_.unwatch(fd);
    close(fd);
    clients_.erase(fd);
}

void ControlSocket::on_client(int fd, uint32_t events) {
    Client& c = clients_.at(fd);
    if (events & EPOLLIN) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0 && c.out.empty()) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) drop(fd);
            return;
        }
        if (n > 0) c.in.append(buf, static_cast<size_t>(n));
        if (c.in.size() > MAX_REQUEST) { drop(fd); return; }
        auto nl = c.in.find('\n');
        if (nl == std::string::npos || !c.out.empty()) return;
        nlohmann::json reply;
        try {
            reply = handler_(nlohmann::json::parse(c.in.substr(0, nl)));
        } catch (const nlohmann::json::exception& e) {
            reply = {{"error", std::string("bad request: ") + e.what()}};
        } catch (const std::exception& e) {
            reply = {{"error", e.what()}};
        }
        c.out = reply.dump() + "\n";
        loop_.modify(fd, EPOLLOUT);
        return;
    }
    if (events & EPOLLOUT) {
        ssize_t n = write(fd, c.out.data() + c.sent, c.out.size() - c.sent);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n > 0) c.sent += static_cast<size_t>(n);
        if (n < 0 || c.sent == c.out.size()) drop(fd);
        return;
    }
    drop(fd);   // hang-up or error
}

} // namespace haplane::control
