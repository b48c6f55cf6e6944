// Internal to config/: walks a YAML document, converts values and collects
// every problem found (the loader must report all of them at once, so
// nothing here throws or stops at the first error).
#pragma once

#include "config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace haplane::config::detail {

// A mapping being read, with its path for messages: "", "global.dpdk",
// "vrrp_instances[0]" ("" is the top level).
struct Map {
    YAML::Node node;
    std::string path;

    std::string at(std::string_view key) const;      // path of a key's value
};

std::string item_path(const std::string& list_path, size_t index);   // "x[3]"
std::string quote(std::string_view s);
const char* family_name(Family f);                   // "IPv4" / "IPv6"

class Reader {
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    void error(const YAML::Mark& at, std::string message);
    void error(const YAML::Node& at, std::string message);
    // In file order; identical problems (e.g. from a reused YAML alias) once.
    std::vector<Problem> problems() const;

    // `node` as a mapping whose keys are all in `allowed`, each at most once.
    // Unknown and duplicate keys are reported but do not make it fail.
    std::optional<Map> open(const YAML::Node& node, const std::string& path,
                            std::initializer_list<std::string_view> allowed);
    // Same for the mapping under `key`; nullopt when absent, null or invalid.
    std::optional<Map> open(const Map& parent, std::string_view key,
                            std::initializer_list<std::string_view> allowed);
    // A mapping whose keys are names chosen by the user (vrrp_scripts).
    std::optional<Map> open_any(const Map& parent, std::string_view key);

    // The key node itself (for pointing at it), if present.
    std::optional<YAML::Node> key_node(const Map& m, std::string_view key) const;
    // A key's value; nullopt when absent or null ("key:" means the default).
    std::optional<YAML::Node> value(const Map& m, std::string_view key) const;
    // Reports each key that is absent or has no value.
    void require(const Map& m, std::initializer_list<std::string_view> keys);

    // Calls fn(item, item_path) for each item of the list under `key`.
    template <class Fn>
    void each(const Map& m, std::string_view key, Fn&& fn) {
        const auto list = value(m, key);
        if (!list) return;
        const std::string path = m.at(key);
        if (!list->IsSequence()) {
            error(*list, "expected a list for " + path);
            return;
        }
        size_t i = 0;
        for (const auto& item : *list) fn(YAML::Node(item), item_path(path, i++));
    }

    // Conversions of one value; nullopt (after reporting) when invalid.
    std::optional<std::string> string(const YAML::Node& v, const std::string& path,
                                      bool allow_empty = false);
    std::optional<bool> boolean(const YAML::Node& v, const std::string& path);
    std::optional<long long> integer(const YAML::Node& v, const std::string& path,
                                     long long lo, long long hi);
    // Durations are never negative; `positive` also rejects zero.
    std::optional<Duration> duration(const YAML::Node& v, const std::string& path,
                                     bool positive = false);
    std::optional<IpAddress> address(const YAML::Node& v, const std::string& path);
    std::optional<IpPrefix> prefix(const YAML::Node& v, const std::string& path);

    // Optional fields: `out` is set only from a present, valid value;
    // the return value says whether it was.
    bool field(const Map& m, std::string_view key, std::string& out);     // non-empty
    bool field(const Map& m, std::string_view key, std::optional<std::string>& out);
    bool field(const Map& m, std::string_view key, bool& out);
    bool field(const Map& m, std::string_view key, Duration& out, bool positive = false);
    bool field(const Map& m, std::string_view key, IpAddress& out);
    bool field(const Map& m, std::string_view key, std::optional<IpAddress>& out);

    template <class T>
    bool number(const Map& m, std::string_view key, T& out, long long lo,
                long long hi = static_cast<long long>(std::numeric_limits<T>::max())) {
        const auto v = value(m, key);
        if (!v) return false;
        const auto n = integer(*v, m.at(key), lo, hi);
        if (n) out = static_cast<T>(*n);
        return n.has_value();
    }

    // One of a fixed set of words, e.g. the scheduler names.
    template <class E>
    bool choice(const Map& m, std::string_view key, E& out,
                std::initializer_list<std::pair<std::string_view, E>> options,
                bool ignore_case = false) {
        const auto v = value(m, key);
        if (!v) return false;
        const auto text = string(*v, m.at(key));
        if (!text) return false;
        for (const auto& [word, e] : options) {
            if (*text == word || (ignore_case && equal_ignore_case(*text, word))) {
                out = e;
                return true;
            }
        }
        std::string expected;
        for (const auto& option : options)
            expected += (expected.empty() ? "" : ", ") + std::string(option.first);
        error(*v, "invalid value " + quote(*text) + " for " + m.at(key) +
                      " (expected one of: " + expected + ")");
        return false;
    }

private:
    static bool equal_ignore_case(std::string_view a, std::string_view b);

    std::string file_;
    std::vector<Problem> problems_;
};

} // namespace haplane::config::detail
