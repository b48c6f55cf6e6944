#include "control/script_runner.hpp"

#include "control/log.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace haplane::control {

using namespace std::chrono_literals;

std::string ExitResult::describe() const {
    if (spawn_failed) return "could not start: " + error;
    if (timed_out) return "timed out";
    if (exited) return fmt::format("exited with status {}", code);
    if (signal) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
    if (!error.empty()) return error;
    return "ended";
}

ScriptRunner::ScriptRunner(EventLoop& loop) : loop_(loop) {}

ScriptRunner::~ScriptRunner() { kill_all(); }

std::optional<std::string> ScriptRunner::set_user(const std::optional<std::string>& name) {
    if (!name) {
        run_as_.reset();
        return std::nullopt;
    }
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
    passwd pw{};
    passwd* found = nullptr;
    int err;
    while ((err = getpwnam_r(name->c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE)
        buf.resize(buf.size() * 2);
    if (err != 0 || !found) return "unknown script_user \"" + *name + "\"";
    if (geteuid() != 0 && found->pw_uid != geteuid())
        return "cannot run scripts as \"" + *name + "\": haplane is not running as root";
    RunAs r{found->pw_uid, found->pw_gid, {}};
    int n = 32;
    r.groups.resize(static_cast<size_t>(n));
    while (getgrouplist(name->c_str(), found->pw_gid, r.groups.data(), &n) < 0)
        r.groups.resize(static_cast<size_t>(n > static_cast<int>(r.groups.size()) ? n : 2 * n));
    r.groups.resize(static_cast<size_t>(n));
    run_as_ = std::move(r);
    return std::nullopt;
}

ScriptRunner::Id ScriptRunner::run(const std::string& command_line, Duration timeout, Callback done) {
    return spawn({"/bin/sh", "-c", command_line}, timeout, std::move(done));
}

ScriptRunner::Id ScriptRunner::run_argv(const std::vector<std::string>& argv, Duration timeout,
                                        Callback done) {
    return spawn(argv, timeout, std::move(done));
}

namespace {

// The forked child: only system calls from here to execve (the parent may
// have threads; the child has one, and no locks may be taken).
[[noreturn]] void exec_child(const char* path, char* const* argv, int devnull, int max_fd,
                             const gid_t* groups, size_t ngroups, long uid, long gid) {
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);   // EINVAL for a few: fine
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
    }
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
        for (int fd = 3; fd < max_fd; ++fd) close(fd);
    if (uid >= 0) {
        if (syscall(SYS_setgroups, ngroups, groups) != 0) _exit(126);
        if (syscall(SYS_setgid, gid) != 0) _exit(126);
        if (syscall(SYS_setuid, uid) != 0) _exit(126);
    }
    execve(path, argv, environ);
    _exit(127);
}

} // namespace

ScriptRunner::Id ScriptRunner::spawn(const std::vector<std::string>& args, Duration timeout,
                                     Callback done) {
    const Id id = next_id_++;
    auto fail = [&](std::string why) {
        Child c;
        ExitResult r;
        r.spawn_failed = true;
        r.error = std::move(why);
        c.poll_timer = loop_.after(0ns, [this, id, r] {
            auto it = children_.find(id);
            if (it == children_.end()) return;
            auto cb = std::move(it->second.done);
            children_.erase(it);
            if (cb) cb(r);
        });
        c.done = std::move(done);
        children_.emplace(id, std::move(c));
        return id;
    };
    if (args.empty()) return fail("empty command");

    // Everything the child needs is prepared before fork.
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    rlimit rl{};
    int max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                         rl.rlim_cur < 65536
                     ? static_cast<int>(rl.rlim_cur)
                     : 65536;
    const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    const long uid = run_as_ ? static_cast<long>(run_as_->uid) : -1;
    const long gid = run_as_ ? static_cast<long>(run_as_->gid) : -1;
    const gid_t* groups = run_as_ ? run_as_->groups.data() : nullptr;
    const size_t ngroups = run_as_ ? run_as_->groups.size() : 0;

    const pid_t pid = fork();
    if (pid == 0) exec_child(argv[0], argv.data(), devnull, max_fd, groups, ngroups, uid, gid);
    const int fork_errno = errno;
    if (devnull >= 0) close(devnull);
    if (pid < 0) return fail(std::string("fork: ") + std::strerror(fork_errno));
    setpgid(pid, pid);   // also in the child: whoever runs first

    Child c;
    c.pid = pid;
    c.done = std::move(done);
    c.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));   // glibc 2.36: <sys/pidfd.h> lacks extern "C"
    if (c.pidfd >= 0) {
        loop_.watch(c.pidfd, EPOLLIN, [this, id](uint32_t) { on_exit_ready(id); });
    } else {
        // Kernels before 5.3: look every 10 ms.
        c.poll_timer = loop_.after(10ms, [this, id] { on_exit_ready(id); });
    }
    if (timeout > Duration::zero()) {
        c.timeout_timer = loop_.after(timeout, [this, id] {
            auto it = children_.find(id);
            if (it == children_.end()) return;
            it->second.timeout_timer = 0;
            it->second.timed_out = true;
            kill(-it->second.pid, SIGKILL);
            kill(it->second.pid, SIGKILL);
        });
    }
    children_.emplace(id, std::move(c));
    return id;
}

void ScriptRunner::on_exit_ready(Id id) {
    auto it = children_.find(id);
    if (it == children_.end()) return;
    if (reap(id, false)) return;
    // Without a pidfd: poll again.
    if (it->second.pidfd < 0)
        it->second.poll_timer = loop_.after(10ms, [this, id] { on_exit_ready(id); });
}

bool ScriptRunner::reap(Id id, bool block) {
    auto it = children_.find(id);
    if (it == children_.end()) return true;
    Child& c = it->second;
    int status = 0;
    pid_t r;
    do {
        r = waitpid(c.pid, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    ExitResult res;
    if (r < 0) {
        res.error = std::string("waitpid: ") + std::strerror(errno);   // reaped by someone else
    } else if (WIFEXITED(status)) {
        res.exited = true;
        res.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res.signal = WTERMSIG(status);
    }
    res.timed_out = c.timed_out;
    if (c.timed_out) {
        // The script is gone; what it started must not outlive it.
        kill(-c.pid, SIGKILL);
        res.exited = false;
    }
    release(c);
    auto cb = std::move(c.done);
    children_.erase(it);
    if (cb) cb(res);
    return true;
}

void ScriptRunner::release(Child& c) {
    if (c.pidfd >= 0) {
        loop_.unwatch(c.pidfd);
        close(c.pidfd);
        c.pidfd = -1;
    }
    if (c.timeout_timer) loop_.cancel(c.timeout_timer);
    if (c.poll_timer) loop_.cancel(c.poll_timer);
    c.timeout_timer = c.poll_timer = 0;
}

void ScriptRunner::cancel(Id id) {
    auto it = children_.find(id);
    if (it == children_.end()) return;
    Child& c = it->second;
    c.done = nullptr;
    if (c.pid < 0) {   // never started: nothing to reap
        release(c);
        children_.erase(it);
        return;
    }
    kill(-c.pid, SIGKILL);
    kill(c.pid, SIGKILL);
    // Reaped when its pidfd fires (no blocking here).
}

void ScriptRunner::detach(Id id) {
    auto it = children_.find(id);
    if (it == children_.end()) return;
    it->second.done = nullptr;
    if (it->second.pid < 0) {
        release(it->second);
        children_.erase(it);
    }
}

void ScriptRunner::finish(Duration grace) {
    const auto deadline = EventLoop::Clock::now() + grace;
    // Children that never started: report them now.
    for (auto it = children_.begin(); it != children_.end();) {
        if (it->second.pid >= 0) { ++it; continue; }
        release(it->second);
        auto cb = std::move(it->second.done);
        it = children_.erase(it);
        if (cb) {
            ExitResult r;
            r.spawn_failed = true;
            r.error = "shutting down";
            cb(r);
        }
    }
    while (!children_.empty()) {
        const auto now = EventLoop::Clock::now();
        if (now >= deadline) break;
        std::vector<pollfd> fds;
        std::vector<Id> ids;
        bool polling = false;
        for (auto& [id, c] : children_) {
            if (c.pidfd >= 0) {
                fds.push_back({c.pidfd, POLLIN, 0});
                ids.push_back(id);
            } else {
                polling = true;
            }
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
        if (polling && left > 10) left = 10;
        int n = poll(fds.data(), fds.size(), static_cast<int>(left));
        if (n < 0 && errno != EINTR) break;
        for (size_t i = 0; i < fds.size(); ++i)
            if (fds[i].revents) reap(ids[i], false);
        if (polling) {
            std::vector<Id> rest;
            for (auto& [id, c] : children_)
                if (c.pidfd < 0) rest.push_back(id);
            for (Id id : rest) reap(id, false);
        }
    }
    kill_all();
}

void ScriptRunner::kill_all() {
    for (auto& [id, c] : children_) {
        if (c.pid >= 0) {
            kill(-c.pid, SIGKILL);
            kill(c.pid, SIGKILL);
        }
    }
    for (auto& [id, c] : children_) {
        if (c.pid >= 0) {
            int status;
            while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {}
        }
        release(c);
    }
    children_.clear();
}

ScriptQueue::ScriptQueue(ScriptRunner& runner, Log* log) : runner_(runner), log_(log) {}

ScriptQueue::~ScriptQueue() {
    queue_.clear();
    if (running_) runner_.detach(*running_);
}

void ScriptQueue::push(std::string command_line, Duration timeout, ScriptRunner::Callback done) {
    queue_.push_back({std::move(command_line), timeout, std::move(done)});
    if (!running_) next();
}

void ScriptQueue::clear() {
    queue_.clear();
    if (running_) {
        runner_.cancel(*running_);
        running_.reset();
    }
}

void ScriptQueue::next() {
    if (running_ || queue_.empty()) return;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    auto command = item.command;
    running_ = runner_.run(item.command, item.timeout,
                           [this, command, done = std::move(item.done)](const ExitResult& r) {
                               running_.reset();
                               if (log_ && !r.success())
                                   log_->detail("Script [{}] {}", command, r.describe());
                               if (done) done(r);
                               next();
                           });
}

} // namespace haplane::control
