// The pure parts of health checking: no sockets, no clock, no processes.
// HTTP status ranges and response parsing, the script exit-code rule, the
// rise/fall counter, the quorum/hysteresis rule and keepalived's way of
// naming services in logs.
#pragma once

#include "config/address.hpp"
#include "config/config.hpp"
#include "control/script_runner.hpp"

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace haplane::control::check {

// ---- HTTP status ranges: "200-299,301" -------------------------------------
struct StatusRange {
    unsigned low = 0, high = 0;
    bool operator==(const StatusRange&) const = default;
};
// nullopt when malformed (the config validator already refuses those).
std::optional<std::vector<StatusRange>> parse_status_ranges(std::string_view text);
bool status_matches(const std::vector<StatusRange>& ranges, unsigned code);

// ---- script checks (keepalived's misc_dynamic) ------------------------------
// exit 0: up (weight unchanged); 1: down; 2..255: up with weight code - 2;
// killed, timed out or not started: down.
struct ScriptVerdict {
    bool up = false;
    std::optional<unsigned> weight;
    bool operator==(const ScriptVerdict&) const = default;
};
ScriptVerdict script_verdict(const ExitResult& r);

// ---- rise / fall --------------------------------------------------------------
// `rise` consecutive successes bring a DOWN check UP, `fall` consecutive
// failures bring an UP check DOWN. alpha = false: starts UP. alpha = true:
// starts DOWN, and its very first success brings it UP at once (keepalived's
// alpha); after that, rise applies.
class RiseFall {
public:
    RiseFall(unsigned rise, unsigned fall, bool alpha);

    // One result (after retries). Returns true when the state changed.
    bool record(bool success);

    bool up() const { return up_; }
    bool has_run() const { return has_run_; }
    unsigned successes() const { return successes_; }   // consecutive
    unsigned failures() const { return failures_; }     // consecutive
    unsigned rise() const { return rise_; }
    unsigned fall() const { return fall_; }

private:
    unsigned rise_, fall_;
    bool up_;
    bool awaiting_first_success_;
    bool has_run_ = false;
    unsigned successes_ = 0, failures_ = 0;
};

// ---- quorum -------------------------------------------------------------------
// keepalived's rule: an UP quorum is lost when the live weight is 0 or below
// quorum - hysteresis; a lost quorum comes back when the live weight reaches
// quorum + hysteresis (and is not 0).
bool next_quorum_state(bool quorum_up, uint64_t live_weight, unsigned quorum, unsigned hysteresis);

// ---- HTTP responses ---------------------------------------------------------------
// Incremental parser of one HTTP/1.x response (read until the server closes,
// "Connection: close"). Bodies are kept up to `max_body` bytes (the rest is
// read and dropped); chunked bodies are decoded.
class HttpResponse {
public:
    enum class State { need_more, done, error };

    explicit HttpResponse(size_t max_body = 64 * 1024) : max_body_(max_body) {}

    // Feed received bytes. `want_body` false: done as soon as the status line is in.
    State feed(std::string_view data, bool want_body);
    // The peer closed the connection.
    State eof(bool want_body);

    State state() const { return state_; }
    bool have_status() const { return status_ != 0; }
    unsigned status() const { return status_; }
    const std::string& body() const { return body_; }
    const std::string& error() const { return error_; }

private:
    State fail(std::string why);
    State advance(bool want_body);
    bool parse_headers(std::string_view head);
    // From raw_ into body_: -1 malformed, 0 needs more, 1 the last chunk is in.
    int decode_chunks();
    void keep_body(std::string_view data);

    size_t max_body_;
    State state_ = State::need_more;
    std::string raw_;          // bytes not yet consumed (head, then the raw body)
    bool headers_done_ = false;
    unsigned status_ = 0;
    bool chunked_ = false;
    std::optional<uint64_t> content_length_;
    uint64_t body_seen_ = 0;   // body bytes received (identity encoding)
    enum class Chunk { size_line, data, data_crlf, finished } chunk_state_ = Chunk::size_line;
    uint64_t chunk_left_ = 0;
    std::string body_;
    std::string error_;
};

// std::regex_search; a regex_error (complexity, stack) counts as no match.
// libstdc++'s matcher recurses per character of the text (up to ~4 KiB of
// stack each for patterns like "(a|b)*") and may take quadratic time on a
// miss: the checker runs it on a helper thread with regex_stack_size()
// bytes of stack, never on the control thread.
bool regex_search_safe(const std::string& text, const std::regex& re);
size_t regex_stack_size(size_t text_size);

// The GET request of an http check.
std::string http_request(const std::string& path, const std::string& host_header);
// Host header value when `host` is not configured: the address (IPv6 in
// brackets), with ":port" unless the port is 80.
std::string default_host_header(const IpAddress& address, uint16_t port);

// ---- names in logs, keepalived's FMT_RS / FMT_VS: "[10.20.0.11]:tcp:80" --------
std::string format_service(const IpAddress& address, uint16_t port, config::Protocol protocol);

} // namespace haplane::control::check
