// parse_duration / format_duration: exact integer arithmetic, so that every
// Duration formats to a string that parses back to the same value.
#include "config/loader.hpp"

#include <cctype>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string_view>

namespace haplane::config {

namespace {

struct Unit {
    std::string_view suffix;
    int64_t ns;
};

constexpr Unit units[] = {
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"", 1'000'000'000},   // a plain number is seconds
};

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool all_digits(std::string_view s) {
    for (const char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

} // namespace

std::optional<Duration> parse_duration(const std::string& text) {
    std::string_view s = trim(text);
    bool negative = false;
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
        negative = s.front() == '-';
        s.remove_prefix(1);
    }
    const size_t number_end = s.find_first_not_of("0123456789.");
    std::string_view number = s.substr(0, number_end);
    const std::string_view suffix = number_end == s.npos ? "" : s.substr(number_end);

    int64_t scale = 0;
    for (const auto& unit : units)
        if (unit.suffix == suffix) scale = unit.ns;
    if (scale == 0) return std::nullopt;

    const size_t dot = number.find('.');
    std::string_view whole = number.substr(0, dot);
    std::string_view fraction = dot == number.npos ? "" : number.substr(dot + 1);
    if ((whole.empty() && fraction.empty()) || (dot != number.npos && fraction.empty()) ||
        !all_digits(whole) || !all_digits(fraction))
        return std::nullopt;
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
    if (whole.size() > 18 || fraction.size() > 18) return std::nullopt;

    int64_t result = 0;
    for (const char c : whole) result = result * 10 + (c - '0');
    if (__builtin_mul_overflow(result, scale, &result)) return std::nullopt;

    if (!fraction.empty()) {
        // fraction / 10^digits * scale must be a whole number of nanoseconds;
        // dividing by the gcd first keeps every product in range.
        int64_t digits = 0, denominator = 1;
        for (const char c : fraction) {
            digits = digits * 10 + (c - '0');
            denominator *= 10;
        }
        const int64_t g = std::gcd(denominator, scale);
        if (digits % (denominator / g) != 0) return std::nullopt;
        const int64_t part = digits / (denominator / g) * (scale / g);
        if (__builtin_add_overflow(result, part, &result)) return std::nullopt;
    }
    return Duration(negative ? -result : result);
}

std::string format_duration(Duration d) {
    const int64_t ns = d.count();
    if (ns < 0) {
        if (ns == std::numeric_limits<int64_t>::min()) return "-9223372036.854775808s";
        return "-" + format_duration(Duration(-ns));
    }
    constexpr int64_t second = 1'000'000'000;
    if (ns == 0) return "0s";
    if (ns >= second) {
        // Seconds, with as many decimals as needed: "900s", "1.5s", "40.95s".
        std::string text = std::to_string(ns / second);
        if (const int64_t rest = ns % second; rest != 0) {
            std::string decimals = std::to_string(rest);
            decimals.insert(0, 9 - decimals.size(), '0');
            decimals.erase(decimals.find_last_not_of('0') + 1);
            text += "." + decimals;
        }
        return text + "s";
    }
    if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
    if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
    return std::to_string(ns) + "ns";
}

} // namespace haplane::config
