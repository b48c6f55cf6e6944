#include "config/reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <tuple>

namespace haplane::config::detail {

std::string Map::at(std::string_view key) const {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string item_path(const std::string& list_path, size_t index) {
    return list_path + "[" + std::to_string(index) + "]";
}

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

const char* family_name(Family f) { return f == Family::v4 ? "IPv4" : "IPv6"; }

namespace {

std::string where(const std::string& path) {
    return path.empty() ? "at top level" : "in " + path;
}

} // namespace

void Reader::error(const YAML::Mark& at, std::string message) {
    // yaml-cpp counts from 0; a null mark (-1) comes out as line 0.
    problems_.push_back({file_, at.line + 1, at.column + 1, std::move(message)});
}

void Reader::error(const YAML::Node& at, std::string message) { error(at.Mark(), std::move(message)); }

std::vector<Problem> Reader::problems() const {
    auto sorted = problems_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::vector<Problem> unique;
    for (auto& p : sorted) {
        const bool seen = std::any_of(unique.begin(), unique.end(), [&](const Problem& q) {
            return q.line == p.line && q.column == p.column && q.message == p.message;
        });
        if (!seen) unique.push_back(std::move(p));
    }
    return unique;
}

std::optional<Map> Reader::open(const YAML::Node& node, const std::string& path,
                                std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
        error(node, path.empty() ? "expected a mapping at top level" : "expected a mapping for " + path);
        return std::nullopt;
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
        const std::string key = kv.first.Scalar();
        if (!kv.first.IsScalar())
            error(kv.first, "expected a key name " + where(path));
        else if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            error(kv.first, "unknown key " + quote(key) + " " + where(path));
        else if (!seen.insert(key).second)
            error(kv.first, "duplicate key " + quote(key) + " " + where(path));
    }
    return Map{node, path};
}

std::optional<Map> Reader::open(const Map& parent, std::string_view key,
                                std::initializer_list<std::string_view> allowed) {
    const auto v = value(parent, key);
    if (!v) return std::nullopt;
    return open(*v, parent.at(key), allowed);
}

std::optional<Map> Reader::open_any(const Map& parent, std::string_view key) {
    const auto v = value(parent, key);
    if (!v) return std::nullopt;
    const std::string path = parent.at(key);
    if (!v->IsMap()) {
        error(*v, "expected a mapping for " + path);
        return std::nullopt;
    }
    std::set<std::string> seen;
    for (const auto& kv : *v) {
        if (!kv.first.IsScalar() || kv.first.Scalar().empty())
            error(kv.first, "expected a name " + where(path));
        else if (!seen.insert(kv.first.Scalar()).second)
            error(kv.first, "duplicate key " + quote(kv.first.Scalar()) + " " + where(path));
    }
    return Map{*v, path};
}

std::optional<YAML::Node> Reader::key_node(const Map& m, std::string_view key) const {
    // Iterating (not operator[]) finds the first of duplicate keys and never
    // modifies or throws on the node.
    for (const auto& kv : m.node)
        if (kv.first.IsScalar() && kv.first.Scalar() == key) return YAML::Node(kv.first);
    return std::nullopt;
}

std::optional<YAML::Node> Reader::value(const Map& m, std::string_view key) const {
    for (const auto& kv : m.node)
        if (kv.first.IsScalar() && kv.first.Scalar() == key)
            return kv.second.IsNull() ? std::nullopt : std::optional<YAML::Node>(kv.second);
    return std::nullopt;
}

void Reader::require(const Map& m, std::initializer_list<std::string_view> keys) {
    for (const auto key : keys) {
        const auto k = key_node(m, key);
        if (!k)
            error(m.node, "missing required key " + quote(key) + " " + where(m.path));
        else if (!value(m, key))
            // The mark of an empty value is wherever the next token starts:
            // point at the key instead.
            error(*k, "missing value for " + m.at(key));
    }
}

std::optional<std::string> Reader::string(const YAML::Node& v, const std::string& path,
                                          bool allow_empty) {
    if (!v.IsScalar()) {
        error(v, "expected a string for " + path);
        return std::nullopt;
    }
    if (!allow_empty && v.Scalar().empty()) {
        error(v, path + " must not be empty");
        return std::nullopt;
    }
    return v.Scalar();
}

std::optional<bool> Reader::boolean(const YAML::Node& v, const std::string& path) {
    // Only YAML 1.2's words: yaml-cpp would also take yes/no/on/off/y/n.
    const std::string& s = v.Scalar();
    if (v.IsScalar()) {
        if (s == "true" || s == "True" || s == "TRUE") return true;
        if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    error(v, "expected true or false for " + path);
    return std::nullopt;
}

std::optional<long long> Reader::integer(const YAML::Node& v, const std::string& path,
                                         long long lo, long long hi) {
    const std::string& s = v.Scalar();
    long long n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    const bool whole = v.IsScalar() && !s.empty() && end == s.data() + s.size();
    if (!whole || (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
        error(v, "expected a number for " + path);
        return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range || n < lo || n > hi) {
        // A bound that is only the C++ type's limit is not worth a "between".
        const bool unbounded = hi >= std::numeric_limits<uint32_t>::max();
        const bool low = ec == std::errc{} ? n < lo : s.front() == '-';
        const std::string rule =
            !unbounded ? "between " + std::to_string(lo) + " and " + std::to_string(hi)
            : low      ? "at least " + std::to_string(lo)
                       : "at most " + std::to_string(hi);
        error(v, path + " must be " + rule + " (got " + s + ")");
        return std::nullopt;
    }
    return n;
}

std::optional<Duration> Reader::duration(const YAML::Node& v, const std::string& path,
                                         bool positive) {
    if (!v.IsScalar()) {
        error(v, "expected a duration for " + path);
        return std::nullopt;
    }
    const auto d = parse_duration(v.Scalar());
    if (!d) {
        error(v, "invalid duration " + quote(v.Scalar()) + " for " + path +
                     " (expected e.g. 10ms, 1s, 1.5s, 2m or a number of seconds)");
        return std::nullopt;
    }
    if (*d < Duration::zero()) {
        error(v, path + " must not be negative (got " + v.Scalar() + ")");
        return std::nullopt;
    }
    if (positive && *d == Duration::zero()) {
        error(v, path + " must be greater than 0");
        return std::nullopt;
    }
    return d;
}

std::optional<IpAddress> Reader::address(const YAML::Node& v, const std::string& path) {
    const auto text = string(v, path);
    if (!text) return std::nullopt;
    const auto a = IpAddress::parse(*text);
    if (!a) error(v, "invalid address " + quote(*text) + " for " + path);
    return a;
}

std::optional<IpPrefix> Reader::prefix(const YAML::Node& v, const std::string& path) {
    const auto text = string(v, path);
    if (!text) return std::nullopt;
    const auto p = IpPrefix::parse(*text);
    if (!p) error(v, "invalid address prefix " + quote(*text) + " for " + path);
    return p;
}

bool Reader::field(const Map& m, std::string_view key, std::string& out) {
    const auto v = value(m, key);
    const auto s = v ? string(*v, m.at(key)) : std::nullopt;
    if (s) out = *s;
    return s.has_value();
}

bool Reader::field(const Map& m, std::string_view key, std::optional<std::string>& out) {
    const auto v = value(m, key);
    const auto s = v ? string(*v, m.at(key)) : std::nullopt;
    if (s) out = *s;
    return s.has_value();
}

bool Reader::field(const Map& m, std::string_view key, bool& out) {
    const auto v = value(m, key);
    const auto b = v ? boolean(*v, m.at(key)) : std::nullopt;
    if (b) out = *b;
    return b.has_value();
}

bool Reader::field(const Map& m, std::string_view key, Duration& out, bool positive) {
    const auto v = value(m, key);
    const auto d = v ? duration(*v, m.at(key), positive) : std::nullopt;
    if (d) out = *d;
    return d.has_value();
}

bool Reader::field(const Map& m, std::string_view key, IpAddress& out) {
    std::optional<IpAddress> a;
    if (!field(m, key, a)) return false;
    out = *a;
    return true;
}

bool Reader::field(const Map& m, std::string_view key, std::optional<IpAddress>& out) {
    const auto v = value(m, key);
    const auto a = v ? address(*v, m.at(key)) : std::nullopt;
    if (a) out = a;
    return a.has_value();
}

bool Reader::equal_ignore_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

} // namespace haplane::config::detail
