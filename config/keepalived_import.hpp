// `haplane import-keepalived`: reads a keepalived.conf (keepalived's own
// syntax: `#`/`!` comments, `{ }` blocks, quoted strings, `include` with glob
// patterns, `$NAME=value` definitions) and maps it to haplane's Config.
// Everything without a haplane meaning becomes a warning naming FILE:LINE and
// the keyword; nothing is dropped silently. Pure: no DPDK, no sockets.
#pragma once

#include "config/config.hpp"

#include <string>
#include <vector>

namespace haplane::config {

struct ImportMessage {
    enum class Severity { error, warning, note };
    Severity severity = Severity::warning;
    std::string file;
    int line = 0;            // 1-based; 0: about the import as a whole
    std::string message;

    // "FILE:LINE: warning: message" ("FILE: note: message" when line is 0)
    std::string str() const;
};

struct ImportResult {
    // false: the file could not be read; `messages` holds the error(s) and
    // nothing else is meaningful.
    bool ok = false;
    Config config;                          // what was imported (config.file: the source)
    std::string yaml;                       // `config` as haplane YAML, with a header
    std::vector<ImportMessage> messages;    // errors, warnings and notes, in file order

    std::vector<ImportMessage> warnings() const;   // severity warning only
};

// Reads `path` and the files it includes (relative to the including file).
ImportResult import_keepalived_file(const std::string& path);

// The same on text in memory; `file_name` names it in messages, and relative
// includes are resolved against its directory.
ImportResult import_keepalived_string(const std::string& text, const std::string& file_name);

// The YAML `import-keepalived` prints: only what was set (keepalived's
// defaults where they differ from haplane's), the ports stub first.
std::string emit_imported_yaml(const Config& config, const std::string& source);

} // namespace haplane::config
