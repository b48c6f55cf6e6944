#include "control/check_probe.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <atomic>
#include <pthread.h>
#include <sys/eventfd.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace haplane::control::check {

using namespace std::chrono_literals;
using Duration = std::chrono::nanoseconds;

Target check_target(const config::VirtualServer& vs, const config::RealServer& rs) {
    Target t;
    const config::HealthCheck* hc = rs.check ? &*rs.check : nullptr;
    t.address = hc && hc->connect_ip ? *hc->connect_ip : rs.address;
    t.port = hc && hc->connect_port ? *hc->connect_port : rs.port ? rs.port : vs.port;
    t.protocol = hc && hc->type == config::HealthCheck::Type::udp ? config::Protocol::udp
                                                                  : config::Protocol::tcp;
    return t;
}

namespace {

socklen_t make_sockaddr(const Target& t, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (t.address.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(t.port);
        std::memcpy(&sin->sin_addr, t.address.bytes.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(t.port);
    std::memcpy(&sin6->sin6_addr, t.address.bytes.data(), 16);
    return sizeof(sockaddr_in6);
}

Attempt failure(std::string reason, std::string message) {
    Attempt a;
    a.success = false;
    a.reason = std::move(reason);
    a.message = std::move(message);
    return a;
}

// A socket, a watch and a deadline; the subclasses say what to do with them.
class SocketProbe : public Probe {
public:
    SocketProbe(EventLoop& loop, const Target& target, Duration timeout)
        : loop_(loop), target_(target), label_(target.label()), timeout_(timeout) {}
    ~SocketProbe() override { cleanup(); }

    void cancel() override {
        cleanup();
        done_ = nullptr;
    }

protected:
    // Opens a non-blocking socket and starts connecting. Returns 0 when
    // connected already, EINPROGRESS when under way, or the error.
    int open_and_connect(int type) {
        sockaddr_storage ss;
        const socklen_t len = make_sockaddr(target_, ss);
        fd_ = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return errno;
        if (connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0) return 0;
        return errno;
    }

    void arm_deadline(std::function<void()> on_timeout) {
        deadline_ = loop_.after(timeout_, [this, on_timeout = std::move(on_timeout)] {
            deadline_ = 0;
            on_timeout();
        });
    }

    void watch(uint32_t events, std::function<void(uint32_t)> cb) {
        if (watching_) {
            loop_.modify(fd_, events);
            handler_ = std::move(cb);
            return;
        }
        handler_ = std::move(cb);
        watching_ = true;
        loop_.watch(fd_, events, [this](uint32_t ev) {
            auto h = handler_;   // may replace itself
            h(ev);
        });
    }

    // The attempt is over: release everything, then report.
    void finish(Attempt a) {
        cleanup();
        auto done = std::move(done_);
        done_ = nullptr;
        if (done) done(std::move(a));
    }
    // From start(): report from the loop, not from inside start().
    void finish_later(Attempt a) {
        later_ = loop_.after(0ns, [this, a = std::move(a)]() mutable {
            later_ = 0;
            finish(std::move(a));
        });
    }

    void close_socket() {
        if (fd_ >= 0) {
            if (watching_) loop_.unwatch(fd_);
            close(fd_);
        }
        fd_ = -1;
        watching_ = false;
    }

    void cleanup() {
        close_socket();
        if (deadline_) loop_.cancel(deadline_);
        if (later_) loop_.cancel(later_);
        deadline_ = later_ = 0;
        release_extra();
    }
    // What a subclass holds besides the socket (its destructor must call it too).
    virtual void release_extra() {}

    // A writable event may be stale (the loop's batch can hold one for an
    // earlier socket that had this fd number): connected for real?
    bool really_connected() const {
        sockaddr_storage ss;
        socklen_t len = sizeof ss;
        return getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
    }

    int socket_error() const {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
        return err;
    }

    EventLoop& loop_;
    Target target_;
    std::string label_;
    Duration timeout_;
    Done done_;
    int fd_ = -1;
    bool watching_ = false;
    std::function<void(uint32_t)> handler_;
    EventLoop::TimerId deadline_ = 0;
    EventLoop::TimerId later_ = 0;
};

// ---- tcp ------------------------------------------------------------------------
class TcpProbe final : public SocketProbe {
public:
    using SocketProbe::SocketProbe;

    void start(Done done) override {
        cleanup();
        done_ = std::move(done);
        if (target_.port == 0) return finish_later(no_port());
        const int rc = open_and_connect(SOCK_STREAM);
        if (rc == 0) return finish_later(Attempt{true, "connected", {}, {}, {}});
        if (rc != EINPROGRESS) return finish_later(failed(rc));
        arm_deadline([this] {
            finish(failure("timeout", fmt::format("TCP connection to {} timedout.", label_)));
        });
        watch(EPOLLOUT, [this](uint32_t) {
            const int err = socket_error();
            if (err) return finish(failed(err));
            if (!really_connected()) return;   // still connecting
            finish(Attempt{true, "connected", {}, {}, {}});
        });
    }

private:
    Attempt failed(int err) {
        return failure(std::strerror(err), fmt::format("TCP connection to {} failed.", label_));
    }
    Attempt no_port() {
        return failure("no port to connect to",
                       fmt::format("TCP connection to {} failed: no port (set connect_port).", label_));
    }
};

// ---- body_regex off the control thread --------------------------------------------------
// std::regex may need a deep stack and quadratic time: the search runs on a
// detached helper thread and its result comes back through an eventfd. An
// abandoned search (timeout, cancel) finishes on its own and frees itself.
struct RegexSearch {
    std::string text;
    std::shared_ptr<const std::regex> re;
    std::atomic<bool> finished{false};
    bool matched = false;
    int efd = -1;

    ~RegexSearch() {
        if (efd >= 0) close(efd);
    }

    static std::shared_ptr<RegexSearch> start(std::string text, std::shared_ptr<const std::regex> re) {
        auto job = std::make_shared<RegexSearch>();
        job->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (job->efd < 0) return nullptr;
        job->text = std::move(text);
        job->re = std::move(re);
        auto* arg = new std::shared_ptr<RegexSearch>(job);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, regex_stack_size(job->text.size()));
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t thread;
        const int rc = pthread_create(&thread, &attr, run, arg);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            delete arg;
            return nullptr;
        }
        return job;
    }

    static void* run(void* arg) {
        std::unique_ptr<std::shared_ptr<RegexSearch>> holder(static_cast<std::shared_ptr<RegexSearch>*>(arg));
        RegexSearch& job = **holder;
        job.matched = regex_search_safe(job.text, *job.re);
        job.finished.store(true, std::memory_order_release);
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t n = write(job.efd, &one, sizeof one);
        return nullptr;
    }
};

// ---- http -----------------------------------------------------------------------
class HttpProbe final : public SocketProbe {
public:
    HttpProbe(EventLoop& loop, const Target& target, const config::HealthCheck& hc)
        : SocketProbe(loop, target, hc.timeout),
          request_(http_request(hc.path, hc.host ? *hc.host : default_host_header(target.address, target.port))),
          ranges_(parse_status_ranges(hc.status).value_or(std::vector<StatusRange>{{200, 299}})) {
        if (hc.body_regex) {
            try {
                regex_ = std::make_shared<const std::regex>(*hc.body_regex, std::regex::ECMAScript);
            } catch (const std::regex_error&) {
                bad_regex_ = true;   // the validator refuses these; be safe anyway
            }
        }
    }

    ~HttpProbe() override { release_extra(); }

    void start(Done done) override {
        cleanup();
        done_ = std::move(done);
        response_ = HttpResponse();
        sent_ = 0;
        connected_ = false;
        if (target_.port == 0)
            return finish_later(failure("no port to connect to",
                                        fmt::format("Error connecting server {}: no port (set connect_port).", label_)));
        const int rc = open_and_connect(SOCK_STREAM);
        if (rc != 0 && rc != EINPROGRESS)
            return finish_later(failure(std::strerror(rc), fmt::format("Error connecting server {}.", label_)));
        arm_deadline([this] {
            if (!connected_)
                finish(failure("connect timeout", fmt::format("Timeout connecting server {}.", label_)));
            else if (regex_watch_)
                finish(failure("body_regex timeout", fmt::format("Timeout body_regex on server {}.", label_)));
            else
                finish(failure("read timeout", fmt::format("Timeout WEB read server {}.", label_)));
        });
        watch(EPOLLOUT, [this](uint32_t ev) { on_writable(ev); });
    }

private:
    bool want_body() const { return regex_ != nullptr || bad_regex_; }

    void on_writable(uint32_t) {
        if (!connected_) {
            const int err = socket_error();
            if (err) return finish(failure(std::strerror(err), fmt::format("Error connecting server {}.", label_)));
            if (!really_connected()) return;   // still connecting
            connected_ = true;
        }
        while (sent_ < request_.size()) {
            const ssize_t n = send(fd_, request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;   // wait for EPOLLOUT again
                if (errno == EINTR) continue;
                return finish(failure(std::strerror(errno),
                                      fmt::format("Cannot send get request to server {}.", label_)));
            }
            sent_ += static_cast<size_t>(n);
        }
        watch(EPOLLIN, [this](uint32_t ev) { on_readable(ev); });
    }

    void on_readable(uint32_t) {
        char buf[16384];
        for (;;) {
            const ssize_t n = recv(fd_, buf, sizeof buf, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                if (errno == EINTR) continue;
                return finish(failure(std::strerror(errno),
                                      fmt::format("Read error with server {}: {}", label_, std::strerror(errno))));
            }
            const auto state = n == 0 ? response_.eof(want_body())
                                      : response_.feed(std::string_view(buf, static_cast<size_t>(n)), want_body());
            if (state == HttpResponse::State::need_more) {
                if (n == 0) return;   // cannot happen: eof() always decides
                continue;
            }
            return judge(state);
        }
    }

    void judge(HttpResponse::State state) {
        if (state == HttpResponse::State::error) {
            if (response_.error() == "no data received")
                return finish(failure("no data", fmt::format("Read, no data received from server {}.", label_)));
            return finish(failure(response_.error(),
                                  fmt::format("Invalid HTTP response from server {}: {}.", label_, response_.error())));
        }
        const unsigned code = response_.status();
        if (!status_matches(ranges_, code)) {
            Attempt a = failure(fmt::format("status {}", code),
                                fmt::format("HTTP status code error to {} url(1), status_code [{}].", label_, code));
            a.http_status = code;
            return finish(std::move(a));
        }
        if (bad_regex_) return finish(mismatch(code));
        if (!regex_) return finish(Attempt{true, fmt::format("status {}", code), {}, {}, code});
        // The body goes to a helper thread; the deadline still holds.
        close_socket();
        if (job_ && !job_->finished.load(std::memory_order_acquire))
            return finish(failure("body_regex still running",
                                  fmt::format("body_regex on server {} still running from an earlier check.", label_)));
        job_ = RegexSearch::start(response_.body(), regex_);
        if (!job_) return finish(failure("body_regex not started", "Cannot start a body_regex search thread."));
        regex_status_ = code;
        regex_watch_ = true;
        loop_.watch(job_->efd, EPOLLIN, [this](uint32_t) { on_regex_done(); });
    }

    void on_regex_done() {
        uint64_t v;
        [[maybe_unused]] ssize_t n = read(job_->efd, &v, sizeof v);
        if (!job_->finished.load(std::memory_order_acquire)) return;
        const bool matched = job_->matched;
        const unsigned code = regex_status_;
        if (matched) return finish(Attempt{true, fmt::format("status {}", code), {}, {}, code});
        finish(mismatch(code));
    }

    Attempt mismatch(unsigned code) const {
        Attempt a = failure("body_regex mismatch",
                            fmt::format("HTTP body_regex mismatch to {} url(1), status_code [{}].", label_, code));
        a.http_status = code;
        return a;
    }

    void release_extra() override {
        if (regex_watch_ && job_) loop_.unwatch(job_->efd);
        regex_watch_ = false;
    }

    std::string request_;
    std::vector<StatusRange> ranges_;
    std::shared_ptr<const std::regex> regex_;
    bool bad_regex_ = false;
    std::shared_ptr<RegexSearch> job_;   // kept after the attempt: one search at a time
    bool regex_watch_ = false;
    unsigned regex_status_ = 0;
    HttpResponse response_;
    size_t sent_ = 0;
    bool connected_ = false;
};

// ---- udp ------------------------------------------------------------------------
class UdpProbe final : public SocketProbe {
public:
    UdpProbe(EventLoop& loop, const Target& target, const config::HealthCheck& hc)
        : SocketProbe(loop, target, hc.timeout), payload_(hc.payload.value_or("")), expect_(hc.expect) {}

    void start(Done done) override {
        cleanup();
        done_ = std::move(done);
        if (target_.port == 0)
            return finish_later(failure("no port",
                                        fmt::format("UDP connection to {} failed: no port (set connect_port).", label_)));
        int rc = open_and_connect(SOCK_DGRAM);
        if (rc != 0) return finish_later(failed(rc));
        if (send(fd_, payload_.data(), payload_.size(), MSG_NOSIGNAL) < 0) return finish_later(failed(errno));
        arm_deadline([this] {
            finish(failure("no reply", fmt::format("UDP connection to {} timedout.", label_)));
        });
        watch(EPOLLIN, [this](uint32_t) { on_readable(); });
    }

private:
    Attempt failed(int err) {
        return failure(err == ECONNREFUSED ? "port unreachable" : std::strerror(err),
                       fmt::format("UDP connection to {} failed.", label_));
    }

    void on_readable() {
        char buf[65536];
        for (;;) {
            const ssize_t n = recv(fd_, buf, sizeof buf, 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                return finish(failed(errno));   // ECONNREFUSED: ICMP port unreachable
            }
            const std::string_view reply(buf, static_cast<size_t>(n));
            if (expect_ && reply.find(*expect_) == reply.npos)
                return finish(failure("reply mismatch", fmt::format("UDP check to {} reply data mismatch.", label_)));
            return finish(Attempt{true, "reply", {}, {}, {}});
        }
    }

    std::string payload_;
    std::optional<std::string> expect_;
};

// ---- script ------------------------------------------------------------------
class ScriptProbe final : public Probe {
public:
    ScriptProbe(ScriptRunner& runner, const config::HealthCheck& hc, const ProbeContext& ctx)
        : runner_(runner), script_(hc.script.value_or("")), timeout_(hc.timeout),
          who_(fmt::format("Misc check for [{} VS {}] by [{}]", ctx.rs_label, ctx.vs_label, script_)) {}
    ~ScriptProbe() override { cancel(); }

    void start(Done done) override {
        cancel();
        done_ = std::move(done);
        id_ = runner_.run(script_, timeout_, [this](const ExitResult& r) {
            id_.reset();
            auto done = std::move(done_);
            done_ = nullptr;
            if (done) done(judge(r));
        });
    }

    void cancel() override {
        if (id_) runner_.cancel(*id_);
        id_.reset();
        done_ = nullptr;
    }

private:
    Attempt judge(const ExitResult& r) const {
        const ScriptVerdict v = script_verdict(r);
        Attempt a;
        a.success = v.up;
        a.weight = v.weight;
        a.reason = r.describe();
        if (!v.up)
            a.message = r.timed_out ? who_ + " timed out" : who_ + " failed: " + r.describe() + ".";
        return a;
    }

    ScriptRunner& runner_;
    std::string script_;
    Duration timeout_;
    std::string who_;
    Done done_;
    std::optional<ScriptRunner::Id> id_;
};

} // namespace

std::unique_ptr<Probe> make_probe(EventLoop& loop, ScriptRunner& runner, const config::HealthCheck& check,
                                  const ProbeContext& context) {
    switch (check.type) {
    case config::HealthCheck::Type::tcp: return std::make_unique<TcpProbe>(loop, context.target, check.timeout);
    case config::HealthCheck::Type::http: return std::make_unique<HttpProbe>(loop, context.target, check);
    case config::HealthCheck::Type::udp: return std::make_unique<UdpProbe>(loop, context.target, check);
    case config::HealthCheck::Type::script: return std::make_unique<ScriptProbe>(runner, check, context);
    }
    return nullptr;
}

} // namespace haplane::control::check
