// Helpers for the tests that run real processes and sockets on a real
// EventLoop: run the loop until a condition holds, a temporary directory,
// stderr captured to a file (the Log writes there), small files.
#pragma once

#include "control/event_loop.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace check_test {

using namespace std::chrono_literals;
using haplane::control::EventLoop;

// Runs the loop until `done()` (checked every 2 ms) or `max` has passed.
// Returns done().
inline bool run_until(EventLoop& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds max = 3000ms) {
    const auto deadline = EventLoop::Clock::now() + max;
    EventLoop::TimerId timer = 0;
    std::function<void()> tick = [&] {
        timer = 0;
        if (done() || EventLoop::Clock::now() >= deadline) {
            loop.stop();
            return;
        }
        timer = loop.after(2ms, tick);
    };
    timer = loop.after(0ms, tick);
    loop.run();
    if (timer) loop.cancel(timer);
    return done();
}

// Runs the loop for `d`.
inline void run_for(EventLoop& loop, std::chrono::milliseconds d) {
    auto t = loop.after(d, [&] { loop.stop(); });
    loop.run();
    loop.cancel(t);
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/haplane-check-XXXXXX";
        path = mkdtemp(tmpl);
        std::filesystem::permissions(path, std::filesystem::perms::all);   // script_user tests
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// stderr (where a console Log writes) goes to a file while this lives.
class CaptureStderr {
public:
    explicit CaptureStderr(std::string path) : path_(std::move(path)) {
        fflush(stderr);
        saved_ = dup(STDERR_FILENO);
        FILE* f = fopen(path_.c_str(), "w");
        dup2(fileno(f), STDERR_FILENO);
        fclose(f);
    }
    ~CaptureStderr() { restore(); }
    void restore() {
        if (saved_ < 0) return;
        fflush(stderr);
        dup2(saved_, STDERR_FILENO);
        close(saved_);
        saved_ = -1;
    }
    std::string text() const {
        fflush(stderr);
        return read_file(path_);
    }
    bool contains(const std::string& s) const { return text().find(s) != std::string::npos; }

private:
    std::string path_;
    int saved_ = -1;
};

} // namespace check_test
