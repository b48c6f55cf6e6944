// The door of config/: load, validate and dump haplane's YAML configuration.
#pragma once

#include "config/config.hpp"

#include <optional>
#include <string>
#include <vector>

namespace haplane::config {

// One problem found in a config file; line and column are 1-based
// (line 0: about the file as a whole, e.g. it cannot be read).
struct Problem {
    std::string file;
    int line = 0;
    int column = 0;
    std::string message;

    // "FILE:LINE:COLUMN: message" ("FILE: message" when line is 0)
    std::string str() const;
};

struct LoadResult {
    std::optional<Config> config;   // set only when problems is empty
    std::vector<Problem> problems;  // every problem, in file order
};

// Parse and validate. Never throws; every problem is reported at once.
LoadResult load_file(const std::string& path);
LoadResult load_string(const std::string& yaml, const std::string& file_name);

// The effective configuration as YAML, defaults filled in; the output itself
// loads without problems and yields an equal Config.
std::string dump(const Config& config);

// "10ms", "1s", "1.5s", "2m", "1h", or a plain number of seconds.
std::optional<Duration> parse_duration(const std::string& text);
std::string format_duration(Duration d);

// "0-1", "0,2,3", "1-3,5" -> the lcores in order (duplicates kept, for the
// validator to report); nullopt on bad syntax.
std::optional<std::vector<unsigned>> parse_lcore_list(std::string_view text);

} // namespace haplane::config
