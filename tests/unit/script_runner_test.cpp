// ScriptRunner and ScriptQueue with real children on a real EventLoop: exit
// codes, timeouts that kill the whole process group, a clean signal mask and
// clean file descriptors in the child, cancel/detach/kill_all/finish,
// script_user, and notify commands that never overtake each other.
#include "control/script_runner.hpp"

#include "check_test_util.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>

using namespace haplane::control;
using namespace check_test;

namespace {

// Whether a process is gone (or a zombie nobody reaped yet).
bool process_gone(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    const size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

} // namespace

TEST(ScriptRunner, ReportsTheExitStatusThroughTheLoop) {
    EventLoop loop;
    ScriptRunner runner(loop);
    std::optional<ExitResult> got;
    runner.run("exit 3", 5s, [&](const ExitResult& r) { got = r; });
    EXPECT_FALSE(got);   // never from inside run()
    ASSERT_TRUE(run_until(loop, [&] { return got.has_value(); }));
    EXPECT_TRUE(got->exited);
    EXPECT_EQ(got->code, 3);
    EXPECT_FALSE(got->timed_out);
    EXPECT_FALSE(got->success());
    EXPECT_EQ(got->describe(), "exited with status 3");
    EXPECT_EQ(runner.running(), 0u);
}

TEST(ScriptRunner, RunsAShellCommandLine) {
    EventLoop loop;
    ScriptRunner runner(loop);
    TempDir dir;
    std::optional<ExitResult> got;
    runner.run("echo \"one two\" three > " + dir.file("out"), 5s, [&](const ExitResult& r) { got = r; });
    ASSERT_TRUE(run_until(loop, [&] { return got.has_value(); }));
    EXPECT_TRUE(got->success());
    EXPECT_EQ(read_file(dir.file("out")), "one two three\n");
}

TEST(ScriptRunner, ArgvIsExecutedWithoutAShell) {
    EventLoop loop;
    ScriptRunner runner(loop);
    std::optional<ExitResult> missing, ok;
    runner.run_argv({"/nonexistent/script", "a"}, 5s, [&](const ExitResult& r) { missing = r; });
    runner.run_argv({"/bin/sh", "-c", "exit $0", "7"}, 5s, [&](const ExitResult& r) { ok = r; });
    ASSERT_TRUE(run_until(loop, [&] { return missing && ok; }));
    EXPECT_EQ(missing->code, 127);
    EXPECT_EQ(ok->code, 7);
}

TEST(ScriptRunner, TimeoutKillsTheWholeProcessGroup) {
    EventLoop loop;
    ScriptRunner runner(loop);
    TempDir dir;
    std::optional<ExitResult> got;
    const auto start = EventLoop::Clock::now();
    // The script starts a grandchild, then waits: both must die.
    runner.run("sleep 10 & echo $! > " + dir.file("pid") + "; wait", 200ms,
               [&](const ExitResult& r) { got = r; });
    ASSERT_TRUE(run_until(loop, [&] { return got.has_value(); }));
    const auto took = EventLoop::Clock::now() - start;
    EXPECT_TRUE(got->timed_out);
    EXPECT_FALSE(got->success());
    EXPECT_EQ(got->describe(), "timed out");
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 1500ms);
    const pid_t grandchild = std::stoi(read_file(dir.file("pid")));
    EXPECT_TRUE(run_until(loop, [&] { return process_gone(grandchild); }, 1000ms));
}

TEST(ScriptRunner, ChildrenGetAnEmptySignalMask) {
    // The daemon blocks SIGTERM for its signalfd; scripts must not inherit that.
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    EventLoop loop;
    ScriptRunner runner(loop);
    std::optional<ExitResult> got;
    runner.run("kill -TERM $$; sleep 5", 3s, [&](const ExitResult& r) { got = r; });
    const bool done = run_until(loop, [&] { return got.has_value(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ASSERT_TRUE(done);
    EXPECT_FALSE(got->timed_out);
    EXPECT_EQ(got->signal, SIGTERM);
}

TEST(ScriptRunner, ChildrenGetDevNullAndNoInheritedDescriptors) {
    EventLoop loop;
    ScriptRunner runner(loop);
    TempDir dir;
    const int leaked = open("/dev/null", O_RDONLY);   // no O_CLOEXEC on purpose
    ASSERT_GE(leaked, 3);
    std::optional<ExitResult> got;
    runner.run("readlink /proc/$$/fd/0 > " + dir.file("stdin") + "; test -e /proc/$$/fd/" +
                   std::to_string(leaked) + " && exit 9; exit 0",
               5s, [&](const ExitResult& r) { got = r; });
    ASSERT_TRUE(run_until(loop, [&] { return got.has_value(); }));
    close(leaked);
    EXPECT_EQ(got->code, 0);
    EXPECT_EQ(read_file(dir.file("stdin")), "/dev/null\n");
}

TEST(ScriptRunner, CancelKillsAndNeverCallsBack) {
    EventLoop loop;
    ScriptRunner runner(loop);
    bool called = false;
    auto id = runner.run("sleep 10", 0s, [&](const ExitResult&) { called = true; });
    EXPECT_TRUE(runner.running(id));
    runner.cancel(id);
    EXPECT_TRUE(run_until(loop, [&] { return runner.running() == 0; }, 2000ms));
    EXPECT_FALSE(called);
}

TEST(ScriptRunner, DetachLetsItFinishWithoutTheCallback) {
    EventLoop loop;
    ScriptRunner runner(loop);
    TempDir dir;
    bool called = false;
    auto id = runner.run("sleep 0.05; touch " + dir.file("done"), 5s, [&](const ExitResult&) { called = true; });
    runner.detach(id);
    EXPECT_TRUE(run_until(loop, [&] { return runner.running() == 0; }));
    EXPECT_FALSE(called);
    EXPECT_TRUE(std::filesystem::exists(dir.file("done")));
}

TEST(ScriptRunner, KillAllLeavesNothingRunning) {
    EventLoop loop;
    ScriptRunner runner(loop);
    TempDir dir;
    int called = 0;
    for (int i = 0; i < 3; ++i)
        runner.run("echo $$ >> " + dir.file("pids") + "; exec sleep 10", 0s, [&](const ExitResult&) { ++called; });
    run_until(loop, [&] { return read_lines(dir.file("pids")).size() == 3; });
    runner.kill_all();
    EXPECT_EQ(runner.running(), 0u);
    EXPECT_EQ(called, 0);
    for (const auto& line : read_lines(dir.file("pids"))) EXPECT_TRUE(process_gone(std::stoi(line))) << line;
}

TEST(ScriptRunner, FinishWaitsForTheQuickAndKillsTheSlow) {
    EventLoop loop;
    std::optional<ExitResult> quick;
    bool slow_called = false;
    ScriptRunner runner(loop);
    runner.run("sleep 0.05; exit 4", 0s, [&](const ExitResult& r) { quick = r; });
    runner.run("sleep 10", 0s, [&](const ExitResult&) { slow_called = true; });
    const auto start = EventLoop::Clock::now();
    runner.finish(300ms);
    EXPECT_LT(EventLoop::Clock::now() - start, 2s);
    ASSERT_TRUE(quick);
    EXPECT_EQ(quick->code, 4);
    EXPECT_FALSE(slow_called);
    EXPECT_EQ(runner.running(), 0u);
}

TEST(ScriptRunner, RunsAsScriptUser) {
    EventLoop loop;
    ScriptRunner runner(loop);
    EXPECT_TRUE(runner.set_user(std::string("no-such-user-haplane")).has_value());
    if (geteuid() != 0) GTEST_SKIP() << "needs root to change user";
    passwd* nobody = getpwnam("nobody");
    if (!nobody) GTEST_SKIP() << "no user nobody";
    ASSERT_FALSE(runner.set_user(std::string("nobody")).has_value());
    TempDir dir;
    std::optional<ExitResult> got;
    runner.run("id -u > " + dir.file("uid") + "; id -g > " + dir.file("gid"), 5s,
               [&](const ExitResult& r) { got = r; });
    ASSERT_TRUE(run_until(loop, [&] { return got.has_value(); }));
    EXPECT_TRUE(got->success()) << got->describe();
    EXPECT_EQ(read_file(dir.file("uid")), std::to_string(nobody->pw_uid) + "\n");
    EXPECT_EQ(read_file(dir.file("gid")), std::to_string(nobody->pw_gid) + "\n");
    // Back to the daemon's own user.
    ASSERT_FALSE(runner.set_user(std::nullopt).has_value());
    got.reset();
    runner.run("id -u > " + dir.file("uid"), 5s, [&](const ExitResult& r) { got = r; });
    ASSERT_TRUE(run_until(loop, [&] { return got.has_value(); }));
    EXPECT_EQ(read_file(dir.file("uid")), "0\n");
}

TEST(ScriptQueue, CommandsRunOneAfterTheOtherInOrder) {
    EventLoop loop;
    ScriptRunner runner(loop);
    ScriptQueue queue(runner);
    TempDir dir;
    const auto out = dir.file("order");
    int done = 0;
    // The first is the slowest: run together they would finish last.
    queue.push("sleep 0.2; echo first >> " + out, 5s, [&](const ExitResult&) { ++done; });
    queue.push("sleep 0.05; echo second >> " + out, 5s, [&](const ExitResult&) { ++done; });
    queue.push("echo third >> " + out, 5s, [&](const ExitResult&) { ++done; });
    EXPECT_EQ(queue.pending(), 3u);
    ASSERT_TRUE(run_until(loop, [&] { return done == 3; }));
    EXPECT_EQ(read_lines(out), (std::vector<std::string>{"first", "second", "third"}));
    EXPECT_EQ(queue.pending(), 0u);
}

TEST(ScriptQueue, ATimeoutDoesNotStopTheQueue) {
    EventLoop loop;
    ScriptRunner runner(loop);
    ScriptQueue queue(runner);
    std::vector<std::string> results;
    queue.push("sleep 10", 100ms, [&](const ExitResult& r) { results.push_back(r.describe()); });
    queue.push("exit 0", 1s, [&](const ExitResult& r) { results.push_back(r.describe()); });
    ASSERT_TRUE(run_until(loop, [&] { return results.size() == 2; }));
    EXPECT_EQ(results, (std::vector<std::string>{"timed out", "exited with status 0"}));
}
