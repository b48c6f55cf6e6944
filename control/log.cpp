#include "control/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <syslog.h>

namespace haplane::control {

Log::Log(bool console, bool detailed, std::string ident)
    : console_(console), detailed_(detailed), ident_(std::move(ident)) {
    if (!console_) openlog(ident_.c_str(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

Log::~Log() {
    if (!console_) closelog();
}

void Log::write(Level level, std::string_view message) {
    if (!console_) {
        int prio = level == Level::error ? LOG_ERR : level == Level::warning ? LOG_WARNING
                 : level == Level::info ? LOG_INFO : LOG_DEBUG;
        syslog(prio, "%.*s", static_cast<int>(message.size()), message.data());
        return;
    }
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    std::fprintf(stderr, "%s.%03lld %s: %.*s\n", stamp, static_cast<long long>(ms), ident_.c_str(),
                 static_cast<int>(message.size()), message.data());
    std::fflush(stderr);
}

} // namespace haplane::control
