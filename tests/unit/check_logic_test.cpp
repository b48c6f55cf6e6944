// Health checks, the pure parts: status ranges, the script exit-code rule,
// rise/fall, quorum with hysteresis, HTTP response parsing, keepalived's
// service names and the per-virtual-server model (log lines, notify order,
// inhibit_on_failure, sorry server). No sockets, no processes, no clock.
#include "control/check_logic.hpp"
#include "control/check_model.hpp"
#include "control/check_probe.hpp"

#include <gtest/gtest.h>

#include <pthread.h>

using namespace haplane;
using namespace haplane::control;
using namespace haplane::control::check;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

ExitResult exited(int code) {
    ExitResult r;
    r.exited = true;
    r.code = code;
    return r;
}

} // namespace

// ---- status ranges --------------------------------------------------------------

TEST(StatusRanges, ParsesCodesAndRanges) {
    auto r = parse_status_ranges("200-299,301");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (std::vector<StatusRange>{{200, 299}, {301, 301}}));
    EXPECT_TRUE(status_matches(*r, 200));
    EXPECT_TRUE(status_matches(*r, 299));
    EXPECT_TRUE(status_matches(*r, 301));
    EXPECT_FALSE(status_matches(*r, 300));
    EXPECT_FALSE(status_matches(*r, 500));
    EXPECT_FALSE(status_matches(*r, 199));
}

TEST(StatusRanges, RefusesWhatTheValidatorRefuses) {
    for (const char* bad : {"", "abc", "99", "600", "300-200", "200-", "-200", "200,,301", "2000", "200-299,"})
        EXPECT_FALSE(parse_status_ranges(bad)) << bad;
    EXPECT_TRUE(parse_status_ranges("100-599"));
    EXPECT_TRUE(parse_status_ranges("404"));
}

// ---- script exit codes --------------------------------------------------------------

TEST(ScriptVerdict, KeepalivedMiscDynamic) {
    EXPECT_EQ(script_verdict(exited(0)), (ScriptVerdict{true, std::nullopt}));
    EXPECT_EQ(script_verdict(exited(1)), (ScriptVerdict{false, std::nullopt}));
    EXPECT_EQ(script_verdict(exited(2)), (ScriptVerdict{true, 0u}));
    EXPECT_EQ(script_verdict(exited(5)), (ScriptVerdict{true, 3u}));
    EXPECT_EQ(script_verdict(exited(255)), (ScriptVerdict{true, 253u}));
}

TEST(ScriptVerdict, KilledTimedOutOrNotStartedIsDown) {
    ExitResult killed;
    killed.signal = 9;
    EXPECT_FALSE(script_verdict(killed).up);
    ExitResult timed = exited(0);
    timed.timed_out = true;
    EXPECT_FALSE(script_verdict(timed).up);
    ExitResult failed;
    failed.spawn_failed = true;
    EXPECT_FALSE(script_verdict(failed).up);
}

// ---- rise / fall -----------------------------------------------------------------------

TEST(RiseFall, StartsUpWithoutAlphaAndFallsAfterFallFailures) {
    RiseFall rf(2, 3, false);
    EXPECT_TRUE(rf.up());
    EXPECT_FALSE(rf.has_run());
    EXPECT_FALSE(rf.record(false));
    EXPECT_FALSE(rf.record(false));
    EXPECT_TRUE(rf.up());
    EXPECT_EQ(rf.failures(), 2u);
    EXPECT_FALSE(rf.record(true));   // a success breaks the run
    EXPECT_EQ(rf.failures(), 0u);
    EXPECT_FALSE(rf.record(false));
    EXPECT_FALSE(rf.record(false));
    EXPECT_TRUE(rf.record(false));   // third in a row
    EXPECT_FALSE(rf.up());
    EXPECT_FALSE(rf.record(false));  // already down: no change
    // Rise: two in a row.
    EXPECT_FALSE(rf.record(true));
    EXPECT_FALSE(rf.record(false));
    EXPECT_FALSE(rf.record(true));
    EXPECT_TRUE(rf.record(true));
    EXPECT_TRUE(rf.up());
    EXPECT_EQ(rf.successes(), 2u);
}

TEST(RiseFall, AlphaStartsDownAndItsFirstSuccessBringsItUp) {
    RiseFall rf(3, 1, true);
    EXPECT_FALSE(rf.up());
    EXPECT_FALSE(rf.record(false));
    EXPECT_FALSE(rf.record(false));
    EXPECT_TRUE(rf.record(true));    // the first success, whatever rise says
    EXPECT_TRUE(rf.up());
    EXPECT_TRUE(rf.record(false));   // fall 1
    EXPECT_FALSE(rf.record(true));   // from now on rise 3 applies
    EXPECT_FALSE(rf.record(true));
    EXPECT_TRUE(rf.record(true));
}

TEST(RiseFall, ZeroIsTreatedAsOne) {
    RiseFall rf(0, 0, false);
    EXPECT_TRUE(rf.record(false));
    EXPECT_TRUE(rf.record(true));
}

// ---- quorum -------------------------------------------------------------------------------

TEST(Quorum, KeepalivedThresholdsWithHysteresis) {
    // quorum 3, hysteresis 1: lost below 2, regained at 4.
    EXPECT_TRUE(next_quorum_state(true, 3, 3, 1));
    EXPECT_TRUE(next_quorum_state(true, 2, 3, 1));
    EXPECT_FALSE(next_quorum_state(true, 1, 3, 1));
    EXPECT_FALSE(next_quorum_state(false, 2, 3, 1));
    EXPECT_FALSE(next_quorum_state(false, 3, 3, 1));
    EXPECT_TRUE(next_quorum_state(false, 4, 3, 1));
    // No hysteresis: the plain threshold both ways.
    EXPECT_FALSE(next_quorum_state(true, 0, 1, 0));
    EXPECT_TRUE(next_quorum_state(false, 1, 1, 0));
    EXPECT_FALSE(next_quorum_state(true, 1, 2, 0));
    EXPECT_TRUE(next_quorum_state(true, 2, 2, 0));
}

TEST(Quorum, ZeroLiveWeightIsAlwaysLost) {
    // hysteresis above quorum: the down threshold is negative; weight 0 still loses.
    EXPECT_FALSE(next_quorum_state(true, 0, 1, 5));
    EXPECT_TRUE(next_quorum_state(true, 1, 1, 5));
    // quorum 0 must not flap on weight 0.
    EXPECT_FALSE(next_quorum_state(true, 0, 0, 0));
    EXPECT_FALSE(next_quorum_state(false, 0, 0, 0));
    EXPECT_TRUE(next_quorum_state(false, 1, 0, 0));
}

// ---- HTTP responses ----------------------------------------------------------------------

TEST(HttpResponse, StatusLineIsEnoughWithoutBodyRegex) {
    HttpResponse r;
    EXPECT_EQ(r.feed("HTTP/1.1 5", false), HttpResponse::State::need_more);
    EXPECT_EQ(r.feed("03 Service Unavailable\r\nServer: x\r\n", false), HttpResponse::State::done);
    EXPECT_EQ(r.status(), 503u);
}

TEST(HttpResponse, ContentLengthBody) {
    HttpResponse r;
    EXPECT_EQ(r.feed("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhe", true), HttpResponse::State::need_more);
    EXPECT_EQ(r.feed("llo", true), HttpResponse::State::done);
    EXPECT_EQ(r.status(), 200u);
    EXPECT_EQ(r.body(), "hello");
}

TEST(HttpResponse, BodyUntilEof) {
    HttpResponse r;
    EXPECT_EQ(r.feed("HTTP/1.1 200 OK\r\n\r\nsome ", true), HttpResponse::State::need_more);
    EXPECT_EQ(r.feed("body", true), HttpResponse::State::need_more);
    EXPECT_EQ(r.eof(true), HttpResponse::State::done);
    EXPECT_EQ(r.body(), "some body");
}

TEST(HttpResponse, ChunkedBodyInPieces) {
    HttpResponse r;
    const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n";
    HttpResponse::State s = HttpResponse::State::need_more;
    size_t fed = 0;
    while (fed < wire.size() && s == HttpResponse::State::need_more)   // one byte at a time
        s = r.feed(std::string_view(&wire[fed++], 1), true);
    EXPECT_EQ(s, HttpResponse::State::done);
    EXPECT_EQ(fed, wire.size() - 2);   // done at the last chunk; the trailer's CRLF does not matter
    EXPECT_EQ(r.body(), "Wikipedia in \r\n\r\nchunks.");
}

TEST(HttpResponse, BodyIsCappedButReadToTheEnd) {
    HttpResponse r(8);
    EXPECT_EQ(r.feed("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789", true),
              HttpResponse::State::need_more);
    EXPECT_EQ(r.feed("0123456789", true), HttpResponse::State::done);
    EXPECT_EQ(r.body(), "01234567");
}

TEST(HttpResponse, Errors) {
    HttpResponse empty;
    EXPECT_EQ(empty.eof(false), HttpResponse::State::error);
    EXPECT_EQ(empty.error(), "no data received");
    HttpResponse garbage;
    EXPECT_EQ(garbage.feed("SSH-2.0-OpenSSH\r\n", false), HttpResponse::State::error);
    HttpResponse bad_code;
    EXPECT_EQ(bad_code.feed("HTTP/1.1 2x0 OK\r\n", false), HttpResponse::State::error);
    HttpResponse cut;
    EXPECT_EQ(cut.feed("HTTP/1.1 200 OK\r\nContent-", true), HttpResponse::State::need_more);
    EXPECT_EQ(cut.eof(true), HttpResponse::State::error);
    HttpResponse chunks;
    EXPECT_EQ(chunks.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true),
              HttpResponse::State::error);
}

TEST(HttpResponse, NoBodyStatuses) {
    HttpResponse r;
    EXPECT_EQ(r.feed("HTTP/1.1 204 No Content\r\n\r\n", true), HttpResponse::State::done);
    EXPECT_EQ(r.status(), 204u);
}

TEST(Http, RequestAndHostHeader) {
    EXPECT_EQ(http_request("/health", "example.org"),
              "GET /health HTTP/1.1\r\nHost: example.org\r\nUser-Agent: haplane-healthcheck\r\n"
              "Accept: */*\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(default_host_header(ip("10.20.0.11"), 80), "10.20.0.11");
    EXPECT_EQ(default_host_header(ip("10.20.0.11"), 8080), "10.20.0.11:8080");
    EXPECT_EQ(default_host_header(ip("2001:db8::1"), 443), "[2001:db8::1]:443");
}

TEST(Http, RegexOnALongBodyNeedsItsOwnStack) {
    // libstdc++ recurses per character: this would overflow an 8 MiB stack,
    // hence the helper thread of regex_stack_size() bytes the checker uses.
    std::string body(64 * 1024, 'a');
    body += "ok";
    const std::regex re("(a|b)*ok");
    struct Job { const std::string* text; const std::regex* re; bool matched; } job{&body, &re, false};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, regex_stack_size(body.size()));
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, &attr, [](void* p) -> void* {
        auto* j = static_cast<Job*>(p);
        j->matched = regex_search_safe(*j->text, *j->re);
        return nullptr;
    }, &job), 0);
    pthread_attr_destroy(&attr);
    pthread_join(t, nullptr);
    EXPECT_TRUE(job.matched);
    EXPECT_TRUE(regex_search_safe("short ok body", std::regex("ok")));
    EXPECT_FALSE(regex_search_safe("short body", std::regex("ok")));
}

// ---- names -------------------------------------------------------------------------------------

TEST(Names, KeepalivedServiceFormat) {
    EXPECT_EQ(format_service(ip("10.20.0.11"), 80, config::Protocol::tcp), "[10.20.0.11]:tcp:80");
    EXPECT_EQ(format_service(ip("2001:db8::5"), 53, config::Protocol::udp), "[2001:db8::5]:udp:53");
}

TEST(Target, DefaultsToTheRealServerThenTheVirtualServerPort) {
    config::VirtualServer vs;
    vs.vip = ip("10.10.0.100");
    vs.port = 80;
    config::RealServer rs;
    rs.address = ip("10.20.0.11");
    rs.check = config::HealthCheck{};
    Target t = check_target(vs, rs);
    EXPECT_EQ(t.label(), "[10.20.0.11]:tcp:80");
    rs.port = 8080;
    EXPECT_EQ(check_target(vs, rs).label(), "[10.20.0.11]:tcp:8080");
    rs.check->connect_ip = ip("10.20.0.12");
    rs.check->connect_port = 9000;
    rs.check->type = config::HealthCheck::Type::udp;
    EXPECT_EQ(check_target(vs, rs).label(), "[10.20.0.12]:udp:9000");
}

// ---- the virtual server model ----------------------------------------------------------------

namespace {

config::VirtualServer web(bool alpha = false) {
    config::VirtualServer vs;
    vs.name = "web";
    vs.vip = ip("10.10.0.100");
    vs.port = 80;
    vs.alpha = alpha;
    vs.quorum = 2;
    vs.hysteresis = 0;
    vs.notify.quorum_up = "/n quorum_up";
    vs.notify.quorum_down = "/n quorum_down";
    for (const char* a : {"10.20.0.11", "10.20.0.12"}) {
        config::RealServer rs;
        rs.address = ip(a);
        rs.weight = 1;
        rs.check = config::HealthCheck{};
        rs.notify.up = std::string("/n up ") + a;
        rs.notify.down = std::string("/n down ") + a;
        vs.real_servers.push_back(rs);
    }
    return vs;
}

Action L(std::string s) { return {Action::Kind::log, std::move(s)}; }
Action N(std::string s) { return {Action::Kind::notify, std::move(s)}; }

} // namespace

TEST(ServiceModel, StartsAliveWithoutAlphaAndKeepsQuorum) {
    ServiceModel m(web());
    EXPECT_TRUE(m.start().empty());
    EXPECT_TRUE(m.quorum_up());
    EXPECT_EQ(m.live_weight(), 2u);
    EXPECT_TRUE(m.servers()[0].alive);
    EXPECT_EQ(m.servers()[0].port, 80);
}

TEST(ServiceModel, DownThenUpInKeepalivedOrder) {
    auto vs = web();
    vs.sorry_server = config::SorryServer{ip("10.20.0.99"), 0};
    ServiceModel m(vs);
    m.start();
    EXPECT_EQ(m.set_alive(0, false),
              (Actions{L("Removing service [10.20.0.11]:tcp:80 from VS [10.10.0.100]:tcp:80"),
                       L("Executing [/n down 10.20.0.11] for service [10.20.0.11]:tcp:80 in VS [10.10.0.100]:tcp:80"),
                       N("/n down 10.20.0.11"),
                       L("Lost quorum 2-0=2 > 1 for VS [10.10.0.100]:tcp:80"),
                       L("Executing [/n quorum_down] for VS [10.10.0.100]:tcp:80"),
                       N("/n quorum_down"),
                       L("Adding sorry server [10.20.0.99]:tcp:80 to VS [10.10.0.100]:tcp:80"),
                       L("Removing alive servers from the pool for VS [10.10.0.100]:tcp:80")}));
    EXPECT_FALSE(m.quorum_up());
    EXPECT_TRUE(m.use_sorry_server());
    EXPECT_TRUE(m.set_alive(0, false).empty());   // no change, nothing to do
    EXPECT_EQ(m.set_alive(0, true),
              (Actions{L("Adding service [10.20.0.11]:tcp:80 to VS [10.10.0.100]:tcp:80"),
                       L("Executing [/n up 10.20.0.11] for service [10.20.0.11]:tcp:80 in VS [10.10.0.100]:tcp:80"),
                       N("/n up 10.20.0.11"),
                       L("Gained quorum 2+0=2 <= 2 for VS [10.10.0.100]:tcp:80"),
                       L("Removing sorry server [10.20.0.99]:tcp:80 from VS [10.10.0.100]:tcp:80"),
                       L("Adding alive servers to the pool for VS [10.10.0.100]:tcp:80"),
                       L("Executing [/n quorum_up] for VS [10.10.0.100]:tcp:80"),
                       N("/n quorum_up")}));
    EXPECT_FALSE(m.use_sorry_server());
}

TEST(ServiceModel, AlphaStartsDownAndLosesQuorumAtOnce) {
    auto vs = web(true);
    vs.real_servers[1].check.reset();   // no check: always alive, even under alpha
    vs.notify = {};
    ServiceModel m(vs);
    EXPECT_EQ(m.start(), (Actions{L("Lost quorum 2-0=2 > 1 for VS [10.10.0.100]:tcp:80")}));
    EXPECT_FALSE(m.servers()[0].alive);
    EXPECT_TRUE(m.servers()[1].alive);
    EXPECT_FALSE(m.use_sorry_server());   // none configured
    m.set_alive(0, true);
    EXPECT_TRUE(m.quorum_up());
}

TEST(ServiceModel, HysteresisHoldsTheQuorum) {
    auto vs = web();
    vs.notify = {};
    vs.quorum = 2;
    vs.hysteresis = 1;
    config::RealServer third = vs.real_servers[0];
    third.address = ip("10.20.0.13");
    third.notify = {};
    vs.real_servers.push_back(third);
    for (auto& rs : vs.real_servers) rs.notify = {};
    ServiceModel m(vs);
    m.start();                       // 3 alive
    m.set_alive(0, false);           // 2: still >= 1
    EXPECT_TRUE(m.quorum_up());
    m.set_alive(1, false);           // 1: not below 2-1
    EXPECT_TRUE(m.quorum_up());
    m.set_alive(2, false);           // 0: lost
    EXPECT_FALSE(m.quorum_up());
    m.set_alive(0, true);            // 1
    m.set_alive(1, true);            // 2: not yet 2+1
    EXPECT_FALSE(m.quorum_up());
    auto actions = m.set_alive(2, true);   // 3: regained
    EXPECT_TRUE(m.quorum_up());
    EXPECT_EQ(actions.back(), L("Gained quorum 2+1=3 <= 3 for VS [10.10.0.100]:tcp:80"));
}

TEST(ServiceModel, InhibitOnFailureKeepsTheServerWithWeightZero) {
    auto vs = web();
    vs.notify = {};
    vs.quorum = 1;
    vs.real_servers[0].inhibit_on_failure = true;
    vs.real_servers[0].weight = 5;
    vs.real_servers[0].notify = {};
    ServiceModel m(vs);
    m.start();
    EXPECT_EQ(m.set_alive(0, false),
              (Actions{L("Disabling service [10.20.0.11]:tcp:80 from VS [10.10.0.100]:tcp:80")}));
    EXPECT_TRUE(m.servers()[0].in_pool());
    EXPECT_EQ(m.servers()[0].effective_weight(), 0u);
    EXPECT_FALSE(m.servers()[1].inhibit_on_failure);
    auto table = effective_backends(vs, m.servers(), m.use_sorry_server());
    EXPECT_EQ(table, (std::vector<Backend>{{ip("10.20.0.11"), 80, 0, false}, {ip("10.20.0.12"), 80, 1, false}}));
    m.set_alive(1, false);   // not inhibited: leaves the table
    table = effective_backends(vs, m.servers(), m.use_sorry_server());
    EXPECT_EQ(table, (std::vector<Backend>{{ip("10.20.0.11"), 80, 0, false}}));
    EXPECT_EQ(m.set_alive(0, true).front(),
              L("Enabling service [10.20.0.11]:tcp:80 to VS [10.10.0.100]:tcp:80"));
}

TEST(ServiceModel, DynamicWeightCountsTowardsTheQuorum) {
    auto vs = web();
    vs.quorum = 4;
    vs.notify = {};
    for (auto& rs : vs.real_servers) rs.notify = {};
    ServiceModel m(vs);
    EXPECT_EQ(m.start(), (Actions{L("Lost quorum 4-0=4 > 2 for VS [10.10.0.100]:tcp:80")}));
    EXPECT_EQ(m.set_weight(0, 3),
              (Actions{L("Changing weight from 1 to 3 for active service [10.20.0.11]:tcp:80 of VS [10.10.0.100]:tcp:80"),
                       L("Gained quorum 4+0=4 <= 4 for VS [10.10.0.100]:tcp:80")}));
    EXPECT_EQ(m.servers()[0].weight, 3u);
    EXPECT_EQ(m.servers()[0].configured_weight, 1u);
    EXPECT_TRUE(m.set_weight(0, 3).empty());
    m.set_alive(1, false);
    EXPECT_EQ(m.set_weight(1, 7).front(),
              L("Changing weight from 1 to 7 for inactive service [10.20.0.12]:tcp:80 of VS [10.10.0.100]:tcp:80"));
    EXPECT_FALSE(m.quorum_up());     // dead servers weigh nothing
}

TEST(ServiceModel, SorryServerStandsInAloneAndUsesTheVirtualServerPort) {
    auto vs = web();
    vs.quorum = 1;
    vs.sorry_server = config::SorryServer{ip("10.20.0.99"), 0};
    ServiceModel m(vs);
    m.start();
    m.set_alive(0, false);
    m.set_alive(1, false);
    ASSERT_TRUE(m.use_sorry_server());
    EXPECT_EQ(effective_backends(vs, m.servers(), true),
              (std::vector<Backend>{{ip("10.20.0.99"), 80, 1, true}}));
    vs.sorry_server->port = 8080;
    EXPECT_EQ(effective_backends(vs, m.servers(), true),
              (std::vector<Backend>{{ip("10.20.0.99"), 8080, 1, true}}));
}

TEST(ServiceModel, WithoutSorryServerTheSurvivorsStay) {
    auto vs = web();   // quorum 2
    ServiceModel m(vs);
    m.start();
    m.set_alive(0, false);
    EXPECT_FALSE(m.quorum_up());
    EXPECT_FALSE(m.use_sorry_server());
    EXPECT_EQ(effective_backends(vs, m.servers(), m.use_sorry_server()),
              (std::vector<Backend>{{ip("10.20.0.12"), 80, 1, false}}));
}
