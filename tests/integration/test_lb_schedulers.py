#!/usr/bin/python3
"""Every scheduler with real HTTP traffic (LVS-DR on one segment, three real
servers, one virtual service per scheduler on its own port): how new
connections spread is what a user would see with ipvsadm.

  81 rr   82 wrr (3:2:1)   83 lc   84 wlc (2:1:1)   85 sh   86 mh
  87 rr with persistence_timeout (a client sticks to its first server)"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
SW, CLI, LB = f"hp-sw-{tag}", f"hp-cli-{tag}", f"hp-lb-{tag}"
RS = [f"hp-rs{i}-{tag}" for i in (1, 2, 3)]
VIP = "10.30.0.100"
CLIENTS = [f"10.30.0.{40 + i}" for i in range(10)]   # sh: one client per address
report = lab.Report()

# One process per real server, answering its name on every port given.
SERVER = r"""
import http.server, socketserver, sys, threading
name = sys.argv[1].encode() + b"\n"
class Who(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True
for port in sys.argv[2:]:
    threading.Thread(target=Server(("0.0.0.0", int(port)), Who).serve_forever, daemon=True).start()
threading.Event().wait()
"""

SERVICES = [(81, "rr", (1, 1, 1)), (82, "wrr", (3, 2, 1)), (83, "lc", (1, 1, 1)), (84, "wlc", (2, 1, 1)),
            (85, "sh", (1, 1, 1)), (86, "mh", (1, 1, 1))]

CONFIG = f"""
global:
  router_id: lb-schedulers
  control_socket: "@SOCKET@"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=ext"
    addresses: [10.30.0.2/24]
    kernel_mirror: ha-ext
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 73
    priority: 255
    advert_interval: 100ms
    virtual_ipaddresses: [{VIP}/24]
virtual_servers:
""" + "".join(f"""  - name: {sched}
    vip: {VIP}
    port: {port}
    scheduler: {sched}
    method: dr
    real_servers:
""" + "".join(f"""      - {{ address: 10.30.0.1{i}, weight: {w} }}
""" for i, w in zip((1, 2, 3), weights)) for port, sched, weights in SERVICES) + f"""  - name: sticky
    vip: {VIP}
    port: 87
    scheduler: rr
    method: dr
    persistence_timeout: 60s
    real_servers: [{{ address: 10.30.0.11 }}, {{ address: 10.30.0.12 }}, {{ address: 10.30.0.13 }}]
"""
PORTS = [p for p, _, _ in SERVICES] + [87]


def spread(port, n, source=None):
    extra = ["--interface", source] if source else []
    answers = []
    for _ in range(n):
        r = lab.run(["curl", "-sS", "--max-time", "2"] + extra + [f"http://{VIP}:{port}/"], ns=CLI, check=False)
        answers.append(r.stdout.strip() if r.returncode == 0 else None)
    return {a: answers.count(a) for a in set(answers)}


with lab.netns(SW, CLI, LB, *RS):
    seg = lab.Segment(SW)
    seg.attach(CLI, "eth0")
    lab.run(["ip", "addr", "add", "10.30.0.1/24", "dev", "eth0"], ns=CLI)
    for a in CLIENTS:
        lab.run(["ip", "addr", "add", f"{a}/24", "dev", "eth0"], ns=CLI)
    seg.attach(LB, "ext", dpdk=True)
    servers = []
    for i, ns in enumerate(RS, 1):
        seg.attach(ns, "eth0")
        lab.run(["ip", "addr", "add", f"10.30.0.1{i}/24", "dev", "eth0"], ns=ns)
        lab.run(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"], ns=ns)
        lab.run(["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"], ns=ns)
        servers.append(lab.Process(["/usr/bin/python3", "-c", SERVER, f"rs{i}"] + [str(p) for p in PORTS],
                                   ns=ns))
    for ns in RS:
        lab.wait_for(lambda ns=ns: ":87" in lab.run(["ss", "-ltn"], ns=ns).stdout, 5)
    hp = lab.Haplane(CONFIG, ns=LB)
    try:
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        lab.wait_for(lambda: all(n.get("mac") for n in hp.status()["lb"]["neighbours"]), 5)

        s = spread(81, 12)
        report.check(s == {"rs1": 4, "rs2": 4, "rs3": 4}, "rr: 12 connections, 4 each", s)
        s = spread(82, 12)
        report.check(s == {"rs1": 6, "rs2": 4, "rs3": 2}, "wrr 3:2:1: 12 connections, 6/4/2", s)
        s = spread(83, 12)
        report.check(s == {"rs1": 4, "rs2": 4, "rs3": 4},
                     "lc: 12 sequential connections, each to the server with the fewest (4 each)", s)
        s = spread(84, 12)
        report.check(s.get(None, 0) == 0 and abs(s.get("rs1", 0) - 6) <= 1 and abs(s.get("rs2", 0) - 3) <= 1
                     and abs(s.get("rs3", 0) - 3) <= 1, "wlc 2:1:1: 12 connections, about 6/3/3", s)

        per_client = {a: spread(85, 3, source=a) for a in CLIENTS}
        report.check(all(len(s) == 1 and None not in s for s in per_client.values()),
                     "sh: each client address always reaches the same server", per_client)
        used = {next(iter(s)) for s in per_client.values()}
        report.check(len(used) >= 2, "sh: different clients land on different servers", used)

        s = spread(86, 60)
        report.check(s.get(None, 0) == 0 and len(s) == 3 and all(5 <= n <= 35 for n in s.values()),
                     "mh: 60 connections (new source ports) spread over the three servers", s)

        sticky = {a: spread(87, 4, source=a) for a in CLIENTS[:3]}
        report.check(all(len(s) == 1 and list(s.values()) == [4] for s in sticky.values()) and
                     len({next(iter(s)) for s in sticky.values()}) == 3,
                     "persistence: each client's 4 connections to one server, rr across clients", sticky)
        conns = json.loads(hp.ctl("connections", "--json").stdout)["connections"]
        templates = {c["client"]: c for c in conns if c.get("persistence_template")}
        report.check(sorted(templates) == sorted(CLIENTS[:3]) and
                     all(t["state"] == "NONE" and t["vip_port"] == 87 and t["client_port"] == 0 and
                         t["real_server"] == f"10.30.0.1{next(iter(sticky[a]))[-1]}" and 50 < t["expires_s"] <= 60
                         for a, t in templates.items()),
                     "connections lists the persistence templates (NONE, client:0 -> VIP:87 -> its server)",
                     list(templates.values()))
        vs = {v["name"]: v for v in hp.status()["virtual_servers"]}
        report.check([r["connections"] for r in vs["wrr"]["real_servers"]] == [6, 4, 2],
                     "status counts wrr's connections per server", vs["wrr"]["real_servers"])
        report.check(sum(v["connections"] for v in vs.values()) == 12 * 4 + 30 + 60 + 12,
                     "every connection is counted once", {k: v["connections"] for k, v in vs.items()})
    finally:
        report.check(hp.stop() == 0, "haplane stops with exit code 0")
        for p in servers:
            p.stop()
report.finish()
