#include "control/check_logic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace haplane::control::check {

namespace {

std::optional<unsigned> parse_code(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (s.empty() || s.size() > 3) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

constexpr size_t max_head = 64 * 1024;

} // namespace

std::optional<std::vector<StatusRange>> parse_status_ranges(std::string_view text) {
    std::vector<StatusRange> out;
    if (text.empty()) return std::nullopt;
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        if (comma == text.npos) comma = text.size();
        std::string_view part = text.substr(start, comma - start);
        size_t dash = part.find('-');
        auto low = parse_code(part.substr(0, dash));
        auto high = dash == part.npos ? low : parse_code(part.substr(dash + 1));
        if (!low || !high || *low < 100 || *high > 599 || *low > *high) return std::nullopt;
        out.push_back({*low, *high});
        start = comma + 1;
        if (comma == text.size()) break;
    }
    return out;
}

bool status_matches(const std::vector<StatusRange>& ranges, unsigned code) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [code](const StatusRange& r) { return code >= r.low && code <= r.high; });
}

ScriptVerdict script_verdict(const ExitResult& r) {
    if (r.timed_out || r.spawn_failed || !r.exited) return {false, std::nullopt};
    if (r.code == 0) return {true, std::nullopt};
    if (r.code == 1) return {false, std::nullopt};
    return {true, static_cast<unsigned>(r.code - 2)};
}

RiseFall::RiseFall(unsigned rise, unsigned fall, bool alpha)
    : rise_(rise ? rise : 1), fall_(fall ? fall : 1), up_(!alpha), awaiting_first_success_(alpha) {}

bool RiseFall::record(bool success) {
    has_run_ = true;
    if (success) {
        ++successes_;
        failures_ = 0;
        if (!up_ && (awaiting_first_success_ || successes_ >= rise_)) {
            up_ = true;
            awaiting_first_success_ = false;
            return true;
        }
        awaiting_first_success_ = false;
        return false;
    }
    ++failures_;
    successes_ = 0;
    if (up_ && failures_ >= fall_) {
        up_ = false;
        return true;
    }
    return false;
}

bool next_quorum_state(bool quorum_up, uint64_t live_weight, unsigned quorum, unsigned hysteresis) {
    const int64_t w = static_cast<int64_t>(live_weight);
    if (quorum_up) {
        const int64_t down = static_cast<int64_t>(quorum) - static_cast<int64_t>(hysteresis);
        return !(w == 0 || w < down);
    }
    const int64_t up = static_cast<int64_t>(quorum) + static_cast<int64_t>(hysteresis);
    return w != 0 && w >= up;
}

// ---- HTTP ------------------------------------------------------------------------

HttpResponse::State HttpResponse::fail(std::string why) {
    error_ = std::move(why);
    return state_ = State::error;
}

void HttpResponse::keep_body(std::string_view data) {
    if (body_.size() < max_body_) body_.append(data.substr(0, max_body_ - body_.size()));
}

HttpResponse::State HttpResponse::feed(std::string_view data, bool want_body) {
    if (state_ != State::need_more) return state_;
    if (headers_done_ && !chunked_) {
        body_seen_ += data.size();
        keep_body(data);
    } else {
        raw_.append(data);
    }
    return advance(want_body);
}

HttpResponse::State HttpResponse::advance(bool want_body) {
    if (!status_) {
        const size_t eol = raw_.find('\n');
        if (eol == raw_.npos) {
            if (raw_.size() > max_head) return fail("status line too long");
            if (raw_.size() >= 5 && raw_.compare(0, 5, "HTTP/") != 0) return fail("not an HTTP response");
            return state_;
        }
        std::string_view line = trim(std::string_view(raw_).substr(0, eol));
        // HTTP/1.1 200 OK
        if (line.size() < 12 || line.substr(0, 5) != "HTTP/") return fail("not an HTTP response");
        const size_t sp = line.find(' ');
        if (sp == line.npos) return fail("malformed status line");
        auto code = parse_code(line.substr(sp + 1, 3));
        if (!code || *code < 100 || *code > 999 ||
            (line.size() > sp + 4 && line[sp + 4] != ' '))
            return fail("malformed status line");
        status_ = *code;
    }
    if (!want_body) return state_ = State::done;
    if (!headers_done_) {
        size_t end = raw_.find("\r\n\r\n");
        size_t skip = 4;
        if (end == raw_.npos) {
            end = raw_.find("\n\n");
            skip = 2;
        }
        if (end == raw_.npos) {
            if (raw_.size() > max_head) return fail("headers too long");
            return state_;
        }
        if (!parse_headers(std::string_view(raw_).substr(0, end))) return state_;
        headers_done_ = true;
        std::string rest = raw_.substr(end + skip);
        raw_.clear();
        if (status_ == 204 || status_ == 304 || (status_ >= 100 && status_ < 200))
            return state_ = State::done;
        if (chunked_) {
            raw_ = std::move(rest);
        } else {
            body_seen_ += rest.size();
            keep_body(rest);
        }
    }
    if (chunked_) {
        int r = decode_chunks();
        if (r < 0) return fail("malformed chunked body");
        if (r > 0) return state_ = State::done;
        return state_;
    }
    if (content_length_ && body_seen_ >= *content_length_) {
        if (body_.size() > *content_length_) body_.resize(*content_length_);
        return state_ = State::done;
    }
    return state_;
}

bool HttpResponse::parse_headers(std::string_view head) {
    size_t pos = head.find('\n');
    while (pos != head.npos && pos + 1 < head.size()) {
        size_t next = head.find('\n', pos + 1);
        std::string_view line = head.substr(pos + 1, next == head.npos ? head.npos : next - pos - 1);
        pos = next;
        const size_t colon = line.find(':');
        if (colon == line.npos) continue;
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "Content-Length")) {
            uint64_t v = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec != std::errc() || p != value.data() + value.size()) {
                fail("invalid Content-Length");
                return false;
            }
            content_length_ = v;
        } else if (iequals(name, "Transfer-Encoding")) {
            // "chunked" is always the last coding when present.
            const size_t last = value.rfind(',');
            chunked_ = iequals(trim(last == value.npos ? value : value.substr(last + 1)), "chunked");
        }
    }
    if (chunked_) content_length_.reset();
    return true;
}

int HttpResponse::decode_chunks() {
    size_t pos = 0;
    int result = 0;
    while (result == 0) {
        if (chunk_state_ == Chunk::size_line) {
            const size_t eol = raw_.find('\n', pos);
            if (eol == raw_.npos) {
                if (raw_.size() - pos > 1024) return -1;
                break;
            }
            std::string_view line = trim(std::string_view(raw_).substr(pos, eol - pos));
            const size_t semi = line.find(';');
            if (semi != line.npos) line = trim(line.substr(0, semi));
            uint64_t size = 0;
            auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
            if (line.empty() || ec != std::errc() || p != line.data() + line.size()) return -1;
            pos = eol + 1;
            if (size == 0) {
                chunk_state_ = Chunk::finished;
                result = 1;   // trailers, if any, do not matter
            } else {
                chunk_left_ = size;
                chunk_state_ = Chunk::data;
            }
        } else if (chunk_state_ == Chunk::data) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, raw_.size() - pos));
            if (n == 0) break;
            keep_body(std::string_view(raw_).substr(pos, n));
            pos += n;
            chunk_left_ -= n;
            if (chunk_left_ == 0) chunk_state_ = Chunk::data_crlf;
        } else if (chunk_state_ == Chunk::data_crlf) {
            if (raw_.size() - pos < 1) break;
            if (raw_[pos] == '\n') {
                pos += 1;
            } else {
                if (raw_.size() - pos < 2) break;
                if (raw_.compare(pos, 2, "\r\n") != 0) return -1;
                pos += 2;
            }
            chunk_state_ = Chunk::size_line;
        } else {
            result = 1;
        }
    }
    raw_.erase(0, pos);
    return result;
}

HttpResponse::State HttpResponse::eof(bool want_body) {
    if (state_ != State::need_more) return state_;
    if (!status_) return fail(raw_.empty() ? "no data received" : "incomplete status line");
    if (!want_body) return state_ = State::done;
    if (!headers_done_) return fail("connection closed in the headers");
    return state_ = State::done;   // a short body is judged as it is
}

bool regex_search_safe(const std::string& text, const std::regex& re) {
    try {
        return std::regex_search(text, re);
    } catch (const std::regex_error&) {
        return false;
    }
}

size_t regex_stack_size(size_t text_size) {
    // Only the pages touched are ever backed by memory.
    return std::max<size_t>(size_t{16} << 20, text_size * 4096 + (size_t{1} << 20));
}

std::string http_request(const std::string& path, const std::string& host_header) {
    return fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: haplane-healthcheck\r\n"
                       "Accept: */*\r\nConnection: close\r\n\r\n",
                       path, host_header);
}

std::string default_host_header(const IpAddress& address, uint16_t port) {
    std::string host = address.is_v4() ? address.str() : "[" + address.str() + "]";
    if (port != 80) host += ":" + std::to_string(port);
    return host;
}

std::string format_service(const IpAddress& address, uint16_t port, config::Protocol protocol) {
    return fmt::format("[{}]:{}:{}", address.str(), config::to_string(protocol), port);
}

} // namespace haplane::control::check
