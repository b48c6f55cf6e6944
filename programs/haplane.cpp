// haplane: the daemon's command line (CONTRACT.md, "The daemon").
#include "config/keepalived_import.hpp"
#include "config/loader.hpp"
#include "control/log.hpp"
#include "programs/daemon.hpp"

#include <boost/program_options.hpp>

#include <cstring>
#include <iostream>
#include <unistd.h>

namespace po = boost::program_options;

namespace {

int usage_error(const std::string& message) {
    std::cerr << "haplane: " << message << "\nTry 'haplane --help'.\n";
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    // Everything after "--" belongs to EAL, untouched by option parsing.
    std::vector<std::string> own_args, eal_extra;
    bool after_dashes = false;
    for (int i = 1; i < argc; ++i) {
        if (!after_dashes && std::strcmp(argv[i], "--") == 0) { after_dashes = true; continue; }
        (after_dashes ? eal_extra : own_args).push_back(argv[i]);
    }

    po::options_description desc("Usage: haplane -f FILE [options] [-- EAL-ARGS...]\n"
                                 "       haplane import-keepalived KEEPALIVED.CONF\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("file,f", po::value<std::string>(), "the YAML config FILE")
        ("check-config,t", "validate FILE and exit: 0 valid, 1 invalid")
        ("dump-config,d", "print the effective config (defaults filled in) as YAML")
        ("log-console,l", "log to stderr (default when stderr is a terminal)")
        ("log-detail,D", "detailed logs (every advert decision, GARP, check result)")
        ("pid-file", po::value<std::string>(), "write the daemon's PID to PATH");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description positional;
    positional.add("command", -1);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(own_args).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        return usage_error(e.what());
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return 0;
    }
    if (vm.count("command")) {
        const auto& words = vm["command"].as<std::vector<std::string>>();
        if (words[0] == "import-keepalived") {
            // keepalived.conf -> YAML on stdout; warnings and notes on stderr.
            if (words.size() != 2) return usage_error("usage: haplane import-keepalived KEEPALIVED.CONF");
            const auto imported = haplane::config::import_keepalived_file(words[1]);
            for (const auto& m : imported.messages) std::cerr << m.str() << "\n";
            if (!imported.ok) return 1;
            std::cout << imported.yaml << std::flush;
            return std::cout ? 0 : 1;
        }
        return usage_error("unknown command '" + words[0] + "'");
    }
    if (!vm.count("file")) return usage_error("missing -f FILE");

    const std::string file = vm["file"].as<std::string>();
    auto loaded = haplane::config::load_file(file);
    if (!loaded.problems.empty()) {
        for (const auto& p : loaded.problems) std::cerr << p.str() << "\n";
        return 1;
    }
    if (vm.count("dump-config")) {
        std::cout << haplane::config::dump(*loaded.config);
        return 0;
    }
    if (vm.count("check-config")) return 0;

    bool console = vm.count("log-console") || isatty(STDERR_FILENO);
    haplane::control::Log log(console, vm.count("log-detail") > 0);
    haplane::DaemonOptions options;
    options.config_file = file;
    options.eal_extra = eal_extra;
    if (vm.count("pid-file")) options.pid_file = vm["pid-file"].as<std::string>();
    return haplane::run_daemon(std::move(*loaded.config), options, log);
}
