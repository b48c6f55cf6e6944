#!/usr/bin/python3
"""Several workers: nat and fnat through haplane with two workers, each port
read by net_af_packet with two queue pairs. The kernel spreads the frames
over the two queues (PACKET_FANOUT hash of each frame's own tuple), so a
flow's replies (another tuple) land on either worker; haplane must hand
each packet to the worker that owns its flow (lb/steer.hpp).

  client 10.10.0.1 ── ext ── haplane (2 workers) ── int ──┬── rs1 10.20.0.11
                       hp-ext (qpairs=2)  hp-int (qpairs=2) ├── rs2 10.20.0.12
                                                            └── rs3 10.20.0.13
  10.10.0.101:80 nat   rs1 rs2 rs3   replies: server -> haplane (its gateway)
  10.10.0.102:80 fnat  rs1 rs2 rs3   replies: server -> local address 10.20.0.200
  10.10.0.101:54 udp nat -> :9       nothing listens: the servers' ICMP port
                                     unreachable must reach the flow's worker

Without steering about half of the flows lose their replies (the worker
that gets them has no such flow) and their requests time out."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())[-5:]
CLI, APP = f"mqc-{tag}", f"mqa-{tag}"
SWE, SWI = f"mqse-{tag}", f"mqsi-{tag}"
RSNS = [f"mqs{i}-{tag}" for i in (1, 2, 3)]
RS_IP = ["10.20.0.11", "10.20.0.12", "10.20.0.13"]
VIP = {"nat": "10.10.0.101", "fnat": "10.10.0.102"}
LIP = "10.20.0.200"
report = lab.Report()

servers_list = ", ".join(f"{{address: {a}}}" for a in RS_IP)
config = f"""
global:
  router_id: lb-multiqueue
  control_socket: "@SOCKET@"
  connections_per_lcore: 10000
{lab.dpdk_section(poll="adaptive", lcores="0,1,2@1")}
ports:
  - name: ext
    device: "net_af_packet0,iface=hp-ext"
    addresses: [10.10.0.2/24]
    kernel_mirror: mq-ext
  - name: int
    device: "net_af_packet1,iface=hp-int"
    addresses: [10.20.0.2/24]
    kernel_mirror: mq-int
vrrp_instances:
  - name: VI_MQ
    port: ext
    vrid: 63
    priority: 255
    advert_interval: 1s
    virtual_ipaddresses: [{VIP['nat']}/24, {VIP['fnat']}/24]
virtual_servers:
  - name: web-nat
    vip: {VIP['nat']}
    port: 80
    scheduler: rr
    method: nat
    real_servers: [{servers_list}]
  - name: web-fnat
    vip: {VIP['fnat']}
    port: 80
    scheduler: rr
    method: fnat
    local_addresses: [{LIP}]
    real_servers: [{servers_list}]
  - name: refused
    vip: {VIP['nat']}
    port: 54
    protocol: udp
    method: nat
    real_servers: [{{address: {RS_IP[0]}, port: 9}}]
"""

# Datagrams from fresh sockets (fresh source ports, so fresh flows) to the
# port nothing listens on: each must come back ECONNREFUSED, from the ICMP
# port unreachable the server sent, translated by the flow's worker.
UDP_REFUSED = r"""
import socket, sys
out = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((sys.argv[1], 54))
    s.send(b"anyone?")
    try:
        s.recv(2048)
        out.append("answered")
    except ConnectionRefusedError:
        out.append("refused")
    except OSError as e:
        out.append(type(e).__name__)
    s.close()
print(" ".join(out))
"""


def curl_sequential(vip, n):
    counts, failures = {}, 0
    for _ in range(n):
        who = lab.curl(CLI, f"http://{vip}/who", timeout=3)
        if who is None:
            failures += 1
        else:
            counts[who] = counts.get(who, 0) + 1
    return counts, failures


def curl_parallel(vip, n):
    """n curls at once; returns (answers, failures)."""
    procs = [subprocess.Popen(["ip", "netns", "exec", CLI, "curl", "-sS", "--max-time", "5", f"http://{vip}/who"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    answers, failures = [], 0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode == 0:
            answers.append(out.strip())
        else:
            failures += 1
    return answers, failures


with lab.netns(CLI, APP, SWE, SWI, *RSNS):
    ext, inside = lab.Segment(SWE), lab.Segment(SWI)
    ext.attach(CLI, "cli0")
    ext.attach(APP, "hp-ext", dpdk=True)
    inside.attach(APP, "hp-int", dpdk=True)
    for ns in RSNS:
        inside.attach(ns, "eth0")

    lab.run(["ip", "addr", "add", "10.10.0.1/24", "dev", "cli0"], ns=CLI)
    lab.run(["ethtool", "-K", "cli0", "rx", "off"], ns=CLI)   # verify checksums of what arrives
    for i, ns in enumerate(RSNS):
        lab.run(["ip", "addr", "add", f"{RS_IP[i]}/24", "dev", "eth0"], ns=ns)
        lab.run(["ethtool", "-K", "eth0", "rx", "off"], ns=ns)
        lab.run(["ip", "route", "add", "default", "via", "10.20.0.2"], ns=ns)   # nat: via haplane
        lab.run(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], ns=ns)   # every port unreachable, not 6 a second

    hp = lab.Haplane(config, ns=APP)
    servers = []
    try:
        for i, ns in enumerate(RSNS):
            servers.append(lab.http_server(ns, f"rs{i + 1}", port=80))
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        log = hp.output()
        report.check("Entering MASTER STATE" in log or lab.wait_for(
            lambda: hp.status()["vrrp"][0]["state"] == "MASTER", 10), "the VRRP instance holding the VIPs is MASTER")
        report.check("does not steer" not in log, "no warning that nat/fnat replies are not steered", log)
        resolved = lab.wait_for(lambda: all(n["mac"] for n in hp.status()["lb"]["neighbours"]), 10)
        report.check(resolved, "haplane resolved the real servers' MACs", str(hp.status()["lb"]))
        report.check(len(hp.status()["lb"]["handoffs"]["workers"]) == 2, "two workers",
                     str(hp.status()["lb"]["handoffs"]))

        for method in ("nat", "fnat"):
            counts, failures = curl_sequential(VIP[method], 60)
            # rr per worker: each worker's own rotation, so about 20 each
            report.check(failures == 0 and sorted(counts) == ["rs1", "rs2", "rs3"] and
                         all(18 <= n <= 22 for n in counts.values()),
                         f"{method}: 60 sequential requests through the VIP all answered, about 20 per server",
                         f"{counts} failures={failures}")
            answers, failures = [], 0
            for _ in range(3):
                a, f = curl_parallel(VIP[method], 10)
                answers += a
                failures += f
            report.check(failures == 0 and len(answers) == 30 and set(answers) == {"rs1", "rs2", "rs3"},
                         f"{method}: 3 x 10 parallel requests all answered",
                         f"answers={sorted(answers)} failures={failures}")

        r = lab.run(["/usr/bin/python3", "-c", UDP_REFUSED, VIP["nat"], "12"], ns=CLI, check=False)
        report.check(r.stdout.split() == ["refused"] * 12,
                     "icmp: 12 servers' port unreachables reached their flows' clients (ECONNREFUSED)",
                     r.stdout + r.stderr)

        st = hp.status()
        handoffs = st["lb"]["handoffs"]
        report.check(handoffs["sent"] > 0 and handoffs["received"] > 0 and
                     all(w["sent"] > 0 and w["received"] > 0 for w in handoffs["workers"]),
                     "status: both workers handed packets to the other (lb.handoffs)", str(handoffs))
        report.check(handoffs["sent"] == handoffs["received"], "status: every handoff was taken over",
                     str(handoffs))
        drops = st["lb"]["drops"]
        report.check(sum(drops.values()) == 0 and drops.get("handoff_full") == 0,
                     "no load-balancer drops (handoff_full is counted)", str(drops))
        by_name = {v["name"]: v for v in st["virtual_servers"]}
        report.check(all(by_name[n]["connections"] == 90 and by_name[n]["out_packets"] >= 90 * 3
                         for n in ("web-nat", "web-fnat")),
                     "status: 90 connections per service, replies counted", str(
                         {n: (by_name[n]["connections"], by_name[n]["out_packets"]) for n in ("web-nat", "web-fnat")}))
        seen_from = "".join(s.output() for s in servers)
        report.check(f"{LIP} - -" in seen_from, "fnat: the real servers saw the local address as the client",
                     seen_from[-2000:])
        # haplanectl connections asks both workers: every flow once, fnat's
        # with its local address and a port from its worker's own range.
        conns = json.loads(hp.ctl("connections", "--json").stdout)["connections"]
        per_vs = {}
        for c in conns:
            per_vs.setdefault(c["virtual_server"], []).append(c)
        fnat = per_vs.get("web-fnat", [])
        ports_of = {w: sorted(c["local_port"] for c in fnat if c["worker"] == w) for w in (0, 1)}
        report.check(len(per_vs.get("web-nat", [])) == 90 and len(fnat) == 90 and
                     {c["worker"] for c in conns} == {0, 1} and all(c.get("local_address") == LIP for c in fnat) and
                     all(ports_of.values()) and ports_of[0][-1] < ports_of[1][0],
                     "connections: 90 + 90 flows from both workers, fnat's local ports in each worker's range",
                     {vs: len(cs) for vs, cs in per_vs.items()} | {"fnat_ports": {w: (p[:1], p[-1:]) for w, p in ports_of.items()}})
        tables = hp.status()["lb"]["connection_table"]
        report.check(tables["entries"] == 2 * len(conns) and len(tables["workers"]) == 2 and
                     all(t["entries"] > 0 for t in tables["workers"]),
                     "status: connection_table entries, two per nat/fnat flow, on both workers", (tables, len(conns)))
    finally:
        for p in servers:
            p.stop()
        rc = hp.stop()
    report.check(rc == 0, "haplane stops with exit code 0", hp.output())
report.finish()
