#!/usr/bin/python3
"""VRRP conformance on net_pcap, in the spirit of FD.io VPP's VRRP tests:
crafted adverts in, frames on the wire out.

In: one valid advert from a higher-priority master, adverts that break one
rule each (TTL, version, auth type, password, interval, type, checksum,
VRID, length), one whose VIP list differs (accepted, counted), and ARP/ND
requests for the VIPs while haplane is still BACKUP (not answered).
Out: after Master_Down_Interval haplane is MASTER: an advert first, then
gratuitous ARPs, adverts every interval with the right fields, a second GARP
burst after master_delay, and on SIGTERM a priority-0 advert last."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

from scapy.all import ARP, IP, IPv6, Ether, ICMPv6ND_NS, Raw, rdpcap, wrpcap  # noqa: E402
from scapy.layers.vrrp import VRRP, VRRPv3  # noqa: E402

report = lab.Report()
workdir = lab.tempfile.mkdtemp(prefix="hp-vrrp-pcap-")
rx, tx = os.path.join(workdir, "rx.pcap"), os.path.join(workdir, "tx.pcap")
PEER_MAC, PEER = "02:00:00:00:00:02", "10.0.0.2"
VIP3, VIP2 = "10.0.0.100", "10.0.0.200"
GROUP_MAC = "01:00:5e:00:00:12"


def v3(prio=200, vrid=51, ttl=255, addrs=(VIP3,), **kw):
    kw.setdefault("ipcount", len(addrs))
    return (Ether(src=PEER_MAC, dst=GROUP_MAC) / IP(src=PEER, dst="224.0.0.18", ttl=ttl, proto=112) /
            VRRPv3(vrid=vrid, priority=prio, addrlist=list(addrs), adv=10, **kw))


def v2(prio=200, password=b"s3cret", authtype=1, adv=1, **kw):
    return (Ether(src=PEER_MAC, dst=GROUP_MAC) / IP(src=PEER, dst="224.0.0.18", ttl=255, proto=112) /
            VRRP(vrid=52, priority=prio, ipcount=1, addrlist=[VIP2], authtype=authtype, adv=adv,
                 auth1=int.from_bytes(password[:4].ljust(4, b"\0"), "big"),
                 auth2=int.from_bytes(password[4:8].ljust(4, b"\0"), "big"), **kw))


def broken_checksum(pkt):
    raw = bytearray(bytes(pkt))
    raw[14 + 20 + 6] ^= 0xff
    return Ether(bytes(raw))


frames = [
    ("valid", v3(prio=200)),
    ("bad_ttl", v3(ttl=64)),
    # long enough for v2 (8 bytes of authentication data), but VI_1 speaks v3
    ("bad_version", Ether(src=PEER_MAC, dst=GROUP_MAC) / IP(src=PEER, dst="224.0.0.18", ttl=255, proto=112) /
     Raw(bytes(v3(version=2)[VRRPv3]) + b"\0" * 8)),
    ("bad_auth_type", v2(authtype=0)),
    ("bad_password", v2(password=b"nope")),
    ("bad_interval", v2(adv=3)),
    ("bad_type", v3(type=2)),
    ("bad_checksum", broken_checksum(v3())),
    ("unknown_vrid", v3(vrid=99)),
    ("too_short", v3(ipcount=3)),   # claims 3 addresses, carries 1
    ("mismatch", v3(prio=200, addrs=("10.0.0.77",))),
    ("arp_vip", Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=PEER_MAC, psrc=PEER, pdst=VIP3)),
]
wrpcap(rx, [f for _, f in frames], linktype=1)

config = f"""
global:
  router_id: pcap-vrrp
  control_socket: "@SOCKET@"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_pcap0,rx_pcap={rx},tx_pcap={tx}"
    addresses: [10.0.0.1/24]
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 51
    priority: 100
    version: 3
    advert_interval: 100ms
    use_vmac: true
    virtual_ipaddresses: [{VIP3}/24]
    garp: {{ master_delay: 500ms, master_repeat: 3 }}
  - name: VI_2
    port: ext
    vrid: 52
    priority: 100
    state: MASTER
    version: 2
    advert_interval: 1s
    authentication: {{ type: PASS, password: "s3cret" }}
    virtual_ipaddresses: [{VIP2}/24]
"""

hp = lab.Haplane(config)
try:
    if not hp.wait_ready():
        report.bail("haplane did not start:\n" + hp.output())
    vi1 = lambda: hp.status()["vrrp"][0]  # noqa: E731
    report.check(lab.wait_for(lambda: vi1()["state"] == "MASTER", 3), "VI_1 becomes MASTER once the master is silent",
                 hp.output())
    report.check(lab.wait_for(lambda: hp.status()["vrrp"][1]["state"] == "MASTER", 3),
                 "VI_2 (state MASTER) claims after one interval plus skew", hp.output())
    time.sleep(0.5)
    s1, s2 = hp.status()["vrrp"]
    port = hp.port("ext")
    for reason in ["bad_ttl", "too_short", "bad_version", "bad_checksum", "bad_type"]:
        report.check(s1["drops"][reason] == 1, f"VI_1 refused and counted the {reason} advert", s1["drops"])
    for reason in ["bad_auth_type", "bad_password", "bad_interval"]:
        report.check(s2["drops"][reason] == 1, f"VI_2 refused and counted the {reason} advert", s2["drops"])
    report.check(s1["adverts_received"] == 2, "VI_1 accepted the valid advert and the one with other VIPs",
                 s1["adverts_received"])
    report.check(s1["address_mismatch"] == 1, "the VIP mismatch is counted (and accepted)", s1)
    report.check("Received advert for unknown VRID 99" in hp.output(), "the unknown VRID is logged", hp.output())
    report.check("(VI_1) invalid TTL/HL. Received 64 and expect 255" in hp.output(),
                 "the bad TTL is logged in keepalived's words", hp.output())
    report.check(port["classes"]["arp_reply"] == 0, "as BACKUP, haplane did not answer ARP for the VIP", port)
    report.check(s1["master_ip"] == "10.0.0.1" and s1["mac"] == "00:00:5e:00:01:33",
                 "VI_1 MASTER with its own address and the virtual MAC", s1)
finally:
    rc = hp.stop()
report.check(rc == 0, "haplane stops cleanly", hp.output())

out = rdpcap(tx)
adverts = [p for p in out if VRRPv3 in p and p[VRRPv3].vrid == 51]
garps = [p for p in out if ARP in p and p[ARP].pdst == VIP3]
report.check(len(adverts) >= 10, f"VI_1 adverts on the wire ({len(adverts)})")
if adverts:
    first = adverts[0]
    report.check(first[Ether].src == "00:00:5e:00:01:33" and first[Ether].dst == GROUP_MAC,
                 "adverts go from the virtual MAC to 01:00:5e:00:00:12", first.summary())
    report.check(first[IP].dst == "224.0.0.18" and first[IP].ttl == 255 and first[IP].tos == 0xc0 and
                 first[IP].src == "10.0.0.1", "IP: 10.0.0.1 -> 224.0.0.18, TTL 255, TOS 0xc0", first[IP].show(dump=True))
    report.check(first[VRRPv3].version == 3 and first[VRRPv3].priority == 100 and first[VRRPv3].adv == 10 and
                 first[VRRPv3].addrlist == [VIP3], "VRRPv3: priority 100, interval 10 cs, the VIP", first.show(dump=True))
    recomputed = Ether(bytes(first))
    del recomputed[VRRPv3].chksum, recomputed[IP].chksum
    recomputed = Ether(bytes(recomputed))
    report.check(recomputed[VRRPv3].chksum == first[VRRPv3].chksum and recomputed[IP].chksum == first[IP].chksum,
                 "VRRP and IP checksums are right (scapy recomputes the same)")
    i_first = out.index(first)
    i_garp = out.index(garps[0]) if garps else -1
    report.check(0 <= i_first < i_garp, "the first advert precedes the first gratuitous ARP")
    gaps = [float(b.time) - float(a.time) for a, b in zip(adverts, adverts[1:-1])]
    if gaps:
        avg = sum(gaps) / len(gaps)
        report.check(0.09 <= avg <= 0.11, f"adverts every {avg * 1000:.1f} ms (100 ms configured)")
    last = adverts[-1]
    report.check(last[VRRPv3].priority == 0, "the last advert, on SIGTERM, has priority 0", last.summary())
report.check(len(garps) == 6, f"two bursts of 3 gratuitous ARPs (master_repeat 3, master_delay 500 ms): {len(garps)}")
if garps:
    g = garps[0]
    report.check(g[Ether].dst == "ff:ff:ff:ff:ff:ff" and g[Ether].src == "00:00:5e:00:01:33" and g[ARP].op == 1 and
                 g[ARP].psrc == VIP3 and g[ARP].hwsrc == "00:00:5e:00:01:33",
                 "GARP: broadcast, sender = target = VIP, virtual MAC", g.show(dump=True))
    if len(garps) == 6:
        burst_gap = float(garps[3].time) - float(garps[0].time)
        report.check(0.45 <= burst_gap <= 0.65, f"second burst {burst_gap * 1000:.0f} ms after the first")
v2_adverts = [p for p in out if VRRP in p and p[VRRP].vrid == 52]
if report.check(v2_adverts, "VI_2 (v2) also became MASTER and advertised"):
    a = v2_adverts[0]
    report.check(a[VRRP].authtype == 1 and (a[VRRP].auth1.to_bytes(4, "big") + a[VRRP].auth2.to_bytes(4, "big")) == b"s3cret\0\0" and a[VRRP].adv == 1,
                 "v2 advert carries PASS s3cret and a 1 s interval", a.show(dump=True))
report.finish()
