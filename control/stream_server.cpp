#include "control/stream_server.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace haplane::control {

StreamServer::StreamServer(EventLoop& loop, int listen_fd, size_t max_request, Respond respond)
    : loop_(loop), listen_fd_(listen_fd), max_request_(max_request), respond_(std::move(respond)) {
    loop_.watch(listen_fd_, EPOLLIN, [this](uint32_t) { accept_clients(); });
}

StreamServer::~StreamServer() {
    for (auto& [fd, c] : clients_) {
        loop_.unwatch(fd);
        close(fd);
    }
    loop_.unwatch(listen_fd_);
    close(listen_fd_);
}

void StreamServer::accept_clients() {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        clients_[fd] = Client{};
        loop_.watch(fd, EPOLLIN, [this, fd](uint32_t ev) { on_client(fd, ev); });
    }
}

void StreamServer::drop(int fd) {
    loop_.unwatch(fd);
    close(fd);
    clients_.erase(fd);
}

void StreamServer::on_client(int fd, uint32_t events) {
    Client& c = clients_.at(fd);
    if (events & EPOLLIN) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) drop(fd);
            return;
        }
        c.in.append(buf, static_cast<size_t>(n));
        if (c.in.size() > max_request_) {
            drop(fd);
            return;
        }
        auto answer = respond_(c.in);
        if (!answer) return;
        c.out = std::move(*answer);
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
