// The status document's shape is CONTRACT.md's; outside tools parse it.
#include "control/status.hpp"

#include <gtest/gtest.h>

using namespace haplane;

TEST(StatusDocument, HasTheContractKeys) {
    config::Config c;
    c.global.router_id = "lb1";
    config::VrrpInstance vi;
    vi.name = "VI_1";
    vi.port = "ext";
    vi.vrid = 51;
    vi.priority = 150;
    vi.virtual_ipaddresses.push_back(*IpPrefix::parse("10.10.0.100/24"));
    c.vrrp_instances.push_back(vi);
    config::VirtualServer vs;
    vs.name = "web";
    vs.vip = *IpAddress::parse("10.10.0.100");
    vs.port = 80;
    vs.scheduler = config::Scheduler::mh;
    config::RealServer rs;
    rs.address = *IpAddress::parse("10.20.0.11");
    vs.real_servers.push_back(rs);
    c.virtual_servers.push_back(vs);

    control::PortStatus p;
    p.name = "ext";
    p.stats.rx_packets = 7;
    p.stats.tx_dropped = 2;
    auto doc = control::status_document(c, {p});

    EXPECT_EQ(doc["router_id"], "lb1");
    const auto& v = doc["vrrp"][0];
    EXPECT_EQ(v["name"], "VI_1");
    EXPECT_EQ(v["vrid"], 51);
    EXPECT_EQ(v["priority"], 150);
    EXPECT_EQ(v["effective_priority"], 150);
    EXPECT_EQ(v["port"], "ext");
    EXPECT_EQ(v["vips"][0], "10.10.0.100/24");
    EXPECT_TRUE(v.contains("state") && v.contains("master_ip") && v.contains("transitions"));
    const auto& s = doc["virtual_servers"][0];
    EXPECT_EQ(s["vip"], "10.10.0.100");
    EXPECT_EQ(s["port"], 80);
    EXPECT_EQ(s["protocol"], "tcp");
    EXPECT_EQ(s["scheduler"], "mh");
    EXPECT_EQ(s["method"], "dr");
    EXPECT_EQ(s["real_servers"][0]["address"], "10.20.0.11");
    EXPECT_EQ(s["real_servers"][0]["port"], 80) << "port 0 means the virtual server's";
    EXPECT_TRUE(s["real_servers"][0].contains("healthy"));
    const auto& port = doc["ports"][0];
    EXPECT_EQ(port["name"], "ext");
    EXPECT_EQ(port["rx_packets"], 7);
    EXPECT_EQ(port["tx_packets"], 0);
    EXPECT_EQ(port["rx_dropped"], 0);
    EXPECT_EQ(port["tx_dropped"], 2);
}
