#!/usr/bin/python3
"""Failover time, measured on the wire: from the master's stop to the first
gratuitous ARP for the VIP from the new master, captured in a third
namespace (the client's). Pairs: haplane -> keepalived, keepalived ->
haplane, haplane -> haplane; VRRPv2 1 s and VRRPv3 10 ms; graceful stop
(SIGTERM: priority 0) and kill -9 (Master_Down_Interval).

    tests/bench/failover.py [--repeat N]        (root; prints a Markdown table)

A benchmark, not a test: it asserts nothing."""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import lab  # noqa: E402

from scapy.all import ARP, rdpcap  # noqa: E402

VIP = "10.90.0.100"
MASTER_PRIO, BACKUP_PRIO = 200, 100


def keepalived_conf(version, prio, interval):
    return f"""
global_defs {{
    router_id ka
    vrrp_version {version}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface ka0
    virtual_router_id 60
    priority {prio}
    advert_int {interval}
    virtual_ipaddress {{
        {VIP}/24
    }}
}}
"""


def haplane_conf(name, iface, address, version, prio, interval):
    return f"""
global:
  router_id: {name}
  control_socket: "@SOCKET@"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface={iface}"
    addresses: [{address}/24]
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 60
    priority: {prio}
    version: {version}
    advert_interval: {interval}
    virtual_ipaddresses: [{VIP}/24]
"""


class Node:
    """One VRRP router of either kind in its own namespace."""

    def __init__(self, kind, ns, index, version, prio, interval_s):
        self.kind, self.ns = kind, ns
        address = f"10.90.0.{index}"
        if kind == "keepalived":
            lab.run(["ip", "addr", "add", f"{address}/24", "dev", "ka0"], ns=ns)
            self.proc = lab.Keepalived(keepalived_conf(version, prio, interval_s), ns)
        else:
            interval = f"{int(interval_s * 1000)}ms"
            self.proc = lab.Haplane(haplane_conf(f"hp{index}", "hp0", address, version, prio, interval), ns=ns)
            self.proc.wait_ready()

    def is_master(self):
        if self.kind == "keepalived":
            entered = self.proc.lines("Entering MASTER STATE")
            left = self.proc.lines("Entering BACKUP STATE")
            out = self.proc.output()
            return bool(entered) and out.rfind("Entering MASTER STATE") > out.rfind("Entering BACKUP STATE")
        try:
            return self.proc.status()["vrrp"][0]["state"] == "MASTER"
        except Exception:
            return False

    def stop(self, kill):
        if kill:
            if self.kind == "keepalived":
                self.proc.kill9()
            else:
                self.proc.stop(9)
        else:
            self.proc.stop()


def measure(master_kind, backup_kind, version, interval_s, kill):
    tag = str(os.getpid())
    sw, cli, a, b = (f"fo-{n}-{tag}" for n in ("sw", "cli", "a", "b"))
    with lab.netns(sw, cli, a, b):
        seg = lab.Segment(sw)
        seg.attach(cli, "cli0")
        lab.run(["ip", "addr", "add", "10.90.0.10/24", "dev", "cli0"], ns=cli)
        for ns, kind in ((a, master_kind), (b, backup_kind)):
            if kind == "keepalived":
                seg.attach(ns, "ka0")
            else:
                seg.attach(ns, "hp0", dpdk=True)
        master = Node(master_kind, a, 2, version, MASTER_PRIO, interval_s)
        if not lab.wait_for(master.is_master, 10 * interval_s + 5):
            raise RuntimeError(f"{master_kind} did not become master")
        backup = Node(backup_kind, b, 3, version, BACKUP_PRIO, interval_s)
        time.sleep(max(1.0, 4 * interval_s))
        cap = os.path.join(lab.tempfile.mkdtemp(prefix="fo-"), "wire.pcap")
        dump = lab.Process(["tcpdump", "-Z", "root", "--immediate-mode", "-i", "cli0", "-w", cap, "-U", "-n", "arp"],
                           ns=cli)
        time.sleep(0.5)
        t0 = time.time()
        master.stop(kill)
        ok = lab.wait_for(backup.is_master, 10 * interval_s + 5)
        time.sleep(0.3)
        dump.stop()
        backup.stop(False)
        if not ok:
            raise RuntimeError(f"{backup_kind} did not take over")
        garps = [float(p.time) for p in rdpcap(cap)
                 if ARP in p and p[ARP].psrc == VIP and p[ARP].pdst == VIP and float(p.time) >= t0]
        if not garps:
            raise RuntimeError("no gratuitous ARP seen")
        return garps[0] - t0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pairs = [("haplane", "keepalived"), ("keepalived", "haplane"), ("haplane", "haplane")]
    protocols = [(2, 1.0, "v2, 1 s"), (3, 0.01, "v3, 10 ms")]
    print("| master → backup | VRRP | stop | failover (median of runs) | runs |")
    print("|---|---|---|---|---|")
    for version, interval, label in protocols:
        for master_kind, backup_kind in pairs:
            for kill in (False, True):
                times = []
                for _ in range(args.repeat):
                    try:
                        times.append(measure(master_kind, backup_kind, version, interval, kill))
                    except RuntimeError as e:
                        print(f"<!-- {master_kind}->{backup_kind} {label} {'kill' if kill else 'term'}: {e} -->",
                              flush=True)
                stop = "kill -9" if kill else "SIGTERM"
                shown = f"{statistics.median(times) * 1000:.1f} ms" if times else "failed"
                runs = ", ".join(f"{t * 1000:.1f}" for t in times)
                print(f"| {master_kind} → {backup_kind} | {label} | {stop} | {shown} | {runs} |", flush=True)


if __name__ == "__main__":
    main()
