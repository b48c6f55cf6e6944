#!/usr/bin/python3
"""haplanectl against a running daemon: tables, JSON, stats --clear,
services --rate, reload outcomes."""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

from scapy.all import ARP, Ether, wrpcap  # noqa: E402

report = lab.Report()
work = lab.tempfile.mkdtemp(prefix="hp-ctl-")
rx, tx = os.path.join(work, "rx.pcap"), os.path.join(work, "tx.pcap")
wrpcap(rx, [Ether(src="02:00:00:00:00:02", dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc="10.0.0.2", pdst="10.0.0.1")] * 4)

CONFIG = f"""
global:
  router_id: ctl-test
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
    priority: 255
    advert_interval: 100ms
    virtual_ipaddresses: [10.0.0.100/24]
virtual_servers:
  - name: web
    vip: 10.0.0.100
    port: 80
    scheduler: rr
    real_servers:
      - {{ address: 10.0.0.11, port: 8080, weight: 3 }}
"""

hp = lab.Haplane(CONFIG)
try:
    if not hp.wait_ready():
        report.bail("haplane did not start:\n" + hp.output())
    lab.wait_for(lambda: hp.status()["vrrp"][0]["state"] == "MASTER", 3)
    lab.wait_for(lambda: hp.port("ext")["rx_packets"] == 4, 3)

    out = hp.ctl("status").stdout
    report.check("router_id: ctl-test" in out and "VI_1" in out and "MASTER" in out and "ext" in out,
                 "status prints instances, services and ports as tables", out)
    rows = [l for l in hp.ctl("vrrp").stdout.splitlines() if l.startswith("VI_1")]
    report.check(len(rows) == 1 and rows[0].split()[1:5] == ["MASTER", "51", "255", "255"],
                 "vrrp: one row per instance with state, VRID, priorities", rows)
    svc = hp.ctl("services").stdout
    report.check("TCP  10.0.0.100:80" in svc and "rr" in svc and "-> 10.0.0.11:8080" in svc,
                 "services looks like ipvsadm -Ln --stats", svc)
    j = json.loads(hp.ctl("vrrp", "--json").stdout)
    report.check(list(j) == ["vrrp"] and j["vrrp"][0]["name"] == "VI_1", "vrrp --json is the vrrp list", j)
    j = json.loads(hp.ctl("services", "--json").stdout)
    report.check(j["virtual_servers"][0]["real_servers"][0]["weight"] == 3, "services --json carries the weights", j)

    report.check(hp.port("ext")["rx_packets"] == 4, "4 frames counted before clearing")
    r = hp.ctl("stats", "--clear")
    report.check(r.returncode == 0 and "cleared" in r.stdout, "stats --clear answers", r.stdout + r.stderr)
    report.check(hp.port("ext")["rx_packets"] == 0 and hp.status()["vrrp"][0]["adverts_sent"] < 5,
                 "the port and VRRP counters start again from 0", hp.status())
    r = hp.ctl("connections", "--json")
    report.check(r.returncode == 0 and json.loads(r.stdout) == {"connections": [], "truncated": False} and
                 hp.ctl("connections").stdout.split()[:3] == ["pro", "expire", "state"],
                 "connections: none yet, ipvsadm -Lnc's header", r.stdout + r.stderr)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(hp.socket)
        s.sendall(b'{"command": "connections", "limit": -1}\n')
        answer = json.loads(s.makefile().readline())
    report.check(answer.get("error") == "connections: limit, from.worker and from.entry are numbers >= 0",
                 "connections: a bad request gets an error, not a crash", answer)
    r = hp.ctl("services", "--rate")
    report.check(r.returncode == 0 and "CPS" in r.stdout and "InPPS" in r.stdout and "10.0.0.100:80" in r.stdout,
                 "services --rate prints per-second rates", r.stdout + r.stderr)

    with open(hp.config_path) as f:
        good = f.read()
    with open(hp.config_path, "w") as f:
        f.write(good.replace("priority: 255", "priority: 300"))
    r = hp.ctl("reload", check=False)
    report.check(r.returncode == 1 and "priority must be between 1 and 255" in r.stderr,
                 "reload of a bad file: refused with FILE:LINE:COLUMN", r.stdout + r.stderr)
    report.check(hp.status()["vrrp"][0]["state"] == "MASTER", "and nothing changed")
    report.check("Reload refused" in hp.output(), "the refusal is logged", hp.output())
    # A good reload: VI_1's GARP settings change (no new election), VI_2 is new.
    before = hp.status()["vrrp"][0]
    with open(hp.config_path, "w") as f:
        f.write(good.replace("    virtual_ipaddresses: [10.0.0.100/24]\n",
                             "    virtual_ipaddresses: [10.0.0.100/24]\n    garp: { master_repeat: 2 }\n"
                             "  - name: VI_2\n    port: ext\n    vrid: 52\n    priority: 255\n"
                             "    advert_interval: 100ms\n    virtual_ipaddresses: [10.0.0.101/24]\n"))
    r = hp.ctl("reload", check=False)
    report.check(r.returncode == 0 and "reloaded" in r.stdout, "reload of a good file: applied", r.stdout + r.stderr)
    after = hp.status()["vrrp"]
    report.check(len(after) == 2 and after[0]["state"] == "MASTER" and after[0]["transitions"] == before["transitions"],
                 "VI_1 kept its state: no new election", after)
    report.check(lab.wait_for(lambda: hp.status()["vrrp"][1]["state"] == "MASTER", 2), "VI_2 started", hp.status())
    # A changed election setting restarts that instance only; ports cannot change.
    with open(hp.config_path, "w") as f:
        f.write(good.replace("addresses: [10.0.0.1/24]", "addresses: [10.0.0.5/24]"))
    r = hp.ctl("reload", check=False)
    report.check(r.returncode == 1 and "ports" in r.stderr and "need a restart" in r.stderr,
                 "a reload changing ports is refused: they need a restart", r.stdout + r.stderr)
    report.check(len(hp.status()["vrrp"]) == 2, "and nothing changed")
    hp.proc.send_signal(lab.signal.SIGHUP)   # SIGHUP does the same as haplanectl reload
    report.check(lab.wait_for(lambda: hp.output().count("Reload refused: changes to ports") == 2, 3),
                 "SIGHUP reloads too (and refuses the same way)", hp.output())
    with open(hp.config_path, "w") as f:
        f.write(good)
    r = hp.ctl("reload", check=False)
    report.check(r.returncode == 0 and len(hp.status()["vrrp"]) == 1, "reloading the first file removes VI_2",
                 hp.status())
finally:
    rc = hp.stop()
report.check(rc == 0, "haplane stops cleanly", hp.output())
report.finish()
