// Child processes for the control thread: health-check scripts, notify
// scripts, vrrp_scripts. A command runs as `/bin/sh -c COMMAND` (or an argv)
// in its own process group, with stdin/stdout/stderr on /dev/null, an empty
// signal mask and default signal dispositions (the daemon blocks its signals
// for a signalfd; children must not inherit that). Optionally as
// `global.script_user`.
//
// Nothing blocks: the exit is noticed through a pidfd watched by the
// EventLoop, and the callback runs from the loop. A timeout SIGKILLs the
// whole process group and reports `timed_out`. The daemon must not reap
// children itself (no waitpid(-1), SIGCHLD not set to SIG_IGN).
#pragma once

#include "control/event_loop.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace haplane::control {

class Log;

struct ExitResult {
    bool exited = false;       // exited normally: `code` is its status
    int code = -1;
    int signal = 0;            // killed by this signal (0: not killed)
    bool timed_out = false;    // we killed it after its timeout
    bool spawn_failed = false; // it never ran (fork or pidfd failed): see `error`
    std::string error;

    bool success() const { return exited && code == 0 && !timed_out; }
    // "exited with status 1", "killed by signal 9", "timed out", "could not start: ..."
    std::string describe() const;
};

class ScriptRunner {
public:
    using Id = uint64_t;
    using Callback = std::function<void(const ExitResult&)>;
    using Duration = std::chrono::nanoseconds;

    explicit ScriptRunner(EventLoop& loop);
    ~ScriptRunner();   // kill_all()
    ScriptRunner(const ScriptRunner&) = delete;
    ScriptRunner& operator=(const ScriptRunner&) = delete;

    // The user scripts run as (global.script_user); nullopt = as the daemon.
    // Resolved now (uid, primary gid, supplementary groups). Returns an
    // error message when the user does not exist; the previous setting stays.
    std::optional<std::string> set_user(const std::optional<std::string>& name);

    // `/bin/sh -c command_line`. timeout zero = none. Returns an id for
    // cancel()/detach(). `done` runs later, from the loop, exactly once
    // (unless cancelled or detached) — also when the child could not start.
    Id run(const std::string& command_line, Duration timeout, Callback done);
    // argv[0] is executed as given (no PATH search).
    Id run_argv(const std::vector<std::string>& argv, Duration timeout, Callback done);

    // Kill the child's process group (SIGKILL); `done` never runs.
    void cancel(Id id);
    // Let the child run to its end, but forget `done` (its owner is going away).
    void detach(Id id);
    bool running(Id id) const { return children_.count(id) != 0; }
    size_t running() const { return children_.size(); }

    // Shutdown: wait up to `grace` (blocking) for the children to end, running
    // their callbacks, then kill_all(). grace zero = kill at once.
    void finish(Duration grace);
    // SIGKILL every child's process group and reap them; no callbacks.
    void kill_all();

private:
    struct Child {
        pid_t pid = -1;
        int pidfd = -1;
        EventLoop::TimerId timeout_timer = 0;
        EventLoop::TimerId poll_timer = 0;   // only without pidfd support
        bool timed_out = false;
        Callback done;
    };
    struct RunAs {
        uid_t uid;
        gid_t gid;
        std::vector<gid_t> groups;
    };

    Id spawn(const std::vector<std::string>& argv, Duration timeout, Callback done);
    void on_exit_ready(Id id);             // the pidfd says the child ended
    bool reap(Id id, bool block);          // true when reaped (and callback ran)
    void release(Child& c);                // unwatch, close, cancel timers
    void deliver_later(Callback done, ExitResult r);

    EventLoop& loop_;
    std::optional<RunAs> run_as_;
    Id next_id_ = 1;
    std::map<Id, Child> children_;
};

// Commands run one after the other in order (notify scripts: `down` then
// `up` must not overtake each other). Each gets its own timeout.
class ScriptQueue {
public:
    using Duration = std::chrono::nanoseconds;

    // log (optional): a line at detail level for each command that fails.
    ScriptQueue(ScriptRunner& runner, Log* log = nullptr);
    ~ScriptQueue();   // pending commands are dropped; the running one is detached
    ScriptQueue(const ScriptQueue&) = delete;
    ScriptQueue& operator=(const ScriptQueue&) = delete;

    void push(std::string command_line, Duration timeout, ScriptRunner::Callback done = {});
    // Drop what is pending; cancel (kill) the running command.
    void clear();
    size_t pending() const { return queue_.size() + (running_ ? 1 : 0); }

private:
    struct Item {
        std::string command;
        Duration timeout;
        ScriptRunner::Callback done;
    };
    void next();

    ScriptRunner& runner_;
    Log* log_;
    std::deque<Item> queue_;
    std::optional<ScriptRunner::Id> running_;
};

} // namespace haplane::control
