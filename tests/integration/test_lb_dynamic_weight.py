#!/usr/bin/python3
"""A `script` check with dynamic weight (keepalived's MISC_CHECK with
misc_dynamic) changes the share of traffic each real server gets.

  client 10.30.0.1 ──┐ one segment (LVS-DR, wrr)
  haplane 10.30.0.2 ─┼── rs1 10.30.0.11  rs2 10.30.0.12  rs3 10.30.0.13
                     └── each a python http.server answering with its name

Each real server (configured weight 1) has a script check that exits with
the number in a file of its own: exit 0 = up (weight unchanged), 1 = down,
2..255 = up with weight code - 2. The test rewrites the files and watches
who answers 40 fresh connections: smooth wrr is exact over a cycle, and a
weight change starts a new one, so the counts are exact too."""

import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
SW, CLI, LB = f"hp-sw-{tag}", f"hp-cli-{tag}", f"hp-lb-{tag}"
RS = [f"hp-rs{i}-{tag}" for i in (1, 2, 3)]
RS_IP = [f"10.30.0.1{i}" for i in (1, 2, 3)]
VIP = "10.30.0.100"
VS_LABEL = f"[{VIP}]:tcp:80"
report = lab.Report()

# The scripts' exit codes live here; world-readable in case script_user is set.
codes_dir = tempfile.mkdtemp(prefix="hp-dynw-")
os.chmod(codes_dir, 0o755)


def set_code(i, code):
    """Atomically: a script never reads a half-written file."""
    tmp = os.path.join(codes_dir, f".rs{i}")
    with open(tmp, "w") as f:
        f.write(f"{code}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(codes_dir, f"rs{i}"))


CONFIG = f"""
global:
  router_id: lb-dynweight
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
    vrid: 72
    priority: 255
    advert_interval: 100ms
    virtual_ipaddresses: [{VIP}/24]
virtual_servers:
  - name: web
    vip: {VIP}
    port: 80
    scheduler: wrr
    method: dr
    real_servers:
""" + "".join(f"""      - address: {RS_IP[i - 1]}
        port: 80
        weight: 1
        check: {{ type: script, script: "exit $(cat {codes_dir}/rs{i})", interval: 250ms, timeout: 1s, rise: 1, fall: 1 }}
""" for i in (1, 2, 3))


def spread(n=40):
    """n sequential requests, each curl a new connection (a new flow to schedule)."""
    answers = [lab.curl(CLI, f"http://{VIP}/who", timeout=2) for _ in range(n)]
    return {a: answers.count(a) for a in set(answers)}


def view(hp):
    """What an operator sees: per real server (current weight, effective weight,
    healthy) from `haplanectl services --json`, and the check's view (weight,
    configured weight) from `status --json`."""
    services = json.loads(hp.ctl("services", "--json").stdout)["virtual_servers"][0]["real_servers"]
    checks = hp.status()["health_checks"][0]["real_servers"]
    return {
        "weight": [r["weight"] for r in services],
        "effective": [r["effective_weight"] for r in services],
        "healthy": [r["healthy"] for r in services],
        "check_weight": [r["weight"] for r in checks],
        "configured": [r["configured_weight"] for r in checks],
        "check_healthy": [r["healthy"] for r in checks],
    }


def wait_weights(hp, effective, healthy=(True, True, True), timeout=5):
    def settled():
        v = view(hp)
        return v if v["effective"] == list(effective) and v["healthy"] == list(healthy) and \
            v["check_healthy"] == list(healthy) else None
    return lab.wait_for(settled, timeout, interval=0.1)


def logged(hp, line):
    return line in hp.output()


def weight_line(i, old, new, active=True):
    return (f"Changing weight from {old} to {new} for {'active' if active else 'inactive'} service "
            f"[{RS_IP[i - 1]}]:tcp:80 of VS {VS_LABEL}")


with lab.netns(SW, CLI, LB, *RS):
    seg = lab.Segment(SW)
    seg.attach(CLI, "eth0")
    lab.run(["ip", "addr", "add", "10.30.0.1/24", "dev", "eth0"], ns=CLI)
    seg.attach(LB, "ext", dpdk=True)
    for i, ns in enumerate(RS):
        seg.attach(ns, "eth0")
        lab.run(["ip", "addr", "add", f"{RS_IP[i]}/24", "dev", "eth0"], ns=ns)
        lab.run(["ip", "addr", "add", f"{VIP}/32", "dev", "lo"], ns=ns)
        lab.run(["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"], ns=ns)
    servers = [lab.http_server(ns, f"rs{i}", port=80) for i, ns in enumerate(RS, 1)]

    # Phase 1: weights 3, 1, 0 (exit 5, 3, 2: rs3 is up but drained).
    for i, code in ((1, 5), (2, 3), (3, 2)):
        set_code(i, code)
    hp = lab.Haplane(CONFIG, ns=LB)
    try:
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        lab.wait_for(lambda: all(n.get("mac") for n in hp.status()["lb"]["neighbours"]), 5)   # MACs resolved

        v = wait_weights(hp, [3, 1, 0])
        report.check(v, "exit codes 5, 3, 2: services --json shows effective weights 3, 1, 0, all healthy",
                     f"{view(hp)}\n{hp.output()}")
        v = v or view(hp)
        report.check(v["check_weight"] == [3, 1, 0] and v["configured"] == [1, 1, 1],
                     "status --json: the checks' weights are 3, 1, 0, the configured ones still 1", v)
        report.check(logged(hp, weight_line(1, 1, 3)) and logged(hp, weight_line(3, 1, 0)) and
                     f"service [{RS_IP[1]}]:tcp:80 of VS" not in hp.output(),
                     "each change is logged in keepalived's words (Changing weight from 1 to 3 ...); "
                     "rs2's weight did not change and is not", hp.output())
        report.check(not logged(hp, f"Removing service [{RS_IP[2]}]:tcp:80"),
                     "exit 2 (weight 0) is not a failure: rs3 is not removed", hp.output())
        text = hp.ctl("services").stdout
        report.check(re.search(rf"{re.escape(RS_IP[0])}:80\s+3\s+up", text) and
                     re.search(rf"{re.escape(RS_IP[2])}:80\s+0\s+up", text),
                     "haplanectl services shows the weights (rs1 3 up, rs3 0 up)", text)
        s = spread()
        report.check(s == {"rs1": 30, "rs2": 10}, "40 new connections: rs1 30, rs2 10, rs3 none (wrr 3:1:0)", s)

        # Phase 2: weights 1, 1, 2.
        for i, code in ((1, 3), (2, 3), (3, 4)):
            set_code(i, code)
        v = wait_weights(hp, [1, 1, 2])
        report.check(v, "files changed to 3, 3, 4: effective weights become 1, 1, 2", f"{view(hp)}\n{hp.output()}")
        report.check(logged(hp, weight_line(1, 3, 1)) and logged(hp, weight_line(3, 0, 2)),
                     "logged: Changing weight from 3 to 1 (rs1), from 0 to 2 (rs3)", hp.output())
        s = spread()
        report.check(s == {"rs1": 10, "rs2": 10, "rs3": 20}, "40 new connections: rs1 10, rs2 10, rs3 20 (wrr 1:1:2)",
                     s)

        # Phase 3: exit 1 takes rs3 out; exit 0 brings it back with its weight unchanged (2, not the configured 1).
        set_code(3, 1)
        v = wait_weights(hp, [1, 1, 0], healthy=(True, True, False))
        report.check(v, "rs3's script exits 1: rs3 is down, effective weight 0", f"{view(hp)}\n{hp.output()}")
        v = v or view(hp)
        report.check(v["weight"] == [1, 1, 2] and v["check_weight"] == [1, 1, 2],
                     "services --json and status --json keep rs3's weight (2) while it is down", v)
        report.check(logged(hp, f"Removing service [{RS_IP[2]}]:tcp:80 from VS {VS_LABEL}"),
                     "logged: Removing service [10.30.0.13]:tcp:80 from VS ...", hp.output())
        s = spread(20)
        report.check(s == {"rs1": 10, "rs2": 10}, "20 new connections: rs1 10, rs2 10, none to rs3 and none fail", s)

        set_code(3, 0)
        v = wait_weights(hp, [1, 1, 2])
        report.check(v, "rs3's script exits 0: rs3 is back, with its last weight 2 (exit 0 keeps the weight)",
                     f"{view(hp)}\n{hp.output()}")
        report.check(logged(hp, f"Adding service [{RS_IP[2]}]:tcp:80 to VS {VS_LABEL}"),
                     "logged: Adding service [10.30.0.13]:tcp:80 to VS ...", hp.output())
        s = spread()
        report.check(s == {"rs1": 10, "rs2": 10, "rs3": 20}, "40 new connections: rs1 10, rs2 10, rs3 20 again", s)

        st = hp.status()
        conns = [r["connections"] for r in st["virtual_servers"][0]["real_servers"]]
        report.check(conns == [60, 40, 40], "status counts the connections per server (60, 40, 40)", conns)
        report.check(sum(st["lb"]["drops"].values()) == 0, "no load-balancer drops", st["lb"]["drops"])
    finally:
        rc = hp.stop()
        for p in servers:
            p.stop()
        shutil.rmtree(codes_dir, ignore_errors=True)
    report.check(rc == 0, "haplane stops with exit code 0", hp.output())
report.finish()
