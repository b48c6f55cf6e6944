// config/keepalived_import: keepalived.conf -> haplane Config and YAML.
// Every mapping on an inline snippet; keepalived's syntax (comments, braces,
// quotes, includes, definitions); every seed config of ../shared/seeds and
// keepalived-style samples from tests/data/keepalived. Every import's YAML
// must load with config::load_string without a single problem and give back
// the imported Config.
#include "config/keepalived_import.hpp"
#include "config/loader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

using namespace haplane;
using namespace haplane::config;
using namespace std::chrono_literals;

#ifndef KEEPALIVED_DATA
#error "KEEPALIVED_DATA (tests/data/keepalived) must be defined by the build"
#endif

namespace {

// Joins lines with "\n" so a snippet's line n is the n-th string.
std::string conf(std::initializer_list<const char*> lines) {
    std::string text;
    for (const char* line : lines) text += std::string(line) + "\n";
    return text;
}

// Messages as "LINE: severity: message" (the file name is always k.conf).
std::vector<std::string> messages(const ImportResult& r) {
    std::vector<std::string> out;
    for (const auto& m : r.messages) {
        const std::string s = m.str();
        out.push_back(s.substr(s.find(':') + 1));
    }
    return out;
}

std::string dump_messages(const ImportResult& r) {
    std::string out;
    for (const auto& m : r.messages) out += m.str() + "\n";
    return out;
}

// The number of messages containing every one of `parts`.
size_t count(const ImportResult& r, std::initializer_list<std::string> parts) {
    return static_cast<size_t>(std::count_if(r.messages.begin(), r.messages.end(), [&](const ImportMessage& m) {
        const std::string s = m.str();
        return std::all_of(parts.begin(), parts.end(), [&](const std::string& p) { return s.find(p) != s.npos; });
    }));
}
bool has(const ImportResult& r, std::initializer_list<std::string> parts) { return count(r, parts) > 0; }

// The import's YAML loads with no problem and yields the imported Config.
Config loads(const ImportResult& r, const std::string& name = "out.yaml") {
    EXPECT_TRUE(r.ok) << dump_messages(r);
    const auto loaded = load_string(r.yaml, name);
    for (const auto& p : loaded.problems) ADD_FAILURE() << p.str() << "\n" << r.yaml;
    if (!loaded.config) return Config{};
    Config expected = r.config;
    expected.file = name;
    if (expected.global.router_id.empty()) expected.global.router_id = loaded.config->global.router_id;
    EXPECT_EQ(*loaded.config, expected) << r.yaml;
    return *loaded.config;
}

ImportResult imp(const std::string& text) { return import_keepalived_string(text, "k.conf"); }

// A minimal valid instance around `body` lines.
std::string instance(std::initializer_list<const char*> body) {
    std::string text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n";
    for (const char* line : body) text += std::string("  ") + line + "\n";
    return text + "  virtual_ipaddress {\n    10.0.0.100/24\n  }\n}\n";
}

const VrrpInstance& vi(const ImportResult& r, size_t i = 0) { return r.config.vrrp_instances.at(i); }

std::string data(const std::string& name) { return std::string(KEEPALIVED_DATA) + "/" + name; }

// A scratch directory, removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/hp-kaimport-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const auto p = path / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }
};

// ==== keepalived's syntax ================================================================

TEST(KeepalivedSyntax, CommentsRunToTheEndOfTheLineWhereverTheyStart) {
    const auto r = imp(conf({
        "! Configuration File for keepalived",
        "global_defs {        # the global block",
        "   router_id lb1     ! a comment after a value",
        "   script_user \"it#s\"   # quoted: not a comment",
        "}",
    }));
    const Config c = loads(r);
    EXPECT_EQ(c.global.router_id, "lb1");
    EXPECT_EQ(c.global.script_user, "it#s");
    EXPECT_TRUE(r.warnings().empty()) << dump_messages(r);
}

TEST(KeepalivedSyntax, AHashInsideAWordStartsACommentAndSaysSo) {
    const auto r = imp(conf({
        "global_defs {",
        "   router_id lb#1",
        "   script_user us\\#er",
        "}",
    }));
    loads(r);
    EXPECT_EQ(r.config.global.router_id, "lb");
    EXPECT_EQ(r.config.global.script_user, "us#er");   // \# is a literal #
    EXPECT_TRUE(has(r, {"k.conf:2: warning: '#' inside a word starts a comment"})) << dump_messages(r);
}

TEST(KeepalivedSyntax, BlocksOnOneLineReadAsKeepalivedReadsThem) {
    // Each brace ends a statement, so a whole instance fits on one line as
    // long as every keyword is followed by a brace.
    const auto r = imp(conf({
        "vrrp_instance VI_1 { interface eth0 }",
        "vrrp_instance VI_2 {",
        "  interface eth1",
        "  virtual_router_id 7",
        "  authentication { auth_type PASS",
        "  auth_pass secret }",
        "  virtual_ipaddress { 10.0.0.1/24 }",
        "}",
    }));
    loads(r);
    ASSERT_EQ(r.config.vrrp_instances.size(), 1u) << dump_messages(r);
    EXPECT_EQ(vi(r).name, "VI_2");
    EXPECT_EQ(vi(r).authentication.password, "secret");
    EXPECT_EQ(vi(r).virtual_ipaddresses.at(0).str(), "10.0.0.1/24");
    EXPECT_TRUE(has(r, {"k.conf:1: warning: (VI_1) the virtual router id must be set: instance skipped"}))
        << dump_messages(r);
}

TEST(KeepalivedSyntax, AFlattenedLineIsOneStatementAndTheWarningSaysSo) {
    const auto r = imp(conf({
        "vrrp_instance VI_1 {",
        "  state MASTER interface eth0 virtual_router_id 55",
        "}",
    }));
    loads(r);
    EXPECT_TRUE(r.config.vrrp_instances.empty());
    EXPECT_TRUE(has(r, {"k.conf:2: warning: extra words after 'state MASTER' in vrrp_instance VI_1 ignored: "
                        "'interface eth0 virtual_router_id 55' (keepalived reads one keyword per line: was this "
                        "config flattened onto one line?)"}))
        << dump_messages(r);
}

TEST(KeepalivedSyntax, AOneLineConfigWithACommentLosesTheRestOfTheLine) {
    // seed 001's shape: the comment swallows the rest, braces included.
    const auto r = imp("global_defs { #全局配置 router_id LVS_DEVEL } vrrp_instance VI_1 { state MASTER }\n");
    loads(r);
    EXPECT_EQ(r.config.global.router_id, "");
    EXPECT_TRUE(r.config.vrrp_instances.empty());
    EXPECT_TRUE(has(r, {"k.conf:1: warning: '#' starts a comment that runs to the end of the line",
                        "flattened onto one line"}))
        << dump_messages(r);
    EXPECT_TRUE(has(r, {"k.conf:1: warning: 'global_defs' is not closed"})) << dump_messages(r);
}

TEST(KeepalivedSyntax, ExtraAndMissingBracesAreWarnings) {
    const auto r = imp(conf({
        "}",
        "global_defs {",
        "  router_id x",
        "}",
        "}",
        "vrrp_script chk {",
        "  script /bin/true",
    }));
    loads(r);
    EXPECT_EQ(r.config.global.router_id, "x");
    ASSERT_EQ(r.config.vrrp_scripts.size(), 1u);
    const auto m = messages(r);
    EXPECT_NE(std::find(m.begin(), m.end(), "1: warning: extra '}' ignored (keepalived: \"Extra '}' found\")"), m.end());
    EXPECT_NE(std::find(m.begin(), m.end(), "5: warning: extra '}' ignored (keepalived: \"Extra '}' found\")"), m.end());
    EXPECT_TRUE(has(r, {"k.conf:6: warning: 'vrrp_script chk' is not closed"})) << dump_messages(r);
}

TEST(KeepalivedSyntax, UnknownKeywordsAndTheirBlocksAreWarningsWithTheirLine) {
    const auto r = imp(conf({
        "frobnicate 1",
        "global_defs {",
        "  router_id x",
        "  colour {",
        "    blue",
        "  }",
        "}",
    }));
    loads(r);
    EXPECT_EQ(r.config.global.router_id, "x");
    const auto m = messages(r);
    EXPECT_NE(std::find(m.begin(), m.end(), "1: warning: unknown keyword 'frobnicate' at the top level: ignored"),
              m.end()) << dump_messages(r);
    EXPECT_NE(std::find(m.begin(), m.end(),
                        "4: warning: unknown keyword 'colour' (with a { } block) in global_defs: ignored"),
              m.end()) << dump_messages(r);
    EXPECT_EQ(m.size(), 2u) << dump_messages(r);
}

TEST(KeepalivedSyntax, UnterminatedQuoteAndLongLinesAreWarned) {
    std::string long_line = "global_defs { router_id lb1 }  ";
    long_line += std::string(1100, ' ') + "\n";
    const auto r = imp("global_defs {\n  router_id \"lb 1\n}\n" + long_line);
    loads(r);
    EXPECT_EQ(r.config.global.router_id, "lb1");   // the second block wins
    EXPECT_TRUE(has(r, {"k.conf:2: warning: missing closing '\"'"})) << dump_messages(r);
    EXPECT_TRUE(has(r, {"k.conf:4: warning: this line is", "bytes long: keepalived reads at most 1023"}))
        << dump_messages(r);
}

TEST(KeepalivedSyntax, DefinitionsAreSubstitutedAndConfigIdLinesSkipped) {
    const auto r = imp(conf({
        "$IF=eth3",
        "$PRIO = 120",
        "vrrp_instance VI_1 {",
        "  interface $IF",
        "  virtual_router_id 9",
        "  priority ${PRIO}",
        "@lb1 advert_int 3",
        "@^lb1 advert_int 2",
        "  virtual_ipaddress {",
        "    10.0.0.1",
        "  }",
        "}",
    }));
    loads(r);
    ASSERT_EQ(r.config.vrrp_instances.size(), 1u) << dump_messages(r);
    EXPECT_EQ(vi(r).port, "eth3");
    EXPECT_EQ(vi(r).priority, 120);
    EXPECT_EQ(vi(r).advert_interval, 2s);   // @^lb1: every node but lb1
    EXPECT_TRUE(has(r, {"k.conf:7: warning: line for keepalived config id 'lb1' (@lb1, keepalived -i) skipped"}))
        << dump_messages(r);
}

TEST(KeepalivedSyntax, IncludesAreRelativeToTheIncludingFileAndGlobbed) {
    TempDir d;
    d.write("conf.d/b.conf", "vrrp_instance VI_B {\n interface eth1\n virtual_router_id 2\n"
                             " virtual_ipaddress {\n  10.0.1.1\n }\n}\n");
    d.write("conf.d/a.conf", "vrrp_instance VI_A {\n interface eth0\n virtual_router_id 1\n"
                             " virtual_ipaddress {\n  10.0.0.1\n }\n bogus_key 1\n}\n");
    d.write("conf.d/c.txt", "not matched\n");
    d.write("sub/inner.conf", "include ../conf.d/a.conf\n");   // relative to sub/
    d.write("loop.conf", "include loop.conf\n");
    const std::string main = d.write("keepalived.conf", conf({
        "global_defs {",
        "  router_id inc",
        "}",
        "include conf.d/*.conf",
        "include missing/*.conf",
        "include sub/inner.conf",
        "include loop.conf",
    }));
    const auto r = import_keepalived_file(main);
    loads(r);
    ASSERT_EQ(r.config.vrrp_instances.size(), 2u) << dump_messages(r);
    EXPECT_EQ(vi(r, 0).name, "VI_A");   // sorted glob order
    EXPECT_EQ(vi(r, 1).name, "VI_B");
    // VI_A again through sub/inner.conf: a duplicate, and its warning names the included file.
    EXPECT_TRUE(has(r, {(d.path / "conf.d/a.conf").string() + ":7: warning: unknown keyword 'bogus_key'"}))
        << dump_messages(r);
    EXPECT_TRUE(has(r, {(d.path / "sub/../conf.d/a.conf").string() + ":1: warning: (VI_A) a vrrp_instance of this "
                        "name was defined before: instance skipped"}))
        << dump_messages(r);
    EXPECT_TRUE(has(r, {main + ":5: warning: include missing/*.conf: no file matches"})) << dump_messages(r);
    EXPECT_TRUE(has(r, {"includes itself"})) << dump_messages(r);
}

TEST(KeepalivedSyntax, AnUnreadableFileIsAnError) {
    const auto r = import_keepalived_file("/nonexistent/keepalived.conf");
    EXPECT_FALSE(r.ok);
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].str(),
              "/nonexistent/keepalived.conf: error: cannot read the file: No such file or directory");
    TempDir d;
    EXPECT_FALSE(import_keepalived_file(d.path.string()).ok);
    EXPECT_FALSE(import_keepalived_string(std::string("global_defs {\0}", 15), "bin.conf").ok);
}

// ==== global_defs ========================================================================

TEST(KeepalivedGlobal, MapsWhatHasAMeaningAndWarnsAboutTheRest) {
    const auto r = imp(conf({
        "global_defs {",
        "  notification_email {",
        "    ops@example.com",
        "  }",
        "  notification_email_from lb@example.com",
        "  smtp_server 127.0.0.1",
        "  smtp_connect_timeout 30",
        "  router_id LVS_1",
        "  script_user nobody nogroup",
        "  enable_script_security",
        "  notify_fifo /run/keepalived.fifo",
        "  lvs_timeouts tcp 7200 tcpfin 60 udp 120",
        "  lvs_sync_daemon eth1 VI_1 id 10",
        "  vrrp_strict",
        "  vrrp_mcast_group4 224.0.0.18",
        "}",
    }));
    const Config c = loads(r);
    EXPECT_EQ(c.global.router_id, "LVS_1");
    EXPECT_EQ(c.global.script_user, "nobody");
    EXPECT_TRUE(c.global.enable_script_security);
    EXPECT_EQ(c.global.notify_fifo, "/run/keepalived.fifo");
    EXPECT_EQ(c.global.timeouts.tcp, 7200s);
    EXPECT_EQ(c.global.timeouts.tcp_fin, 60s);
    EXPECT_EQ(c.global.timeouts.udp, 120s);
    EXPECT_EQ(c.global.timeouts.tcp_syn, 30s);   // haplane's default: keepalived has none
    for (const auto& [line, key] : std::vector<std::pair<int, std::string>>{
             {2, "notification_email"}, {5, "notification_email_from"}, {6, "smtp_server"},
             {7, "smtp_connect_timeout"}, {13, "lvs_sync_daemon"}, {14, "vrrp_strict"}, {15, "vrrp_mcast_group4"}})
        EXPECT_TRUE(has(r, {"k.conf:" + std::to_string(line) + ": warning: '" + key +
                            "' in global_defs has no haplane equivalent"}))
            << key << "\n" << dump_messages(r);
    EXPECT_TRUE(has(r, {"k.conf:9: warning: the group 'nogroup' of script_user is ignored"})) << dump_messages(r);
    EXPECT_EQ(r.warnings().size(), 8u) << dump_messages(r);
}

TEST(KeepalivedGlobal, InstanceDefaultsComeFromGlobalDefsWhereverItIs) {
    // vrrp_version and the vrrp_garp_* defaults apply to every instance, even
    // one written before global_defs.
    const auto r = imp(instance({}) + conf({
        "global_defs {",
        "  vrrp_version 3",
        "  vrrp_garp_master_delay 10",
        "  vrrp_garp_master_repeat 3",
        "  vrrp_garp_master_refresh 60",
        "  vrrp_garp_master_refresh_repeat 2",
        "  lvs_id old_name",
        "}",
    }));
    loads(r);
    EXPECT_EQ(vi(r).version, 3);
    EXPECT_EQ(vi(r).garp.master_delay, 10s);
    EXPECT_EQ(vi(r).garp.master_repeat, 3u);
    EXPECT_EQ(vi(r).garp.master_refresh, 60s);
    EXPECT_EQ(vi(r).garp.master_refresh_repeat, 2u);
    EXPECT_EQ(r.config.global.router_id, "old_name");
    EXPECT_TRUE(has(r, {"note: lvs_id (keepalived 1.x) imported as global.router_id"})) << dump_messages(r);
}

// ==== vrrp_script ========================================================================

TEST(KeepalivedScript, MapsEveryKeyAndKeepsKeepalivedsTimeoutDefault) {
    const auto r = imp(conf({
        "vrrp_script chk_haproxy {",
        "  script \"killall -0 haproxy\"",
        "  interval 2",
        "  weight -20",
        "  rise 3",
        "  fall 2",
        "  user haproxy",
        "}",
        "vrrp_script chk_file {",
        "  script /usr/bin/test -e /run/up",
        "  interval 1.5",
        "  timeout 4",
        "  weight 10 reverse",
        "}",
        "vrrp_script no_script {",
        "  interval 1",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.vrrp_scripts.size(), 2u) << dump_messages(r);
    const VrrpScript& f = c.vrrp_scripts[0];   // sorted by name
    EXPECT_EQ(f.name, "chk_file");
    EXPECT_EQ(f.script, "/usr/bin/test -e /run/up");
    EXPECT_EQ(f.interval, 1500ms);
    EXPECT_EQ(f.timeout, 4s);
    EXPECT_EQ(f.weight, 10);
    const VrrpScript& h = c.vrrp_scripts[1];
    EXPECT_EQ(h.script, "killall -0 haproxy");
    EXPECT_EQ(h.interval, 2s);
    EXPECT_EQ(h.timeout, 2s);   // keepalived: no timeout = the interval
    EXPECT_EQ(h.weight, -20);
    EXPECT_EQ(h.rise, 3u);
    EXPECT_EQ(h.fall, 2u);
    EXPECT_TRUE(has(r, {"k.conf:7: warning: 'user' in vrrp_script chk_haproxy has no haplane equivalent"}))
        << dump_messages(r);
    EXPECT_TRUE(has(r, {"k.conf:13: warning: 'weight ... reverse'"})) << dump_messages(r);
    EXPECT_TRUE(has(r, {"k.conf:15: warning: vrrp_script no_script has no script: skipped"})) << dump_messages(r);
}

TEST(KeepalivedScript, BashTestsAreRewrittenForShOrFlagged) {
    const auto r = imp(conf({
        "vrrp_script a {",
        "  script \"[[ -f /etc/keepalived/down ]] && exit 1 || exit 0\"",
        "}",
        "vrrp_script b {",
        "  script \"[[ $(cat /x) == up ]]\"",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.vrrp_scripts.size(), 2u);
    EXPECT_EQ(c.vrrp_scripts[0].script, "[ -f /etc/keepalived/down ] && exit 1 || exit 0");
    EXPECT_EQ(c.vrrp_scripts[1].script, "[[ $(cat /x) == up ]]");
    EXPECT_TRUE(has(r, {"k.conf:2: warning: '[[ ]]' is bash syntax", "rewritten as"})) << dump_messages(r);
    EXPECT_TRUE(has(r, {"k.conf:5: warning: '[[ ]]' is bash syntax", "bash -c"})) << dump_messages(r);
}

// ==== vrrp_instance ======================================================================

TEST(KeepalivedInstance, MapsEveryKeyword) {
    const auto r = imp(conf({
        "vrrp_script chk { script /bin/true }",
        "vrrp_track_file down {",
        "  file /run/down",
        "  weight -5",
        "}",
        "vrrp_instance VI_1 {",                      // 9
        "  state BACKUP",
        "  interface eth0",
        "  virtual_router_id 51",
        "  priority 150",
        "  advert_int 2",
        "  nopreempt",
        "  preempt_delay 30",                        // 13: reset by nopreempt, as keepalived does
        "  authentication {",
        "    auth_type PASS",
        "    auth_pass 123456789",                   // 16: keepalived keeps 8
        "  }",
        "  virtual_ipaddress {",
        "    10.0.0.100/24 brd 10.0.0.255 dev eth0 label eth0:1",
        "    10.0.0.101",
        "    10.0.2.1/24 dev eth2",                  // 21: another interface
        "    fd00::1/64",                            // 22: another family
        "  }",
        "  virtual_ipaddress_excluded {",
        "    10.0.0.102/24",
        "  }",
        "  virtual_routes {",
        "    192.168.0.0/16 via 10.0.0.1 dev eth1",
        "    default via 10.0.0.254",
        "    src 10.0.0.100 172.16.0.0/12 via 10.0.0.1 metric 5",
        "    blackhole 10.99.0.0/16",
        "  }",
        "  unicast_src_ip 10.0.0.2",                 // 33
        "  unicast_peer {",
        "    10.0.0.3",
        "  }",
        "  use_vmac vrrp51",                         // 37
        "  track_interface {",
        "    eth1",
        "    eth2 weight -10",
        "  }",
        "  track_script {",
        "    chk weight -30",
        "    missing",                               // 44
        "  }",
        "  track_file {",
        "    down",
        "  }",
        "  notify_master \"/etc/keepalived/notify.sh master\"",
        "  notify_backup /etc/keepalived/notify.sh backup",   // 50: unquoted extra word
        "  notify_fault /etc/keepalived/fault.sh",
        "  notify_stop /etc/keepalived/stop.sh",
        "  notify /etc/keepalived/any.sh",
        "  garp_master_delay 2",
        "  garp_master_repeat 3",
        "  garp_master_refresh 30",
        "  garp_master_refresh_repeat 2",
        "  mcast_src_ip 10.0.0.2",                   // 58
        "  dont_track_primary",
        "  smtp_alert",
        "  debug",
        "  lvs_sync_daemon_interface eth1",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.vrrp_instances.size(), 1u) << dump_messages(r);
    const VrrpInstance& v = c.vrrp_instances[0];
    EXPECT_EQ(v.name, "VI_1");
    EXPECT_EQ(v.port, "eth0");
    EXPECT_EQ(v.vrid, 51);
    EXPECT_EQ(v.priority, 150);
    EXPECT_EQ(v.state, VrrpState::BACKUP);
    EXPECT_EQ(v.version, 2);   // keepalived's default
    EXPECT_EQ(v.advert_interval, 2s);
    EXPECT_FALSE(v.preempt);
    EXPECT_EQ(v.preempt_delay, 0s);
    EXPECT_EQ(v.authentication.type, Authentication::Type::PASS);
    EXPECT_EQ(v.authentication.password, "12345678");
    std::vector<std::string> vips;
    for (const auto& p : v.virtual_ipaddresses) vips.push_back(p.str());
    EXPECT_EQ(vips, (std::vector<std::string>{"10.0.0.100/24", "10.0.0.101/32", "10.0.2.1/24", "10.0.0.102/24"}));
    ASSERT_EQ(v.virtual_routes.size(), 3u);
    EXPECT_EQ(v.virtual_routes[0].destination.str(), "192.168.0.0/16");
    EXPECT_EQ(v.virtual_routes[0].gateway->str(), "10.0.0.1");
    EXPECT_EQ(v.virtual_routes[0].port, "eth1");
    EXPECT_EQ(v.virtual_routes[1].destination.str(), "0.0.0.0/0");
    EXPECT_EQ(v.virtual_routes[2].destination.str(), "172.16.0.0/12");
    ASSERT_EQ(v.unicast_peers.size(), 1u);
    EXPECT_EQ(v.unicast_peers[0].str(), "10.0.0.3");
    EXPECT_TRUE(v.use_vmac);
    EXPECT_EQ(v.track_ports, (std::vector<TrackPort>{{"eth1", 0}, {"eth2", -10}}));
    EXPECT_EQ(v.track_scripts, (std::vector<TrackScript>{{"chk", -30}}));
    EXPECT_EQ(v.track_files, (std::vector<TrackFile>{{"/run/down", -5}}));
    EXPECT_EQ(v.notify.master, "/etc/keepalived/notify.sh master");
    EXPECT_EQ(v.notify.backup, "/etc/keepalived/notify.sh");
    EXPECT_EQ(v.notify.fault, "/etc/keepalived/fault.sh");
    EXPECT_EQ(v.notify.stop, "/etc/keepalived/stop.sh");
    EXPECT_EQ(v.notify.any, "/etc/keepalived/any.sh");
    EXPECT_EQ(v.garp, (Garp{2s, 3, 30s, 2}));
    // Ports: the interface, then the tracked ones and the routes' devices, in order.
    ASSERT_EQ(c.ports.size(), 3u);
    EXPECT_EQ(c.ports[0].name, "eth0");
    EXPECT_EQ(c.ports[0].device, "net_af_packet0,iface=eth0");
    EXPECT_EQ(c.ports[1].name, "eth1");
    EXPECT_EQ(c.ports[1].device, "net_af_packet1,iface=eth1");
    EXPECT_EQ(c.ports[2].name, "eth2");

    for (const auto& [line, what] : std::vector<std::pair<int, std::string>>{
             {6, "(VI_1) preempt_delay is incompatible with nopreempt - resetting"},
             {16, "auth_pass in vrrp_instance VI_1 is longer than 8 characters"},
             {19, "'brd 10.0.0.255', 'label eth0:1' ignored"},
             {21, "virtual address on dev eth2 in vrrp_instance VI_1: haplane VIPs live on the instance's port, eth0"},
             {22, "virtual address fd00::1/64 in vrrp_instance VI_1 is not of the instance's family"},
             {25, "note: virtual_ipaddress_excluded 10.0.0.102/24"},
             {30, "'src 10.0.0.100', 'metric 5' ignored"},
             {31, "virtual route 'blackhole 10.99.0.0/16' in vrrp_instance VI_1: haplane installs unicast routes only"},
             {33, "unicast_src_ip 10.0.0.2 in vrrp_instance VI_1 has no haplane equivalent", },
             {37, "the interface name 'vrrp51' of use_vmac"},
             {44, "(VI_1) track script missing not found, ignoring..."},
             {50, "words after the script of 'notify_backup' in vrrp_instance VI_1 ignored: 'backup'"},
             {58, "mcast_src_ip 10.0.0.2 in vrrp_instance VI_1 has no haplane equivalent"},
             {59, "'dont_track_primary' in vrrp_instance VI_1 has no haplane equivalent"},
             {60, "'smtp_alert' in vrrp_instance VI_1 has no haplane equivalent"},
             {61, "'debug' in vrrp_instance VI_1 has no haplane equivalent"},
             {62, "'lvs_sync_daemon_interface' in vrrp_instance VI_1 has no haplane equivalent"},
         })
        EXPECT_TRUE(has(r, {"k.conf:" + std::to_string(line) + ": ", what})) << what << "\n" << dump_messages(r);
}

TEST(KeepalivedInstance, PriorityAndStateDeriveFromEachOtherAsInKeepalived) {
    const auto r = imp(instance({"state MASTER"}) +
                       conf({"vrrp_instance VI_2 {", "  interface eth0", "  virtual_router_id 52", "  priority 255",
                             "  virtual_ipaddress {", "    10.0.0.2", "  }", "}"}) +
                       conf({"vrrp_instance VI_3 {", "  interface eth0", "  virtual_router_id 53",
                             "  virtual_ipaddress {", "    10.0.0.3", "  }", "}"}));
    loads(r);
    ASSERT_EQ(r.config.vrrp_instances.size(), 3u) << dump_messages(r);
    EXPECT_EQ(vi(r, 0).priority, 255);   // MASTER without a priority: the address owner
    EXPECT_EQ(vi(r, 0).state, VrrpState::MASTER);
    EXPECT_EQ(vi(r, 1).state, VrrpState::MASTER);   // 255 without a state: MASTER
    EXPECT_EQ(vi(r, 2).priority, 100);
    EXPECT_EQ(vi(r, 2).state, VrrpState::BACKUP);
    EXPECT_TRUE(has(r, {"k.conf:1: note: (VI_1) no priority with state MASTER", "priority 255"})) << dump_messages(r);
}

TEST(KeepalivedInstance, NopreemptWithStateMasterIsClearedAsInKeepalived) {
    const auto r = imp(instance({"state MASTER", "priority 150", "nopreempt", "preempt_delay 10"}));
    loads(r);
    EXPECT_TRUE(vi(r).preempt);
    EXPECT_EQ(vi(r).preempt_delay, 0s);
    EXPECT_TRUE(has(r, {"(VI_1) Warning - nopreempt will not work with initial state MASTER - clearing"}));
    EXPECT_TRUE(has(r, {"(VI_1) Warning - preempt delay will not work with initial state MASTER - clearing"}));
}

TEST(KeepalivedInstance, VersionAdvertIntervalAndAuthentication) {
    // v2: whole seconds, rounded; v3: 10 ms steps; IPv6 forces v3; no auth on v3.
    const auto r = imp(
        instance({"advert_int 1.4"}) +
        conf({"vrrp_instance V3 {", "  interface eth0", "  virtual_router_id 2", "  version 3",
              "  advert_int 0.015", "  authentication {", "    auth_type PASS", "    auth_pass x", "  }",
              "  virtual_ipaddress {", "    10.0.0.2", "  }", "}"}) +
        conf({"vrrp_instance V6 {", "  interface eth0", "  virtual_router_id 3", "  version 2", "  advert_int 0.5",
              "  virtual_ipaddress {", "    fd00::10/64", "  }", "}"}) +
        conf({"vrrp_instance AH {", "  interface eth0", "  virtual_router_id 4", "  authentication {",
              "    auth_type AH", "    auth_pass x", "  }", "  virtual_ipaddress {", "    10.0.0.4", "  }", "}"}));
    loads(r);
    ASSERT_EQ(r.config.vrrp_instances.size(), 4u) << dump_messages(r);
    EXPECT_EQ(vi(r, 0).version, 2);
    EXPECT_EQ(vi(r, 0).advert_interval, 1s);
    EXPECT_EQ(vi(r, 1).version, 3);
    EXPECT_EQ(vi(r, 1).advert_interval, 20ms);
    EXPECT_EQ(vi(r, 1).authentication.type, Authentication::Type::NONE);
    EXPECT_EQ(vi(r, 2).version, 3);
    EXPECT_EQ(vi(r, 2).advert_interval, 500ms);
    EXPECT_EQ(vi(r, 3).authentication.type, Authentication::Type::NONE);
    EXPECT_TRUE(has(r, {"(VI_1) advert_int 1.4s is not whole seconds, which VRRP version 2 needs: 1s"}));
    EXPECT_TRUE(has(r, {"(V3) advert_int 15ms is not a multiple of 10ms", ": 20ms"})) << dump_messages(r);
    EXPECT_TRUE(has(r, {"(V3) VRRP version 3 does not support authentication. Ignoring."}));
    EXPECT_TRUE(has(r, {"(V6) cannot use IPv6 with VRRP version 2; setting version 3"}));
    EXPECT_TRUE(has(r, {"(AH) AH authentication is not supported by haplane"}));
}

TEST(KeepalivedInstance, InstancesHaplaneCannotRunAreSkippedWithTheReason) {
    const auto r = imp(conf({"vrrp_instance NO_IF {", "  virtual_router_id 1", "  virtual_ipaddress {",
                             "    10.0.0.1", "  }", "}",
                             "vrrp_instance NO_VIP {", "  interface eth0", "  virtual_router_id 2", "}"}) +
                       instance({}) + instance({}) +
                       conf({"vrrp_instance SAME_VRID {", "  interface eth0", "  virtual_router_id 51",
                             "  virtual_ipaddress {", "    10.0.0.9", "  }", "}"}));
    loads(r);
    ASSERT_EQ(r.config.vrrp_instances.size(), 1u) << dump_messages(r);
    EXPECT_TRUE(has(r, {"(NO_IF) no interface: a haplane instance lives on a port: instance skipped"}));
    EXPECT_TRUE(has(r, {"(NO_VIP) no virtual_ipaddress (haplane needs at least one): instance skipped"}));
    EXPECT_TRUE(has(r, {"(VI_1) a vrrp_instance of this name was defined before: instance skipped"}));
    EXPECT_TRUE(has(r, {"(SAME_VRID) virtual_router_id 51 on eth0 is already used by VI_1: instance skipped"}));
}

TEST(KeepalivedInstance, PortsStubAndStaticAddresses) {
    const auto r = imp(conf({
        "static_ipaddress {",
        "  192.168.1.2/24 brd 192.168.1.255 dev eth0 scope global",
        "  10.9.9.9/24 dev eth9",
        "}",
    }) + instance({}));
    const Config c = loads(r);
    ASSERT_EQ(c.ports.size(), 1u);
    EXPECT_EQ(c.ports[0].addresses.at(0).str(), "192.168.1.2/24");
    EXPECT_TRUE(has(r, {"k.conf:2: note: static_ipaddress 192.168.1.2/24 dev eth0 became an address of port eth0"}))
        << dump_messages(r);
    EXPECT_TRUE(has(r, {"k.conf:3: warning: static_ipaddress 10.9.9.9/24 dev eth9: eth9 is no haplane port"}));
    EXPECT_FALSE(has(r, {"its addresses are empty"}));
    const auto bare = imp(instance({}));
    loads(bare);
    EXPECT_TRUE(has(bare, {"k.conf:2: warning: port eth0: its addresses are empty"})) << dump_messages(bare);
    EXPECT_TRUE(has(bare, {"k.conf: note: ports: each device is a stub, \"net_af_packet0,iface=eth0\"", "PCI address"}));
    EXPECT_NE(bare.yaml.find("    addresses: []\n"), std::string::npos) << bare.yaml;
}

// ==== vrrp_sync_group ====================================================================

TEST(KeepalivedSyncGroup, MapsMembersNotifyAndTracking) {
    const auto r = imp(instance({}) +
                       conf({"vrrp_instance VI_2 {", "  interface eth1", "  virtual_router_id 52",
                             "  virtual_ipaddress {", "    10.1.0.1/24", "  }", "}",
                             "vrrp_sync_group VG_1 {",                      // 15
                             "  group {",
                             "    VI_1 VI_2",
                             "    VI_9",
                             "  }",
                             "  notify_master \"/n.sh master\"",
                             "  notify_backup \"/n.sh backup\"",
                             "  notify_fault \"/n.sh fault\"",
                             "  notify /n.sh",
                             "  smtp_alert",
                             "  track_interface {",
                             "    eth5 weight -20",
                             "  }",
                             "}",
                             "vrrp_sync_group VG_2 {",
                             "  group {",
                             "    VI_1",
                             "  }",
                             "}"}));
    const Config c = loads(r);
    ASSERT_EQ(c.sync_groups.size(), 1u) << dump_messages(r);
    const SyncGroup& g = c.sync_groups[0];
    EXPECT_EQ(g.name, "VG_1");
    EXPECT_EQ(g.instances, (std::vector<std::string>{"VI_1", "VI_2"}));
    EXPECT_EQ(g.notify.master, "/n.sh master");
    EXPECT_EQ(g.notify.backup, "/n.sh backup");
    EXPECT_EQ(g.notify.fault, "/n.sh fault");
    EXPECT_EQ(g.notify.any, "/n.sh");
    for (const auto& v : c.vrrp_instances) EXPECT_EQ(v.track_ports, (std::vector<TrackPort>{{"eth5", -20}}));
    EXPECT_NE(c.find_port("eth5"), nullptr);
    EXPECT_TRUE(has(r, {"k.conf:18: warning: Virtual router VI_9 specified in sync group VG_1 doesn't exist"}));
    EXPECT_TRUE(has(r, {"k.conf:24: warning: 'smtp_alert' in vrrp_sync_group VG_1 has no haplane equivalent"}));
    EXPECT_TRUE(has(r, {"k.conf:31: warning: vrrp instance VI_1 is already in sync group VG_1"}));
    EXPECT_TRUE(has(r, {"warning: vrrp_sync_group VG_2 has no member instance left: skipped"}));
}

// ==== virtual_server =====================================================================

TEST(KeepalivedVirtualServer, LvsDrWithHttpGetChecks) {
    const auto r = imp(conf({
        "virtual_server 192.168.10.100 80 {",
        "  delay_loop 6",
        "  lb_algo wrr",
        "  lb_kind DR",
        "  persistence_timeout 50",
        "  protocol TCP",
        "  virtualhost www.example.com",
        "  quorum 2",
        "  hysteresis 1",
        "  sorry_server 192.168.10.250 8080",
        "  alpha",
        "  omega",                                      // 12
        "  quorum_up \"/q.sh up\"",
        "  quorum_down \"/q.sh down\"",
        "  real_server 192.168.10.11 80 {",
        "    weight 3",
        "    inhibit_on_failure",
        "    notify_up \"/rs.sh up\"",
        "    notify_down \"/rs.sh down\"",
        "    HTTP_GET {",
        "      url {",
        "        path /health",
        "        status_code 200 301-302",
        "        digest 640205b7b0fc66c1ea91c463fac6334d",   // 24
        "      }",
        "      url {",                                     // 26
        "        path /other",
        "      }",
        "      connect_port 8080",
        "      connect_ip 192.168.10.21",
        "      connect_timeout 3",
        "      nb_get_retry 2",
        "      delay_before_retry 4",
        "    }",
        "    TCP_CHECK {",                                 // 35
        "      connect_timeout 1",
        "    }",
        "  }",
        "  real_server 192.168.10.12 80 {",
        "    HTTP_GET {",
        "      url {",
        "        path status",
        "        regex \"OK|ok\"",
        "      }",
        "    }",
        "  }",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.virtual_servers.size(), 1u) << dump_messages(r);
    const VirtualServer& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.name, "192.168.10.100:80");
    EXPECT_EQ(vs.vip.str(), "192.168.10.100");
    EXPECT_EQ(vs.port, 80);
    EXPECT_EQ(vs.protocol, Protocol::tcp);
    EXPECT_EQ(vs.scheduler, Scheduler::wrr);
    EXPECT_EQ(vs.method, Method::dr);
    EXPECT_EQ(vs.persistence_timeout, 50s);
    EXPECT_EQ(vs.quorum, 2u);
    EXPECT_EQ(vs.hysteresis, 1u);
    ASSERT_TRUE(vs.sorry_server);
    EXPECT_EQ(vs.sorry_server->address.str(), "192.168.10.250");
    EXPECT_EQ(vs.sorry_server->port, 8080);
    EXPECT_TRUE(vs.alpha);
    EXPECT_EQ(vs.notify.quorum_up, "/q.sh up");
    EXPECT_EQ(vs.notify.quorum_down, "/q.sh down");
    ASSERT_EQ(vs.real_servers.size(), 2u);
    const RealServer& a = vs.real_servers[0];
    EXPECT_EQ(a.address.str(), "192.168.10.11");
    EXPECT_EQ(a.port, 80);
    EXPECT_EQ(a.weight, 3u);
    EXPECT_TRUE(a.inhibit_on_failure);
    EXPECT_EQ(a.notify.up, "/rs.sh up");
    EXPECT_EQ(a.notify.down, "/rs.sh down");
    ASSERT_TRUE(a.check);
    EXPECT_EQ(a.check->type, HealthCheck::Type::http);
    EXPECT_EQ(a.check->path, "/health");
    EXPECT_EQ(a.check->status, "200,301-302");
    EXPECT_EQ(a.check->host, "www.example.com");
    EXPECT_EQ(a.check->interval, 6s);
    EXPECT_EQ(a.check->timeout, 3s);
    EXPECT_EQ(a.check->retry, 2u);
    EXPECT_EQ(a.check->delay_before_retry, 4s);
    EXPECT_EQ(a.check->rise, 1u);
    EXPECT_EQ(a.check->fall, 1u);
    EXPECT_EQ(a.check->connect_port, 8080);
    EXPECT_EQ(a.check->connect_ip->str(), "192.168.10.21");
    const RealServer& b = vs.real_servers[1];
    EXPECT_EQ(b.weight, 1u);
    ASSERT_TRUE(b.check);
    EXPECT_EQ(b.check->path, "/status");
    EXPECT_EQ(b.check->status, "200-299");
    EXPECT_EQ(b.check->body_regex, "OK|ok");
    EXPECT_EQ(b.check->timeout, 5s);   // keepalived's connect_timeout default
    EXPECT_EQ(b.check->retry, 1u);     // keepalived's retry default
    EXPECT_EQ(b.check->delay_before_retry, 1s);
    EXPECT_TRUE(has(r, {"k.conf:12: warning: 'omega' in virtual_server 192.168.10.100 80 has no haplane equivalent"}));
    EXPECT_TRUE(has(r, {"k.conf:24: warning: 'digest' in HTTP_GET", "MD5"}));
    EXPECT_TRUE(has(r, {"k.conf:26: warning: another url in HTTP_GET"}));
    EXPECT_TRUE(has(r, {"k.conf:35: warning: TCP_CHECK in real_server 192.168.10.11 80", "one check per real server"}));
    EXPECT_TRUE(has(r, {"k.conf:42: warning: url path 'status'", "'/' added"}));
}

TEST(KeepalivedVirtualServer, KeepalivedsDefaultsWhereHaplanesDiffer) {
    const auto r = imp(conf({
        "virtual_server 10.0.0.1 53 {",
        "  real_server 10.0.1.1 53 {",
        "    TCP_CHECK {",
        "    }",
        "  }",
        "  real_server 10.0.1.2 {",
        "  }",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.virtual_servers.size(), 1u) << dump_messages(r);
    const VirtualServer& vs = c.virtual_servers[0];
    EXPECT_EQ(vs.name, "10.0.0.1:53/udp");
    EXPECT_EQ(vs.protocol, Protocol::udp);   // keepalived 2.x: no protocol = UDP
    EXPECT_EQ(vs.method, Method::nat);       // keepalived: no lb_kind = NAT
    EXPECT_EQ(vs.scheduler, Scheduler::wlc);
    const HealthCheck& hc = *vs.real_servers.at(0).check;
    EXPECT_EQ(hc.type, HealthCheck::Type::tcp);
    EXPECT_EQ(hc.interval, 60s);   // delay_loop
    EXPECT_EQ(hc.timeout, 5s);     // connect_timeout
    EXPECT_EQ(hc.retry, 1u);
    EXPECT_EQ(hc.delay_before_retry, 1s);
    EXPECT_EQ(vs.real_servers.at(1).port, 0);   // the virtual server's
    EXPECT_FALSE(vs.real_servers.at(1).check);
    EXPECT_TRUE(has(r, {"k.conf:1: warning: 'virtual_server 10.0.0.1 53': no protocol: keepalived 2.x defaults to UDP"}));
    EXPECT_TRUE(has(r, {"k.conf:1: note: 'virtual_server 10.0.0.1 53': no lb_kind: keepalived's default NAT"}));
}

TEST(KeepalivedVirtualServer, SchedulersAndMethods) {
    std::string text;
    const std::vector<std::pair<std::string, Scheduler>> cases = {
        {"rr", Scheduler::rr},   {"wrr", Scheduler::wrr},  {"lc", Scheduler::lc},   {"wlc", Scheduler::wlc},
        {"sh", Scheduler::sh},   {"mh", Scheduler::mh},    {"lblc", Scheduler::wlc}, {"lblcr", Scheduler::wlc},
        {"dh", Scheduler::sh},   {"sed", Scheduler::wlc},  {"nq", Scheduler::wlc},   {"fo", Scheduler::wrr},
        {"ovf", Scheduler::wlc}, {"bogus", Scheduler::wlc}};
    const char* methods[] = {"DR", "NAT", "TUN", "dr"};
    for (size_t i = 0; i < cases.size(); ++i)
        text += "virtual_server 10.0.0." + std::to_string(i + 1) + " 80 {\n  protocol TCP\n  lb_algo " +
                cases[i].first + "\n  lb_kind " + methods[i % 4] + "\n  persistence_timeout\n}\n";
    const auto r = imp(text);
    const Config c = loads(r);
    ASSERT_EQ(c.virtual_servers.size(), cases.size()) << dump_messages(r);
    const Method expected_methods[] = {Method::dr, Method::nat, Method::tun, Method::dr};
    for (size_t i = 0; i < cases.size(); ++i) {
        EXPECT_EQ(c.virtual_servers[i].scheduler, cases[i].second) << cases[i].first;
        EXPECT_EQ(c.virtual_servers[i].method, expected_methods[i % 4]);
        EXPECT_EQ(c.virtual_servers[i].persistence_timeout, 360s);   // keepalived's value without a number
        if (i >= 6) {
            EXPECT_TRUE(has(r, {"k.conf:" + std::to_string(i * 6 + 3) + ": warning: ", cases[i].first}))
                << cases[i].first << "\n" << dump_messages(r);
        }
    }
    EXPECT_EQ(r.warnings().size(), 8u) << dump_messages(r);
}

TEST(KeepalivedVirtualServer, MiscCheckScripts) {
    const auto r = imp(conf({
        "virtual_server 10.0.0.1 80 {",
        "  protocol TCP",
        "  delay_loop 10",
        "  real_server 10.0.1.1 80 {",
        "    MISC_CHECK {",
        "      misc_path \"/bin/check 10.0.1.1\"",
        "      misc_timeout 3",
        "      misc_dynamic",
        "      user nobody",
        "    }",
        "  }",
        "  real_server 10.0.1.2 80 {",
        "    MISC_CHECK {",
        "      misc_path \"/bin/a; /bin/b\"",
        "    }",
        "  }",
        "  real_server 10.0.1.3 80 {",
        "    MISC_CHECK {",
        "      misc_path /bin/check 10.0.1.3",
        "    }",
        "  }",
        "}",
    }));
    const Config c = loads(r);
    const auto& rs = c.virtual_servers.at(0).real_servers;
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[0].check->type, HealthCheck::Type::script);
    EXPECT_EQ(rs[0].check->script, "/bin/check 10.0.1.1");   // misc_dynamic: haplane's own rule
    EXPECT_EQ(rs[0].check->timeout, 3s);
    EXPECT_EQ(rs[0].check->interval, 10s);
    EXPECT_EQ(rs[0].check->retry, 0u);   // keepalived: MISC_CHECK does not retry by default
    EXPECT_EQ(rs[1].check->script, "{ /bin/a; /bin/b; } || exit 1");
    EXPECT_EQ(rs[1].check->timeout, 10s);   // keepalived: misc_timeout defaults to delay_loop
    EXPECT_EQ(rs[2].check->script, "/bin/check 10.0.1.3 || exit 1");
    EXPECT_TRUE(has(r, {"k.conf:9: warning: 'user' in MISC_CHECK", "has no haplane equivalent"}));
    EXPECT_TRUE(has(r, {"k.conf:13: note: MISC_CHECK", "without misc_dynamic"}));
}

TEST(KeepalivedVirtualServer, CheckersWithoutAnEquivalent) {
    const auto r = imp(conf({
        "virtual_server 10.0.0.1 443 {",
        "  protocol TCP",
        "  real_server 10.0.1.1 443 {",
        "    SSL_GET {",
        "      url {",
        "        path /",
        "      }",
        "    }",
        "  }",
        "  real_server 10.0.1.2 25 {",
        "    SMTP_CHECK {",
        "      host {",
        "        connect_ip 10.0.1.22",
        "        connect_port 2525",
        "      }",
        "      helo_name lb.example.com",
        "    }",
        "  }",
        "  real_server 10.0.1.3 53 {",
        "    DNS_CHECK {",
        "      type A",
        "      name example.com",
        "    }",
        "  }",
        "  real_server 10.0.1.4 443 {",
        "    PING_CHECK {",
        "      connect_timeout 2",
        "    }",
        "  }",
        "  real_server 10.0.1.5 443 {",
        "    BFD_CHECK {",
        "    }",
        "  }",
        "}",
        "virtual_server 10.0.0.1 53 {",
        "  protocol UDP",
        "  real_server 10.0.1.6 53 {",
        "    UDP_CHECK {",
        "      payload 70696e67",
        "      require_reply 706f6e67",
        "    }",
        "  }",
        "  real_server 10.0.1.7 53 {",
        "    UDP_CHECK {",
        "    }",
        "  }",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.virtual_servers.size(), 2u) << dump_messages(r);
    const auto& rs = c.virtual_servers[0].real_servers;
    EXPECT_EQ(rs[0].check->type, HealthCheck::Type::tcp);
    EXPECT_EQ(rs[1].check->type, HealthCheck::Type::tcp);
    EXPECT_EQ(rs[1].check->connect_ip->str(), "10.0.1.22");
    EXPECT_EQ(rs[1].check->connect_port, 2525);
    EXPECT_EQ(rs[2].check->type, HealthCheck::Type::script);
    EXPECT_EQ(rs[2].check->script,
              "dig @10.0.1.3 -p 53 +time=5 +tries=1 example.com A | grep -q 'status: NOERROR' || exit 1");
    EXPECT_EQ(rs[3].check->script, "ping -c 1 -W 2 10.0.1.4 >/dev/null || exit 1");
    EXPECT_FALSE(rs[4].check);
    const auto& udp = c.virtual_servers[1].real_servers;
    EXPECT_EQ(udp[0].check->type, HealthCheck::Type::udp);
    EXPECT_EQ(udp[0].check->payload, "ping");
    EXPECT_EQ(udp[0].check->expect, "pong");
    EXPECT_TRUE(has(r, {"k.conf:4: warning: SSL_GET", "imported as a TCP connect check"}));
    EXPECT_TRUE(has(r, {"k.conf:11: warning: SMTP_CHECK", "imported as a TCP connect check"}));
    EXPECT_TRUE(has(r, {"k.conf:16: warning: 'helo_name'"}));
    EXPECT_TRUE(has(r, {"k.conf:20: warning: DNS_CHECK", "dig"}));
    EXPECT_TRUE(has(r, {"k.conf:26: warning: PING_CHECK"}));
    EXPECT_TRUE(has(r, {"k.conf:31: warning: BFD_CHECK", "no check (always up)"}));
    EXPECT_TRUE(has(r, {"k.conf:44: warning: UDP_CHECK", "without require_reply"}));
}

TEST(KeepalivedVirtualServer, GroupsExpandAndFwmarksAreSkipped) {
    const auto r = imp(conf({
        "virtual_server_group WEB {",
        "  10.0.0.1 80",
        "  10.0.0.10-12 8080",
        "  fwmark 7",
        "}",
        "virtual_server group WEB {",
        "  protocol TCP",
        "  lb_kind DR",
        "  real_server 10.0.1.1 {",
        "    TCP_CHECK {",
        "    }",
        "  }",
        "}",
        "virtual_server fwmark 1 {",
        "  protocol TCP",
        "}",
        "virtual_server group NOPE {",
        "}",
    }));
    const Config c = loads(r);
    std::vector<std::string> names;
    for (const auto& vs : c.virtual_servers) names.push_back(vs.name);
    EXPECT_EQ(names, (std::vector<std::string>{"10.0.0.1:80", "10.0.0.10:8080", "10.0.0.11:8080", "10.0.0.12:8080"}));
    for (const auto& vs : c.virtual_servers) EXPECT_EQ(vs.real_servers.size(), 1u);
    EXPECT_TRUE(has(r, {"k.conf:4: warning: fwmark 7 in virtual_server_group WEB"}));
    EXPECT_TRUE(has(r, {"k.conf:6: warning: 'virtual_server group WEB'", "expanded into 4 virtual server(s)"}));
    EXPECT_TRUE(has(r, {"k.conf:14: warning: 'virtual_server fwmark 1'", "skipped"}));
    EXPECT_TRUE(has(r, {"k.conf:17: warning: 'virtual_server group NOPE': no virtual_server_group NOPE"}));
}

TEST(KeepalivedVirtualServer, WhatHaplaneRefusesIsSkippedNotEmitted) {
    const auto r = imp(conf({
        "virtual_server 10.0.0.1 80 {",
        "  protocol SCTP",
        "}",
        "virtual_server 10.0.0.2 80 {",
        "  protocol TCP",
        "  sorry_server fd00::1 80",
        "  real_server fd00::2 80 {",
        "  }",
        "  real_server 10.0.1.1 80 {",
        "  }",
        "  real_server 10.0.1.1 80 {",
        "  }",
        "}",
        "virtual_server 10.0.0.2 80 {",
        "  protocol TCP",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.virtual_servers.size(), 1u) << dump_messages(r);
    EXPECT_FALSE(c.virtual_servers[0].sorry_server);
    EXPECT_EQ(c.virtual_servers[0].real_servers.size(), 1u);
    EXPECT_TRUE(has(r, {"k.conf:2: warning: protocol SCTP", "virtual server skipped"}));
    EXPECT_TRUE(has(r, {"sorry_server fd00::1 is not of the VIP's family"}));
    EXPECT_TRUE(has(r, {"k.conf:7: warning: real_server fd00::2", "not of the VIP's family"}));
    EXPECT_TRUE(has(r, {"k.conf:11: warning: real_server 10.0.1.1 80 is listed twice"}));
    EXPECT_TRUE(has(r, {"k.conf:14: warning: 'virtual_server 10.0.0.2 80': 10.0.0.2:80 is defined twice"}));
}

TEST(KeepalivedSyntax, OddNamesAndStringsStillGiveALoadableFile) {
    const auto r = imp(conf({
        "vrrp_script \"a: b\" {",
        "  script \"/bin/true\"",
        "}",
        "vrrp_script \"\" {",
        "  script x",
        "}",
        "vrrp_script ~ {",
        "  script \"[x] & y: z # not a comment\"",
        "}",
        "vrrp_instance \"[x]\" {",
        "  interface \"\"",
        "  virtual_router_id 5",
        "  virtual_ipaddress {",
        "    10.0.0.1",
        "  }",
        "}",
        "vrrp_instance null {",
        "  interface eth1",
        "  virtual_router_id 5",
        "  virtual_ipaddress {",
        "    10.0.0.1",
        "  }",
        "  track_script {",
        "    \"a: b\"",
        "    ~",
        "  }",
        "  notify \"it's {}\"",
        "}",
    }));
    const Config c = loads(r);
    ASSERT_EQ(c.vrrp_scripts.size(), 2u) << dump_messages(r);
    EXPECT_EQ(c.vrrp_scripts[1].script, "[x] & y: z # not a comment");
    ASSERT_EQ(c.vrrp_instances.size(), 1u) << dump_messages(r);
    EXPECT_EQ(vi(r).name, "null");
    EXPECT_EQ(vi(r).track_scripts.size(), 2u);
    EXPECT_EQ(vi(r).notify.any, "it's {}");
    EXPECT_TRUE(has(r, {"k.conf:4: warning: vrrp_script without a name: ignored"}));
    EXPECT_TRUE(has(r, {"([x]) no interface"})) << dump_messages(r);
}

// ==== the YAML ===========================================================================

TEST(KeepalivedYaml, OnlyWhatWasSetWithAHeaderAndTheStubFirst) {
    const auto r = imp(conf({"global_defs {", "  router_id \"yes\"", "}"}) + instance({"state BACKUP"}));
    loads(r);
    EXPECT_EQ(r.yaml.rfind("# haplane configuration imported from keepalived.conf", 0), 0u) << r.yaml;
    EXPECT_NE(r.yaml.find("# Source: k.conf\n"), std::string::npos);
    EXPECT_NE(r.yaml.find("  router_id: \"yes\"\n"), std::string::npos) << r.yaml;   // stays a string
    EXPECT_LT(r.yaml.find("ports:"), r.yaml.find("vrrp_instances:"));
    EXPECT_EQ(r.yaml.find("preempt"), std::string::npos) << r.yaml;   // defaults are left out
    EXPECT_EQ(r.yaml.find("garp"), std::string::npos) << r.yaml;
    // Empty input: still a valid document.
    const auto empty = imp("");
    loads(empty);
    EXPECT_NE(empty.yaml.find("ports: []"), std::string::npos) << empty.yaml;
}

// ==== every seed config, and the samples ===============================================================

struct DataCase {
    const char* file;
    size_t instances;
    size_t virtual_servers;
    std::vector<std::string> warnings;   // each must be among the messages (after "FILE:")
};

class KeepalivedData : public ::testing::TestWithParam<DataCase> {};

// "seed-000-single-master.conf" -> "seed_000_single_master"
std::string case_name(const ::testing::TestParamInfo<DataCase>& info) {
    std::string name = info.param.file;
    name = name.substr(0, name.rfind('.'));
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return name;
}

TEST_P(KeepalivedData, ImportsAndLoads) {
    const DataCase& d = GetParam();
    const auto r = import_keepalived_file(data(d.file));
    ASSERT_TRUE(r.ok) << dump_messages(r);
    const Config c = loads(r, d.file);
    EXPECT_EQ(c.vrrp_instances.size(), d.instances) << dump_messages(r) << r.yaml;
    EXPECT_EQ(c.virtual_servers.size(), d.virtual_servers) << dump_messages(r) << r.yaml;
    for (const auto& w : d.warnings) EXPECT_TRUE(has(r, {data(d.file) + ":" + w})) << w << "\n" << dump_messages(r);
    // Nothing that keepalived reads is dropped silently: every port is
    // warned about, every skipped instance says so.
    for (const auto& p : c.ports) EXPECT_TRUE(has(r, {"port " + p.name + ": its addresses are empty"}));
}

const std::string mail = "' in global_defs has no haplane equivalent (haplane sends no e-mail";

INSTANTIATE_TEST_SUITE_P(
    Seeds, KeepalivedData,
    ::testing::Values(
        DataCase{"seed-000-single-master.conf", 1, 0,
                 {"6: warning: 'notification_email" + mail, "9: warning: 'notification_email_from" + mail,
                  "10: warning: 'smtp_server" + mail, "11: warning: 'smtp_connect_timeout" + mail}},
        DataCase{"seed-000-single-backup.conf", 1, 0, {"6: warning: 'notification_email" + mail}},
        DataCase{"seed-000-multi-201.conf", 2, 0, {"10: warning: 'smtp_server" + mail}},
        DataCase{"seed-000-multi-130.conf", 2, 0, {"10: warning: 'smtp_server" + mail}},
        DataCase{"seed-001-annotated-oneline.conf", 0, 0,
                 {"3: warning: this line is 1208 bytes long",
                  "3: warning: '#' starts a comment that runs to the end of the line",
                  "3: warning: 'global_defs' is not closed"}},
        DataCase{"seed-001-master-oneline.conf", 0, 0,
                 {"3: warning: extra words after 'state MASTER' in vrrp_instance VI_1 ignored",
                  "3: warning: (VI_1) no interface: a haplane instance lives on a port: instance skipped"}},
        DataCase{"seed-001-backup-oneline.conf", 0, 0,
                 {"3: warning: '#' starts a comment", "3: warning: 'vrrp_instance VI_1' is not closed",
                  "3: warning: (VI_1) no interface"}},
        DataCase{"seed-001-chk-mantaince-down-oneline.conf", 0, 0,
                 {"3: warning: vrrp_script chk_mantaince_down has no script: skipped"}},
        DataCase{"seed-001-chk-main-master-oneline.conf", 0, 0,
                 {"3: warning: unknown keyword 'router_id' at the top level: ignored (it belongs inside a block)",
                  "3: warning: extra '}' ignored", "3: warning: unknown keyword '脚本' in vrrp_script chk_main"}},
        DataCase{"seed-001-chk-main-backup-oneline.conf", 0, 0,
                 {"3: warning: unknown keyword 'smtp_connect_timeout' at the top level",
                  "3: warning: extra words after 'script [[ -f /etc/keepalived/down ]] && exit 1 || exit 0'"}},
        DataCase{"seed-001-notify-oneline.conf", 0, 0, {"3: warning: 'vrrp_instance VI_1' is not closed"}},
        DataCase{"seed-002-master.conf", 1, 0, {"11: warning: port em1: its addresses are empty"}},
        DataCase{"seed-002-backup.conf", 1, 0, {}},
        DataCase{"seed-003-static-oneline.conf", 0, 0,
                 {"3: warning: static_ipaddress 10.210.214.163/24 dev eth0: eth0 is no haplane port",
                  "3: warning: 'static_routes' has no haplane equivalent"}},
        DataCase{"seed-003-sync-group-oneline.conf", 0, 0,
                 {"3: warning: Virtual router inside_network specified in sync group VG_1 doesn't exist",
                  "3: warning: vrrp_sync_group VG_1 has no member instance left: skipped"}},
        DataCase{"seed-004-annotated.conf", 1, 0, {"4: warning: 'notification_email" + mail}},
        DataCase{"seed-004-master.conf", 1, 0, {"8: warning: 'smtp_server" + mail}},
        DataCase{"seed-004-backup.conf", 1, 0, {"8: warning: 'smtp_server" + mail}},
        DataCase{"seed-004-chk-mantaince-down.conf", 0, 0,
                 {"4: warning: '[[ ]]' is bash syntax and haplane runs scripts with /bin/sh: rewritten as "
                  "'[ -f /etc/keepalived/down ] && exit 1 || exit 0'"}},
        DataCase{"seed-004-chk-main-master.conf", 1, 0,
                 {"3: warning: unknown keyword 'router_id' at the top level", "4: warning: extra '}' ignored",
                  "5: warning: unknown keyword '脚本' in vrrp_script chk_main: ignored"}},
        DataCase{"seed-004-chk-main-backup.conf", 1, 0, {"5: warning: extra '}' ignored"}},
        DataCase{"seed-004-notify.conf", 1, 0, {"17: warning: (VI_1) track script chk_main not found, ignoring..."}}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Samples, KeepalivedData,
    ::testing::Values(
        DataCase{"sample-lvs-dr-http.conf", 1, 1,
                 {"26: warning: virtual_ipaddress 192.168.10.100/24 in vrrp_instance VI_WEB: 'label eth0:vip' ignored",
                  "45: warning: another url in HTTP_GET"}},
        DataCase{"sample-lvs-nat-sync-master.conf", 2, 1,
                 {"7: warning: 'lvs_sync_daemon' in global_defs has no haplane equivalent"}},
        DataCase{"sample-lvs-nat-sync-backup.conf", 2, 1, {}},
        DataCase{"sample-misc-check.conf", 0, 1, {"16: note: MISC_CHECK"}},
        DataCase{"sample-include.conf", 1, 1, {}}),
    case_name);

TEST(KeepalivedSeeds, WhatTheSeedConfigsBecome) {
    // The pair of seed 000 becomes a VRRPv2 PASS pair on eth0.
    const auto master = import_keepalived_file(data("seed-000-single-master.conf"));
    const auto backup = import_keepalived_file(data("seed-000-single-backup.conf"));
    const Config m = loads(master), b = loads(backup);
    EXPECT_EQ(m.global.router_id, "LVS_1");
    EXPECT_EQ(b.global.router_id, "LVS_2");
    const VrrpInstance& mi = m.vrrp_instances.at(0);
    const VrrpInstance& bi = b.vrrp_instances.at(0);
    EXPECT_EQ(mi.vrid, bi.vrid);
    EXPECT_EQ(mi.vrid, 55);
    EXPECT_EQ(mi.priority, 150);
    EXPECT_EQ(bi.priority, 100);
    EXPECT_EQ(mi.state, VrrpState::MASTER);
    EXPECT_EQ(bi.state, VrrpState::BACKUP);
    EXPECT_EQ(mi.version, 2);
    EXPECT_EQ(mi.authentication, (Authentication{Authentication::Type::PASS, "1111"}));
    EXPECT_EQ(mi.virtual_ipaddresses, bi.virtual_ipaddresses);
    EXPECT_EQ(mi.virtual_ipaddresses.at(0).str(), "192.168.0.204/24");
    EXPECT_EQ(m.ports.at(0).name, "eth0");
    EXPECT_EQ(m.ports.at(0).device, "net_af_packet0,iface=eth0");

    // seed 004's maintenance switch: the script, its weight and its tracking.
    const auto chk = import_keepalived_file(data("seed-004-chk-main-master.conf"));
    const Config c = loads(chk);
    ASSERT_EQ(c.vrrp_scripts.size(), 1u);
    EXPECT_EQ(c.vrrp_scripts[0].weight, -2);
    EXPECT_EQ(c.vrrp_instances.at(0).track_scripts, (std::vector<TrackScript>{{"chk_main", std::nullopt}}));
    EXPECT_EQ(c.vrrp_instances.at(0).vrid, 157);

    // seed 004's notify scripts, with their arguments.
    const auto notify = import_keepalived_file(data("seed-004-notify.conf"));
    const Config n = loads(notify);
    EXPECT_EQ(n.vrrp_instances.at(0).notify.master, "/etc/keepalived/notify.sh master");
    EXPECT_EQ(n.vrrp_instances.at(0).notify.fault, "/etc/keepalived/notify.sh fault");
    EXPECT_TRUE(n.vrrp_instances.at(0).track_scripts.empty());

    // The LVS-NAT pair: the two VIPs move together.
    const auto nat = import_keepalived_file(data("sample-lvs-nat-sync-master.conf"));
    const Config s = loads(nat);
    EXPECT_EQ(s.sync_groups.at(0).instances, (std::vector<std::string>{"VI_EXT", "VI_INT"}));
    EXPECT_EQ(s.ports.size(), 2u);
}

} // namespace
