#!/usr/bin/python3
"""More of keepalived interop: VRRPv2 with PASS authentication, VRRPv3 over
IPv6, and 10 ms adverts timed on the wire (a capture in the client's
namespace, a third party to both routers)."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

from scapy.all import IP, IPv6, rdpcap  # noqa: E402

tag = str(os.getpid())
SW, CLI, KA, HP = (f"hp-{n}-{tag}" for n in ("sw", "cli", "ka", "hp"))
report = lab.Report()


def keepalived_conf(version, prio, vips, interval, auth=None, iface="ka0", vrid=52, unicast=None):
    auth_block = f"authentication {{\n        auth_type PASS\n        auth_pass {auth}\n    }}" if auth else ""
    if unicast:
        auth_block += f"\n    unicast_src_ip {unicast[0]}\n    unicast_peer {{\n        {unicast[1]}\n    }}"
    return f"""
global_defs {{
    router_id ka1
    vrrp_version {version}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface {iface}
    virtual_router_id {vrid}
    priority {prio}
    advert_int {interval}
    {auth_block}
    virtual_ipaddress {{
        {vips}
    }}
}}
"""


def haplane_conf(version, prio, vip, interval, auth=None, vrid=52, peers=None):
    auth_line = f'    authentication: {{ type: PASS, password: "{auth}" }}\n' if auth else ""
    if peers:
        auth_line += f"    unicast_peers: [{', '.join(peers)}]\n"
    return f"""
global:
  router_id: hp1
  control_socket: "@SOCKET@"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=hp0"
    addresses: [10.89.0.2/24, fd89::2/64]
    kernel_mirror: ha0
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: {vrid}
    priority: {prio}
    version: {version}
    advert_interval: {interval}
    virtual_ipaddresses: [{vip}]
{auth_line}"""


def state(hp):
    try:
        return hp.status()["vrrp"][0]["state"]
    except Exception:
        return None


with lab.netns(SW, CLI, KA, HP):
    seg = lab.Segment(SW)
    seg.attach(CLI, "cli0")
    seg.attach(KA, "ka0")
    seg.attach(HP, "hp0", dpdk=True)
    lab.run(["ip", "addr", "add", "10.89.0.10/24", "dev", "cli0"], ns=CLI)
    lab.run(["ip", "addr", "add", "fd89::10/64", "dev", "cli0", "nodad"], ns=CLI)
    lab.run(["ip", "addr", "add", "10.89.0.3/24", "dev", "ka0"], ns=KA)
    lab.run(["ip", "addr", "add", "fd89::3/64", "dev", "ka0", "nodad"], ns=KA)
    webs = [lab.http_server(KA, "keepalived"), lab.http_server(HP, "haplane")]
    procs = []
    try:
        # --- VRRPv2, PASS authentication, 1 s adverts ---
        ka = lab.Keepalived(keepalived_conf(2, 100, "10.89.0.100/24", 1, auth="s3cret"), KA)
        hp = lab.Haplane(haplane_conf(2, 150, "10.89.0.100/24", "1s", auth="s3cret"), ns=HP)
        procs += [ka, hp]
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        report.check(lab.wait_for(lambda: state(hp) == "MASTER", 8), "v2: haplane (150) is MASTER", hp.output())
        report.check(ka.wait_log("(VI_1) Entering BACKUP STATE", 5), "v2: keepalived (100) is BACKUP", ka.output())
        masters = len(ka.lines("Entering MASTER STATE"))
        time.sleep(4)   # longer than keepalived's Master_Down_Interval (3.6 s)
        report.check(len(ka.lines("Entering MASTER STATE")) == masters and state(hp) == "MASTER",
                     "v2: keepalived keeps accepting haplane's authenticated adverts", ka.output())
        report.check(not ka.lines("auth") and not ka.lines("password"), "v2: keepalived logs no auth problem",
                     ka.output())
        report.check(lab.wait_for(lambda: lab.curl(CLI, "http://10.89.0.100:8080/who", 1) == "haplane", 5),
                     "v2: the VIP answers from haplane")
        before = len(ka.lines("Entering MASTER STATE"))
        t0 = time.monotonic()
        hp.stop()
        report.check(ka.wait_log("Entering MASTER STATE", 3, after=before), "v2: keepalived takes over on stop",
                     ka.output())
        took = time.monotonic() - t0
        # keepalived's v2 Skew_Time at priority 100: 156/256 s = 0.61 s
        report.check(took < 1.5, f"v2: takeover after Skew_Time, not Master_Down_Interval ({took:.2f}s)")

        # Wrong password: keepalived refuses haplane's adverts and haplane refuses keepalived's.
        hp = lab.Haplane(haplane_conf(2, 50, "10.89.0.100/24", "1s", auth="wrong"), ns=HP)
        procs.append(hp)
        hp.wait_ready()
        ok = lab.wait_for(lambda: hp.status()["vrrp"][0]["drops"]["bad_password"] > 0, 4)
        report.check(ok, "v2: haplane counts keepalived's adverts with another password as bad_password",
                     hp.status()["vrrp"][0])
        report.check("incorrect password" in hp.output(), "v2: haplane logs the bad password", hp.output())
        hp.stop()
        ka.stop()

        # --- VRRPv3 over IPv6 ---
        ka = lab.Keepalived(keepalived_conf(3, 100, "fd89::100/64", 0.1, vrid=53), KA)
        procs.append(ka)
        report.check(ka.wait_log("(VI_1) Entering MASTER STATE", 5), "v6: keepalived alone is MASTER", ka.output())
        hp = lab.Haplane(haplane_conf(3, 150, "fd89::100/64", "100ms", vrid=53), ns=HP)
        procs.append(hp)
        hp.wait_ready()
        report.check(lab.wait_for(lambda: state(hp) == "MASTER", 5), "v6: haplane (150) preempts", hp.output())
        report.check(ka.wait_log("(VI_1) Entering BACKUP STATE", 5), "v6: keepalived goes BACKUP", ka.output())
        st = hp.status()["vrrp"][0]
        report.check(st["adverts_received"] > 0 and all(v == 0 for v in st["drops"].values()),
                     "v6: keepalived's adverts pass every check", st)
        report.check(lab.wait_for(lambda: lab.curl(CLI, "http://[fd89::100]:8080/who", 1) == "haplane", 5),
                     "v6: the VIP answers from haplane (ND answered by the dataplane)")
        t0 = time.monotonic()
        hp.stop(9)
        report.check(ka.wait_log("Entering MASTER STATE", 3, after=1), "v6: after kill -9, keepalived takes over",
                     ka.output())
        took = time.monotonic() - t0
        report.check(0.25 <= took <= 1.0, f"v6: after Master_Down_Interval (~0.36 s; took {took:.2f}s)")
        ka.stop()

        # --- unicast peers: adverts to each other's address, no multicast ---
        ka = lab.Keepalived(keepalived_conf(3, 100, "10.89.0.100/24", 0.1, vrid=55,
                                            unicast=("10.89.0.3", "10.89.0.2")), KA)
        procs.append(ka)
        hp = lab.Haplane(haplane_conf(3, 150, "10.89.0.100/24", "100ms", vrid=55, peers=["10.89.0.3"]), ns=HP)
        procs.append(hp)
        hp.wait_ready()
        report.check(lab.wait_for(lambda: state(hp) == "MASTER", 5), "unicast: haplane (150) is MASTER", hp.output())
        report.check(ka.wait_log("(VI_1) Entering BACKUP STATE", 5) and
                     lab.wait_for(lambda: not ka.lines("Entering MASTER STATE") or
                                  ka.output().rfind("Entering BACKUP") > ka.output().rfind("Entering MASTER"), 3),
                     "unicast: keepalived (100) is BACKUP, hearing haplane's unicast adverts", ka.output())
        st = hp.status()["vrrp"][0]
        report.check(st["adverts_received"] == 0 or all(v == 0 for v in st["drops"].values()),
                     "unicast: nothing refused", st)
        dump = lab.Process(["tcpdump", "-Z", "root", "--immediate-mode", "-i", "cli0", "-w", cap_u := os.path.join(
            hp.dir, "unicast.pcap"), "-U", "-n"], ns=CLI)
        procs.append(dump)
        time.sleep(1.0)
        dump.stop(2)
        multicast = [p for p in rdpcap(cap_u) if IP in p and p[IP].proto == 112 and p[IP].dst == "224.0.0.18"]
        report.check(not multicast, "unicast: no multicast advert on the segment", len(multicast))
        hp.stop()
        report.check(ka.wait_log("Entering MASTER STATE", 3, after=len(ka.lines("Entering MASTER STATE")) - 1)
                     and ka.lines("priority 0"), "unicast: haplane's priority-0 advert reaches keepalived",
                     ka.output())
        ka.stop()

        # --- 10 ms adverts: takeover within Master_Down_Interval + 1 ms of the last advert ---
        cap = os.path.join(hp.dir, "wire.pcap")
        ka = lab.Keepalived(keepalived_conf(3, 200, "10.89.0.100/24", 0.01, vrid=54), KA)
        procs.append(ka)
        ka.wait_log("(VI_1) Entering MASTER STATE", 5)
        hp = lab.Haplane(haplane_conf(3, 100, "10.89.0.100/24", "10ms", vrid=54), ns=HP)
        procs.append(hp)
        hp.wait_ready()
        report.check(lab.wait_for(lambda: state(hp) == "BACKUP" and hp.status()["vrrp"][0]["master_ip"] == "10.89.0.3", 3),
                     "10ms: haplane (100) is BACKUP under keepalived (200)", hp.status())
        dump = lab.Process(["tcpdump", "-Z", "root", "--immediate-mode", "-i", "cli0", "-w", cap, "-U", "-n"], ns=CLI)
        procs.append(dump)
        time.sleep(0.5)
        ka.kill9()
        lab.wait_for(lambda: state(hp) == "MASTER", 2)
        time.sleep(0.2)
        dump.stop(2)
        pkts = [p for p in rdpcap(cap) if IP in p and p[IP].proto == 112]
        ka_times = [float(p.time) for p in pkts if p[IP].src == "10.89.0.3"]
        hp_times = [float(p.time) for p in pkts if p[IP].src == "10.89.0.2"]
        if report.check(ka_times and hp_times, "10ms: both routers' adverts are on the wire",
                        f"{len(ka_times)} from keepalived, {len(hp_times)} from haplane"):
            gap = hp_times[0] - ka_times[-1]
            mdi = 3 * 0.010 + (256 - 100) * 0.010 / 256
            report.check(mdi - 0.002 <= gap <= mdi + 0.001,
                         f"10ms: haplane's first advert {gap * 1000:.2f} ms after keepalived's last "
                         f"(Master_Down_Interval {mdi * 1000:.2f} ms, + 1 ms allowed)")
            steady = [b - a for a, b in zip(hp_times[1:], hp_times[2:])]
            if steady:
                avg = sum(steady) / len(steady)
                report.check(0.009 <= avg <= 0.011, f"10ms: haplane then advertises every {avg * 1000:.2f} ms")
    finally:
        for p in procs:
            p.stop()
        for w in webs:
            w.stop()
report.finish()
