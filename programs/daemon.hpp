// The running daemon: dataplane, kernel mirror, control socket and signals
// wired together on the control thread (the EAL main lcore).
#pragma once

#include "config/config.hpp"
#include "control/log.hpp"

#include <optional>
#include <string>
#include <vector>

namespace haplane {

struct DaemonOptions {
    std::string config_file;
    std::vector<std::string> eal_extra;
    std::optional<std::string> pid_file;
};

// Runs until SIGTERM/SIGINT; returns the process exit code.
int run_daemon(config::Config config, const DaemonOptions& options, control::Log& log);

} // namespace haplane
