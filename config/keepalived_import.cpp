// keepalived.conf -> haplane Config. Three stages:
//  1. Source: physical lines -> keepalived's logical lines, as its read_line()
//     makes them: comments cut (`#` or `!` anywhere outside quotes, to the end
//     of the line), `@id` lines, `$NAME=value` definitions and substitution,
//     `include PATTERN` (glob, relative to the including file), and every
//     `{` / `}` outside quotes split off as a line of its own. So a block on
//     one line (`authentication { auth_type PASS }`) reads as keepalived reads
//     it, and words between braces form one statement, as in keepalived.
//  2. Tree: a `{` opens the block of the statement just before it.
//  3. Importer: keepalived's keywords and defaults mapped to haplane's Config;
//     anything else is a warning with FILE:LINE and the keyword.
#include "config/keepalived_import.hpp"
#include "config/loader.hpp"

#include <glob.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string_view>

namespace haplane::config {

std::string ImportMessage::str() const {
    const char* sev = severity == Severity::error ? "error" : severity == Severity::warning ? "warning" : "note";
    if (line <= 0) return file + ": " + sev + ": " + message;
    return file + ":" + std::to_string(line) + ": " + sev + ": " + message;
}

std::vector<ImportMessage> ImportResult::warnings() const {
    std::vector<ImportMessage> out;
    for (const auto& m : messages)
        if (m.severity == ImportMessage::Severity::warning) out.push_back(m);
    return out;
}

namespace {

using namespace std::chrono_literals;
using Severity = ImportMessage::Severity;
namespace fs = std::filesystem;

constexpr size_t no_seq = std::numeric_limits<size_t>::max();

// ---- messages -------------------------------------------------------------------

// A place in the sources: file index, 1-based line, and the position in the
// logical line stream (messages are sorted by it, so they come out in file
// order whatever the pass that found them).
struct Loc {
    int file = 0;
    int line = 0;
    size_t seq = 0;
};

class Messages {
public:
    std::vector<std::string> files;   // Loc::file -> name

    void add(Severity s, const Loc& at, std::string text) {
        items_.push_back({at.seq, items_.size(), ImportMessage{s, files.at(at.file), at.line, std::move(text)}});
    }
    // About the import as a whole: after everything else.
    void add_general(Severity s, std::string text) {
        items_.push_back({no_seq, items_.size(), ImportMessage{s, files.at(0), 0, std::move(text)}});
    }
    std::vector<ImportMessage> sorted() const {
        auto items = items_;
        std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
            return a.seq != b.seq ? a.seq < b.seq : a.order < b.order;
        });
        std::vector<ImportMessage> out;
        for (auto& i : items) out.push_back(std::move(i.message));
        return out;
    }

private:
    struct Item {
        size_t seq;
        size_t order;
        ImportMessage message;
    };
    std::vector<Item> items_;
};

// ---- small text helpers -------------------------------------------------------------

std::string trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t\f\v\r\n");
    if (b == s.npos) return {};
    return std::string(s.substr(b, s.find_last_not_of(" \t\f\v\r\n") - b + 1));
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// A shell word for `sh -c`: quoted only when it has to be.
std::string shell_word(const std::string& s) {
    if (!s.empty() && s.find_first_of(" \t\n'\"\\$`!*?[]{}()<>|&;#~") == s.npos) return s;
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// ---- stage 1: logical lines ---------------------------------------------------------

struct Word {
    std::string text;
    bool quoted = false;
};

struct Line {
    enum class Kind { words, open, close } kind = Kind::words;
    Loc loc;
    std::vector<Word> words;
};

// keepalived's alloc_strvec: words split on blanks, a "quoted string" is one
// word without its quotes.
std::vector<Word> tokenize(const std::string& s) {
    std::vector<Word> out;
    size_t i = 0;
    for (;;) {
        i = s.find_first_not_of(" \t\f\v\r\n", i);
        if (i == s.npos) break;
        if (s[i] == '"') {
            const size_t close = s.find('"', i + 1);
            if (close == s.npos) {   // reported by decomment()
                out.push_back({s.substr(i + 1), true});
                break;
            }
            out.push_back({s.substr(i + 1, close - i - 1), true});
            i = close + 1;
        } else {
            const size_t end = s.find_first_of(" \t\f\v\r\n\"", i);
            out.push_back({s.substr(i, end == s.npos ? s.npos : end - i), false});
            if (end == s.npos) break;
            i = end;
        }
    }
    return out;
}

// The first `{` or `}` outside "quotes", or npos.
size_t find_brace(const std::string& s) {
    bool quoted = false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '"') quoted = !quoted;
        else if (!quoted && (s[i] == '{' || s[i] == '}')) return i;
    }
    return std::string::npos;
}

struct Decommented {
    std::string text;
    std::optional<std::string> comment;   // what followed the `#` or `!`
    char comment_char = 0;
    bool comment_in_word = false;         // `abc#def`: the comment starts inside a word
    bool unterminated_quote = false;
};

// keepalived's decomment(): the first `#` or `!` outside "quotes" starts a
// comment that runs to the end of the line, wherever it is; `\#` and `\!` are
// literal characters.
Decommented decomment(std::string_view raw) {
    Decommented d;
    bool quoted = false;
    size_t i = raw.find_first_not_of(" \t");
    if (i == raw.npos) return d;
    for (; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '"') {
            quoted = !quoted;
            d.text += c;
        } else if (c == '\\' && i + 1 < raw.size()) {
            if (!quoted && (raw[i + 1] == '#' || raw[i + 1] == '!')) {
                d.text += raw[i + 1];
            } else {
                d.text += c;
                d.text += raw[i + 1];
            }
            ++i;
        } else if (!quoted && (c == '#' || c == '!')) {
            d.comment = std::string(raw.substr(i + 1));
            d.comment_char = c;
            d.comment_in_word = !d.text.empty() && !std::isspace(static_cast<unsigned char>(d.text.back()));
            break;
        } else {
            d.text += c;
        }
    }
    d.unterminated_quote = quoted;
    d.text = trim(d.text);
    return d;
}

class Source {
public:
    explicit Source(Messages& m) : m_(m) {}

    std::vector<Line> lines;

    void read_text(const std::string& text, int file, const std::string& dir, int depth) {
        size_t start = 0;
        int line_no = 0;
        while (start < text.size()) {
            const size_t end = text.find('\n', start);
            std::string_view raw(text.data() + start, (end == text.npos ? text.size() : end) - start);
            ++line_no;
            if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
            if (raw.size() > keepalived_line_max)
                warn(here(file, line_no),
                     "this line is " + std::to_string(raw.size()) + " bytes long: keepalived reads at most " +
                         std::to_string(keepalived_line_max) + " bytes at a time and would start a new line "
                         "there, in the middle of a word; the import reads the whole line; split it");
            physical_line(raw, file, line_no, dir, depth);
            if (end == text.npos) break;
            start = end + 1;
        }
    }

    void enter(const std::string& canonical) { open_files_.push_back(canonical); }

private:
    static constexpr int max_depth = 16;
    static constexpr size_t keepalived_line_max = 1023;   // fgets() into its MAXBUF of 1024

    Loc here(int file, int line) const { return Loc{file, line, lines.size()}; }
    void warn(const Loc& at, std::string text) { m_.add(Severity::warning, at, std::move(text)); }

    void physical_line(std::string_view raw, int file, int line_no, const std::string& dir, int depth) {
        const Loc at = here(file, line_no);
        const Decommented d = decomment(raw);
        if (d.unterminated_quote)
            warn(at, "missing closing '\"': the quoted string runs to the end of the line");
        if (d.comment) {
            const std::string c(1, d.comment_char);
            if (d.comment->find_first_of("{}") != std::string::npos && !d.text.empty())
                warn(at, "'" + c + "' starts a comment that runs to the end of the line, as in keepalived, so "
                         "everything after it is ignored, braces included: was this config flattened onto "
                         "one line? Put each keyword on its own line");
            else if (d.comment_in_word)
                warn(at, "'" + c + "' inside a word starts a comment in keepalived, so the rest of the line is "
                         "ignored (write \\" + c + " for a literal " + c + ")");
        }
        logical(d.text, at, dir, depth);
    }

    // One decommented line, then the residue after each brace, as keepalived's
    // read_line() hands them out.
    void logical(std::string text, const Loc& line_at, const std::string& dir, int depth) {
        for (;;) {
            text = trim(text);
            if (text.empty()) return;
            const Loc at = here(line_at.file, line_at.line);
            if (text[0] == '@') {
                // @ID: only for the node started with `keepalived -i ID`; @^ID: all others.
                const bool negate = text.size() > 1 && text[1] == '^';
                const size_t id_start = negate ? 2 : 1;
                const size_t space = text.find_first_of(" \t", id_start);
                const std::string id = text.substr(id_start, space == text.npos ? text.npos : space - id_start);
                if (space == text.npos) return;
                if (!negate) {
                    warn(at, "line for keepalived config id '" + id + "' (@" + id +
                                 ", keepalived -i) skipped: the import is for no particular node; add it to the "
                                 "output of the node it is for");
                    return;
                }
                text = text.substr(space);
                continue;
            }
            if (text[0] == '$' && definition(text, at)) return;
            if (text.rfind("~SEQ", 0) == 0) {
                warn(at, "~SEQ is not supported by the importer: line skipped");
                return;
            }
            if (!defs_.empty() && text.find('$') != text.npos) text = substitute(text);
            if (const auto words = tokenize(text);
                words.size() == 2 && words[0].text == "include" && !words[0].quoted) {
                include(words[1].text, at, dir, depth);
                return;
            }
            const size_t brace = find_brace(text);
            if (brace == 0) {
                lines.push_back(Line{text[0] == '{' ? Line::Kind::open : Line::Kind::close, at, {}});
                text.erase(0, 1);
                continue;
            }
            auto words = tokenize(brace == text.npos ? text : text.substr(0, brace));
            if (!words.empty()) lines.push_back(Line{Line::Kind::words, at, std::move(words)});
            if (brace == text.npos) return;
            text.erase(0, brace);
        }
    }

    // $NAME=VALUE (keepalived 2.x parameter definitions)
    bool definition(const std::string& text, const Loc& at) {
        if (text.size() < 2 || !is_name_start(text[1])) return false;
        size_t p = 2;
        while (p < text.size() && is_name_char(text[p])) ++p;
        const std::string name = text.substr(1, p - 1);
        const size_t eq = text.find_first_not_of(" \t", p);
        if (eq == text.npos || text[eq] != '=') return false;
        std::string value = trim(text.substr(eq + 1));
        if (!value.empty() && value.back() == '\\') {
            warn(at, "multi-line definition $" + name + " is not supported by the importer: only its first line is used");
            value = trim(value.substr(0, value.size() - 1));
        }
        defs_[name] = value;
        return true;
    }

    // $NAME (followed by a blank or the end) and ${NAME}, for defined names.
    std::string substitute(const std::string& text) const {
        std::string out;
        size_t i = 0;
        while (i < text.size()) {
            if (text[i] == '$' && i + 1 < text.size()) {
                const bool braces = text[i + 1] == '{';
                const size_t start = i + (braces ? 2 : 1);
                size_t end = start;
                while (end < text.size() && is_name_char(text[end])) ++end;
                if (end > start && is_name_start(text[start])) {
                    const bool ends_right = braces ? end < text.size() && text[end] == '}'
                                                   : end == text.size() || text[end] == ' ' || text[end] == '\t';
                    const auto def = defs_.find(text.substr(start, end - start));
                    if (ends_right && def != defs_.end()) {
                        out += def->second;
                        i = braces ? end + 1 : end;
                        continue;
                    }
                }
            }
            out += text[i++];
        }
        return out;
    }

    void include(const std::string& pattern, const Loc& at, const std::string& dir, int depth) {
        if (depth >= max_depth) {
            warn(at, "include " + pattern + ": includes nested more than " + std::to_string(max_depth) +
                         " deep: skipped");
            return;
        }
        const std::string full = !pattern.empty() && pattern[0] == '/' ? pattern : dir + "/" + pattern;
        glob_t g{};
        const int rc = glob(full.c_str(), GLOB_MARK | GLOB_BRACE, nullptr, &g);
        std::vector<std::string> matches;
        if (rc == 0) matches.assign(g.gl_pathv, g.gl_pathv + g.gl_pathc);
        globfree(&g);
        if (matches.empty()) {
            warn(at, "include " + pattern + ": no file matches " + quote(full) + " (keepalived skips it too)");
            return;
        }
        for (const auto& path : matches) {
            if (path.back() == '/') continue;   // a directory (GLOB_MARK)
            struct stat st {};
            if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
                warn(at, "include: " + path + " is not a regular file: skipped");
                continue;
            }
            if (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) {
                warn(at, "include: " + path + " is executable, and keepalived skips executable config files: skipped");
                continue;
            }
            std::error_code ec;
            const std::string canonical = fs::weakly_canonical(path, ec).string();
            if (std::find(open_files_.begin(), open_files_.end(), canonical) != open_files_.end()) {
                warn(at, "include: " + path + " includes itself (directly or through other files): skipped");
                continue;
            }
            std::ifstream in(path, std::ios::binary);
            std::ostringstream text;
            text << in.rdbuf();
            if (!in || in.bad()) {
                warn(at, "include: cannot read " + path + ": " + std::strerror(errno) + ": skipped");
                continue;
            }
            if (text.str().find('\0') != std::string::npos) {
                warn(at, "include: " + path + " is not a text file: skipped");
                continue;
            }
            m_.files.push_back(path);
            open_files_.push_back(canonical);
            const std::string parent = fs::path(path).parent_path().string();
            read_text(text.str(), static_cast<int>(m_.files.size() - 1), parent.empty() ? "." : parent, depth + 1);
            open_files_.pop_back();
        }
    }

    Messages& m_;
    std::map<std::string, std::string> defs_;
    std::vector<std::string> open_files_;
};

// ---- stage 2: the tree ----------------------------------------------------------------

struct Node {
    Loc loc;
    std::vector<Word> words;      // words[0]: the keyword (empty: a stray block)
    bool block = false;
    std::vector<Node> kids;

    const std::string& key() const { return words.front().text; }
    size_t nargs() const { return words.size() - 1; }
    const std::string& arg(size_t i) const { return words.at(i + 1).text; }
    // Words from `from` (0 = the keyword) joined by spaces.
    std::string text(size_t from = 0) const {
        std::string out;
        for (size_t i = from; i < words.size(); ++i) out += (out.empty() ? "" : " ") + words[i].text;
        return out;
    }
};

// The node's file and line, ordered after everything inside it: for a verdict
// on a whole block ("instance skipped") that should follow its reasons.
Loc after(const Node& n) {
    Loc at = n.loc;
    for (const Node& k : n.kids) at.seq = std::max(at.seq, after(k).seq);
    return at;
}

Node build_tree(const std::vector<Line>& lines, Messages& m) {
    Node root;
    root.block = true;
    std::vector<Node*> open{&root};
    Node* last = nullptr;   // the statement on the line just before, to own a `{`
    for (const Line& line : lines) {
        switch (line.kind) {
        case Line::Kind::words:
            open.back()->kids.push_back(Node{line.loc, line.words, false, {}});
            last = &open.back()->kids.back();
            break;
        case Line::Kind::open:
            if (!last) {
                m.add(Severity::warning, line.loc, "'{' without a keyword before it: its block is ignored");
                open.back()->kids.push_back(Node{line.loc, {}, true, {}});
                last = &open.back()->kids.back();
            }
            last->block = true;
            open.push_back(last);
            last = nullptr;
            break;
        case Line::Kind::close:
            if (open.size() > 1) open.pop_back();
            else m.add(Severity::warning, line.loc, "extra '}' ignored (keepalived: \"Extra '}' found\")");
            last = nullptr;
            break;
        }
    }
    for (size_t i = open.size(); i-- > 1;) {
        const Node& n = *open[i];
        m.add(Severity::warning, n.loc,
              (n.words.empty() ? std::string("a '{' block") : quote(n.text())) +
                  " is not closed: it runs to the end of the file (a missing '}')");
    }
    return root;
}

// ---- stage 3: the mapping ---------------------------------------------------------------

// keepalived keywords haplane knows but does not use, with why.
const std::map<std::string, const char*>& ignored_keywords() {
    static const std::map<std::string, const char*> table = [] {
        std::map<std::string, const char*> t;
        const char* mail = "haplane sends no e-mail; notify scripts can";
        for (const char* k : {"notification_email", "notification_email_from", "smtp_server", "smtp_helo_name",
                              "smtp_connect_timeout", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker",
                              "no_email_faults", "email_faults"})
            t[k] = mail;
        const char* sched = "haplane runs its own threads; see global.dpdk";
        for (const char* k : {"vrrp_priority", "checker_priority", "bfd_priority", "vrrp_no_swap", "checker_no_swap",
                              "bfd_no_swap", "vrrp_rt_priority", "checker_rt_priority", "bfd_rt_priority",
                              "vrrp_rlimit_rtime", "checker_rlimit_rtime", "bfd_rlimit_rtime", "vrrp_cpu_affinity",
                              "checker_cpu_affinity", "bfd_cpu_affinity", "vrrp_rx_bufs_policy",
                              "vrrp_rx_bufs_multiplier"})
            t[k] = sched;
        const char* snmp = "haplane exports Prometheus metrics (global.metrics) instead";
        for (const char* k : {"enable_traps", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_checker",
                              "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "snmp_socket",
                              "enable_dbus", "enable_dbus_instance"})
            t[k] = snmp;
        const char* strict = "haplane always checks adverts as RFC 5798 says";
        for (const char* k : {"vrrp_strict", "strict_mode", "vrrp_skip_check_adv_addr", "skip_check_adv_addr",
                              "vrrp_check_unicast_src", "check_unicast_src"})
            t[k] = strict;
        const char* fw = "haplane's dataplane answers only what it owns; no firewall rules are needed";
        for (const char* k : {"vrrp_iptables", "vrrp_ipsets", "nftables", "nftables_priority", "nftables_ifindex",
                              "nftables_counters", "vrrp_accept", "accept", "no_accept"})
            t[k] = fw;
        t["vrrp_mcast_group4"] = "haplane sends multicast adverts to 224.0.0.18";
        t["vrrp_mcast_group6"] = "haplane sends multicast adverts to ff02::12";
        t["mcast_dst_port"] = "VRRP has no ports";
        t["vrrp_garp_interval"] = "haplane paces its gratuitous ARPs itself";
        t["vrrp_gna_interval"] = "haplane paces its unsolicited NAs itself";
        t["vrrp_garp_lower_prio_delay"] = "no haplane equivalent";
        t["vrrp_garp_lower_prio_repeat"] = "no haplane equivalent";
        t["garp_lower_prio_delay"] = "no haplane equivalent";
        t["garp_lower_prio_repeat"] = "no haplane equivalent";
        t["vrrp_lower_prio_no_advert"] = "haplane answers a lower-priority advert as RFC 5798 says";
        t["lower_prio_no_advert"] = "haplane answers a lower-priority advert as RFC 5798 says";
        t["vrrp_higher_prio_send_advert"] = "no haplane equivalent";
        t["higher_prio_send_advert"] = "no haplane equivalent";
        t["vrrp_min_garp"] = "no haplane equivalent";
        t["vrrp_startup_delay"] = "no haplane equivalent";
        t["lvs_sync_daemon"] = "haplane does not synchronise connection tables between nodes";
        t["lvs_sync_daemon_interface"] = "haplane does not synchronise connection tables between nodes";
        t["lvs_flush"] = "haplane's virtual services are its own, not the kernel's IPVS table";
        t["lvs_flush_onstop"] = "haplane's virtual services are its own, not the kernel's IPVS table";
        t["lvs_notify_fifo"] = "haplane's notify FIFO carries VRRP lines only";
        t["lvs_notify_fifo_script"] = "haplane's notify FIFO carries VRRP lines only";
        t["notify_fifo_script"] = "haplane runs no FIFO script: run a reader of global.notify_fifo yourself";
        t["vrrp_notify_fifo_script"] = "haplane runs no FIFO script: run a reader of global.notify_fifo yourself";
        t["dynamic_interfaces"] = "haplane ports are DPDK devices, present from the start";
        t["net_namespace"] = "run haplane itself in the namespace";
        t["namespace_with_ipsets"] = "no haplane equivalent";
        t["instance"] = "no haplane equivalent";
        t["use_pid_dir"] = "see haplane --pid-file";
        t["linkbeat_use_polling"] = "haplane reads the DPDK link state";
        t["default_interface"] = "every haplane instance names its port";
        t["script_max_fds"] = "no haplane equivalent";
        t["max_auto_priority"] = "no haplane equivalent";
        t["min_auto_priority_delay"] = "no haplane equivalent";
        t["umask"] = "no haplane equivalent";
        t["process_names"] = "no haplane equivalent";
        t["process_name"] = "no haplane equivalent";
        t["vrrp_process_name"] = "no haplane equivalent";
        t["ipvs_process_name"] = "no haplane equivalent";
        t["bfd_process_name"] = "no haplane equivalent";
        t["checker_process_name"] = "no haplane equivalent";
        t["random_seed"] = "no haplane equivalent";
        t["reload_check_config"] = "haplane checks a reloaded file itself and keeps running on errors";
        t["config_save_dir"] = "no haplane equivalent";
        t["data_use_instance"] = "no haplane equivalent";
        t["tmp_config_directory"] = "no haplane equivalent";
        t["child_wait_time"] = "no haplane equivalent";
        t["vrrp_netlink_cmd_rcv_bufs"] = "no haplane equivalent";
        t["vrrp_netlink_cmd_rcv_bufs_force"] = "no haplane equivalent";
        t["vrrp_netlink_monitor_rcv_bufs"] = "no haplane equivalent";
        t["vrrp_netlink_monitor_rcv_bufs_force"] = "no haplane equivalent";
        t["lvs_netlink_cmd_rcv_bufs"] = "no haplane equivalent";
        t["lvs_netlink_monitor_rcv_bufs"] = "no haplane equivalent";
        t["vrrp_version_nonstrict"] = "no haplane equivalent";
        t["vrrp_garp_extra_if"] = "no haplane equivalent";
        t["vrrp_garp_extra_if_vmac"] = "no haplane equivalent";
        t["vrrp_dont_swap"] = "no haplane equivalent";
        // vrrp_instance
        t["mcast_src_ip"] = "haplane sends adverts from the port's own address: put it in ports[].addresses";
        t["unicast_src_ip"] = "haplane sends adverts from the port's own address: put it in ports[].addresses";
        t["dont_track_primary"] = "haplane always tracks its port: a port going down means FAULT";
        t["debug"] = "use haplane -D for detailed logs";
        t["native_ipv6"] = "an instance's family is its VIPs'";
        t["unicast_ttl"] = "no haplane equivalent";
        t["unicast_fault_no_peer"] = "no haplane equivalent";
        t["kernel_rx_buf_size"] = "no haplane equivalent";
        t["vmac_xmit_base"] = "haplane sends adverts from the virtual MAC when use_vmac is set";
        t["use_ipvlan"] = "no haplane equivalent";
        t["promote_secondaries"] = "no haplane equivalent";
        t["notify_master_rx_lower_pri"] = "no haplane equivalent";
        t["notify_deleted"] = "no haplane equivalent";
        t["virtual_rules"] = "haplane installs no policy-routing rules";
        t["track_process"] = "haplane tracks scripts, ports and files; a vrrp_script with pgrep can track a process";
        t["track_bfd"] = "haplane has no BFD";
        t["track_src_ip"] = "no haplane equivalent";
        t["global_tracking"] = "no haplane equivalent";
        t["sync_group_tracking_weight"] = "no haplane equivalent";
        // vrrp_script
        t["user"] = "haplane runs every script as global.script_user";
        t["init_fail"] = "no haplane equivalent";
        // virtual_server / real_server / checkers
        t["ops"] = "no one-packet scheduling in haplane";
        t["one_packet_scheduling"] = "no one-packet scheduling in haplane";
        t["nat_mask"] = "no haplane equivalent";
        t["persistence_granularity"] = "haplane's persistence is per client address";
        t["persistence_engine"] = "haplane's persistence is per client address";
        t["ha_suspend"] = "haplane's checks always run";
        t["omega"] = "no haplane equivalent (quorum_down still runs)";
        t["sorry_server_inhibit"] = "no haplane equivalent";
        t["sorry_server_lvs_method"] = "the sorry server uses the virtual server's method";
        t["ip_family"] = "a virtual server's family is its VIP's";
        t["hashed"] = "no haplane equivalent";
        t["flag-1"] = "no haplane equivalent";
        t["flag-2"] = "no haplane equivalent";
        t["flag-3"] = "no haplane equivalent";
        t["sh-port"] = "no haplane equivalent";
        t["sh-fallback"] = "no haplane equivalent";
        t["mh-port"] = "no haplane equivalent";
        t["mh-fallback"] = "no haplane equivalent";
        t["lb_flags"] = "no haplane equivalent";
        t["lvs_flags"] = "no haplane equivalent";
        t["uthreshold"] = "haplane has no connection thresholds";
        t["lthreshold"] = "haplane has no connection thresholds";
        t["warmup"] = "haplane starts checks at once";
        t["bindto"] = "haplane's checks leave from the host's own address";
        t["bind_port"] = "haplane's checks leave from the host's own address";
        t["bind_if"] = "haplane's checks leave from the host's own address";
        t["fwmark"] = "no haplane equivalent";
        t["log_all_failures"] = "haplane logs every check state change";
        t["http_protocol"] = "haplane sends HTTP/1.0-style requests with Connection: close";
        t["enable_sni"] = "haplane has no TLS checks";
        t["fast_recovery"] = "no haplane equivalent";
        t["tfo"] = "no haplane equivalent";
        t["dont_use_sni"] = "haplane has no TLS checks";
        t["protocol_only"] = "no haplane equivalent";
        return t;
    }();
    return table;
}

// Every keyword the importer knows, to recognise a flattened config.
const std::set<std::string>& known_keywords() {
    static const std::set<std::string> set = [] {
        std::set<std::string> s;
        for (const auto& [k, why] : ignored_keywords()) s.insert(k);
        for (const char* k :
             {"global_defs", "router_id", "lvs_id", "script_user", "enable_script_security", "vrrp_version",
              "notify_fifo", "vrrp_notify_fifo", "lvs_timeouts", "vrrp_garp_master_delay", "vrrp_garp_master_repeat",
              "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "static_ipaddress", "static_routes",
              "static_rules", "vrrp_script", "vrrp_track_file", "track_file", "vrrp_instance", "vrrp_sync_group",
              "group", "virtual_server_group", "virtual_server", "real_server", "state", "interface",
              "virtual_router_id", "priority", "advert_int", "version", "nopreempt", "preempt", "preempt_delay",
              "authentication", "auth_type", "auth_pass", "virtual_ipaddress", "virtual_ipaddress_excluded",
              "virtual_routes", "unicast_peer", "use_vmac", "track_interface", "track_script", "notify_master",
              "notify_backup", "notify_fault", "notify_stop", "notify", "garp_master_delay", "garp_master_repeat",
              "garp_master_refresh", "garp_master_refresh_repeat", "script", "interval", "timeout", "weight",
              "rise", "fall", "file", "init_file", "delay_loop", "lb_algo", "lvs_sched", "lb_kind", "lvs_method",
              "persistence_timeout", "protocol", "quorum", "hysteresis", "sorry_server", "alpha", "quorum_up",
              "quorum_down", "virtualhost", "inhibit_on_failure", "notify_up", "notify_down", "TCP_CHECK",
              "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK",
              "BFD_CHECK", "FILE_CHECK", "url", "path", "digest", "status_code", "regex", "connect_ip",
              "connect_port", "connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "misc_path",
              "misc_timeout", "misc_dynamic", "helo_name", "host", "payload", "require_reply", "type", "name"})
            s.insert(k);
        return s;
    }();
    return set;
}

struct TrackFileDef {
    std::string path;
    int weight = 1;
};

// A virtual_server_group member.
struct VsgEntry {
    IpAddress address;
    uint16_t port = 0;
};

// What a checker inherits from its real server and virtual server.
struct CheckDefaults {
    Duration interval = 60s;                        // keepalived's delay_loop default
    std::optional<Duration> timeout;                // connect_timeout (default 5s)
    std::optional<unsigned> retry;
    std::optional<Duration> delay_before_retry;     // default 1s
    std::optional<std::string> host;                // virtualhost
};

// A parsed virtual_server block, before its address is known (groups).
struct VsDraft {
    VirtualServer vs;                       // everything but name, vip, port
    bool protocol_set = false;
    std::vector<std::pair<RealServer, Loc>> real_servers;
};

class Importer {
public:
    Importer(Messages& m, Config& c) : m_(m), c_(c) {}

    void run(const Node& root) {
        // global_defs first: its defaults apply to every instance, wherever it is.
        for (const Node& n : root.kids) {
            if (n.words.empty()) continue;
            const std::string& k = n.key();
            if (k == "global_defs") global_defs(n);
        }
        for (const Node& n : root.kids) {
            if (n.words.empty()) continue;
            const std::string& k = n.key();
            if (k == "global_defs" || k == "vrrp_instance" || k == "vrrp_sync_group" || k == "virtual_server") continue;
            if (k == "vrrp_script") vrrp_script(n);
            else if (k == "vrrp_track_file" || k == "track_file") vrrp_track_file(n);
            else if (k == "static_ipaddress") static_ipaddress(n);
            else if (k == "virtual_server_group") vs_group(n);
            else if (k == "static_routes" || k == "static_rules")
                ignored(n, "", "haplane leaves the host's own routes and rules to the OS network configuration");
            else if (k == "vrrp_track_process" || k == "track_process")
                ignored(n, "", "haplane tracks scripts, ports and files; a vrrp_script with pgrep can track a process");
            else if (k == "bfd_instance") ignored(n, "", "haplane has no BFD");
            else if (k == "linkbeat_interfaces") ignored(n, "", "haplane reads the DPDK link state");
            else if (k == "garp_group") ignored(n, "", "haplane paces its gratuitous ARPs itself");
            else if (k == "SSL") ignored(n, "", "haplane has no TLS checks");
            else
                warn(n, "unknown keyword " + quote(k) + (n.block ? " (with a { } block)" : "") +
                            " at the top level: ignored" +
                            (known_keywords().count(k) ? " (it belongs inside a block)" : ""));
        }
        for (const Node& n : root.kids)
            if (!n.words.empty() && n.key() == "vrrp_instance") vrrp_instance(n);
        for (const Node& n : root.kids)
            if (!n.words.empty() && n.key() == "vrrp_sync_group") sync_group(n);
        for (const Node& n : root.kids)
            if (!n.words.empty() && n.key() == "virtual_server") virtual_server(n);
        finish();
    }

private:
    // ---- messages and shapes ----
    void warn(const Node& n, std::string text) { m_.add(Severity::warning, n.loc, std::move(text)); }
    void warn(const Loc& at, std::string text) { m_.add(Severity::warning, at, std::move(text)); }
    void note(const Node& n, std::string text) { m_.add(Severity::note, n.loc, std::move(text)); }

    void unknown(const Node& n, const std::string& where) {
        const auto it = ignored_keywords().find(n.key());
        if (it != ignored_keywords().end()) return ignored(n, where, it->second);
        warn(n, "unknown keyword " + quote(n.key()) + (n.block ? " (with a { } block)" : "") + " in " + where +
                    ": ignored");
    }
    void ignored(const Node& n, const std::string& where, const std::string& why) {
        warn(n, quote(n.key()) + (where.empty() ? "" : " in " + where) + " has no haplane equivalent (" + why +
                    "): ignored");
    }

    // A keyword that takes between min and max words after it, and no block.
    bool shape(const Node& n, size_t min, size_t max, const std::string& where) {
        if (n.block)
            warn(n, quote(n.key()) + " in " + where + " is followed by a '{' block, which it does not take: "
                    "the block is ignored");
        if (n.nargs() < min) {
            warn(n, quote(n.key()) + " in " + where + " needs a value: ignored");
            return false;
        }
        extra(n, max, where);
        return true;
    }
    // Words after the first `max` arguments: keepalived ignores them too.
    void extra(const Node& n, size_t max, const std::string& where) {
        if (n.nargs() <= max) return;
        std::string rest;
        bool keyword = false;
        for (size_t i = max + 1; i < n.words.size(); ++i) {
            rest += (rest.empty() ? "" : " ") + n.words[i].text;
            keyword = keyword || (!n.words[i].quoted && known_keywords().count(n.words[i].text));
        }
        if (rest.size() > 60) rest = rest.substr(0, 57) + "...";
        std::string head;
        for (size_t i = 0; i <= max; ++i) head += (i ? " " : "") + n.words[i].text;
        warn(n, "extra words after " + quote(head) + " in " + where + " ignored: " + quote(rest) +
                    (keyword ? " (keepalived reads one keyword per line: was this config flattened onto one line?)"
                             : ""));
    }
    // A block keyword: needs its { }.
    bool block(const Node& n, const std::string& where) {
        if (n.block) return true;
        warn(n, quote(n.key()) + " in " + where + " has no '{' block: ignored");
        return false;
    }

    // ---- values ----
    std::optional<long long> integer(const Node& n, size_t i, long long lo, long long hi, const std::string& where) {
        const std::string& s = n.arg(i);
        long long v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || end != s.data() + s.size()) {
            warn(n, "invalid number " + quote(s) + " for " + quote(n.key()) + " in " + where + ": ignored");
            return std::nullopt;
        }
        if (v < lo || v > hi) {
            warn(n, quote(n.key()) + " " + s + " in " + where + " is outside " + std::to_string(lo) + ".." +
                        std::to_string(hi) + ": ignored");
            return std::nullopt;
        }
        return v;
    }
    std::optional<long long> integer_key(const Node& n, long long lo, long long hi, const std::string& where) {
        if (!shape(n, 1, 1, where)) return std::nullopt;
        return integer(n, 0, lo, hi, where);
    }

    // keepalived timers: seconds, decimals allowed.
    std::optional<Duration> seconds(const Node& n, size_t i, Duration lo, Duration hi, const std::string& where) {
        const std::string& s = n.arg(i);
        const bool plain = !s.empty() && s.find_first_not_of("0123456789.") == s.npos &&
                           std::isdigit(static_cast<unsigned char>(s.front()));
        const auto d = plain ? parse_duration(s) : std::nullopt;
        if (!d) {
            warn(n, "invalid number of seconds " + quote(s) + " for " + quote(n.key()) + " in " + where + ": ignored");
            return std::nullopt;
        }
        if (*d < lo || *d > hi) {
            warn(n, quote(n.key()) + " " + s + " in " + where + " is outside " + format_duration(lo) + ".." +
                        format_duration(hi) + ": ignored");
            return std::nullopt;
        }
        return d;
    }
    std::optional<Duration> seconds_key(const Node& n, Duration lo, Duration hi, const std::string& where) {
        if (!shape(n, 1, 1, where)) return std::nullopt;
        return seconds(n, 0, lo, hi, where);
    }

    bool flag(const Node& n, const std::string& where) {
        shape(n, 0, 0, where);
        return true;
    }

    // `script` / `misc_path`: a quoted command, or the unquoted words of one.
    std::string command(const Node& n, const std::string& where) {
        if (n.words[1].quoted) {
            extra(n, 1, where);
            return n.arg(0);
        }
        std::string out;
        for (size_t i = 1; i < n.words.size(); ++i)
            out += (out.empty() ? "" : " ") + (n.words[i].quoted ? shell_word(n.words[i].text) : n.words[i].text);
        return out;
    }

    // notify scripts: the first word is the command; keepalived 2.x reads
    // further words as the user and group to run it as, 1.x drops them.
    std::optional<std::string> notify_script(const Node& n, const std::string& where) {
        if (n.block) warn(n, quote(n.key()) + " in " + where + " is followed by a '{' block: the block is ignored");
        if (n.nargs() < 1) {
            warn(n, quote(n.key()) + " in " + where + " needs a script: ignored");
            return std::nullopt;
        }
        if (n.nargs() > 1)
            warn(n, "words after the script of " + quote(n.key()) + " in " + where + " ignored: " +
                        quote(n.text(2)) + " (keepalived 2.x takes them as the user and group to run it as; "
                        "haplane runs scripts as global.script_user; quote the whole command to pass arguments)");
        std::string script = n.arg(0);
        check_shell(n, script);
        return script;
    }

    // haplane runs scripts with /bin/sh (dash on Debian): `[[ ]]` is bash.
    void check_shell(const Node& n, std::string& script) {
        if (script.find("[[") == std::string::npos) return;
        static const std::regex test(R"(\[\[\s+([^\[\]]*?)\s+\]\])");
        bool all_simple = true;
        std::string out;
        auto begin = std::sregex_iterator(script.begin(), script.end(), test);
        size_t last = 0;
        for (auto it = begin; it != std::sregex_iterator(); ++it) {
            const std::string inner = (*it)[1];
            static const std::regex complex(R"(&&|\|\||=~|==|[<>()*?])");
            if (std::regex_search(inner, complex)) all_simple = false;
            out += script.substr(last, static_cast<size_t>(it->position()) - last) + "[ " + inner + " ]";
            last = static_cast<size_t>(it->position() + it->length());
        }
        out += script.substr(last);
        if (all_simple && out.find("[[") == std::string::npos) {
            warn(n, "'[[ ]]' is bash syntax and haplane runs scripts with /bin/sh: rewritten as " + quote(out) +
                        " (keepalived 2.x runs scripts without a shell, and would not run this one at all)");
            script = out;
        } else {
            warn(n, "'[[ ]]' is bash syntax and haplane runs scripts with /bin/sh: run it as bash -c '...' "
                    "or rewrite it with '[ ]'");
        }
    }

    // ---- global_defs ----
    void global_defs(const Node& n) {
        const std::string where = "global_defs";
        if (!block(n, where)) return;
        shape_header(n, 0, where);
        Global& g = c_.global;
        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "router_id" || key == "lvs_id") {
                if (!shape(k, 1, 1, where)) continue;
                g.router_id = k.arg(0);
                if (key == "lvs_id") note(k, "lvs_id (keepalived 1.x) imported as global.router_id");
            } else if (key == "script_user") {
                if (!shape(k, 1, 2, where)) continue;
                g.script_user = k.arg(0);
                if (k.nargs() == 2)
                    warn(k, "the group " + quote(k.arg(1)) + " of script_user is ignored: haplane runs scripts "
                            "with the user's own groups");
            } else if (key == "enable_script_security") {
                flag(k, where);
                g.enable_script_security = true;
            } else if (key == "vrrp_version") {
                if (const auto v = integer_key(k, 2, 3, where)) default_version_ = static_cast<uint8_t>(*v);
            } else if (key == "notify_fifo" || key == "vrrp_notify_fifo") {
                if (!shape(k, 1, 3, where)) continue;
                if (k.nargs() > 1)
                    warn(k, "the user/group of " + key + " are ignored: haplane creates the FIFO as its own user");
                if (g.notify_fifo && *g.notify_fifo != k.arg(0))
                    warn(k, key + " " + k.arg(0) + ": haplane has one notify FIFO, " + *g.notify_fifo +
                                " is kept");
                else
                    g.notify_fifo = k.arg(0);
            } else if (key == "lvs_timeouts") {
                lvs_timeouts(k, where);
            } else if (key == "vrrp_garp_master_delay") {
                if (auto d = seconds_key(k, 0s, 3600s, where)) garp_delay_ = *d;
            } else if (key == "vrrp_garp_master_repeat") {
                if (auto v = integer_key(k, 1, 1000, where)) garp_repeat_ = static_cast<unsigned>(*v);
            } else if (key == "vrrp_garp_master_refresh") {
                if (auto d = seconds_key(k, 0s, 86400s, where)) garp_refresh_ = *d;
            } else if (key == "vrrp_garp_master_refresh_repeat") {
                if (auto v = integer_key(k, 1, 1000, where)) garp_refresh_repeat_ = static_cast<unsigned>(*v);
            } else {
                unknown(k, where);
            }
        }
    }

    // Words after a section's own keyword and name(s).
    void shape_header(const Node& n, size_t max, const std::string& where) { extra(n, max, where); }

    void lvs_timeouts(const Node& k, const std::string& where) {
        if (!shape(k, 2, 99, where)) return;
        Timeouts& t = c_.global.timeouts;
        for (size_t i = 0; i < k.nargs(); i += 2) {
            const std::string& what = k.arg(i);
            if (i + 1 >= k.nargs()) {
                warn(k, "lvs_timeouts: " + quote(what) + " needs a number of seconds: ignored");
                break;
            }
            const auto d = seconds(k, i + 1, 0s, 86400s * 365, where);
            if (!d) continue;
            if (*d == Duration::zero()) continue;   // keepalived: 0 leaves the kernel's default
            if (what == "tcp") t.tcp = *d;
            else if (what == "tcpfin") t.tcp_fin = *d;
            else if (what == "udp") t.udp = *d;
            else warn(k, "lvs_timeouts: unknown timeout " + quote(what) + " (expected tcp, tcpfin or udp): ignored");
        }
    }

    // ---- static_ipaddress: the host's own addresses -> its ports' ----
    struct StaticAddress {
        IpPrefix prefix;
        std::string dev;
        Loc loc;
        std::vector<std::string> ignored;
    };

    void static_ipaddress(const Node& n) {
        const std::string where = "static_ipaddress";
        if (!block(n, where)) return;
        extra(n, 0, where);
        for (const Node& line : n.kids) {
            if (line.words.empty()) continue;
            if (line.block) warn(line, "a '{' block inside static_ipaddress is ignored");
            const auto prefix = IpPrefix::parse(line.key());
            if (!prefix) {
                warn(line, "invalid address " + quote(line.key()) + " in static_ipaddress: ignored");
                continue;
            }
            StaticAddress a{*prefix, {}, line.loc, {}};
            for (size_t i = 1; i < line.words.size(); ++i) {
                const std::string& w = line.words[i].text;
                const bool has_value = i + 1 < line.words.size();
                if (w == "dev" && has_value) a.dev = line.words[++i].text;
                else if (has_value && (w == "brd" || w == "scope" || w == "label" || w == "preferred_lft" || w == "metric"))
                    a.ignored.push_back(w + " " + line.words[++i].text);
                else a.ignored.push_back(w);
            }
            if (a.dev.empty()) {
                warn(line, "static_ipaddress " + line.key() + " names no dev: it belongs to no haplane port: ignored");
                continue;
            }
            static_addresses_.push_back(std::move(a));
        }
    }

    // ---- vrrp_script ----
    void vrrp_script(const Node& n) {
        if (n.nargs() < 1 || n.arg(0).empty()) {
            warn(n, "vrrp_script without a name: ignored");
            return;
        }
        const std::string name = n.arg(0);
        const std::string where = "vrrp_script " + name;
        if (!block(n, where)) return;
        extra(n, 1, where);
        VrrpScript s;
        s.name = name;
        bool have_script = false;
        std::optional<Duration> timeout;
        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "script") {
                if (k.block || k.nargs() < 1) {
                    shape(k, 1, 99, where);
                    continue;
                }
                s.script = command(k, where);
                check_shell(k, s.script);
                have_script = true;
            } else if (key == "interval") {
                if (auto d = seconds_key(k, 1ms, 86400s, where)) s.interval = *d;
            } else if (key == "timeout") {
                if (auto d = seconds_key(k, 1ms, 86400s, where)) timeout = *d;
            } else if (key == "weight") {
                if (!shape(k, 1, 2, where)) continue;
                if (const auto w = integer(k, 0, -254, 254, where)) s.weight = static_cast<int>(*w);
                if (k.nargs() == 2) reverse_weight(k, where);
            } else if (key == "rise") {
                if (auto v = integer_key(k, 1, 1000000, where)) s.rise = static_cast<unsigned>(*v);
            } else if (key == "fall") {
                if (auto v = integer_key(k, 1, 1000000, where)) s.fall = static_cast<unsigned>(*v);
            } else {
                unknown(k, where);
            }
        }
        if (!have_script) {
            warn(after(n), "vrrp_script " + name + " has no script: skipped");
            return;
        }
        // keepalived waits up to the interval when no timeout is given (haplane's own default: 1s).
        s.timeout = timeout.value_or(s.interval);
        if (std::any_of(c_.vrrp_scripts.begin(), c_.vrrp_scripts.end(),
                        [&](const VrrpScript& o) { return o.name == name; })) {
            warn(n, "vrrp_script " + name + " is defined twice: the second is skipped");
            return;
        }
        c_.vrrp_scripts.push_back(std::move(s));
    }

    void reverse_weight(const Node& k, const std::string& where) {
        if (k.arg(k.nargs() - 1) == "reverse")
            warn(k, "'weight ... reverse' in " + where + " is not supported by haplane: the weight applies "
                    "as written (negative: subtracted on failure; positive: added on success)");
        else
            extra(k, k.nargs() - 1, where);
    }

    // ---- vrrp_track_file ----
    void vrrp_track_file(const Node& n) {
        if (n.nargs() < 1 || n.arg(0).empty()) {
            warn(n, n.key() + " without a name: ignored");
            return;
        }
        const std::string where = n.key() + " " + n.arg(0);
        if (!block(n, where)) return;
        extra(n, 1, where);
        TrackFileDef def;
        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            if (k.key() == "file") {
                if (shape(k, 1, 1, where)) def.path = k.arg(0);
            } else if (k.key() == "weight") {
                if (!shape(k, 1, 2, where)) continue;
                if (const auto w = integer(k, 0, -254, 254, where)) def.weight = static_cast<int>(*w);
                if (k.nargs() == 2) reverse_weight(k, where);
            } else if (k.key() == "init_file") {
                ignored(k, where, "haplane reads a missing file as 0");
            } else {
                unknown(k, where);
            }
        }
        if (def.path.empty()) {
            warn(after(n), where + " has no file: skipped");
            return;
        }
        track_files_[n.arg(0)] = def;
    }

    // ---- vrrp_instance ----
    struct Vip {
        IpPrefix prefix;
        Loc loc;
        bool excluded = false;
    };

    void vrrp_instance(const Node& n) {
        if (n.nargs() < 1 || n.arg(0).empty()) {
            warn(n, "vrrp_instance without a name: ignored");
            return;
        }
        const std::string name = n.arg(0);
        const std::string where = "vrrp_instance " + name;
        if (!block(n, where)) return;
        extra(n, 1, where);

        VrrpInstance vi;
        vi.name = name;
        std::optional<std::string> iface;
        Loc iface_loc = n.loc;
        std::optional<long long> vrid, priority;
        std::optional<VrrpState> state;
        std::optional<uint8_t> version;
        std::optional<Duration> advert;
        std::optional<std::string> auth_type;
        std::optional<std::string> auth_pass;
        const Node* auth_node = nullptr;
        std::vector<Vip> vips;
        std::vector<std::pair<IpAddress, Loc>> peers;
        std::vector<std::pair<const Node*, std::string>> route_lines;   // later: need the family
        std::vector<std::pair<TrackPort, Loc>> track_ports;
        std::vector<std::pair<TrackScript, Loc>> track_scripts;
        std::vector<std::pair<TrackFile, Loc>> track_files;
        std::vector<std::pair<std::string, Loc>> vip_devs;   // `dev X` of the VIPs
        std::optional<Duration> garp_delay, garp_refresh;
        std::optional<unsigned> garp_repeat, garp_refresh_repeat;

        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "state") {
                if (!shape(k, 1, 1, where)) continue;
                const std::string s = upper(k.arg(0));
                if (s == "MASTER") state = VrrpState::MASTER;
                else if (s == "BACKUP") state = VrrpState::BACKUP;
                else warn(k, "state " + k.arg(0) + " in " + where + ": expected MASTER or BACKUP: ignored");
            } else if (key == "interface") {
                if (shape(k, 1, 1, where) && !k.arg(0).empty()) {
                    iface = k.arg(0);
                    iface_loc = k.loc;
                }
            } else if (key == "virtual_router_id") {
                if (auto v = integer_key(k, 1, 255, where)) vrid = *v;
            } else if (key == "priority") {
                if (auto v = integer_key(k, 1, 255, where)) priority = *v;
            } else if (key == "advert_int") {
                if (auto d = seconds_key(k, 1ms, 255s, where)) advert = *d;
            } else if (key == "version") {
                if (auto v = integer_key(k, 2, 3, where)) version = static_cast<uint8_t>(*v);
            } else if (key == "nopreempt") {
                vi.preempt = !flag(k, where);
            } else if (key == "preempt") {
                vi.preempt = flag(k, where);
            } else if (key == "preempt_delay") {
                if (auto d = seconds_key(k, 0s, 1000s, where)) vi.preempt_delay = *d;
            } else if (key == "authentication") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                auth_node = &k;
                for (const Node& a : k.kids) {
                    if (a.words.empty()) continue;
                    if (a.key() == "auth_type") {
                        if (shape(a, 1, 1, where + " authentication")) auth_type = upper(a.arg(0));
                    } else if (a.key() == "auth_pass") {
                        if (!shape(a, 1, 1, where + " authentication")) continue;
                        auth_pass = a.arg(0);
                        if (auth_pass->size() > 8) {
                            warn(a, "auth_pass in " + where + " is longer than 8 characters: keepalived uses the "
                                    "first 8, and so does the import");
                            auth_pass->resize(8);
                        }
                    } else {
                        unknown(a, where + " authentication");
                    }
                }
            } else if (key == "virtual_ipaddress" || key == "virtual_ipaddress_excluded") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids)
                    if (!line.words.empty())
                        if (auto v = vip_line(line, where, key, vip_devs))
                            vips.push_back(Vip{*v, line.loc, key == "virtual_ipaddress_excluded"});
            } else if (key == "virtual_routes") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids)
                    if (!line.words.empty()) route_lines.emplace_back(&line, where);
            } else if (key == "unicast_peer") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids) {
                    if (line.words.empty()) continue;
                    const auto a = IpAddress::parse(line.key());
                    if (!a) {
                        warn(line, "invalid unicast_peer address " + quote(line.key()) + " in " + where + ": ignored");
                        continue;
                    }
                    if (line.nargs() > 0)
                        warn(line, "unicast_peer options " + quote(line.text(1)) + " in " + where +
                                       " ignored (no haplane equivalent)");
                    peers.emplace_back(*a, line.loc);
                }
            } else if (key == "use_vmac") {
                vi.use_vmac = true;
                if (k.block) shape(k, 0, 1, where);
                if (k.nargs() >= 1)
                    warn(k, "the interface name " + quote(k.arg(0)) + " of use_vmac in " + where +
                                " is ignored: haplane creates no macvlan; the port itself answers from the virtual MAC");
                extra(k, 1, where);
            } else if (key == "track_interface") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids) {
                    if (line.words.empty() || line.key().empty()) continue;
                    TrackPort t{line.key(), 0};
                    if (auto w = track_weight(line, where)) t.weight = *w;
                    track_ports.emplace_back(t, line.loc);
                }
            } else if (key == "track_script") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids) {
                    if (line.words.empty()) continue;
                    TrackScript t{line.key(), track_weight(line, where)};
                    track_scripts.emplace_back(t, line.loc);
                }
            } else if (key == "track_file") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids) {
                    if (line.words.empty()) continue;
                    const auto def = track_files_.find(line.key());
                    if (def == track_files_.end()) {
                        warn(line, "track file " + line.key() + " not found (no vrrp_track_file " + line.key() +
                                       "), ignoring, as keepalived does");
                        continue;
                    }
                    TrackFile t{def->second.path, def->second.weight};
                    if (auto w = track_weight(line, where)) t.weight = *w;
                    track_files.emplace_back(t, line.loc);
                }
            } else if (key == "notify_master") {
                vi.notify.master = notify_script(k, where);
            } else if (key == "notify_backup") {
                vi.notify.backup = notify_script(k, where);
            } else if (key == "notify_fault") {
                vi.notify.fault = notify_script(k, where);
            } else if (key == "notify_stop") {
                vi.notify.stop = notify_script(k, where);
            } else if (key == "notify") {
                vi.notify.any = notify_script(k, where);
            } else if (key == "garp_master_delay") {
                if (auto d = seconds_key(k, 0s, 3600s, where)) garp_delay = *d;
            } else if (key == "garp_master_repeat") {
                if (auto v = integer_key(k, 1, 1000, where)) garp_repeat = static_cast<unsigned>(*v);
            } else if (key == "garp_master_refresh") {
                if (auto d = seconds_key(k, 0s, 86400s, where)) garp_refresh = *d;
            } else if (key == "garp_master_refresh_repeat") {
                if (auto v = integer_key(k, 1, 1000, where)) garp_refresh_repeat = static_cast<unsigned>(*v);
            } else if (key == "mcast_src_ip" || key == "unicast_src_ip") {
                if (!shape(k, 1, 1, where)) continue;
                warn(k, key + " " + k.arg(0) + " in " + where + " has no haplane equivalent: haplane sends adverts "
                        "from its port's own address; put " + k.arg(0) + "/LEN in the addresses of port " +
                        iface.value_or("(the interface)") + ": ignored");
            } else {
                unknown(k, where);
            }
        }

        // keepalived's vrrp_complete_instance(), as far as it applies.
        const auto skip = [&](const std::string& why) { warn(after(n), "(" + name + ") " + why + ": instance skipped"); };
        if (std::any_of(c_.vrrp_instances.begin(), c_.vrrp_instances.end(),
                        [&](const VrrpInstance& o) { return o.name == name; }))
            return skip("a vrrp_instance of this name was defined before");
        if (!iface) return skip("no interface: a haplane instance lives on a port");
        if (!vrid) return skip("the virtual router id must be set");
        vi.port = *iface;
        vi.vrid = static_cast<uint8_t>(*vrid);

        // VIPs: the first one's family is the instance's.
        for (const Vip& v : vips) {
            if (!vi.virtual_ipaddresses.empty() && v.prefix.address.family != vi.family()) {
                warn(v.loc, "virtual address " + v.prefix.str() + " in " + where + " is not of the instance's "
                            "family (its first virtual address is " + vi.virtual_ipaddresses.front().str() +
                            "): ignored; make a second instance for it");
                continue;
            }
            if (v.excluded)
                note_at(v.loc, "virtual_ipaddress_excluded " + v.prefix.str() + " in " + where +
                               ": haplane has no excluded addresses; it is a plain VIP (listed in the adverts)");
            if (std::find(vi.virtual_ipaddresses.begin(), vi.virtual_ipaddresses.end(), v.prefix) !=
                vi.virtual_ipaddresses.end()) {
                warn(v.loc, "virtual address " + v.prefix.str() + " is listed twice in " + where + ": once is kept");
                continue;
            }
            vi.virtual_ipaddresses.push_back(v.prefix);
        }
        if (vi.virtual_ipaddresses.empty()) return skip("no virtual_ipaddress (haplane needs at least one)");
        const Family family = vi.family();

        // Version: the instance's, IPv6 forces 3, then global_defs' vrrp_version, then keepalived's 2.
        if (family == Family::v6) {
            if (version == 2) warn(n, "(" + name + ") cannot use IPv6 with VRRP version 2; setting version 3");
            vi.version = 3;
        } else {
            vi.version = version.value_or(default_version_.value_or(2));
        }
        // Priority and state derive from each other when one is missing.
        if (priority) {
            vi.priority = static_cast<uint8_t>(*priority);
        } else if (state == VrrpState::MASTER) {
            vi.priority = 255;
            note(n, "(" + name + ") no priority with state MASTER: keepalived makes it the address owner, "
                    "priority 255, and so does the import");
        } else {
            vi.priority = 100;
        }
        vi.state = state.value_or(vi.priority == 255 ? VrrpState::MASTER : VrrpState::BACKUP);
        // keepalived's own corrections, with its words.
        if (!vi.preempt && vi.priority == 255) {
            warn(n, "(" + name + ") nopreempt is incompatible with priority 255 - resetting nopreempt");
            vi.preempt = true;
        }
        if (vi.state == VrrpState::MASTER) {
            if (!vi.preempt)
                warn(n, "(" + name + ") Warning - nopreempt will not work with initial state MASTER - clearing");
            if (vi.preempt_delay != Duration::zero())
                warn(n, "(" + name + ") Warning - preempt delay will not work with initial state MASTER - clearing");
            vi.preempt = true;
            vi.preempt_delay = Duration::zero();
        }
        if (!vi.preempt && vi.preempt_delay != Duration::zero()) {
            warn(n, "(" + name + ") preempt_delay is incompatible with nopreempt - resetting");
            vi.preempt_delay = Duration::zero();
        }

        // Advert interval: v2 whole seconds, v3 centiseconds.
        vi.advert_interval = advert.value_or(1s);
        if (vi.version == 2) {
            const auto s = std::max<int64_t>(1, (vi.advert_interval + 500ms) / 1s);
            const Duration rounded = std::chrono::seconds(std::min<int64_t>(s, 255));
            if (rounded != vi.advert_interval)
                warn(n, "(" + name + ") advert_int " + format_duration(vi.advert_interval) +
                            " is not whole seconds, which VRRP version 2 needs: " + format_duration(rounded));
            vi.advert_interval = rounded;
        } else {
            const auto cs = std::clamp<int64_t>((vi.advert_interval + 5ms) / 10ms, 1, 4095);
            const Duration rounded = std::chrono::milliseconds(cs * 10);
            if (rounded != vi.advert_interval)
                warn(n, "(" + name + ") advert_int " + format_duration(vi.advert_interval) +
                            " is not a multiple of 10ms from 10ms to 40.95s, which VRRP version 3 needs: " +
                            format_duration(rounded));
            vi.advert_interval = rounded;
        }

        // Authentication: PASS on version 2 only, as in keepalived.
        if (auth_type || auth_pass) {
            const Node& at = auth_node ? *auth_node : n;
            const std::string type = auth_type.value_or("");
            if (type == "AH")
                warn(at, "(" + name + ") AH authentication is not supported by haplane: imported without "
                         "authentication (the peers must drop it too)");
            else if (type != "PASS")
                warn(at, "(" + name + ") auth_type " + (type.empty() ? "missing" : type) +
                             " (expected PASS or AH): authentication ignored");
            else if (vi.version == 3)
                warn(at, "(" + name + ") VRRP version 3 does not support authentication. Ignoring.");
            else if (!auth_pass || auth_pass->empty())
                warn(at, "(" + name + ") Authentication specified but no password given. Ignoring");
            else
                vi.authentication = Authentication{Authentication::Type::PASS, *auth_pass};
        }

        for (const auto& [a, at] : peers) {
            if (a.family != family) {
                warn(at, "unicast_peer " + a.str() + " in " + where + " is not of the instance's family: ignored");
                continue;
            }
            vi.unicast_peers.push_back(a);
        }

        for (const auto& [line, w] : route_lines)
            if (auto r = route(*line, w, family)) vi.virtual_routes.push_back(*r);

        for (const auto& [t, at] : track_ports) vi.track_ports.push_back(t);
        for (const auto& [t, at] : track_scripts) {
            if (!std::any_of(c_.vrrp_scripts.begin(), c_.vrrp_scripts.end(),
                             [&](const VrrpScript& s) { return s.name == t.name; })) {
                warn(at, "(" + name + ") track script " + t.name + " not found, ignoring...");
                continue;
            }
            vi.track_scripts.push_back(t);
        }
        for (const auto& [t, at] : track_files) vi.track_files.push_back(t);

        vi.garp.master_delay = garp_delay.value_or(garp_delay_.value_or(vi.garp.master_delay));
        vi.garp.master_repeat = garp_repeat.value_or(garp_repeat_.value_or(vi.garp.master_repeat));
        vi.garp.master_refresh = garp_refresh.value_or(garp_refresh_.value_or(vi.garp.master_refresh));
        vi.garp.master_refresh_repeat =
            garp_refresh_repeat.value_or(garp_refresh_repeat_.value_or(vi.garp.master_refresh_repeat));

        for (const auto& o : c_.vrrp_instances)
            if (o.port == vi.port && o.vrid == vi.vrid && o.family() == family)
                return skip("virtual_router_id " + std::to_string(vi.vrid) + " on " + vi.port +
                            " is already used by " + o.name);

        // Kept: its interfaces become ports.
        add_interface(*iface, iface_loc);
        for (const auto& [t, at] : track_ports) add_interface(t.port, at);
        for (const auto& r : vi.virtual_routes)
            if (r.port) add_interface(*r.port, n.loc);
        for (const auto& [dev, at] : vip_devs)
            if (dev != *iface)
                warn(at, "virtual address on dev " + dev + " in " + where + ": haplane VIPs live on the instance's "
                     "port, " + *iface + ": imported there (make an instance on " + dev + " to keep it there)");
        c_.vrrp_instances.push_back(std::move(vi));
    }

    void note_at(const Loc& at, std::string text) { m_.add(Severity::note, at, std::move(text)); }

    // `IF|NAME [weight W [reverse]]` of track_interface / track_script / track_file.
    std::optional<int> track_weight(const Node& line, const std::string& where) {
        if (line.block) warn(line, "a '{' block after " + quote(line.key()) + " in " + where + " is ignored");
        if (line.nargs() == 0) return std::nullopt;
        if (line.arg(0) != "weight" || line.nargs() < 2) {
            warn(line, "words after " + quote(line.key()) + " in " + where + " ignored: " + quote(line.text(1)) +
                           " (expected 'weight W')");
            return std::nullopt;
        }
        long long w = 0;
        const std::string& s = line.arg(1);
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), w);
        if (ec != std::errc{} || end != s.data() + s.size() || w < -254 || w > 254) {
            warn(line, "invalid weight " + quote(s) + " for " + line.key() + " in " + where +
                           " (expected -254..254): ignored");
            return std::nullopt;
        }
        if (line.nargs() > 2) {
            if (line.arg(2) == "reverse")
                warn(line, "'weight ... reverse' for " + line.key() + " in " + where + " is not supported by "
                           "haplane: the weight applies as written");
            else
                warn(line, "words after the weight of " + line.key() + " in " + where + " ignored: " +
                               quote(line.text(3)));
        }
        return static_cast<int>(w);
    }

    // `ADDR[/LEN] [brd X] [dev IF] [scope S] [label L] ...` of virtual_ipaddress.
    std::optional<IpPrefix> vip_line(const Node& line, const std::string& where, const std::string& block_key,
                                     std::vector<std::pair<std::string, Loc>>& devs) {
        if (line.block) warn(line, "a '{' block inside " + block_key + " in " + where + " is ignored");
        const auto prefix = IpPrefix::parse(line.key());
        if (!prefix) {
            warn(line, "invalid address " + quote(line.key()) + " in " + block_key + " of " + where + ": ignored");
            return std::nullopt;
        }
        std::vector<std::string> dropped;
        for (size_t i = 1; i < line.words.size(); ++i) {
            const std::string& w = line.words[i].text;
            const bool has_value = i + 1 < line.words.size();
            if (w == "dev" && has_value) {
                devs.emplace_back(line.words[++i].text, line.loc);
            } else if (has_value && (w == "brd" || w == "scope" || w == "label" || w == "preferred_lft" ||
                                     w == "track_group" || w == "metric")) {
                dropped.push_back(w + " " + line.words[++i].text);
            } else {
                dropped.push_back(w);
            }
        }
        if (!dropped.empty()) {
            std::string list;
            for (const auto& d : dropped) list += (list.empty() ? "" : ", ") + quote(d);
            warn(line, block_key + " " + line.key() + " in " + where + ": " + list +
                           " ignored (no haplane equivalent: the VIP is " + prefix->str() + " on the port)");
        }
        return prefix;
    }

    // `[src A] [TYPE] [to] PREFIX|default [via|gw GW] [dev IF] [...]` of virtual_routes.
    std::optional<VirtualRoute> route(const Node& line, const std::string& where, Family family) {
        const std::vector<Word>& w = line.words;
        const std::string text = line.text();
        if (line.block) warn(line, "a '{' block inside virtual_routes in " + where + " is ignored");
        size_t i = 0;
        std::vector<std::string> dropped;
        if (w[i].text == "src" && i + 1 < w.size()) {
            dropped.push_back("src " + w[i + 1].text);
            i += 2;
        }
        static const std::set<std::string> types = {"blackhole", "unreachable", "prohibit", "throw", "local",
                                                    "broadcast", "anycast", "multicast", "nat"};
        if (i < w.size() && types.count(w[i].text)) {
            warn(line, "virtual route " + quote(text) + " in " + where + ": haplane installs unicast routes only: ignored");
            return std::nullopt;
        }
        if (i < w.size() && w[i].text == "unicast") ++i;
        if (i < w.size() && w[i].text == "to") ++i;
        if (i >= w.size()) {
            warn(line, "virtual route " + quote(text) + " in " + where + " has no destination: ignored");
            return std::nullopt;
        }
        VirtualRoute r;
        const std::string& dest = w[i++].text;
        std::optional<IpPrefix> prefix;
        if (dest == "default") prefix = IpPrefix::parse(family == Family::v4 ? "0.0.0.0/0" : "::/0");
        else prefix = IpPrefix::parse(dest);
        if (!prefix) {
            warn(line, "invalid destination " + quote(dest) + " in virtual route " + quote(text) + " of " + where +
                           ": ignored");
            return std::nullopt;
        }
        r.destination = *prefix;
        static const std::set<std::string> valued = {"scope", "table", "metric", "proto", "protocol", "realms",
                                                     "mtu", "advmss", "rtt", "rttvar", "reordering", "window",
                                                     "cwnd", "ssthresh", "initcwnd", "initrwnd", "features",
                                                     "quickack", "pref", "congctl", "rto_min", "hoplimit",
                                                     "fastopen_no_cookie", "or", "src", "expires", "encap", "tos",
                                                     "dsfield", "preference", "track_group"};
        for (; i < w.size(); ++i) {
            const std::string& k = w[i].text;
            const bool has_value = i + 1 < w.size();
            if ((k == "via" || k == "gw") && has_value) {
                std::string gw = w[++i].text;
                if ((gw == "inet" || gw == "inet6") && i + 1 < w.size()) gw = w[++i].text;
                r.gateway = IpAddress::parse(gw);
                if (!r.gateway) {
                    warn(line, "invalid gateway " + quote(gw) + " in virtual route " + quote(text) + " of " + where +
                                   ": route ignored");
                    return std::nullopt;
                }
            } else if (k == "dev" && has_value && !w[i + 1].text.empty()) {
                r.port = w[++i].text;
            } else if (valued.count(k) && has_value) {
                dropped.push_back(k + " " + w[++i].text);
            } else {
                dropped.push_back(k);
            }
        }
        if (r.gateway && r.gateway->family != r.destination.address.family) {
            warn(line, "virtual route " + quote(text) + " in " + where + " mixes address families: ignored");
            return std::nullopt;
        }
        if (!dropped.empty()) {
            std::string list;
            for (const auto& d : dropped) list += (list.empty() ? "" : ", ") + quote(d);
            warn(line, "virtual route " + quote(text) + " in " + where + ": " + list +
                           " ignored (haplane routes have a destination, a gateway and a port)");
        }
        return r;
    }

    // ---- vrrp_sync_group ----
    void sync_group(const Node& n) {
        if (n.nargs() < 1 || n.arg(0).empty()) {
            warn(n, "vrrp_sync_group without a name: ignored");
            return;
        }
        const std::string name = n.arg(0);
        const std::string where = "vrrp_sync_group " + name;
        if (!block(n, where)) return;
        extra(n, 1, where);
        SyncGroup g;
        g.name = name;
        std::vector<TrackPort> track_ports;
        std::vector<TrackScript> track_scripts;
        std::vector<TrackFile> track_files;
        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "group") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids) {
                    if (line.block) warn(line, "a '{' block inside the group of " + where + " is ignored");
                    for (const Word& w : line.words) group_member(line, w.text, name, g);
                }
            } else if (key == "notify_master") {
                g.notify.master = notify_script(k, where);
            } else if (key == "notify_backup") {
                g.notify.backup = notify_script(k, where);
            } else if (key == "notify_fault") {
                g.notify.fault = notify_script(k, where);
            } else if (key == "notify_stop") {
                g.notify.stop = notify_script(k, where);
            } else if (key == "notify") {
                g.notify.any = notify_script(k, where);
            } else if (key == "track_interface" || key == "track_script" || key == "track_file") {
                if (!block(k, where)) continue;
                extra(k, 0, where);
                for (const Node& line : k.kids) {
                    if (line.words.empty()) continue;
                    const auto w = track_weight(line, where);
                    if (key == "track_interface") {
                        if (!line.key().empty()) track_ports.push_back(TrackPort{line.key(), w.value_or(0)});
                    } else if (key == "track_script") {
                        if (!std::any_of(c_.vrrp_scripts.begin(), c_.vrrp_scripts.end(),
                                         [&](const VrrpScript& s) { return s.name == line.key(); }))
                            warn(line, "(" + name + ") track script " + line.key() + " not found, ignoring...");
                        else
                            track_scripts.push_back(TrackScript{line.key(), w});
                    } else {
                        const auto def = track_files_.find(line.key());
                        if (def == track_files_.end())
                            warn(line, "track file " + line.key() + " not found (no vrrp_track_file " + line.key() +
                                           "), ignoring, as keepalived does");
                        else
                            track_files.push_back(TrackFile{def->second.path, w.value_or(def->second.weight)});
                    }
                    note(line, "tracking in " + where + " is applied to each member instance, as keepalived does");
                }
            } else {
                unknown(k, where);
            }
        }
        if (g.instances.empty()) {
            warn(after(n), where + " has no member instance left: skipped");
            return;
        }
        if (std::any_of(c_.sync_groups.begin(), c_.sync_groups.end(),
                        [&](const SyncGroup& o) { return o.name == name; })) {
            warn(n, where + " is defined twice: the second is skipped");
            return;
        }
        for (const std::string& member : g.instances) {
            auto vi = std::find_if(c_.vrrp_instances.begin(), c_.vrrp_instances.end(),
                                   [&](const VrrpInstance& i) { return i.name == member; });
            for (const auto& t : track_ports) {
                add_interface(t.port, n.loc);
                if (std::none_of(vi->track_ports.begin(), vi->track_ports.end(),
                                 [&](const TrackPort& o) { return o.port == t.port; }))
                    vi->track_ports.push_back(t);
            }
            for (const auto& t : track_scripts)
                if (std::none_of(vi->track_scripts.begin(), vi->track_scripts.end(),
                                 [&](const TrackScript& o) { return o.name == t.name; }))
                    vi->track_scripts.push_back(t);
            for (const auto& t : track_files)
                if (std::none_of(vi->track_files.begin(), vi->track_files.end(),
                                 [&](const TrackFile& o) { return o.path == t.path; }))
                    vi->track_files.push_back(t);
        }
        for (const auto& m : g.instances) group_of_[m] = name;
        c_.sync_groups.push_back(std::move(g));
    }

    void group_member(const Node& line, const std::string& member, const std::string& group, SyncGroup& g) {
        if (std::none_of(c_.vrrp_instances.begin(), c_.vrrp_instances.end(),
                         [&](const VrrpInstance& i) { return i.name == member; })) {
            warn(line, "Virtual router " + member + " specified in sync group " + group +
                           " doesn't exist (or was not imported) - ignoring");
            return;
        }
        if (const auto it = group_of_.find(member); it != group_of_.end()) {
            warn(line, "vrrp instance " + member + " is already in sync group " + it->second +
                           " (an instance can be in one group only): ignored in " + group);
            return;
        }
        if (std::find(g.instances.begin(), g.instances.end(), member) != g.instances.end()) {
            warn(line, "vrrp instance " + member + " is listed twice in sync group " + group + ": once is kept");
            return;
        }
        g.instances.push_back(member);
    }

    // ---- virtual_server_group ----
    void vs_group(const Node& n) {
        if (n.nargs() < 1 || n.arg(0).empty()) {
            warn(n, "virtual_server_group without a name: ignored");
            return;
        }
        const std::string name = n.arg(0);
        const std::string where = "virtual_server_group " + name;
        if (!block(n, where)) return;
        extra(n, 1, where);
        std::vector<VsgEntry> entries;
        for (const Node& line : n.kids) {
            if (line.words.empty()) continue;
            if (line.key() == "fwmark") {
                warn(line, "fwmark " + (line.nargs() ? line.arg(0) : std::string()) + " in " + where +
                               ": haplane has no firewall-mark services: ignored");
                continue;
            }
            const auto addresses = address_range(line.key());
            if (addresses.empty()) {
                warn(line, "invalid address or range " + quote(line.key()) + " in " + where + ": ignored");
                continue;
            }
            uint16_t port = 0;
            if (line.nargs() >= 1) {
                const auto p = integer(line, 0, 0, 65535, where);
                if (!p) continue;
                port = static_cast<uint16_t>(*p);
            }
            extra(line, 1, where);
            for (const auto& a : addresses) entries.push_back(VsgEntry{a, port});
        }
        vs_groups_[name] = entries;
    }

    // "10.0.0.1", "10.0.0.1-20" (last byte), "2001:db8::1-1f" (last group, hex).
    static std::vector<IpAddress> address_range(const std::string& text) {
        const size_t dash = text.rfind('-');
        if (dash == std::string::npos) {
            if (auto a = IpAddress::parse(text)) return {*a};
            return {};
        }
        const auto first = IpAddress::parse(text.substr(0, dash));
        if (!first) return {};
        const std::string last_text = text.substr(dash + 1);
        unsigned last = 0;
        const int base = first->is_v4() ? 10 : 16;
        const auto [end, ec] = std::from_chars(last_text.data(), last_text.data() + last_text.size(), last, base);
        if (ec != std::errc{} || end != last_text.data() + last_text.size()) return {};
        std::vector<IpAddress> out;
        if (first->is_v4()) {
            const unsigned start = first->bytes[3];
            if (last < start || last > 255) return {};
            for (unsigned b = start; b <= last; ++b) {
                IpAddress a = *first;
                a.bytes[3] = static_cast<uint8_t>(b);
                out.push_back(a);
            }
        } else {
            const unsigned start = (first->bytes[14] << 8) | first->bytes[15];
            if (last < start || last > 0xffff || last - start > 1023) return {};
            for (unsigned g = start; g <= last; ++g) {
                IpAddress a = *first;
                a.bytes[14] = static_cast<uint8_t>(g >> 8);
                a.bytes[15] = static_cast<uint8_t>(g & 0xff);
                out.push_back(a);
            }
        }
        return out;
    }

    // ---- virtual_server ----
    void virtual_server(const Node& n) {
        const std::string where = n.text();
        if (n.nargs() < 1) {
            warn(n, "virtual_server without an address: ignored");
            return;
        }
        if (n.arg(0) == "fwmark") {
            warn(n, quote(where) + ": haplane has no firewall-mark services (a virtual server is an address, "
                    "a port and a protocol): skipped");
            return;
        }
        std::vector<VsgEntry> targets;
        if (n.arg(0) == "group") {
            if (n.nargs() < 2) {
                warn(n, "virtual_server group without a group name: ignored");
                return;
            }
            const auto g = vs_groups_.find(n.arg(1));
            if (g == vs_groups_.end()) {
                warn(n, quote(where) + ": no virtual_server_group " + n.arg(1) + ": skipped");
                return;
            }
            targets = g->second;
            extra(n, 2, where);
            if (targets.empty()) {
                warn(n, quote(where) + ": virtual_server_group " + n.arg(1) + " has no usable member: skipped");
                return;
            }
            warn(n, quote(where) + ": haplane has no virtual server groups: expanded into " +
                        std::to_string(targets.size()) + " virtual server(s), one per member, each with the "
                        "same settings and real servers");
        } else {
            const auto vip = IpAddress::parse(n.arg(0));
            if (!vip) {
                warn(n, "invalid virtual_server address " + quote(n.arg(0)) + ": skipped");
                return;
            }
            uint16_t port = 0;
            if (n.nargs() >= 2) {
                const auto p = integer(n, 1, 0, 65535, "virtual_server");
                if (!p) return;
                port = static_cast<uint16_t>(*p);
            }
            extra(n, 2, where);
            targets.push_back(VsgEntry{*vip, port});
        }
        if (!block(n, where)) return;

        VsDraft d;
        CheckDefaults defaults;
        bool inhibit = false;
        bool skip = false;
        bool method_set = false;
        // Settings first: delay_loop and friends may follow the real servers.
        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            VirtualServer& vs = d.vs;
            if (key == "real_server") continue;
            if (key == "delay_loop") {
                if (auto t = seconds_key(k, 1ms, 86400s, where)) defaults.interval = *t;
            } else if (key == "lb_algo" || key == "lvs_sched") {
                if (shape(k, 1, 1, where)) scheduler(k, vs);
            } else if (key == "lb_kind" || key == "lvs_method") {
                if (!shape(k, 1, 99, where)) continue;
                const std::string m = upper(k.arg(0));
                method_set = true;
                if (m == "DR") vs.method = Method::dr;
                else if (m == "NAT") vs.method = Method::nat;
                else if (m == "TUN") {
                    vs.method = Method::tun;
                    if (k.nargs() > 1)
                        warn(k, "tunnel options " + quote(k.text(2)) + " in " + where + " ignored (haplane "
                                "tunnels are IP-in-IP)");
                } else {
                    warn(k, "lb_kind " + k.arg(0) + " in " + where + " (expected DR, NAT or TUN): keepalived's "
                            "default NAT is used");
                    method_set = false;
                }
                if (m != "TUN") extra(k, 1, where);
            } else if (key == "persistence_timeout") {
                if (k.nargs() == 0 && !k.block) vs.persistence_timeout = 360s;   // keepalived's default value
                else if (auto t = seconds_key(k, 0s, 86400s * 365, where)) vs.persistence_timeout = *t;
            } else if (key == "protocol") {
                if (!shape(k, 1, 1, where)) continue;
                const std::string p = upper(k.arg(0));
                if (p == "TCP" || p == "UDP") {
                    vs.protocol = p == "TCP" ? Protocol::tcp : Protocol::udp;
                    d.protocol_set = true;
                } else {
                    warn(k, "protocol " + k.arg(0) + " in " + where + ": haplane balances TCP and UDP only: "
                            "virtual server skipped");
                    skip = true;
                }
            } else if (key == "quorum") {
                if (auto v = integer_key(k, 1, 1LL << 32, where)) vs.quorum = static_cast<unsigned>(*v);
            } else if (key == "hysteresis") {
                if (auto v = integer_key(k, 0, 1LL << 32, where)) vs.hysteresis = static_cast<unsigned>(*v);
            } else if (key == "sorry_server") {
                if (!shape(k, 1, 2, where)) continue;
                const auto a = IpAddress::parse(k.arg(0));
                if (!a) {
                    warn(k, "invalid sorry_server address " + quote(k.arg(0)) + " in " + where + ": ignored");
                    continue;
                }
                SorryServer s{*a, 0};
                if (k.nargs() == 2) {
                    const auto p = integer(k, 1, 0, 65535, where);
                    if (!p) continue;
                    s.port = static_cast<uint16_t>(*p);
                }
                vs.sorry_server = s;
            } else if (key == "alpha") {
                vs.alpha = flag(k, where);
            } else if (key == "quorum_up") {
                vs.notify.quorum_up = notify_script(k, where);
            } else if (key == "quorum_down") {
                vs.notify.quorum_down = notify_script(k, where);
            } else if (key == "virtualhost") {
                if (shape(k, 1, 1, where)) defaults.host = k.arg(0);
            } else if (key == "inhibit_on_failure") {
                inhibit = flag(k, where);
            } else if (key == "connect_timeout") {
                if (auto t = seconds_key(k, 1ms, 86400s, where)) defaults.timeout = *t;
            } else if (key == "retry") {
                if (auto v = integer_key(k, 0, 1000000, where)) defaults.retry = static_cast<unsigned>(*v);
            } else if (key == "delay_before_retry") {
                if (auto t = seconds_key(k, 0s, 86400s, where)) defaults.delay_before_retry = *t;
            } else {
                unknown(k, where);
            }
        }
        if (skip) return;
        if (!method_set) {
            d.vs.method = Method::nat;
            note(n, quote(where) + ": no lb_kind: keepalived's default NAT is used (haplane's own default is dr)");
        }
        if (!d.protocol_set) {
            d.vs.protocol = Protocol::udp;
            warn(n, quote(where) + ": no protocol: keepalived 2.x defaults to UDP, and so does the import; "
                    "add 'protocol TCP' to the source if TCP was meant");
        }
        for (const Node& k : n.kids)
            if (!k.words.empty() && k.key() == "real_server") real_server(k, where, defaults, inhibit, d);

        for (const auto& t : targets) {
            VirtualServer vs = d.vs;
            vs.vip = t.address;
            vs.port = t.port;
            vs.name = vs_name(vs);
            if (vs.sorry_server && vs.sorry_server->address.family != vs.vip.family) {
                warn(n, quote(where) + ": sorry_server " + vs.sorry_server->address.str() +
                            " is not of the VIP's family: ignored");
                vs.sorry_server.reset();
            }
            std::set<std::pair<IpAddress, uint16_t>> seen;
            for (const auto& [rs, at] : d.real_servers) {
                if (rs.address.family != vs.vip.family) {
                    warn(at, "real_server " + rs.address.str() + " in " + quote(where) + " is not of the VIP's "
                             "family: ignored");
                    continue;
                }
                if (!seen.insert({rs.address, rs.port ? rs.port : vs.port}).second) {
                    warn(at, "real_server " + rs.address.str() + " " + std::to_string(rs.port) + " is listed twice in " +
                                 quote(where) + ": the second is skipped");
                    continue;
                }
                vs.real_servers.push_back(rs);
            }
            if (std::any_of(c_.virtual_servers.begin(), c_.virtual_servers.end(), [&](const VirtualServer& o) {
                    return o.vip == vs.vip && o.port == vs.port && o.protocol == vs.protocol;
                })) {
                warn(n, quote(where) + ": " + vs.name + " is defined twice: the second is skipped");
                continue;
            }
            c_.virtual_servers.push_back(std::move(vs));
        }
    }

    static std::string vs_name(const VirtualServer& vs) {
        std::string name = vs.vip.is_v4() ? vs.vip.str() : "[" + vs.vip.str() + "]";
        name += ":" + std::to_string(vs.port);
        if (vs.protocol == Protocol::udp) name += "/udp";
        return name;
    }

    void scheduler(const Node& k, VirtualServer& vs) {
        const std::string s = lower(k.arg(0));
        static const std::map<std::string, Scheduler> same = {{"rr", Scheduler::rr}, {"wrr", Scheduler::wrr},
                                                              {"lc", Scheduler::lc}, {"wlc", Scheduler::wlc},
                                                              {"sh", Scheduler::sh}, {"mh", Scheduler::mh}};
        static const std::map<std::string, std::pair<Scheduler, const char*>> nearest = {
            {"lblc", {Scheduler::wlc, "locality-based least-connection: wlc, without the locality"}},
            {"lblcr", {Scheduler::wlc, "locality-based least-connection with replication: wlc, without the locality"}},
            {"dh", {Scheduler::sh, "destination hashing: sh, which hashes the client instead"}},
            {"sed", {Scheduler::wlc, "shortest expected delay: wlc, its closest relative"}},
            {"nq", {Scheduler::wlc, "never queue: wlc, its closest relative"}},
            {"fo", {Scheduler::wrr, "weighted failover: wrr (give the standby servers weight 0 to keep them idle)"}},
            {"ovf", {Scheduler::wlc, "weighted overflow: wlc"}},
        };
        if (const auto it = same.find(s); it != same.end()) {
            vs.scheduler = it->second;
        } else if (const auto near = nearest.find(s); near != nearest.end()) {
            vs.scheduler = near->second.first;
            warn(k, "scheduler " + k.arg(0) + " is not in haplane: " + near->second.second);
        } else {
            warn(k, "unknown scheduler " + quote(k.arg(0)) + ": keepalived's default wlc is used");
            vs.scheduler = Scheduler::wlc;
        }
    }

    void real_server(const Node& n, const std::string& vs_where, CheckDefaults defaults, bool inhibit, VsDraft& d) {
        const std::string where = n.text() + " of " + quote(vs_where);
        if (n.nargs() < 1) {
            warn(n, "real_server without an address in " + quote(vs_where) + ": ignored");
            return;
        }
        RealServer rs;
        rs.inhibit_on_failure = inhibit;
        const auto a = IpAddress::parse(n.arg(0));
        if (!a) {
            warn(n, "invalid real_server address " + quote(n.arg(0)) + " in " + quote(vs_where) + ": ignored");
            return;
        }
        rs.address = *a;
        if (n.nargs() >= 2) {
            const auto p = integer(n, 1, 0, 65535, where);
            if (!p) return;
            rs.port = static_cast<uint16_t>(*p);
        }
        extra(n, 2, where);
        if (!n.block) {   // a real server without settings is fine, as in keepalived
            d.real_servers.emplace_back(rs, n.loc);
            return;
        }
        for (const Node& k : n.kids) {   // settings the checkers inherit, wherever they are
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "delay_loop") {
                if (auto t = seconds_key(k, 1ms, 86400s, where)) defaults.interval = *t;
            } else if (key == "connect_timeout") {
                if (auto t = seconds_key(k, 1ms, 86400s, where)) defaults.timeout = *t;
            } else if (key == "retry") {
                if (auto v = integer_key(k, 0, 1000000, where)) defaults.retry = static_cast<unsigned>(*v);
            } else if (key == "delay_before_retry") {
                if (auto t = seconds_key(k, 0s, 86400s, where)) defaults.delay_before_retry = *t;
            } else if (key == "virtualhost") {
                if (shape(k, 1, 1, where)) defaults.host = k.arg(0);
            }
        }
        const Node* first_check = nullptr;
        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "delay_loop" || key == "connect_timeout" || key == "retry" || key == "delay_before_retry" ||
                key == "virtualhost")
                continue;
            if (key == "weight") {
                if (auto v = integer_key(k, 0, 65535, where)) rs.weight = static_cast<unsigned>(*v);
            } else if (key == "inhibit_on_failure") {
                rs.inhibit_on_failure = flag(k, where);
            } else if (key == "notify_up") {
                rs.notify.up = notify_script(k, where);
            } else if (key == "notify_down") {
                rs.notify.down = notify_script(k, where);
            } else if (is_checker(key)) {
                if (!block(k, where)) continue;
                if (first_check) {
                    warn(k, key + " in " + where + ": haplane runs one check per real server; the first, " +
                                first_check->key() + " on line " + std::to_string(first_check->loc.line) +
                                ", is kept and this one ignored");
                    continue;
                }
                if (auto hc = checker(k, where, defaults, rs)) {
                    rs.check = std::move(hc);
                    first_check = &k;
                }
            } else {
                unknown(k, where);
            }
        }
        d.real_servers.emplace_back(rs, n.loc);
    }

    static bool is_checker(const std::string& k) {
        return k == "TCP_CHECK" || k == "HTTP_GET" || k == "SSL_GET" || k == "MISC_CHECK" || k == "SMTP_CHECK" ||
               k == "DNS_CHECK" || k == "UDP_CHECK" || k == "PING_CHECK" || k == "BFD_CHECK" || k == "FILE_CHECK";
    }

    std::optional<HealthCheck> checker(const Node& n, const std::string& rs_where, CheckDefaults defaults,
                                       const RealServer& rs) {
        using Type = HealthCheck::Type;
        const std::string kind = n.key();
        const std::string where = kind + " of " + rs_where;
        extra(n, 0, where);
        if (kind == "BFD_CHECK" || kind == "FILE_CHECK") {
            warn(n, kind + " in " + rs_where + " has no haplane equivalent (" +
                        (kind == "BFD_CHECK" ? "haplane has no BFD" : "use a script check reading the file") +
                        "): the real server has no check (always up)");
            return std::nullopt;
        }
        HealthCheck hc;
        std::optional<std::string> misc_path, dns_name, dns_type, udp_payload, udp_reply;
        std::optional<Duration> misc_timeout;
        bool misc_dynamic = false, have_url = false;
        std::vector<std::string> statuses;
        for (const Node& k : n.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "connect_ip") {
                if (!shape(k, 1, 1, where)) continue;
                if (auto a = IpAddress::parse(k.arg(0))) hc.connect_ip = *a;
                else warn(k, "invalid connect_ip " + quote(k.arg(0)) + " in " + where + ": ignored");
            } else if (key == "connect_port") {
                if (auto v = integer_key(k, 1, 65535, where)) hc.connect_port = static_cast<uint16_t>(*v);
            } else if (key == "connect_timeout") {
                if (auto t = seconds_key(k, 1ms, 86400s, where)) defaults.timeout = *t;
            } else if (key == "retry" || key == "nb_get_retry") {
                if (auto v = integer_key(k, 0, 1000000, where)) defaults.retry = static_cast<unsigned>(*v);
            } else if (key == "delay_before_retry") {
                if (auto t = seconds_key(k, 0s, 86400s, where)) defaults.delay_before_retry = *t;
            } else if (key == "delay_loop") {
                if (auto t = seconds_key(k, 1ms, 86400s, where)) defaults.interval = *t;
            } else if (key == "virtualhost" && (kind == "HTTP_GET" || kind == "SSL_GET")) {
                if (shape(k, 1, 1, where)) defaults.host = k.arg(0);
            } else if (key == "url" && (kind == "HTTP_GET" || kind == "SSL_GET")) {
                if (!block(k, where)) continue;
                if (have_url) {
                    warn(k, "another url in " + where + ": haplane checks one path per real server; the first "
                            "is kept and this one ignored");
                    continue;
                }
                have_url = true;
                url(k, where, hc, statuses, defaults);
            } else if (key == "misc_path" && kind == "MISC_CHECK") {
                if (shape(k, 1, 99, where)) misc_path = command(k, where);
            } else if (key == "misc_timeout" && kind == "MISC_CHECK") {
                if (auto t = seconds_key(k, 1ms, 86400s, where)) misc_timeout = *t;
            } else if (key == "misc_dynamic" && kind == "MISC_CHECK") {
                misc_dynamic = flag(k, where);
            } else if (key == "host" && kind == "SMTP_CHECK") {
                // keepalived 1.x: host { connect_ip A connect_port P }
                if (!block(k, where)) continue;
                for (const Node& h : k.kids) {
                    if (h.words.empty()) continue;
                    if (h.key() == "connect_ip") {
                        if (!shape(h, 1, 1, where)) continue;
                        if (auto a = IpAddress::parse(h.arg(0))) hc.connect_ip = *a;
                        else warn(h, "invalid connect_ip " + quote(h.arg(0)) + " in " + where + ": ignored");
                    } else if (h.key() == "connect_port") {
                        if (auto v = integer_key(h, 1, 65535, where)) hc.connect_port = static_cast<uint16_t>(*v);
                    } else {
                        unknown(h, where + " host");
                    }
                }
            } else if (key == "helo_name" && kind == "SMTP_CHECK") {
                ignored(k, where, "the SMTP dialogue is not checked, only the connection");
            } else if ((key == "type" || key == "name") && kind == "DNS_CHECK") {
                if (shape(k, 1, 1, where)) (key == "type" ? dns_type : dns_name) = k.arg(0);
            } else if (key == "payload" && kind == "UDP_CHECK") {
                if (shape(k, 1, 1, where)) udp_payload = k.arg(0);
            } else if (key == "require_reply" && kind == "UDP_CHECK") {
                udp_reply = k.nargs() ? k.arg(0) : std::string();
                extra(k, 1, where);
            } else if ((key == "min_reply_length" || key == "max_reply_length") && kind == "UDP_CHECK") {
                ignored(k, where, "haplane's udp check matches the reply's content only");
            } else if (key == "digest") {
                ignored(k, where, "haplane does not compare MD5 digests; the status code is checked");
            } else {
                unknown(k, where);
            }
        }
        hc.interval = defaults.interval;
        hc.timeout = defaults.timeout.value_or(5s);          // keepalived's connect_timeout default
        hc.retry = defaults.retry.value_or(kind == "MISC_CHECK" ? 0 : 1);
        hc.delay_before_retry = defaults.delay_before_retry.value_or(1s);
        hc.rise = 1;
        hc.fall = 1;

        if (kind == "TCP_CHECK") {
            hc.type = Type::tcp;
        } else if (kind == "HTTP_GET") {
            hc.type = Type::http;
            if (!have_url) note(n, where + " has no url: path / is checked for a 2xx status");
            if (!statuses.empty()) {
                std::string joined;
                for (const auto& s : statuses) joined += (joined.empty() ? "" : ",") + s;
                hc.status = joined;
            }
            if (defaults.host) hc.host = defaults.host;
        } else if (kind == "SSL_GET") {
            hc.type = Type::tcp;
            hc.path = "/";
            hc.status = "200-299";
            hc.host.reset();
            hc.body_regex.reset();
            warn(n, "SSL_GET in " + rs_where + ": haplane has no TLS checks: imported as a TCP connect check "
                    "to the same port");
        } else if (kind == "MISC_CHECK") {
            if (!misc_path) {
                warn(n, "MISC_CHECK in " + rs_where + " has no misc_path: the real server has no check");
                return std::nullopt;
            }
            hc.type = Type::script;
            hc.timeout = misc_timeout.value_or(hc.interval);   // keepalived: misc_timeout defaults to delay_loop
            hc.connect_ip.reset();
            hc.connect_port.reset();
            std::string script = *misc_path;
            check_shell(n, script);
            if (!misc_dynamic) {
                // haplane's script checks read exit codes 2..255 as "up with weight code - 2"
                // (keepalived's misc_dynamic); without it keepalived fails on any non-zero code.
                const bool compound = script.find_first_of(";&|\n") != std::string::npos;
                script = compound ? "{ " + script + "; } || exit 1" : script + " || exit 1";
                note(n, "MISC_CHECK in " + rs_where + " without misc_dynamic: any non-zero exit is a failure, so "
                        "the script becomes " + quote(script) + " (haplane's script checks read exit codes 2-255 "
                        "as weights, keepalived's misc_dynamic)");
            }
            hc.script = script;
        } else if (kind == "SMTP_CHECK") {
            hc.type = Type::tcp;
            if (!hc.connect_port && rs.port == 0) hc.connect_port = 25;
            warn(n, "SMTP_CHECK in " + rs_where + ": haplane has no SMTP check: imported as a TCP connect check "
                    "(the SMTP greeting is not read)");
        } else if (kind == "UDP_CHECK") {
            hc.type = Type::udp;
            if (udp_payload) hc.payload = hex_text(n, *udp_payload, where);
            if (udp_reply && !udp_reply->empty()) hc.expect = hex_text(n, *udp_reply, where);
            if (!udp_reply)
                warn(n, "UDP_CHECK in " + rs_where + " without require_reply: keepalived counts silence as "
                        "success, haplane's udp check needs a reply");
        } else if (kind == "DNS_CHECK") {
            const std::string target = (hc.connect_ip ? *hc.connect_ip : rs.address).str();
            const unsigned port = hc.connect_port ? *hc.connect_port : (rs.port ? rs.port : 53);
            const auto secs = std::max<int64_t>(1, (hc.timeout + 999ms) / 1s);
            hc.type = Type::script;
            hc.script = "dig @" + target + " -p " + std::to_string(port) + " +time=" + std::to_string(secs) +
                        " +tries=1 " + shell_word(dns_name.value_or(".")) + " " + upper(dns_type.value_or("SOA")) +
                        " | grep -q 'status: NOERROR' || exit 1";
            hc.connect_ip.reset();
            hc.connect_port.reset();
            warn(n, "DNS_CHECK in " + rs_where + ": haplane has no DNS check: imported as a script check with "
                    "dig (Debian package bind9-dnsutils): " + quote(*hc.script));
        } else if (kind == "PING_CHECK") {
            const std::string target = (hc.connect_ip ? *hc.connect_ip : rs.address).str();
            const auto secs = std::max<int64_t>(1, (hc.timeout + 999ms) / 1s);
            hc.type = Type::script;
            hc.script = std::string(rs.address.is_v4() ? "ping" : "ping -6") + " -c 1 -W " + std::to_string(secs) +
                        " " + target + " >/dev/null || exit 1";
            hc.connect_ip.reset();
            hc.connect_port.reset();
            warn(n, "PING_CHECK in " + rs_where + ": haplane has no ping check: imported as a script check: " +
                        quote(*hc.script));
        }
        return hc;
    }

    void url(const Node& u, const std::string& where, HealthCheck& hc, std::vector<std::string>& statuses,
             CheckDefaults& defaults) {
        for (const Node& k : u.kids) {
            if (k.words.empty()) continue;
            const std::string& key = k.key();
            if (key == "path") {
                if (!shape(k, 1, 1, where)) continue;
                std::string path = k.arg(0);
                if (path.empty() || path.front() != '/') {
                    warn(k, "url path " + quote(path) + " in " + where + " does not start with '/': '/' added");
                    path = "/" + path;
                }
                hc.path = path;
            } else if (key == "status_code") {
                if (!shape(k, 1, 99, where)) continue;
                for (size_t i = 0; i < k.nargs(); ++i) {
                    static const std::regex code(R"(([1-5][0-9][0-9])(-([1-5][0-9][0-9]))?)");
                    if (std::regex_match(k.arg(i), code)) statuses.push_back(k.arg(i));
                    else warn(k, "invalid status_code " + quote(k.arg(i)) + " in " + where + ": ignored");
                }
            } else if (key == "digest") {
                ignored(k, where, "haplane does not compare MD5 digests; the status code is checked, "
                                  "and 'regex' can match the body");
            } else if (key == "virtualhost") {
                if (shape(k, 1, 1, where)) defaults.host = k.arg(0);
            } else if (key == "regex") {
                if (!shape(k, 1, 1, where)) continue;
                try {
                    std::regex check(k.arg(0));
                    hc.body_regex = k.arg(0);
                } catch (const std::regex_error&) {
                    warn(k, "regex " + quote(k.arg(0)) + " in " + where + " is not an ECMAScript regular "
                            "expression haplane can use: ignored");
                }
            } else if (key == "regex_no_match" || key == "regex_options" || key == "regex_stop" ||
                       key == "regex_min_offset" || key == "regex_max_offset") {
                ignored(k, where, "haplane's body_regex must match somewhere in the first 64 KiB of the body");
            } else {
                unknown(k, where);
            }
        }
    }

    // keepalived's UDP_CHECK payloads are hex; haplane's are text.
    std::optional<std::string> hex_text(const Node& n, const std::string& hex, const std::string& where) {
        std::string out;
        const bool ok = hex.size() % 2 == 0 && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
        for (size_t i = 0; ok && i < hex.size(); i += 2) {
            const char c = static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
            if (!std::isprint(static_cast<unsigned char>(c))) {
                warn(n, "the UDP payload " + quote(hex) + " in " + where + " is binary, which haplane's udp "
                        "check cannot send: ignored");
                return std::nullopt;
            }
            out += c;
        }
        if (!ok) {
            warn(n, "invalid hex " + quote(hex) + " in " + where + ": ignored");
            return std::nullopt;
        }
        return out;
    }

    // ---- ports ----
    void add_interface(const std::string& name, const Loc& at) {
        if (std::none_of(interfaces_.begin(), interfaces_.end(), [&](const auto& i) { return i.first == name; }))
            interfaces_.emplace_back(name, at);
    }

    void finish() {
        for (size_t i = 0; i < interfaces_.size(); ++i) {
            Port p;
            p.name = interfaces_[i].first;
            p.device = "net_af_packet" + std::to_string(i) + ",iface=" + p.name;
            for (const auto& a : static_addresses_)
                if (a.dev == p.name && std::find(p.addresses.begin(), p.addresses.end(), a.prefix) == p.addresses.end()) {
                    p.addresses.push_back(a.prefix);
                    note_at(a.loc, "static_ipaddress " + a.prefix.str() + " dev " + a.dev +
                                       " became an address of port " + p.name + " (its own address)" +
                                       (a.ignored.empty() ? std::string()
                                                          : "; ignored: " + [&] {
                                                                std::string s;
                                                                for (const auto& w : a.ignored)
                                                                    s += (s.empty() ? "" : ", ") + quote(w);
                                                                return s;
                                                            }()));
                }
            c_.ports.push_back(p);
        }
        for (const auto& a : static_addresses_)
            if (std::none_of(interfaces_.begin(), interfaces_.end(), [&](const auto& i) { return i.first == a.dev; }))
                warn(a.loc, "static_ipaddress " + a.prefix.str() + " dev " + a.dev + ": " + a.dev +
                                " is no haplane port (no instance uses it): ignored; the OS keeps configuring "
                                "the host's own addresses");
        for (size_t i = 0; i < c_.ports.size(); ++i)
            if (c_.ports[i].addresses.empty())
                warn(interfaces_[i].second,
                     "port " + c_.ports[i].name + ": its addresses are empty: fill in the appliance's own "
                     "address(es) on " + c_.ports[i].name + " (e.g. 192.0.2.10/24): VRRP adverts are sent from "
                     "the port's own IPv4 address");
        if (!c_.ports.empty())
            m_.add_general(Severity::note,
                           "ports: each device is a stub, \"" + c_.ports.front().device +
                               "\": DPDK's af_packet driver on the kernel interface of that name, which works for "
                               "a lab; replace it with the NIC's PCI address (e.g. 0000:03:00.0, bound to vfio-pci) "
                               "for DPDK performance");
        std::sort(c_.vrrp_scripts.begin(), c_.vrrp_scripts.end(),
                  [](const VrrpScript& a, const VrrpScript& b) { return a.name < b.name; });
    }

    Messages& m_;
    Config& c_;
    std::optional<uint8_t> default_version_;
    std::optional<Duration> garp_delay_, garp_refresh_;
    std::optional<unsigned> garp_repeat_, garp_refresh_repeat_;
    std::vector<std::pair<std::string, Loc>> interfaces_;
    std::vector<StaticAddress> static_addresses_;
    std::map<std::string, TrackFileDef> track_files_;
    std::map<std::string, std::vector<VsgEntry>> vs_groups_;
    std::map<std::string, std::string> group_of_;   // instance -> its sync group
};

std::string directory_of(const std::string& path) {
    const std::string parent = fs::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}

ImportResult import_text(const std::string& text, const std::string& file_name) {
    ImportResult result;
    Messages messages;
    messages.files.push_back(file_name);
    if (text.find('\0') != std::string::npos) {
        messages.add_general(Severity::error, "not a text file (it contains NUL bytes)");
        result.messages = messages.sorted();
        return result;
    }
    Source source(messages);
    std::error_code ec;
    source.enter(fs::weakly_canonical(file_name, ec).string());
    source.read_text(text, 0, directory_of(file_name), 0);
    const Node root = build_tree(source.lines, messages);
    result.config.file = file_name;
    Importer(messages, result.config).run(root);
    result.ok = true;
    result.messages = messages.sorted();
    result.yaml = emit_imported_yaml(result.config, file_name);
    return result;
}

// ---- YAML ----------------------------------------------------------------------------------

class Yaml {
public:
    Yaml() { e_.SetIndent(2); }
    YAML::Emitter& e() { return e_; }

    void key(const char* k) { e_ << YAML::Key << k << YAML::Value; }
    void plain(const char* k, const std::string& v) { key(k); e_ << v; }
    void quoted(const char* k, const std::string& v) { key(k); e_ << YAML::DoubleQuoted << v; }
    void number(const char* k, long long v) { key(k); e_ << v; }
    void boolean(const char* k, bool v) { key(k); e_ << v; }
    void duration(const char* k, Duration d) { key(k); e_ << format_duration(d); }
    template <class T, class Fn>
    void flow_list(const char* k, const std::vector<T>& items, Fn&& fn) {
        key(k);
        e_ << YAML::Flow << YAML::BeginSeq;
        for (const auto& i : items) fn(i);
        e_ << YAML::EndSeq;
    }
    // `k:` as a block list of one-line maps, one per item; nothing when empty.
    template <class T, class Fn>
    void map_list(const char* k, const std::vector<T>& items, Fn&& fields) {
        if (items.empty()) return;
        key(k);
        e_ << YAML::BeginSeq;
        for (const auto& i : items) {
            e_ << YAML::Flow << YAML::BeginMap;
            fields(i);
            e_ << YAML::EndMap;
        }
        e_ << YAML::EndSeq;
    }
    void notify(const char* k, const std::vector<std::pair<const char*, std::optional<std::string>>>& scripts) {
        if (std::none_of(scripts.begin(), scripts.end(), [](const auto& s) { return s.second.has_value(); })) return;
        key(k);
        e_ << YAML::BeginMap;
        for (const auto& [name, script] : scripts)
            if (script) quoted(name, *script);
        e_ << YAML::EndMap;
    }

private:
    YAML::Emitter e_;
};

void emit_check(Yaml& y, const HealthCheck& c) {
    using Type = HealthCheck::Type;
    auto& e = y.e();
    y.key("check");
    e << YAML::BeginMap;
    switch (c.type) {
    case Type::tcp: y.plain("type", "tcp"); break;
    case Type::http:
        y.plain("type", "http");
        y.quoted("path", c.path);
        y.quoted("status", c.status);
        if (c.host) y.quoted("host", *c.host);
        if (c.body_regex) y.quoted("body_regex", *c.body_regex);
        break;
    case Type::udp:
        y.plain("type", "udp");
        if (c.payload) y.quoted("payload", *c.payload);
        if (c.expect) y.quoted("expect", *c.expect);
        break;
    case Type::script:
        y.plain("type", "script");
        y.quoted("script", c.script.value_or(""));
        break;
    }
    y.duration("interval", c.interval);
    y.duration("timeout", c.timeout);
    if (c.rise != 1) y.number("rise", c.rise);
    if (c.fall != 1) y.number("fall", c.fall);
    y.number("retry", c.retry);
    y.duration("delay_before_retry", c.delay_before_retry);
    if (c.connect_ip) y.plain("connect_ip", c.connect_ip->str());
    if (c.connect_port) y.number("connect_port", *c.connect_port);
    e << YAML::EndMap;
}

} // namespace

std::string emit_imported_yaml(const Config& c, const std::string& source) {
    Yaml y;
    auto& e = y.e();
    e << YAML::BeginMap;

    const Global& g = c.global;
    const Global dg;
    if (!g.router_id.empty() || g.notify_fifo || g.script_user || g.enable_script_security ||
        g.timeouts != dg.timeouts) {
        y.key("global");
        e << YAML::BeginMap;
        if (!g.router_id.empty()) y.quoted("router_id", g.router_id);
        if (g.notify_fifo) y.quoted("notify_fifo", *g.notify_fifo);
        if (g.script_user) y.quoted("script_user", *g.script_user);
        if (g.enable_script_security) y.boolean("enable_script_security", true);
        if (g.timeouts != dg.timeouts) {
            y.key("timeouts");
            e << YAML::Flow << YAML::BeginMap;
            y.duration("tcp", g.timeouts.tcp);
            y.duration("tcp_fin", g.timeouts.tcp_fin);
            y.duration("tcp_syn", g.timeouts.tcp_syn);
            y.duration("udp", g.timeouts.udp);
            e << YAML::EndMap;
        }
        e << YAML::EndMap;
    }

    y.key("ports");
    if (c.ports.empty()) e << YAML::Flow;
    e << YAML::BeginSeq;
    for (const auto& p : c.ports) {
        e << YAML::BeginMap;
        y.plain("name", p.name);
        y.quoted("device", p.device);
        y.flow_list("addresses", p.addresses, [&](const IpPrefix& a) { e << a.str(); });
        if (p.kernel_mirror) y.plain("kernel_mirror", *p.kernel_mirror);
        e << YAML::EndMap;
    }
    e << YAML::EndSeq;

    if (!c.vrrp_scripts.empty()) {
        y.key("vrrp_scripts");
        e << YAML::BeginMap;
        for (const auto& s : c.vrrp_scripts) {
            y.key(s.name.c_str());
            e << YAML::BeginMap;
            y.quoted("script", s.script);
            y.duration("interval", s.interval);
            y.duration("timeout", s.timeout);
            y.number("weight", s.weight);
            y.number("rise", s.rise);
            y.number("fall", s.fall);
            e << YAML::EndMap;
        }
        e << YAML::EndMap;
    }

    if (!c.vrrp_instances.empty()) {
        y.key("vrrp_instances");
        e << YAML::BeginSeq;
        const VrrpInstance d;
        for (const auto& vi : c.vrrp_instances) {
            e << YAML::BeginMap;
            y.plain("name", vi.name);
            y.plain("port", vi.port);
            y.number("vrid", vi.vrid);
            y.number("priority", vi.priority);
            y.plain("state", to_string(vi.state));
            y.number("version", vi.version);
            y.duration("advert_interval", vi.advert_interval);
            if (vi.preempt != d.preempt) y.boolean("preempt", vi.preempt);
            if (vi.preempt_delay != d.preempt_delay) y.duration("preempt_delay", vi.preempt_delay);
            if (vi.authentication.type == Authentication::Type::PASS) {
                y.key("authentication");
                e << YAML::Flow << YAML::BeginMap;
                y.plain("type", "PASS");
                y.quoted("password", vi.authentication.password);
                e << YAML::EndMap;
            }
            if (!vi.unicast_peers.empty())
                y.flow_list("unicast_peers", vi.unicast_peers, [&](const IpAddress& a) { e << a.str(); });
            if (vi.use_vmac) y.boolean("use_vmac", true);
            y.flow_list("virtual_ipaddresses", vi.virtual_ipaddresses, [&](const IpPrefix& a) { e << a.str(); });
            y.map_list("virtual_routes", vi.virtual_routes, [&](const VirtualRoute& r) {
                y.plain("to", r.destination.str());
                if (r.gateway) y.plain("via", r.gateway->str());
                if (r.port) y.plain("port", *r.port);
            });
            y.map_list("track_ports", vi.track_ports, [&](const TrackPort& t) {
                y.plain("port", t.port);
                y.number("weight", t.weight);
            });
            y.map_list("track_scripts", vi.track_scripts, [&](const TrackScript& t) {
                y.plain("name", t.name);
                if (t.weight) y.number("weight", *t.weight);
            });
            y.map_list("track_files", vi.track_files, [&](const TrackFile& t) {
                y.quoted("path", t.path);
                y.number("weight", t.weight);
            });
            if (vi.garp != d.garp) {
                y.key("garp");
                e << YAML::Flow << YAML::BeginMap;
                y.duration("master_delay", vi.garp.master_delay);
                y.number("master_repeat", vi.garp.master_repeat);
                y.duration("master_refresh", vi.garp.master_refresh);
                y.number("master_refresh_repeat", vi.garp.master_refresh_repeat);
                e << YAML::EndMap;
            }
            y.notify("notify", {{"master", vi.notify.master}, {"backup", vi.notify.backup},
                                {"fault", vi.notify.fault}, {"stop", vi.notify.stop}, {"any", vi.notify.any}});
            e << YAML::EndMap;
        }
        e << YAML::EndSeq;
    }

    if (!c.sync_groups.empty()) {
        y.key("sync_groups");
        e << YAML::BeginSeq;
        for (const auto& sg : c.sync_groups) {
            e << YAML::BeginMap;
            y.plain("name", sg.name);
            y.flow_list("instances", sg.instances, [&](const std::string& i) { e << i; });
            y.notify("notify", {{"master", sg.notify.master}, {"backup", sg.notify.backup},
                                {"fault", sg.notify.fault}, {"stop", sg.notify.stop}, {"any", sg.notify.any}});
            e << YAML::EndMap;
        }
        e << YAML::EndSeq;
    }

    if (!c.virtual_servers.empty()) {
        y.key("virtual_servers");
        e << YAML::BeginSeq;
        const VirtualServer d;
        for (const auto& vs : c.virtual_servers) {
            e << YAML::BeginMap;
            y.quoted("name", vs.name);
            y.plain("vip", vs.vip.str());
            y.number("port", vs.port);
            y.plain("protocol", to_string(vs.protocol));
            y.plain("scheduler", to_string(vs.scheduler));
            y.plain("method", to_string(vs.method));
            if (vs.persistence_timeout != d.persistence_timeout)
                y.duration("persistence_timeout", vs.persistence_timeout);
            if (vs.quorum != d.quorum) y.number("quorum", vs.quorum);
            if (vs.hysteresis != d.hysteresis) y.number("hysteresis", vs.hysteresis);
            if (vs.sorry_server) {
                y.key("sorry_server");
                e << YAML::Flow << YAML::BeginMap;
                y.plain("address", vs.sorry_server->address.str());
                y.number("port", vs.sorry_server->port);
                e << YAML::EndMap;
            }
            if (vs.alpha) y.boolean("alpha", true);
            y.notify("notify", {{"quorum_up", vs.notify.quorum_up}, {"quorum_down", vs.notify.quorum_down}});
            y.key("real_servers");
            if (vs.real_servers.empty()) e << YAML::Flow;
            e << YAML::BeginSeq;
            for (const auto& rs : vs.real_servers) {
                e << YAML::BeginMap;
                y.plain("address", rs.address.str());
                y.number("port", rs.port);
                y.number("weight", rs.weight);
                if (rs.inhibit_on_failure) y.boolean("inhibit_on_failure", true);
                y.notify("notify", {{"up", rs.notify.up}, {"down", rs.notify.down}});
                if (rs.check) emit_check(y, *rs.check);
                e << YAML::EndMap;
            }
            e << YAML::EndSeq;
            e << YAML::EndMap;
        }
        e << YAML::EndSeq;
    }
    e << YAML::EndMap;

    std::string header =
        "# haplane configuration imported from keepalived.conf by `haplane import-keepalived`\n"
        "# Source: " + source + "\n"
        "# Before use: in `ports`, replace each stub device with the NIC's PCI address\n"
        "# (the stub is DPDK's af_packet driver on the kernel interface: fine for a lab,\n"
        "# not fast) and list the appliance's own addresses on it; global.dpdk keeps its\n"
        "# lab defaults (no hugepages). Check the result with: haplane -t -f FILE\n";
    return header + e.c_str() + "\n";
}

ImportResult import_keepalived_string(const std::string& text, const std::string& file_name) {
    return import_text(text, file_name);
}

ImportResult import_keepalived_file(const std::string& path) {
    const auto fail = [&](const std::string& why) {
        ImportResult result;
        result.messages.push_back({Severity::error, path, 0, "cannot read the file: " + why});
        return result;
    };
    std::error_code ec;
    if (fs::is_directory(path, ec)) return fail("it is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return fail(std::strerror(errno));
    return import_text(text.str(), path);
}

} // namespace haplane::config
