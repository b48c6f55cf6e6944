// What EAL is told, derived from the config alone.
#include "dataplane/eal_args.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace haplane;
using namespace haplane::dataplane;

namespace {
bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}
config::Port port(std::string name, std::string device) {
    config::Port p;
    p.name = std::move(name);
    p.device = std::move(device);
    return p;
}
} // namespace

TEST(EalArgs, LabDefaultsHaveNoHugepagesAndNoPci) {
    config::Config c;
    c.ports.push_back(port("ext", "net_af_packet0,iface=veth0"));
    auto args = eal_arguments(c, {}, false);
    EXPECT_EQ(args[0], "haplane");
    EXPECT_TRUE(has(args, "--no-huge"));
    EXPECT_TRUE(has(args, "--no-shconf"));
    EXPECT_TRUE(has(args, "--no-pci"));
    EXPECT_FALSE(has(args, "--in-memory")) << "--no-huge with --in-memory fails";
    auto l = std::find(args.begin(), args.end(), "-l");
    ASSERT_NE(l, args.end());
    EXPECT_EQ(*(l + 1), "0-1");
    auto m = std::find(args.begin(), args.end(), "-m");
    ASSERT_NE(m, args.end());
    EXPECT_EQ(*(m + 1), "512");
}

TEST(EalArgs, LcoresMappedToCpusUseEalLcoresOption) {
    config::Config c;
    c.global.dpdk.lcores = "0,1,2@1";
    auto args = eal_arguments(c, {}, false);
    EXPECT_FALSE(has(args, "-l"));
    auto l = std::find(args.begin(), args.end(), "--lcores");
    ASSERT_NE(l, args.end());
    EXPECT_EQ(*(l + 1), "0,1,2@1");
}

TEST(EalArgs, PciPortsAreAllowListedAndHugepagesUsed) {
    config::Config c;
    c.global.dpdk.hugepages = true;
    c.global.dpdk.args = {"--file-prefix", "lb1"};
    c.ports.push_back(port("ext", "0000:03:00.1"));
    auto args = eal_arguments(c, {"--extra"}, false);
    EXPECT_FALSE(has(args, "--no-pci"));
    EXPECT_FALSE(has(args, "--no-huge"));
    EXPECT_TRUE(has(args, "--in-memory"));
    auto a = std::find(args.begin(), args.end(), "-a");
    ASSERT_NE(a, args.end());
    EXPECT_EQ(*(a + 1), "0000:03:00.1");
    // config args, then the command line's, last so they win
    EXPECT_EQ(args[args.size() - 3], "--file-prefix");
    EXPECT_EQ(args.back(), "--extra");
}

TEST(EalArgs, DeviceNamesAndVdevArguments) {
    EXPECT_EQ(device_name(port("a", "net_pcap0,rx_pcap=a.pcap")), "net_pcap0");
    EXPECT_EQ(device_name(port("a", "03:00.1")), "0000:03:00.1");
    EXPECT_EQ(vdev_arguments(port("a", "net_pcap0,rx_pcap=a.pcap,tx_pcap=b.pcap"), 2),
              "rx_pcap=a.pcap,tx_pcap=b.pcap");
    EXPECT_EQ(vdev_arguments(port("a", "net_af_packet0,iface=v0"), 1), "iface=v0");
    EXPECT_EQ(vdev_arguments(port("a", "net_af_packet0,iface=v0"), 3), "iface=v0,qpairs=3");
    EXPECT_EQ(vdev_arguments(port("a", "net_af_packet0,iface=v0,qpairs=4"), 3), "iface=v0,qpairs=4");
}
