// Logging for the control thread: to stderr (console) or syslog. Passed by
// reference to whoever logs; never touched by the workers.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace haplane::control {

class Log {
public:
    enum class Level { error, warning, info, detail };

    Log(bool console, bool detailed, std::string ident = "haplane");
    ~Log();
    Log(const Log&) = delete;
    Log& operator=(const Log&) = delete;

    void write(Level level, std::string_view message);
    bool detailed() const { return detailed_; }

    template <typename... A> void error(fmt::format_string<A...> f, A&&... a) { write(Level::error, fmt::format(f, std::forward<A>(a)...)); }
    template <typename... A> void warning(fmt::format_string<A...> f, A&&... a) { write(Level::warning, fmt::format(f, std::forward<A>(a)...)); }
    template <typename... A> void info(fmt::format_string<A...> f, A&&... a) { write(Level::info, fmt::format(f, std::forward<A>(a)...)); }
    // Every advert decision, GARP, check result: only with -D.
    template <typename... A> void detail(fmt::format_string<A...> f, A&&... a) {
        if (detailed_) write(Level::detail, fmt::format(f, std::forward<A>(a)...));
    }

private:
    bool console_;
    bool detailed_;
    std::string ident_;
};

} // namespace haplane::control
