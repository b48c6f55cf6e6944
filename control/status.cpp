#include "control/status.hpp"

#include "dataplane/classify.hpp"

namespace haplane::control {

using nlohmann::json;

namespace {

json port_json(const PortStatus& p) {
    const auto& s = p.stats;
    json verdicts = json::object();
    for (size_t i = 0; i < s.verdicts.size(); ++i)
        verdicts[dataplane::to_string(static_cast<dataplane::Verdict>(i))] = s.verdicts[i];
    json malformed = json::object();
    for (size_t i = 1; i < s.malformed.size(); ++i)
        malformed[wire::to_string(static_cast<wire::Malformed>(i))] = s.malformed[i];
    return {{"name", p.name},
            {"mac", p.mac},
            {"link_up", p.link_up},
            {"rx_packets", s.rx_packets},
            {"tx_packets", s.tx_packets},
            {"rx_bytes", s.rx_bytes},
            {"tx_bytes", s.tx_bytes},
            {"rx_dropped", s.rx_dropped},
            {"tx_dropped", s.tx_dropped},
            {"from_kernel", s.from_kernel},
            {"to_kernel_dropped", s.to_kernel_dropped},
            {"classes", verdicts},
            {"malformed", malformed}};
}

// Until the VRRP engine runs, instances are reported as configured, in INIT.
json vrrp_json(const config::VrrpInstance& vi) {
    json vips = json::array();
    for (const auto& v : vi.virtual_ipaddresses) vips.push_back(v.str());
    return {{"name", vi.name},
            {"state", "INIT"},
            {"vrid", vi.vrid},
            {"priority", vi.priority},
            {"effective_priority", vi.priority},
            {"port", vi.port},
            {"master_ip", nullptr},
            {"vips", vips},
            {"transitions", 0}};
}

json virtual_server_json(const config::VirtualServer& vs) {
    json reals = json::array();
    for (const auto& rs : vs.real_servers)
        reals.push_back({{"address", rs.address.str()},
                         {"port", rs.port ? rs.port : vs.port},
                         {"weight", rs.weight},
                         {"healthy", !vs.alpha},
                         {"active_connections", 0},
                         {"packets", 0},
                         {"bytes", 0}});
    return {{"name", vs.name},
            {"vip", vs.vip.str()},
            {"port", vs.port},
            {"protocol", config::to_string(vs.protocol)},
            {"scheduler", config::to_string(vs.scheduler)},
            {"method", config::to_string(vs.method)},
            {"active_connections", 0},
            {"packets", 0},
            {"bytes", 0},
            {"real_servers", reals}};
}

} // namespace

json status_document(const config::Config& config, const std::vector<PortStatus>& ports,
                     const json* vrrp_list, const json* virtual_servers) {
    json vrrp = json::array();
    if (vrrp_list) vrrp = *vrrp_list;
    else
        for (const auto& vi : config.vrrp_instances) vrrp.push_back(vrrp_json(vi));
    json services = json::array();
    if (virtual_servers) services = *virtual_servers;
    else
        for (const auto& vs : config.virtual_servers) services.push_back(virtual_server_json(vs));
    json port_list = json::array();
    for (const auto& p : ports) port_list.push_back(port_json(p));
    return {{"router_id", config.global.router_id},
            {"vrrp", vrrp},
            {"virtual_servers", services},
            {"ports", port_list}};
}

} // namespace haplane::control
