// Health checks against real servers on 127.0.0.1 with a real EventLoop:
// tcp (listening / closed ports, rise/fall with real timing, retry), http
// (status ranges, Host header, body_regex, python3's http.server, silent
// servers, a slow regex that must not stall the loop), udp (payload/expect,
// ICMP port unreachable, silence), script (exit 0/1/5, timeout), and a whole
// virtual server: notify scripts in order, quorum, sorry server, alpha.
// Every server and process started here is stopped here.
#include "control/check_checker.hpp"
#include "control/check_service.hpp"

#include "check_test_util.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

using namespace haplane;
using namespace haplane::control;
using namespace haplane::control::check;
using namespace check_test;

extern char** environ;

namespace {

IpAddress localhost() { return *IpAddress::parse("127.0.0.1"); }

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

uint16_t bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

// A port nothing listens on (TCP and UDP).
uint16_t closed_port(int type) {
    int fd = socket(AF_INET, type, 0);
    auto a = loopback(0);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    const uint16_t port = bound_port(fd);
    close(fd);
    return port;
}

// A TCP server on the loop: accepts, optionally answers one canned HTTP
// response per connection (after the request's blank line), records requests.
class TcpServer {
public:
    TcpServer(EventLoop& loop, uint16_t port = 0) : loop_(loop) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        auto a = loopback(port);
        if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "bind " << port;
        listen(fd_, 64);
        port_ = bound_port(fd_);
        loop_.watch(fd_, EPOLLIN, [this](uint32_t) { on_accept(); });
    }
    ~TcpServer() {
        for (auto& [fd, buf] : conns_) {
            loop_.unwatch(fd);
            close(fd);
        }
        loop_.unwatch(fd_);
        close(fd_);
    }
    uint16_t port() const { return port_; }
    void set_response(std::string r) { response_ = std::move(r); }   // empty: never answer
    void set_http(unsigned status, const std::string& body) {
        response_ = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n\r\n" + body;
    }
    const std::vector<std::string>& requests() const { return requests_; }
    int accepted() const { return accepted_; }

private:
    void on_accept() {
        for (;;) {
            int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) return;
            ++accepted_;
            conns_[c] = "";
            loop_.watch(c, EPOLLIN, [this, c](uint32_t) { on_data(c); });
        }
    }
    void on_data(int c) {
        char buf[4096];
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) return drop(c);
        std::string& req = conns_[c];
        req.append(buf, static_cast<size_t>(n));
        if (req.find("\r\n\r\n") == std::string::npos) return;
        requests_.push_back(req);
        if (response_.empty()) return;   // silent: keep the connection open
        [[maybe_unused]] ssize_t w = write(c, response_.data(), response_.size());
        drop(c);
    }
    void drop(int c) {
        loop_.unwatch(c);
        close(c);
        conns_.erase(c);
    }

    EventLoop& loop_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::string response_;
    std::map<int, std::string> conns_;
    std::vector<std::string> requests_;
    int accepted_ = 0;
};

// A UDP server on the loop: answers each datagram with `reply` (empty
// optional: echo; "" with silent: no answer).
class UdpServer {
public:
    explicit UdpServer(EventLoop& loop) : loop_(loop) {
        fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        auto a = loopback(0);
        bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        port_ = bound_port(fd_);
        loop_.watch(fd_, EPOLLIN, [this](uint32_t) { on_data(); });
    }
    ~UdpServer() {
        loop_.unwatch(fd_);
        close(fd_);
    }
    uint16_t port() const { return port_; }
    void reply_with(std::optional<std::string> r) { reply_ = std::move(r); }
    void silent(bool s) { silent_ = s; }
    const std::vector<std::string>& received() const { return received_; }

private:
    void on_data() {
        char buf[2048];
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) return;
        received_.emplace_back(buf, static_cast<size_t>(n));
        if (silent_) return;
        const std::string out = reply_ ? *reply_ : received_.back();
        sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }

    EventLoop& loop_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::optional<std::string> reply_;
    bool silent_ = false;
    std::vector<std::string> received_;
};

// One Checker with its state and weight changes recorded.
struct Harness {
    EventLoop loop;
    Log log{true, true, "check-test"};
    ScriptRunner runner{loop};
    std::vector<std::pair<bool, EventLoop::Clock::duration>> states;   // (up, since start)
    std::vector<unsigned> weights;
    EventLoop::Clock::time_point started;
    std::unique_ptr<Checker> checker;

    void start(const config::HealthCheck& hc, uint16_t port, bool alpha = false) {
        Target t{localhost(), port,
                 hc.type == config::HealthCheck::Type::udp ? config::Protocol::udp : config::Protocol::tcp};
        ProbeContext ctx{t, format_service(localhost(), port, config::Protocol::tcp), "[10.10.0.100]:tcp:80"};
        checker = std::make_unique<Checker>(
            loop, log, runner, hc, ctx, alpha,
            [this](bool up) { states.emplace_back(up, EventLoop::Clock::now() - started); },
            [this](unsigned w) { weights.push_back(w); });
        started = EventLoop::Clock::now();
        checker->start(0ms);
    }
    bool wait_state(size_t n, std::chrono::milliseconds max = 3000ms) {
        return run_until(loop, [&] { return states.size() >= n; }, max);
    }
    ~Harness() { checker.reset(); }
};

config::HealthCheck make_check(config::HealthCheck::Type type, std::chrono::milliseconds interval = 50ms,
                               std::chrono::milliseconds timeout = 300ms) {
    config::HealthCheck hc;
    hc.type = type;
    hc.interval = interval;
    hc.timeout = timeout;
    return hc;
}

using Type = config::HealthCheck::Type;

} // namespace

// ---- tcp -------------------------------------------------------------------------

TEST(TcpCheck, UpAgainstAListeningPortDownAgainstAClosedOne) {
    Harness up;
    TcpServer server(up.loop);
    up.start(make_check(Type::tcp), server.port(), /*alpha=*/true);
    ASSERT_TRUE(up.wait_state(1));
    EXPECT_TRUE(up.states[0].first);
    EXPECT_TRUE(up.checker->up());

    Harness down;
    TempDir dir;
    CaptureStderr err(dir.file("log"));
    const uint16_t port = closed_port(SOCK_STREAM);
    down.start(make_check(Type::tcp), port);
    ASSERT_TRUE(down.wait_state(1));
    EXPECT_FALSE(down.states[0].first);
    auto st = down.checker->status();
    EXPECT_EQ(st.last_result, "failure");
    EXPECT_EQ(st.last_reason, "Connection refused");
    EXPECT_TRUE(err.contains("TCP connection to [127.0.0.1]:tcp:" + std::to_string(port) + " failed."));
    EXPECT_TRUE(err.contains("TCP_CHECK on service [127.0.0.1]:tcp:" + std::to_string(port) + " failed."));
}

TEST(TcpCheck, RiseAndFallWithRealTiming) {
    Harness h;
    const uint16_t port = closed_port(SOCK_STREAM);
    auto hc = make_check(Type::tcp, 50ms);
    hc.rise = 3;
    hc.fall = 2;
    h.start(hc, port);
    // Starts UP (no alpha); two failures 50 ms apart take it down.
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_FALSE(h.states[0].first);
    EXPECT_GE(h.states[0].second, 45ms);
    EXPECT_LT(h.states[0].second, 1000ms);
    EXPECT_EQ(h.checker->status().consecutive_failures, 2u);
    // The server appears: three successes bring it back, two intervals later at least.
    const auto before = EventLoop::Clock::now();
    TcpServer server(h.loop, port);
    ASSERT_TRUE(h.wait_state(2));
    EXPECT_TRUE(h.states[1].first);
    EXPECT_GE(EventLoop::Clock::now() - before, 95ms);
    auto st = h.checker->status();
    EXPECT_EQ(st.consecutive_successes, 3u);
    EXPECT_EQ(st.transitions, 2u);
    EXPECT_EQ(st.rise, 3u);
    EXPECT_EQ(st.fall, 2u);
    EXPECT_GE(server.accepted(), 3);
}

TEST(TcpCheck, RetriesBeforeAFailureCounts) {
    Harness h;
    TempDir dir;
    CaptureStderr err(dir.file("log"));
    const uint16_t port = closed_port(SOCK_STREAM);
    auto hc = make_check(Type::tcp, 10000ms);
    hc.retry = 2;
    hc.delay_before_retry = 40ms;
    h.start(hc, port);
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_FALSE(h.states[0].first);
    // Three attempts: the first and two retries, 40 ms apart.
    EXPECT_GE(h.states[0].second, 75ms);
    auto st = h.checker->status();
    EXPECT_EQ(st.attempts, 3u);
    EXPECT_EQ(st.failed_attempts, 3u);
    EXPECT_EQ(st.consecutive_failures, 1u);   // the three attempts were one failure
    EXPECT_TRUE(err.contains("TCP_CHECK on service [127.0.0.1]:tcp:" + std::to_string(port) +
                             " failed after 2 retries."));
    // Once DOWN, no retries: the next attempt is an interval away.
    run_for(h.loop, 150ms);
    EXPECT_EQ(h.checker->status().attempts, 3u);
}

// ---- http -------------------------------------------------------------------------

TEST(HttpCheck, StatusRangesAndTheDefaultHostHeader) {
    Harness h;
    TempDir dir;
    CaptureStderr err(dir.file("log"));
    TcpServer server(h.loop);
    server.set_http(301, "moved");
    auto hc = make_check(Type::http);
    hc.path = "/health?full=1";
    hc.status = "200-299,301";
    h.start(hc, server.port(), /*alpha=*/true);
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_TRUE(h.states[0].first);
    ASSERT_FALSE(server.requests().empty());
    const std::string& req = server.requests().front();
    EXPECT_EQ(req.rfind("GET /health?full=1 HTTP/1.1\r\n", 0), 0u) << req;
    EXPECT_NE(req.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"), std::string::npos) << req;
    EXPECT_NE(req.find("\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_EQ(h.checker->status().last_http_status, 301u);

    server.set_http(500, "oops");
    ASSERT_TRUE(h.wait_state(2));
    EXPECT_FALSE(h.states[1].first);
    const auto label = "[127.0.0.1]:tcp:" + std::to_string(server.port());
    EXPECT_TRUE(err.contains("HTTP status code error to " + label + " url(1), status_code [500]."));
    EXPECT_TRUE(err.contains("HTTP_CHECK on service " + label + " failed."));
    EXPECT_TRUE(err.contains("HTTP status code success to " + label + " url(1)."));
    EXPECT_EQ(h.checker->status().last_reason, "status 500");
}

TEST(HttpCheck, HostHeaderAndBodyRegex) {
    Harness h;
    TcpServer server(h.loop);
    server.set_http(200, "{\"db\": \"up\",\n \"status\":   \"ok\"}");
    auto hc = make_check(Type::http);
    hc.host = "www.example.org";
    hc.body_regex = "\"status\":\\s*\"ok\"";
    h.start(hc, server.port(), /*alpha=*/true);
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_TRUE(h.states[0].first);
    EXPECT_NE(server.requests().front().find("\r\nHost: www.example.org\r\n"), std::string::npos);

    server.set_http(200, "{\"status\": \"degraded\"}");   // right status, wrong body
    ASSERT_TRUE(h.wait_state(2));
    EXPECT_FALSE(h.states[1].first);
    EXPECT_EQ(h.checker->status().last_reason, "body_regex mismatch");

    // Chunked bodies are decoded before matching.
    server.set_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "9\r\n{\"status\"\r\n7\r\n: \"ok\"}\r\n0\r\n\r\n");
    ASSERT_TRUE(h.wait_state(3));
    EXPECT_TRUE(h.states[2].first);
}

TEST(HttpCheck, AgainstPythonsHttpServer) {
    TempDir dir;
    {
        std::ofstream(dir.file("health")) << "service: ok\n";
    }
    const uint16_t port = closed_port(SOCK_STREAM);
    const std::string port_s = std::to_string(port), dir_s = dir.path.string();
    std::vector<const char*> argv{"python3", "-m", "http.server", port_s.c_str(), "--bind", "127.0.0.1",
                                  "--directory", dir_s.c_str(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    ASSERT_EQ(posix_spawnp(&pid, "python3", &fa, nullptr, const_cast<char**>(argv.data()), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    struct Reap {
        pid_t pid;
        ~Reap() {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    } reap{pid};
    // Wait until it listens.
    bool listening = false;
    for (int i = 0; i < 500 && !listening; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        auto a = loopback(port);
        listening = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        close(fd);
        if (!listening) usleep(10000);
    }
    ASSERT_TRUE(listening) << "python3 -m http.server did not start";

    Harness ok;
    auto hc = make_check(Type::http, 50ms, 1000ms);
    hc.path = "/health";
    hc.body_regex = "service: ok";
    ok.start(hc, port, /*alpha=*/true);
    ASSERT_TRUE(ok.wait_state(1));
    EXPECT_TRUE(ok.states[0].first);

    Harness missing;
    hc.path = "/missing";
    hc.body_regex.reset();
    missing.start(hc, port);
    ASSERT_TRUE(missing.wait_state(1));
    EXPECT_FALSE(missing.states[0].first);
    EXPECT_EQ(missing.checker->status().last_http_status, 404u);
}

TEST(HttpCheck, ASilentServerTimesOut) {
    Harness h;
    TempDir dir;
    CaptureStderr err(dir.file("log"));
    TcpServer server(h.loop);   // accepts, reads, never answers
    h.start(make_check(Type::http, 50ms, 150ms), server.port());
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_FALSE(h.states[0].first);
    EXPECT_GE(h.states[0].second, 145ms);
    EXPECT_EQ(h.checker->status().last_reason, "read timeout");
    EXPECT_TRUE(err.contains("Timeout WEB read server [127.0.0.1]:tcp:" + std::to_string(server.port()) + "."));
}

TEST(HttpCheck, ASlowBodyRegexNeverStallsTheLoop) {
    Harness h;
    TcpServer server(h.loop);
    // std::regex takes about a second on this miss (quadratic); the check
    // gives up at its timeout while the loop keeps ticking.
    server.set_http(200, std::string(5000, 'a'));
    auto hc = make_check(Type::http, 10000ms, 150ms);
    hc.body_regex = "(a|b)*ko";
    EventLoop::Clock::duration worst_gap{};
    auto last = EventLoop::Clock::now();
    std::function<void()> tick = [&] {
        const auto now = EventLoop::Clock::now();
        worst_gap = std::max(worst_gap, now - last);
        last = now;
        h.loop.after(5ms, tick);
    };
    h.loop.after(5ms, tick);
    h.start(hc, server.port());
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_FALSE(h.states[0].first);
    EXPECT_EQ(h.checker->status().last_reason, "body_regex timeout");
    EXPECT_LT(worst_gap, 100ms);
}

// ---- udp -------------------------------------------------------------------------

TEST(UdpCheck, PayloadAndExpectedReply) {
    Harness h;
    TempDir dir;
    CaptureStderr err(dir.file("log"));
    UdpServer server(h.loop);
    server.reply_with(std::string("pong 42"));
    auto hc = make_check(Type::udp);
    hc.payload = "ping";
    hc.expect = "pong";
    h.start(hc, server.port(), /*alpha=*/true);
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_TRUE(h.states[0].first);
    EXPECT_EQ(server.received().front(), "ping");

    server.reply_with(std::string("pang"));
    ASSERT_TRUE(h.wait_state(2));
    EXPECT_FALSE(h.states[1].first);
    EXPECT_EQ(h.checker->status().last_reason, "reply mismatch");
    EXPECT_TRUE(err.contains("UDP check to [127.0.0.1]:udp:" + std::to_string(server.port()) + " reply data mismatch."));
    EXPECT_TRUE(err.contains("UDP_CHECK on service [127.0.0.1]:udp:" + std::to_string(server.port()) + " failed."));
}

TEST(UdpCheck, AnyReplyWithoutExpectAndAnEmptyDefaultPayload) {
    Harness h;
    UdpServer server(h.loop);   // echoes
    h.start(make_check(Type::udp), server.port(), /*alpha=*/true);
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_TRUE(h.states[0].first);
    EXPECT_EQ(server.received().front(), "");
}

TEST(UdpCheck, PortUnreachableFailsWithoutWaitingForTheTimeout) {
    Harness h;
    h.start(make_check(Type::udp, 50ms, 2000ms), closed_port(SOCK_DGRAM));
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_FALSE(h.states[0].first);
    EXPECT_LT(h.states[0].second, 500ms);
    EXPECT_EQ(h.checker->status().last_reason, "port unreachable");
}

TEST(UdpCheck, SilenceIsAFailureAtTheTimeout) {
    Harness h;
    UdpServer server(h.loop);
    server.silent(true);
    h.start(make_check(Type::udp, 50ms, 120ms), server.port());
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_FALSE(h.states[0].first);
    EXPECT_GE(h.states[0].second, 115ms);
    EXPECT_EQ(h.checker->status().last_reason, "no reply");
}

// ---- script ---------------------------------------------------------------------------

TEST(ScriptCheck, ExitCodesAndDynamicWeight) {
    Harness h;
    TempDir dir;
    CaptureStderr err(dir.file("log"));
    const auto code = dir.file("code");
    std::ofstream(code) << "0";
    auto hc = make_check(Type::script, 30ms, 2000ms);
    hc.script = "exit $(cat " + code + ")";
    h.start(hc, 80, /*alpha=*/true);
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_TRUE(h.states[0].first);   // exit 0
    EXPECT_TRUE(h.weights.empty());

    std::ofstream(code) << "1";
    ASSERT_TRUE(h.wait_state(2));
    EXPECT_FALSE(h.states[1].first);  // exit 1

    std::ofstream(code) << "5";
    ASSERT_TRUE(h.wait_state(3));
    EXPECT_TRUE(h.states[2].first);   // exit 5: up, weight 3
    EXPECT_EQ(h.weights, (std::vector<unsigned>{3}));
    EXPECT_EQ(h.checker->status().dynamic_weight, 3u);
    run_for(h.loop, 100ms);
    EXPECT_EQ(h.weights.size(), 1u);  // the same weight again is no news
    const std::string who = "Misc check for [[127.0.0.1]:tcp:80 VS [10.10.0.100]:tcp:80] by [" + *hc.script + "]";
    EXPECT_TRUE(err.contains(who + " succeeded."));
    EXPECT_TRUE(err.contains(who + " failed."));
}

TEST(ScriptCheck, TimeoutKillsTheScriptAndCountsAsDown) {
    Harness h;
    TempDir dir;
    auto hc = make_check(Type::script, 10000ms, 200ms);
    hc.script = "echo $$ > " + dir.file("pid") + "; exec sleep 10";
    h.start(hc, 80);
    ASSERT_TRUE(h.wait_state(1));
    EXPECT_FALSE(h.states[0].first);
    EXPECT_GE(h.states[0].second, 195ms);
    EXPECT_LT(h.states[0].second, 1500ms);
    EXPECT_EQ(h.checker->status().last_reason, "timed out");
    EXPECT_EQ(h.runner.running(), 0u);
    const std::string pid = read_file(dir.file("pid"));
    ASSERT_FALSE(pid.empty());
    EXPECT_TRUE(read_file("/proc/" + std::to_string(std::stoi(pid)) + "/stat").empty());
}

TEST(ScriptCheck, StopKillsTheRunningScript) {
    Harness h;
    auto hc = make_check(Type::script, 10000ms, 10000ms);
    hc.script = "sleep 10";
    h.start(hc, 80);
    run_until(h.loop, [&] { return h.runner.running() == 1; });
    h.checker->stop();
    EXPECT_TRUE(run_until(h.loop, [&] { return h.runner.running() == 0; }));
    EXPECT_TRUE(h.states.empty());
}

// ---- a whole virtual server ---------------------------------------------------------------

namespace {

config::VirtualServer service(uint16_t port_a, uint16_t port_b, const std::string& notify_log) {
    config::VirtualServer vs;
    vs.name = "web";
    vs.vip = *IpAddress::parse("10.10.0.100");
    vs.port = 80;
    vs.quorum = 2;
    vs.sorry_server = config::SorryServer{*IpAddress::parse("127.0.0.9"), 8080};
    vs.notify.quorum_up = "echo quorum_up web >> " + notify_log;
    vs.notify.quorum_down = "echo quorum_down web >> " + notify_log;
    for (uint16_t port : {port_a, port_b}) {
        config::RealServer rs;
        rs.address = localhost();
        rs.port = port;
        rs.check = make_check(Type::tcp, 40ms);
        rs.notify.up = "echo up " + std::to_string(port) + " >> " + notify_log;
        rs.notify.down = "echo down " + std::to_string(port) + " >> " + notify_log;
        vs.real_servers.push_back(rs);
    }
    return vs;
}

struct Report {
    std::vector<RealServerHealth> servers;
    bool sorry;
};

} // namespace

TEST(ServiceHealth, ServerDownAndBackRunsNotifyScriptsInOrderAndSwitchesTheSorryServer) {
    EventLoop loop;
    Log log(true, true, "check-test");
    ScriptRunner runner(loop);
    TempDir dir;
    CaptureStderr err(dir.file("log"));
    const auto notify_log = dir.file("notify");
    TcpServer a(loop);
    const uint16_t port_b = closed_port(SOCK_STREAM);
    const auto vs = service(a.port(), port_b, notify_log);

    std::vector<std::pair<size_t, Report>> reports;
    HealthChecks checks(loop, log, runner, {vs},
                        [&](size_t i, const std::vector<RealServerHealth>& rs, bool sorry) {
                            reports.push_back({i, {rs, sorry}});
                        },
                        HealthChecks::Options{true, 5s, 42});
    checks.start();
    // The initial table at once: both alive (no alpha), no sorry server.
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].first, 0u);
    EXPECT_TRUE(reports[0].second.servers[0].alive && reports[0].second.servers[1].alive);
    EXPECT_FALSE(reports[0].second.sorry);

    // B is down: it leaves, the quorum (2) is lost, the sorry server stands in.
    ASSERT_TRUE(run_until(loop, [&] { return reports.size() >= 2; }));
    EXPECT_FALSE(reports[1].second.servers[1].alive);
    EXPECT_TRUE(reports[1].second.sorry);
    EXPECT_EQ(effective_backends(vs, reports[1].second.servers, reports[1].second.sorry),
              (std::vector<Backend>{{*IpAddress::parse("127.0.0.9"), 8080, 1, true}}));
    EXPECT_FALSE(checks.service(0).quorum_up());

    // B comes back.
    TcpServer b(loop, port_b);
    ASSERT_TRUE(run_until(loop, [&] { return reports.size() >= 3; }));
    EXPECT_TRUE(reports[2].second.servers[1].alive);
    EXPECT_FALSE(reports[2].second.sorry);
    EXPECT_EQ(effective_backends(vs, reports[2].second.servers, false),
              (std::vector<Backend>{{localhost(), a.port(), 1, false}, {localhost(), port_b, 1, false}}));

    ASSERT_TRUE(run_until(loop, [&] { return read_lines(notify_log).size() >= 4; }));
    run_for(loop, 100ms);   // nothing more comes
    const auto b_s = std::to_string(port_b);
    EXPECT_EQ(read_lines(notify_log), (std::vector<std::string>{"down " + b_s, "quorum_down web",
                                                                "up " + b_s, "quorum_up web"}));
    EXPECT_EQ(reports.size(), 3u);
    const auto rs_b = "[127.0.0.1]:tcp:" + b_s;
    EXPECT_TRUE(err.contains("Removing service " + rs_b + " from VS [10.10.0.100]:tcp:80"));
    EXPECT_TRUE(err.contains("Lost quorum 2-0=2 > 1 for VS [10.10.0.100]:tcp:80"));
    EXPECT_TRUE(err.contains("Adding sorry server [127.0.0.9]:tcp:8080 to VS [10.10.0.100]:tcp:80"));
    EXPECT_TRUE(err.contains("Adding service " + rs_b + " to VS [10.10.0.100]:tcp:80"));
    EXPECT_TRUE(err.contains("Gained quorum 2+0=2 <= 2 for VS [10.10.0.100]:tcp:80"));

    // The status document for haplanectl.
    const auto j = checks.status_json();
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["name"], "web");
    EXPECT_EQ(j[0]["quorum_up"], true);
    EXPECT_EQ(j[0]["live_weight"], 2);
    EXPECT_EQ(j[0]["real_servers"][1]["healthy"], true);
    EXPECT_EQ(j[0]["real_servers"][1]["check"]["type"], "tcp");
    EXPECT_EQ(j[0]["real_servers"][1]["check"]["state"], "UP");
    EXPECT_EQ(j[0]["real_servers"][1]["check"]["transitions"], 2);
    EXPECT_TRUE(j[0]["real_servers"][1]["check"]["seconds_since_last"].is_number());
    checks.stop();
}

TEST(ServiceHealth, AlphaStartsDownAndInhibitedServersKeepWeightZero) {
    EventLoop loop;
    Log log(true, false, "check-test");
    ScriptRunner runner(loop);
    TcpServer a(loop);
    const uint16_t port_b = closed_port(SOCK_STREAM);
    config::VirtualServer vs = service(a.port(), port_b, "/dev/null");
    vs.alpha = true;
    vs.quorum = 1;
    vs.notify = {};
    vs.real_servers[1].inhibit_on_failure = true;
    std::vector<Report> reports;
    HealthChecks checks(loop, log, runner, {vs},
                        [&](size_t, const std::vector<RealServerHealth>& rs, bool sorry) {
                            reports.push_back({rs, sorry});
                        },
                        HealthChecks::Options{false, 5s, std::nullopt});
    checks.start();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_FALSE(reports[0].servers[0].alive);
    EXPECT_FALSE(reports[0].servers[1].alive);
    EXPECT_TRUE(reports[0].sorry);   // alpha: no live weight at start
    // A answers: alive at its first success, the quorum is back.
    ASSERT_TRUE(run_until(loop, [&] { return reports.size() >= 2; }));
    EXPECT_TRUE(reports.back().servers[0].alive);
    EXPECT_FALSE(reports.back().sorry);
    // B never answers; inhibited, it stays in the table with weight 0.
    run_for(loop, 150ms);
    EXPECT_EQ(effective_backends(vs, reports.back().servers, reports.back().sorry),
              (std::vector<Backend>{{localhost(), a.port(), 1, false}, {localhost(), port_b, 0, false}}));
}

TEST(HealthChecks, WarmUpSpreadsTheFirstChecksOverAnInterval) {
    EventLoop loop;
    Log log(true, false, "check-test");
    ScriptRunner runner(loop);
    TcpServer server(loop);
    config::VirtualServer vs;
    vs.name = "many";
    vs.vip = *IpAddress::parse("10.10.0.100");
    vs.port = 80;
    for (int i = 0; i < 20; ++i) {
        config::RealServer rs;
        rs.address = localhost();
        rs.port = static_cast<uint16_t>(server.port());
        rs.check = make_check(Type::tcp, 400ms);
        vs.real_servers.push_back(rs);
        // Distinct entries (same endpoint is fine for the model).
    }
    HealthChecks checks(loop, log, runner, {vs}, nullptr, HealthChecks::Options{true, 5s, 7});
    checks.start();
    run_for(loop, 100ms);
    const int early = server.accepted();
    run_until(loop, [&] { return server.accepted() >= 20; }, 1000ms);
    EXPECT_GT(early, 0);
    EXPECT_LT(early, 20);   // not all in the first quarter of the interval
    EXPECT_GE(server.accepted(), 20);
}

TEST(HealthChecks, StopThenStartBeginsFromTheInitialState) {
    EventLoop loop;
    Log log(true, false, "check-test");
    ScriptRunner runner(loop);
    config::VirtualServer vs;
    vs.name = "one";
    vs.vip = *IpAddress::parse("10.10.0.100");
    vs.port = 80;
    config::RealServer rs;
    rs.address = localhost();
    rs.port = closed_port(SOCK_STREAM);
    rs.check = make_check(Type::tcp, 30ms);
    vs.real_servers.push_back(rs);
    std::vector<bool> alive;
    HealthChecks checks(loop, log, runner, {vs},
                        [&](size_t, const std::vector<RealServerHealth>& r, bool) { alive.push_back(r[0].alive); },
                        HealthChecks::Options{false, 5s, std::nullopt});
    checks.start();
    ASSERT_TRUE(run_until(loop, [&] { return alive.size() >= 2; }));
    EXPECT_EQ(alive, (std::vector<bool>{true, false}));
    checks.stop();
    run_for(loop, 100ms);
    EXPECT_EQ(alive.size(), 2u);   // stopped: nothing more
    checks.start();
    ASSERT_TRUE(run_until(loop, [&] { return alive.size() >= 4; }));
    EXPECT_EQ(alive, (std::vector<bool>{true, false, true, false}));
    EXPECT_EQ(checks.status()[0].real_servers[0].check->transitions, 1u);
}
