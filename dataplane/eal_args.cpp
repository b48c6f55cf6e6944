#include "dataplane/eal_args.hpp"

#include <algorithm>

namespace haplane::dataplane {

std::string device_name(const config::Port& port) {
    std::string name = port.device.substr(0, port.device.find(','));
    if (port.is_pci() && std::count(name.begin(), name.end(), ':') == 1) name = "0000:" + name;
    return name;
}

std::string vdev_arguments(const config::Port& port, unsigned workers) {
    auto comma = port.device.find(',');
    std::string args = comma == std::string::npos ? "" : port.device.substr(comma + 1);
    // af_packet opens one socket per queue pair; haplane wants one per worker.
    if (device_name(port).starts_with("net_af_packet") && workers > 1 &&
        args.find("qpairs=") == std::string::npos)
        args += (args.empty() ? "" : ",") + std::string("qpairs=") + std::to_string(workers);
    return args;
}

std::vector<std::string> eal_arguments(const config::Config& config,
                                       const std::vector<std::string>& extra,
                                       bool detailed_logs) {
    const auto& dpdk = config.global.dpdk;
    // "LCORE@CPU" maps lcores to CPUs: EAL's --lcores takes it, -l does not.
    const bool mapped = dpdk.lcores.find('@') != std::string::npos;
    std::vector<std::string> args{"haplane", mapped ? "--lcores" : "-l", dpdk.lcores, "-m",
                                  std::to_string(dpdk.memory_mb)};
    if (dpdk.hugepages) {
        args.push_back("--in-memory");
    } else {
        args.push_back("--no-huge");
        args.push_back("--no-shconf");
    }
    bool any_pci = false;
    for (const auto& port : config.ports) {
        if (port.is_pci()) {
            any_pci = true;
            args.push_back("-a");
            args.push_back(port.device);
        }
    }
    if (!any_pci) args.push_back("--no-pci");
    args.push_back("--no-telemetry");   // haplane has its own status and metrics
    // vdevs are created after EAL init (rte_vdev_init), so their arguments can
    // depend on what EAL found; nothing about them goes here.
    args.push_back(detailed_logs ? "--log-level=lib.eal:notice" : "--log-level=*:warning");
    args.insert(args.end(), dpdk.args.begin(), dpdk.args.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

} // namespace haplane::dataplane
