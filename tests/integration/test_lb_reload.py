#!/usr/bin/python3
"""Reloading virtual servers under live traffic, a sorry server, and
expire_nodest_conn — with real servers (LVS-DR on one segment) and
long-lived TCP connections that talk every 200 ms through the VIP.

- A reload that leaves a service alone keeps its established connections
  on their servers; a removed service drains (its connection goes on, new
  ones are refused); a server added to a service takes new connections.
- All servers of a service down (quorum lost): the sorry server answers;
  one back: the servers answer again.
- With global.expire_nodest_conn, a connection to a server a reload removed
  is ended (the client sees a reset at once) instead of hanging on."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
SW, CLI, LB, SORRY = f"hp-sw-{tag}", f"hp-cli-{tag}", f"hp-lb-{tag}", f"hp-sorry-{tag}"
RS = [f"hp-rs{i}-{tag}" for i in (1, 2, 3)]
VIP = "10.30.0.100"
report = lab.Report()

ECHO_SERVER = r"""
import socketserver, sys
name, port = sys.argv[1], int(sys.argv[2])
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(f"{name}:{line.decode().strip()}\n".encode())
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", port), Echo).serve_forever()
"""

# One connection, a line every 200 ms; prints each answer, or why it ended.
TALKER = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
n = 0
while True:
    n += 1
    try:
        s.sendall(f"{n}\n".encode())
        data = s.recv(200)
        if not data:
            print("CLOSED", flush=True)
            break
        print(data.decode().strip(), flush=True)
    except Exception as e:
        print("ERROR", type(e).__name__, flush=True)
        break
    time.sleep(0.2)
"""


def web_service(servers, extra=""):
    return f"""  - name: web
    vip: {VIP}
    port: 80
    scheduler: rr
    method: dr
    quorum: 1
    sorry_server: {{ address: 10.30.0.19, port: 80 }}
    real_servers:
""" + "".join(f"""      - address: 10.30.0.1{i}
        port: 80
        check: {{ type: tcp, interval: 200ms, timeout: 1s, rise: 1, fall: 1 }}
""" for i in servers) + extra


def echo_service(name, port, servers):
    return f"""  - name: {name}
    vip: {VIP}
    port: {port}
    scheduler: rr
    method: dr
    real_servers:
""" + "".join(f"""      - address: 10.30.0.1{i}
        port: {port}
""" for i in servers)


def config(services, expire=False):
    return f"""
global:
  router_id: lb-reload
  control_socket: "@SOCKET@"
  expire_nodest_conn: {"true" if expire else "false"}
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=ext"
    addresses: [10.30.0.2/24]
    kernel_mirror: ha-ext
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 71
    priority: 255
    advert_interval: 100ms
    virtual_ipaddresses: [{VIP}/24]
virtual_servers:
""" + services


CONFIG_A = config(web_service((1, 2)) + echo_service("echo", 7000, (1, 2)) + echo_service("old", 7001, (3,)))
CONFIG_B = config(web_service((1, 2, 3)) + echo_service("echo", 7000, (1, 2)))


def config_c(keep):
    return config(web_service((1, 2, 3)) + echo_service("echo", 7000, (keep,)), expire=True)


def spread(n=12):
    answers = [lab.curl(CLI, f"http://{VIP}/who", timeout=1) for _ in range(n)]
    return {a: answers.count(a) for a in set(answers)}


class Talker(lab.Process):
    def __init__(self, port):
        super().__init__(["/usr/bin/python3", "-c", TALKER, VIP, str(port)], ns=CLI)

    def lines(self):
        return [line for line in self.output().splitlines() if line]

    def wait_lines(self, n, timeout=5):
        return lab.wait_for(lambda: len(self.lines()) >= n, timeout)

    def servers(self, since=0):
        return {line.split(":")[0] for line in self.lines()[since:]}


def reload(hp, text):
    with open(hp.config_path, "w") as f:
        f.write(text.replace("@SOCKET@", hp.socket))
    return hp.ctl("reload", check=False)


def connect_fails(port):
    r = lab.run(["/usr/bin/python3", "-c",
                 "import socket,sys; socket.create_connection(sys.argv[1:3], timeout=1)", VIP, str(port)],
                ns=CLI, check=False)
    return r.returncode != 0


with lab.netns(SW, CLI, LB, SORRY, *RS):
    seg = lab.Segment(SW)
    seg.attach(CLI, "eth0")
    lab.run(["ip", "addr", "add", "10.30.0.1/24", "dev", "eth0"], ns=CLI)
    seg.attach(LB, "ext", dpdk=True)
    for ns, address in [(RS[0], "10.30.0.11"), (RS[1], "10.30.0.12"), (RS[2], "10.30.0.13"), (SORRY, "10.30.0.19")]:
        seg.attach(ns, "eth0")
        lab.run(["ip", "addr", "add", f"{address}/24", "dev", "eth0"], ns=ns)
        lab.run(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"], ns=ns)
        lab.run(["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"], ns=ns)
    procs = []
    web = {i: lab.http_server(RS[i - 1], f"rs{i}", port=80, bind="0.0.0.0") for i in (1, 2, 3)}
    procs.append(lab.http_server(SORRY, "sorry", port=80, bind="0.0.0.0"))
    for i in (1, 2):
        procs.append(lab.Process(["/usr/bin/python3", "-c", ECHO_SERVER, f"rs{i}", "7000"], ns=RS[i - 1]))
    procs.append(lab.Process(["/usr/bin/python3", "-c", ECHO_SERVER, "rs3", "7001"], ns=RS[2]))
    for ns, port in ((RS[0], 7000), (RS[1], 7000), (RS[2], 7001)):
        lab.wait_for(lambda ns=ns, port=port: f":{port}" in lab.run(["ss", "-ltn"], ns=ns).stdout, 5)
    hp = lab.Haplane(CONFIG_A, ns=LB)
    talkers = []
    try:
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        lab.wait_for(lambda: all(n.get("mac") for n in hp.status()["lb"]["neighbours"]), 5)
        report.check(lab.wait_for(lambda: all(r["healthy"] for r in hp.status()["virtual_servers"][0]["real_servers"]),
                                  5), "web's servers are healthy")
        s = spread()
        report.check(s == {"rs1": 6, "rs2": 6}, "before the reload: web is rs1 and rs2", s)

        echo = Talker(7000)
        old = Talker(7001)
        talkers += [echo, old]
        report.check(echo.wait_lines(3) and old.wait_lines(3), "two long-lived connections talk through the VIP",
                     echo.output() + old.output())
        mine = echo.servers()
        report.check(len(mine) == 1 and mine <= {"rs1", "rs2"}, "the echo connection has one server", mine)
        mine = next(iter(mine))
        # haplanectl services, like ipvsadm -Ln: the echo flow is its service's
        # and its server's one active connection; web's 12 closed ones are inactive.
        table = hp.ctl("services").stdout
        rows = [line.split() for line in table.splitlines()]
        echo_at = next(i for i, r in enumerate(rows) if len(r) > 1 and r[1].endswith(":7000"))
        web_at = next(i for i, r in enumerate(rows) if len(r) > 1 and r[1] == f"{VIP}:80")
        echo_servers = [r for r in rows[echo_at + 1:] if r and r[0] == "->"][:2]
        report.check(rows[echo_at][4:6] == ["1", "0"] and sorted(r[4] for r in echo_servers) == ["0", "1"] and
                     rows[web_at][4:6] == ["0", "12"],
                     "services: ActConn / InActConn (echo 1 / 0 on one server, web 0 / 12)", table)
        # haplanectl connections, like ipvsadm -Lnc: each flow once, with its server and state.
        doc = json.loads(hp.ctl("connections", "--json").stdout)
        by_port = {}
        for c in doc["connections"]:
            by_port.setdefault(c["vip_port"], []).append(c)
        echo_c = by_port.get(7000, [{}])
        report.check(len(echo_c) == 1 and echo_c[0].get("state") == "ESTABLISHED" and
                     echo_c[0].get("real_server") == f"10.30.0.1{mine[-1]}" and echo_c[0].get("client") == "10.30.0.1" and
                     echo_c[0].get("expires_s", 0) > 800 and not doc["truncated"],
                     f"connections: the echo flow, ESTABLISHED, to {mine}, about 15 min to live", doc)
        web_c = by_port.get(80, [])
        report.check(len(web_c) == 12 and all(c["state"] == "FIN_WAIT" and c["virtual_server"] == "web" for c in web_c) and
                     {c["real_server"] for c in web_c} == {"10.30.0.11", "10.30.0.12"},
                     "connections: web's 12 closed flows, FIN_WAIT, on rs1 and rs2", web_c)
        table = hp.ctl("connections").stdout.splitlines()
        report.check(table[0].split()[:6] == ["pro", "expire", "state", "source", "virtual", "destination"] and
                     any(line.split()[2:5] == ["ESTABLISHED", f"10.30.0.1:{echo_c[0].get('client_port')}", f"{VIP}:7000"]
                         for line in table),
                     "connections prints ipvsadm -Lnc's columns", table)
        tables = hp.status()["lb"]["connection_table"]
        report.check(tables["entries"] == 14 == len(doc["connections"]) and tables["workers"][0]["capacity"] == 1000000 and
                     "haplane load balancer: 14 connection entries of 1000000 (1 worker(s))" in hp.ctl("services").stdout,
                     "status and services: 14 entries in the 1 M-entry table (dr: one per flow)", tables)
        few = json.loads(hp.ctl("connections", "--json", "--limit", "3").stdout)
        report.check(len(few["connections"]) == 3 and few["truncated"], "connections --limit 3: three, and says so", few)

        # --- reload: echo untouched, old removed, web gains rs3 ---
        vrrp_before = hp.status()["vrrp"][0]
        r = reload(hp, CONFIG_B)
        report.check(r.returncode == 0, "a reload changing virtual servers is applied", r.stdout + r.stderr)
        vrrp_after = hp.status()["vrrp"][0]
        report.check(vrrp_after["state"] == "MASTER" and vrrp_after["transitions"] == vrrp_before["transitions"],
                     "the VRRP instance is untouched (still MASTER, no new transition)", (vrrp_before, vrrp_after))
        mark_echo, mark_old = len(echo.lines()), len(old.lines())
        report.check(echo.wait_lines(mark_echo + 5) and echo.servers(mark_echo) == {mine},
                     f"the echo connection goes on, still to {mine}", echo.lines()[mark_echo:])
        report.check(old.wait_lines(mark_old + 5) and old.servers(mark_old) == {"rs3"},
                     "the removed service's connection drains: it goes on", old.lines()[mark_old:])
        report.check(connect_fails(7001), "a new connection to the removed service is refused")
        st = hp.status()
        names = [v["name"] for v in st["virtual_servers"]]
        report.check(names == ["web", "echo"], "status lists the config's services", names)
        draining = st["lb"]["draining"]
        report.check(any(d["virtual_server"] == "old" and d["service_removed"] and d["active_connections"] == 1
                         for d in draining), "status shows the removed service draining one connection", draining)
        report.check("Load balancer: virtual server old removed; its connections drain" in hp.output(),
                     "the reload is logged", hp.output())
        report.check(lab.wait_for(lambda: all(r["healthy"] for r in hp.status()["virtual_servers"][0]["real_servers"]),
                                  5), "rs3's check passes")
        lab.wait_for(lambda: all(n.get("mac") for n in hp.status()["lb"]["neighbours"]), 5)
        s = spread()
        report.check(s == {"rs1": 4, "rs2": 4, "rs3": 4}, "after the reload: web is rs1, rs2 and rs3", s)

        # --- all web servers down: the sorry server answers ---
        for i in (1, 2, 3):
            web[i].stop()
        report.check(lab.wait_for(lambda: hp.status()["virtual_servers"][0]["sorry_server"]["active"], 5),
                     "every server down: the quorum is lost, the sorry server stands in",
                     hp.status()["virtual_servers"][0])
        s = spread(6)
        report.check(s == {"sorry": 6}, "the sorry server answers every request", s)
        report.check("new connections go to its sorry server" in hp.output(), "logged", hp.output())
        table = hp.ctl("services").stdout
        report.check(any("10.30.0.19:80" in line and "sorry" in line for line in table.splitlines()),
                     "haplanectl services shows the sorry server at work", table)
        web[1] = lab.http_server(RS[0], "rs1", port=80, bind="0.0.0.0")
        report.check(lab.wait_for(lambda: not hp.status()["virtual_servers"][0]["sorry_server"]["active"], 5),
                     "rs1 is back: the quorum too")
        s = spread(6)
        report.check(s == {"rs1": 6}, "rs1 answers again, the sorry server no more", s)
        sorry = hp.status()["virtual_servers"][0]["sorry_server"]
        report.check(sorry["connections"] == 6, "the sorry server's connections are counted", sorry)

        # --- expire_nodest_conn: the echo connection's server leaves ---
        other = "rs2" if mine == "rs1" else "rs1"
        mark = len(echo.lines())
        t0 = time.monotonic()
        r = reload(hp, config_c(keep=int(other[-1])))
        report.check(r.returncode == 0, "reload with expire_nodest_conn, the echo connection's server removed",
                     r.stdout + r.stderr)
        ended = lab.wait_for(lambda: any(line.startswith(("ERROR", "CLOSED")) for line in echo.lines()[mark:]), 6)
        took = time.monotonic() - t0
        report.check(ended and "ERROR ConnectionResetError" in echo.lines(),
                     f"the connection to the removed server ends with a reset ({took:.1f} s), not a hang",
                     echo.lines()[mark:])
        report.check(hp.status()["lb"]["drops"]["dead_server"] >= 1, "counted as lb.drops.dead_server",
                     hp.status()["lb"]["drops"])
        again = Talker(7000)
        talkers.append(again)
        report.check(again.wait_lines(2) and again.servers() == {other},
                     f"a new echo connection goes to {other}", again.output())
    finally:
        for t in talkers:
            t.stop()
        report.check(hp.stop() == 0, "haplane stops with exit code 0")
        for p in list(web.values()) + procs:
            p.stop()
report.finish()
