#!/usr/bin/python3
"""Load balancing with real traffic: a client, haplane, a router and three
real servers running python's http.server, each answering with its name.

  client 10.10.0.1 ──┐ ext segment            int segment ┌── rs1 10.20.0.11
  router 10.10.0.254 ┼─────────── haplane ────────────────┼── rs2 10.20.0.12
                     │  hp-ext (af_packet)  (af_packet) hp-int ── rs3 10.20.0.13
                     └── router's other leg 10.20.0.254 ──┘

One haplane carries a service per method, all rr:
  10.10.0.100:80 dr    rs1 rs2 rs3           replies: server -> router -> client
  10.10.0.101:80 nat   rs1 rs2 rs3(weight 0) replies: server -> haplane (its gateway)
  10.10.0.102:80 fnat  rs1 rs2 rs3           replies: server -> local address 10.20.0.200
  10.10.0.103:80 tun   rs1 rs2 rs3           IPIP; the servers decapsulate in user space
                                             (this kernel has no ipip module)
  10.10.0.101:53 udp nat -> :5353            a UDP echo on each server
  10.10.0.101:54 udp nat -> :9               nothing listens: the servers' port
                                             unreachable must come back translated
  [fd10::100]:80 nat   IPv6 (real NS/NA resolution)
The VIPs belong to a VRRP instance (priority 255: MASTER at once). The real
servers hold the dr/tun VIPs on lo and send what comes from them via the
router (source routing); receivers verify checksums (rx offload off)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())[-5:]
CLI, APP, RTR = f"lbc-{tag}", f"lba-{tag}", f"lbr-{tag}"
SWE, SWI = f"lbse-{tag}", f"lbsi-{tag}"
RSNS = [f"lbs{i}-{tag}" for i in (1, 2, 3)]
RS_IP = ["10.20.0.11", "10.20.0.12", "10.20.0.13"]
RS_IP6 = ["fd20::11", "fd20::12", "fd20::13"]
VIP6 = "fd10::100"
VIP = {"dr": "10.10.0.100", "nat": "10.10.0.101", "fnat": "10.10.0.102", "tun": "10.10.0.103"}
LIP = "10.20.0.200"
report = lab.Report()

# A user-space IPIP decapsulator for a real server: IPv4-in-IPv4 from a raw
# socket, the inner packet written to a TUN device, so the kernel takes it
# as received (what the ipip module would do).
DECAP = r"""
import fcntl, os, socket, struct, subprocess
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"decap0", 0x0001 | 0x1000))   # TUNSETIFF, IFF_TUN|IFF_NO_PI
subprocess.run(["ip", "link", "set", "decap0", "up"], check=True)
subprocess.run(["sysctl", "-qw", "net.ipv4.conf.decap0.rp_filter=0"], check=True)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # the UDP echo of the nat udp service
u.bind(("0.0.0.0", 5353))
import threading
def echo():
    while True:
        data, peer = u.recvfrom(2048)
        u.sendto(NAME + b" " + data, peer)
threading.Thread(target=echo, daemon=True).start()
print("ready", flush=True)
while True:
    pkt = s.recv(65535)
    os.write(fd, pkt[(pkt[0] & 15) * 4:])
"""


def rs_entry(address, weight=1):
    return f"{{address: {address}, weight: {weight}}}"


config = f"""
global:
  router_id: lb-netns
  control_socket: "@SOCKET@"
  connections_per_lcore: 10000
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=hp-ext"
    addresses: [10.10.0.2/24, fd10::2/64]
    kernel_mirror: lb-ext
  - name: int
    device: "net_af_packet1,iface=hp-int"
    addresses: [10.20.0.2/24, fd20::2/64]
    kernel_mirror: lb-int
vrrp_instances:
  - name: VI_LB
    port: ext
    vrid: 61
    priority: 255
    advert_interval: 1s
    virtual_ipaddresses: [{VIP['dr']}/24, {VIP['nat']}/24, {VIP['fnat']}/24, {VIP['tun']}/24]
  - name: VI_LB6
    port: ext
    vrid: 62
    priority: 255
    advert_interval: 1s
    virtual_ipaddresses: [{VIP6}/64]
virtual_servers:
  - name: web-dr
    vip: {VIP['dr']}
    port: 80
    scheduler: rr
    method: dr
    real_servers: [{', '.join(rs_entry(a) for a in RS_IP)}]
  - name: web-nat
    vip: {VIP['nat']}
    port: 80
    scheduler: rr
    method: nat
    real_servers: [{rs_entry(RS_IP[0])}, {rs_entry(RS_IP[1])}, {rs_entry(RS_IP[2], 0)}]
  - name: web-fnat
    vip: {VIP['fnat']}
    port: 80
    scheduler: rr
    method: fnat
    local_addresses: [{LIP}]
    real_servers: [{', '.join(rs_entry(a) for a in RS_IP)}]
  - name: web-tun
    vip: {VIP['tun']}
    port: 80
    scheduler: rr
    method: tun
    real_servers: [{', '.join(rs_entry(a) for a in RS_IP)}]
  - name: echo
    vip: {VIP['nat']}
    port: 53
    protocol: udp
    scheduler: rr
    method: nat
    real_servers: [{', '.join("{address: " + a + ", port: 5353}" for a in RS_IP)}]
  - name: refused
    vip: {VIP['nat']}
    port: 54
    protocol: udp
    method: nat
    real_servers: [{{address: {RS_IP[0]}, port: 9}}]
  - name: web6
    vip: {VIP6}
    port: 80
    scheduler: rr
    method: nat
    real_servers: [{', '.join(rs_entry(a) for a in RS_IP6)}]
"""

# A UDP client: three datagrams to the echo service (three flows), and
# one to the port nothing listens on (ECONNREFUSED comes from the ICMP
# port unreachable, translated back to be about the client's datagram).
UDP_CLIENT = r"""
import socket, sys
out = []
for i in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((sys.argv[1], 53))
    s.send(b"ping%d" % i)
    try:
        out.append(s.recv(2048).decode())
    except OSError as e:
        out.append("error " + type(e).__name__)
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
    out.append("error " + type(e).__name__)
print("|".join(out))
"""


def sysctl(ns, *settings):
    for s in settings:
        lab.run(["sysctl", "-qw", s], ns=ns)


def curl_many(vip, n):
    counts = {}
    failures = 0
    for _ in range(n):
        who = lab.curl(CLI, f"http://{vip}/who", timeout=3)
        if who is None:
            failures += 1
        else:
            counts[who] = counts.get(who, 0) + 1
    return counts, failures


with lab.netns(CLI, APP, RTR, SWE, SWI, *RSNS):
    ext, inside = lab.Segment(SWE), lab.Segment(SWI)
    ext.attach(CLI, "cli0")
    ext.attach(APP, "hp-ext", dpdk=True)
    ext.attach(RTR, "r-ext")
    inside.attach(APP, "hp-int", dpdk=True)
    inside.attach(RTR, "r-int")
    for ns in RSNS:
        inside.attach(ns, "eth0")
    # The appliance namespace's kernel sees every frame on the DPDK veths
    # too, and holds the VIPs (on the mirror TAP): with a strict reverse-
    # path check on the veths (nothing routes through them) it drops them,
    # instead of answering the clients' SYNs with resets. A real NIC bound
    # to DPDK is invisible to the kernel.
    sysctl(APP, "net.ipv4.conf.hp-ext.rp_filter=1", "net.ipv4.conf.hp-int.rp_filter=1")

    lab.run(["ip", "addr", "add", "10.10.0.1/24", "dev", "cli0"], ns=CLI)
    lab.run(["ip", "addr", "add", "fd10::1/64", "dev", "cli0", "nodad"], ns=CLI)
    lab.run(["ip", "route", "add", "10.20.0.0/24", "via", "10.10.0.254"], ns=CLI)
    lab.run(["ethtool", "-K", "cli0", "rx", "off"], ns=CLI)          # verify checksums of what arrives
    lab.run(["ip", "addr", "add", "10.10.0.254/24", "dev", "r-ext"], ns=RTR)
    lab.run(["ip", "addr", "add", "10.20.0.254/24", "dev", "r-int"], ns=RTR)
    sysctl(RTR, "net.ipv4.ip_forward=1")
    for i, ns in enumerate(RSNS):
        lab.run(["ip", "addr", "add", f"{RS_IP[i]}/24", "dev", "eth0"], ns=ns)
        lab.run(["ip", "addr", "add", f"{RS_IP6[i]}/64", "dev", "eth0", "nodad"], ns=ns)
        lab.run(["ip", "-6", "route", "add", "default", "via", "fd20::2"], ns=ns)
        lab.run(["ethtool", "-K", "eth0", "rx", "off"], ns=ns)
        for vip in (VIP["dr"], VIP["tun"]):
            lab.run(["ip", "addr", "add", f"{vip}/32", "dev", "lo"], ns=ns)
            lab.run(["ip", "rule", "add", "from", vip, "lookup", "100"], ns=ns)
        sysctl(ns, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
               "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
               "net.ipv4.conf.eth0.rp_filter=0")
        lab.run(["ip", "route", "add", "default", "via", "10.20.0.2"], ns=ns)            # nat: via haplane
        lab.run(["ip", "route", "add", "default", "via", "10.20.0.254", "table", "100"], ns=ns)   # dr/tun

    hp = lab.Haplane(config, ns=APP)
    servers, decaps = [], []
    try:
        for i, ns in enumerate(RSNS):
            servers.append(lab.http_server(ns, f"rs{i + 1}", port=80))
            decaps.append(lab.Process(["/usr/bin/python3", "-c", DECAP.replace("NAME", repr(f"rs{i + 1}".encode()))],
                                      ns=ns))
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        master = lab.wait_for(lambda: hp.status()["vrrp"][0]["state"] == "MASTER", 10)
        report.check(master, "the VRRP instance holding the VIPs is MASTER", str(hp.status()["vrrp"]))
        resolved = lab.wait_for(lambda: all(n["mac"] for n in hp.status()["lb"]["neighbours"]), 10)
        report.check(resolved, "haplane resolved the real servers' MACs", str(hp.status()["lb"]))
        lab.wait_for(lambda: all("ready" in d.output() for d in decaps), 5)

        counts, failures = curl_many(VIP["dr"], 30)
        report.check(failures == 0 and counts == {"rs1": 10, "rs2": 10, "rs3": 10},
                     "dr: 30 requests through the VIP, 10 per real server (rr)", f"{counts} failures={failures}\n" +
                     hp.output())

        counts, failures = curl_many(VIP["nat"], 20)
        report.check(failures == 0 and counts == {"rs1": 10, "rs2": 10},
                     "nat: 20 requests, 10 each to rs1 and rs2, none to rs3 (weight 0)",
                     f"{counts} failures={failures}")

        counts, failures = curl_many(VIP["fnat"], 9)
        report.check(failures == 0 and counts == {"rs1": 3, "rs2": 3, "rs3": 3},
                     "fnat: 9 requests, 3 per real server", f"{counts} failures={failures}")
        seen_from = "".join(s.output() for s in servers)
        report.check(f"{LIP} - -" in seen_from, "fnat: the real servers saw the local address as the client",
                     seen_from[-2000:])

        counts, failures = curl_many(VIP["tun"], 9)
        report.check(failures == 0 and counts == {"rs1": 3, "rs2": 3, "rs3": 3},
                     "tun: 9 requests through IPIP, 3 per real server", f"{counts} failures={failures}")

        r = lab.run(["/usr/bin/python3", "-c", UDP_CLIENT, VIP["nat"]], ns=CLI, check=False)
        replies = r.stdout.strip().split("|")
        report.check(sorted(replies[:3]) == ["rs1 ping0", "rs2 ping1", "rs3 ping2"] or
                     sorted(x.split()[0] for x in replies[:3]) == ["rs1", "rs2", "rs3"],
                     "udp nat: three datagrams echoed by three servers", r.stdout + r.stderr)
        report.check(replies[-1:] == ["refused"],
                     "icmp: the server's port unreachable reached the client's socket (ECONNREFUSED)",
                     r.stdout + r.stderr)

        counts, failures = curl_many(f"[{VIP6}]", 6)
        report.check(failures == 0 and counts == {"rs1": 2, "rs2": 2, "rs3": 2},
                     "nat over IPv6: 6 requests, 2 per real server", f"{counts} failures={failures}")

        st = hp.status()
        by_name = {v["name"]: v for v in st["virtual_servers"]}
        dr = by_name["web-dr"]
        report.check(dr["connections"] == 30 and all(r["connections"] == 10 for r in dr["real_servers"]),
                     "status: dr counted 30 connections, 10 per real server", str(dr))
        report.check(dr["packets"] >= 30 * 4 and dr["bytes"] > 0 and dr["out_packets"] == 0,
                     "status: dr counted packets and bytes, one direction only", str(dr))
        nat = by_name["web-nat"]
        report.check(nat["in_packets"] >= 20 * 4 and nat["out_packets"] >= 20 * 3 and
                     nat["real_servers"][2]["connections"] == 0,
                     "status: nat counted both directions; the weight-0 server has no connections", str(nat))
        report.check(all(v["inactive_connections"] + v["active_connections"] > 0 for v in by_name.values()
                         if v["name"] != "refused"),
                     "status: connections are tracked (closing ones show as inactive)",
                     str({k: (v["active_connections"], v["inactive_connections"]) for k, v in by_name.items()}))
        refused = by_name["refused"]
        report.check(refused["in_packets"] == 1 and refused["out_packets"] == 1,
                     "status: the refused datagram went to the server and its ICMP error came back through haplane",
                     str(refused))
        drops = st["lb"]["drops"]
        report.check(sum(drops.values()) == 0, "no load-balancer drops", str(drops))
        text = hp.ctl("services").stdout
        report.check(re.search(r"10\.10\.0\.101:80\s+rr\s+nat", text) and "10.20.0.13:80" in text, "haplanectl services shows them",
                     text)
    finally:
        for p in servers + decaps:
            p.stop()
        rc = hp.stop()
    report.check(rc == 0, "haplane stops with exit code 0", hp.output())
report.finish()
