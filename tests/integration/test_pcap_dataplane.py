#!/usr/bin/python3
"""The dataplane on net_pcap: crafted frames in, frames on the wire out.

ARP and ND for an own address are answered with the port's MAC; frames for
someone else are not forwarded; malformed frames are counted by reason and
dropped; a VRRP advert is handed to the control thread; the daemon stops
cleanly on SIGTERM."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

from scapy.all import (ARP, ICMP, IP, IPv6, TCP, Ether, ICMPv6ND_NA,  # noqa: E402
                       ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr,
                       Raw, rdpcap, wrpcap)
from scapy.layers.vrrp import VRRPv3  # noqa: E402

CLIENT_MAC = "02:00:00:00:00:0c"
OWN_V4, CLIENT_V4, OTHER_V4 = "10.0.0.1", "10.0.0.2", "10.0.0.99"
OWN_V6, CLIENT_V6 = "fd00::1", "fd00::2"

report = lab.Report()
workdir = lab.tempfile.mkdtemp(prefix="hp-pcap-")
rx, tx = os.path.join(workdir, "rx.pcap"), os.path.join(workdir, "tx.pcap")


def ipv4_raw(ihl=5, total_len=None, version=4, good_csum=True, proto=17, payload=b"\x00" * 8):
    """An IPv4 header by hand, to be wrong in exactly one way."""
    import struct
    hlen = ihl * 4
    tl = total_len if total_len is not None else 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, tl, 1, 0, 64, proto, 0,
                      bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1]))
    csum = 0
    for i in range(0, 20, 2):
        csum += (hdr[i] << 8) | hdr[i + 1]
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    csum = (~csum) & 0xFFFF
    if not good_csum:
        csum ^= 0x1234
    hdr = hdr[:10] + struct.pack("!H", csum) + hdr[12:]
    return hdr + b"\x00" * max(0, hlen - 20) + payload


eth_ip = Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x0800)
frames = {
    "arp_for_us": Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") /
                  ARP(op=1, hwsrc=CLIENT_MAC, psrc=CLIENT_V4, pdst=OWN_V4),
    "arp_for_other": Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") /
                     ARP(op=1, hwsrc=CLIENT_MAC, psrc=CLIENT_V4, pdst=OTHER_V4),
    "ns_for_us": Ether(src=CLIENT_MAC, dst="33:33:ff:00:00:01") /
                 IPv6(src=CLIENT_V6, dst="ff02::1:ff00:1", hlim=255) /
                 ICMPv6ND_NS(tgt=OWN_V6) / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC),
    "ping_other": Ether(src=CLIENT_MAC, dst="02:00:00:00:00:99") /
                  IP(src=CLIENT_V4, dst=OTHER_V4) / ICMP(),
    "vrrp": Ether(src="00:00:5e:00:01:33", dst="01:00:5e:00:00:12") /
            IP(src=CLIENT_V4, dst="224.0.0.18", ttl=255, proto=112) /
            VRRPv3(vrid=51, priority=100, ipcount=1, addrlist=["10.0.0.100"]),
    "truncated_ethernet": Raw(b"\x01" * 10),
    "truncated_ip": eth_ip / Raw(b"\x45" + b"\x00" * 9),
    "bad_ihl": eth_ip / Raw(ipv4_raw(ihl=4)),
    "bad_ip_length": eth_ip / Raw(ipv4_raw(total_len=1000)),
    "bad_ip_checksum": eth_ip / Raw(ipv4_raw(good_csum=False)),
    "bad_ip_version": eth_ip / Raw(ipv4_raw(version=6)),
    "truncated_l4": eth_ip / Raw(ipv4_raw(proto=6, payload=b"\x00" * 8)),
}
wrpcap(rx, list(frames.values()), linktype=1)   # all Ethernet, runts too

config = f"""
global:
  router_id: pcap-test
  control_socket: "@SOCKET@"
  state_dump_file: "@DIR@/state.json"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_pcap0,rx_pcap={rx},tx_pcap={tx}"
    addresses: [{OWN_V4}/24, {OWN_V6}/64]
"""

hp = lab.Haplane(config)
try:
    if not hp.wait_ready():
        report.bail("haplane did not start:\n" + hp.output())
    done = lab.wait_for(lambda: hp.port("ext")["rx_packets"] >= len(frames), 10)
    port = hp.port("ext")
    report.check(port["rx_packets"] == len(frames), f"all {len(frames)} frames received",
                 f"rx_packets={port['rx_packets']}")
    our_mac = port["mac"]
    for reason in ["truncated_ethernet", "truncated_ip", "bad_ihl", "bad_ip_length",
                   "bad_ip_checksum", "bad_ip_version", "truncated_l4"]:
        report.check(port["malformed"][reason] == 1, f"malformed frame counted as {reason}",
                     str(port["malformed"]))
    report.check(port["classes"]["arp_reply"] == 1, "one ARP request answered")
    report.check(port["classes"]["nd_reply"] == 1, "one neighbour solicitation answered")
    report.check(port["classes"]["to_vrrp"] == 1, "the VRRP advert went to the control thread")
    report.check(port["classes"]["not_mine"] == 2, "ARP and ping for someone else are not mine",
                 str(port["classes"]))
    report.check(port["rx_dropped"] == 9, "malformed and foreign frames count as rx_dropped",
                 f"rx_dropped={port['rx_dropped']}")
    report.check(port["tx_packets"] == 2 and port["tx_dropped"] == 0, "two frames sent, none dropped",
                 str(port))
finally:
    rc = hp.stop()
report.check(rc == 0, "SIGTERM stops haplane with exit code 0", hp.output())
report.check("Stopping" in hp.output(), "the stop is logged", hp.output())

out = rdpcap(tx) if os.path.exists(tx) else []
report.check(len(out) == 2, "exactly two frames on the wire", "\n".join(p.summary() for p in out))
arp = next((p for p in out if ARP in p), None)
if report.check(arp is not None, "an ARP reply is on the wire"):
    report.check(arp[Ether].dst == CLIENT_MAC and arp[Ether].src == our_mac,
                 "ARP reply: Ethernet to the requester from the port MAC", arp.show(dump=True))
    report.check(arp[ARP].op == 2 and arp[ARP].hwsrc == our_mac and arp[ARP].psrc == OWN_V4 and
                 arp[ARP].hwdst == CLIENT_MAC and arp[ARP].pdst == CLIENT_V4,
                 "ARP reply: 10.0.0.1 is-at the port MAC, to the requester", arp.show(dump=True))
na = next((p for p in out if ICMPv6ND_NA in p), None)
if report.check(na is not None, "a neighbour advertisement is on the wire"):
    report.check(na[Ether].dst == CLIENT_MAC and na[Ether].src == our_mac,
                 "NA: Ethernet to the solicitor from the port MAC", na.show(dump=True))
    report.check(na[IPv6].src == OWN_V6 and na[IPv6].dst == CLIENT_V6 and na[IPv6].hlim == 255,
                 "NA: from the target to the solicitor, hop limit 255", na.show(dump=True))
    report.check(na[ICMPv6ND_NA].tgt == OWN_V6 and na[ICMPv6ND_NA].S == 1 and na[ICMPv6ND_NA].O == 1,
                 "NA: target fd00::1, solicited and override", na.show(dump=True))
    report.check(ICMPv6NDOptDstLLAddr in na and na[ICMPv6NDOptDstLLAddr].lladdr == our_mac,
                 "NA: target link-layer option is the port MAC", na.show(dump=True))
    wire_csum = na[ICMPv6ND_NA].cksum
    fresh = Ether(bytes(na))
    del fresh[ICMPv6ND_NA].cksum
    report.check(Ether(bytes(fresh))[ICMPv6ND_NA].cksum == wire_csum, "NA: ICMPv6 checksum is right")
report.finish()
