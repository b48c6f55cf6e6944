#!/usr/bin/python3
"""Health checks steering the load balancer, with real HTTP servers behind
the VIP (LVS-DR on one segment). The checks leave from the appliance's own
address through the kernel mirror, as keepalived's do through the kernel.

A server whose /health stops answering leaves the rotation after `fall`
failed checks, and no client request fails after that; it returns after
`rise` good ones."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
SW, CLI, LB = f"hp-sw-{tag}", f"hp-cli-{tag}", f"hp-lb-{tag}"
RS = [f"hp-rs{i}-{tag}" for i in (1, 2, 3)]
VIP = "10.30.0.100"
report = lab.Report()

CONFIG = f"""
global:
  router_id: lb-health
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
    vrid: 70
    priority: 255
    advert_interval: 100ms
    virtual_ipaddresses: [{VIP}/24]
virtual_servers:
  - name: web
    vip: {VIP}
    port: 80
    scheduler: rr
    method: dr
    real_servers:
""" + "".join(f"""      - address: 10.30.0.1{i}
        port: 80
        check: {{ type: http, path: /health, status: "200", interval: 300ms, timeout: 1s, rise: 2, fall: 2 }}
""" for i in (1, 2, 3))


def rs_server(i):
    d = lab.tempfile.mkdtemp(prefix="hp-rs-")
    for name, body in (("index.html", f"rs{i}"), ("health", "ok")):
        with open(os.path.join(d, name), "w") as f:
            f.write(body + "\n")
    return lab.Process(["/usr/bin/python3", "-m", "http.server", "--bind", "0.0.0.0", "80", "--directory", d],
                       ns=RS[i - 1])


def spread(n=30):
    answers = [lab.curl(CLI, f"http://{VIP}/", timeout=1) for _ in range(n)]
    return {a: answers.count(a) for a in set(answers)}


def health(hp, i):
    vs = hp.status()["virtual_servers"][0]
    return vs["real_servers"][i - 1]["healthy"]


with lab.netns(SW, CLI, LB, *RS):
    seg = lab.Segment(SW)
    seg.attach(CLI, "eth0")
    lab.run(["ip", "addr", "add", "10.30.0.1/24", "dev", "eth0"], ns=CLI)
    seg.attach(LB, "ext", dpdk=True)
    for i, ns in enumerate(RS, 1):
        seg.attach(ns, "eth0")
        lab.run(["ip", "addr", "add", f"10.30.0.1{i}/24", "dev", "eth0"], ns=ns)
        lab.run(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"], ns=ns)
        lab.run(["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"], ns=ns)
    servers = {i: rs_server(i) for i in (1, 2, 3)}
    for ns in RS:
        lab.wait_for(lambda ns=ns: ":80" in lab.run(["ss", "-ltn"], ns=ns).stdout, 5)
    hp = lab.Haplane(CONFIG, ns=LB)
    try:
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        report.check(lab.wait_for(lambda: all(health(hp, i) for i in (1, 2, 3)), 5), "all three servers healthy")
        lab.wait_for(lambda: all(n.get("mac") for n in hp.status()["lb"]["neighbours"]), 5)   # MACs resolved
        s = spread()
        report.check(s == {"rs1": 10, "rs2": 10, "rs3": 10}, "30 requests: 10 per server (rr)", s)

        servers[2].stop()
        t0 = time.monotonic()
        report.check(lab.wait_for(lambda: not health(hp, 2), 5), "rs2's checks fail: it is marked down", hp.output())
        took = time.monotonic() - t0
        # a refused connection fails at once; the bound allows for a timeout too
        report.check(took < 0.3 * 2 + 1.0 + 0.5, f"within fall x interval + timeout ({took:.2f}s)")
        report.check("Removing service [10.30.0.12]:tcp:80 from VS [10.30.0.100]:tcp:80" in hp.output(),
                     "logged as keepalived does", hp.output())
        s = spread()
        report.check(s.get(None, 0) == 0 and set(s) == {"rs1", "rs3"}, "no request fails; rs2 gets none", s)

        servers[2] = rs_server(2)
        report.check(lab.wait_for(lambda: health(hp, 2), 5), "rs2 answers again: back after rise checks")
        report.check("Adding service [10.30.0.12]:tcp:80 to VS [10.30.0.100]:tcp:80" in hp.output(),
                     "logged as keepalived does", hp.output())
        s = spread()
        report.check(s == {"rs1": 10, "rs2": 10, "rs3": 10}, "rs2 is back in the rotation", s)
        st = hp.status()
        report.check("health_checks" in st and st["health_checks"][0]["real_servers"][1]["check"] is not None,
                     "status carries the checks' state", st.get("health_checks"))
    finally:
        hp.stop()
        for p in servers.values():
            p.stop()
report.finish()
