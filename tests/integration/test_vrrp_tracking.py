#!/usr/bin/python3
"""The seeds' scenarios with real keepalived as the peer: a vrrp_script
testing for a down-file lowers haplane's priority below keepalived's and
keepalived takes the VIP; removing the file gives it back. Tracked files
(weighted and weight 0 = FAULT), notify scripts and the notify FIFO (order
and arguments), and a sync group moving two instances on two ports together."""

import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
SW, CLI, KA, HP = (f"hp-{n}-{tag}" for n in ("sw", "cli", "ka", "hp"))
report = lab.Report()
work = lab.tempfile.mkdtemp(prefix="hp-track-")
os.chmod(work, 0o755)
DOWN, WEIGHT, FAULTY = (os.path.join(work, n) for n in ("down", "weight", "faulty"))
NOTIFY_LOG, ANY_LOG, FIFO = (os.path.join(work, n) for n in ("notify.log", "any.log", "notify.fifo"))


def script(name, body):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


NOTIFY = script("notify.sh", f'echo "$1" >> {NOTIFY_LOG}')
ANY = script("any.sh", f'echo "$*" >> {ANY_LOG}')


def keepalived_conf(instances):
    blocks = "".join(f"""
vrrp_instance {name} {{
    state BACKUP
    interface {iface}
    virtual_router_id {vrid}
    priority {prio}
    advert_int 0.1
    virtual_ipaddress {{
        {vip}/24
    }}
}}
""" for name, iface, vrid, prio, vip in instances)
    return "global_defs {\n    router_id ka1\n    vrrp_version 3\n}\n" + blocks


def lines(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def read_fifo():
    fd = os.open(FIFO, os.O_RDONLY | os.O_NONBLOCK)
    try:
        data = os.read(fd, 65536).decode()
    except BlockingIOError:
        data = ""
    os.close(fd)
    return data.splitlines()


def state(hp, i=0):
    try:
        return hp.status()["vrrp"][i]["state"]
    except Exception:
        return None


with lab.netns(SW, CLI, KA, HP):
    ext = lab.Segment(SW, "brext")
    intl = lab.Segment(SW, "brint")
    ext.attach(KA, "ka0")
    ext.attach(HP, "hp0", dpdk=True)
    intl.attach(KA, "ka1")
    intl.attach(HP, "hp1", dpdk=True)
    lab.run(["ip", "addr", "add", "10.91.0.3/24", "dev", "ka0"], ns=KA)
    lab.run(["ip", "addr", "add", "10.92.0.3/24", "dev", "ka1"], ns=KA)
    procs = []
    try:
        # --- 1. vrrp_script + track_script, notify, FIFO (the seeds' chk_main) ---
        ka = lab.Keepalived(keepalived_conf([("VI_1", "ka0", 61, 99, "10.91.0.100")]), KA)
        procs.append(ka)
        ka.wait_log("(VI_1) Entering MASTER STATE", 5)
        hp = lab.Haplane(f"""
global:
  router_id: hp1
  control_socket: "@SOCKET@"
  notify_fifo: {FIFO}
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=hp0"
    addresses: [10.91.0.2/24]
vrrp_scripts:
  chk_main:
    script: "[ -f {DOWN} ] && exit 1 || exit 0"
    interval: 200ms
    weight: -2
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 61
    priority: 100
    advert_interval: 100ms
    virtual_ipaddresses: [10.91.0.100/24]
    track_scripts: [chk_main]
    track_files:
      - {{ path: {WEIGHT}, weight: -10 }}
      - {{ path: {FAULTY}, weight: 0 }}
    notify:
      master: "{NOTIFY} master"
      backup: "{NOTIFY} backup"
      fault: "{NOTIFY} fault"
      any: "{ANY}"
""", ns=HP)
        procs.append(hp)
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        report.check(lab.wait_for(lambda: state(hp) == "MASTER", 5), "haplane (100) preempts keepalived (99)",
                     hp.output())
        report.check(lab.wait_for(lambda: lines(NOTIFY_LOG)[-1:] == ["master"], 3), "notify master ran",
                     lines(NOTIFY_LOG))

        open(DOWN, "w").close()   # the seeds: touch /etc/keepalived/down
        report.check(lab.wait_for(lambda: hp.status()["vrrp"][0]["effective_priority"] == 98, 3),
                     "the failing script lowers haplane to 98", hp.status()["vrrp"][0])
        report.check(ka.wait_log("Entering MASTER STATE", 5, after=1), "keepalived (99) takes the VIP",
                     ka.output())
        report.check(lab.wait_for(lambda: state(hp) == "BACKUP", 3), "haplane is BACKUP", hp.output())
        report.check("VRRP_Script(chk_main) failed" in hp.output(), "the script failure is logged in keepalived's words",
                     hp.output())
        os.unlink(DOWN)
        report.check(lab.wait_for(lambda: state(hp) == "MASTER", 5), "file removed: haplane preempts back",
                     hp.output())
        report.check(ka.wait_log("Entering BACKUP STATE", 3, after=1), "keepalived goes back to BACKUP", ka.output())

        # --- 2. track_files: weighted, then weight 0 = FAULT ---
        with open(WEIGHT, "w") as f:
            f.write("5\n")
        report.check(lab.wait_for(lambda: hp.status()["vrrp"][0]["effective_priority"] == 50, 2),
                     "a tracked file holding 5 with weight -10 takes 50 off", hp.status()["vrrp"][0])
        report.check(lab.wait_for(lambda: state(hp) == "BACKUP", 3), "and haplane (50) yields to keepalived (99)")
        os.unlink(WEIGHT)
        report.check(lab.wait_for(lambda: state(hp) == "MASTER", 5), "file gone: back to 100 and MASTER")
        t0 = time.monotonic()
        with open(FAULTY, "w") as f:
            f.write("1\n")
        report.check(lab.wait_for(lambda: state(hp) == "FAULT", 2), "a weight-0 tracked file holding 1 means FAULT",
                     hp.output())
        report.check(ka.wait_log("Entering MASTER STATE", 2, after=3), "keepalived takes over from the FAULT",
                     ka.output())
        report.check(time.monotonic() - t0 < 1.0, "at once: haplane resigned with priority 0")
        os.unlink(FAULTY)
        report.check(lab.wait_for(lambda: state(hp) == "MASTER", 5), "fault cleared: BACKUP, then MASTER again",
                     hp.output())

        # notify order and arguments
        time.sleep(0.3)
        report.check(lines(NOTIFY_LOG) == ["backup", "master", "backup", "master", "backup", "master", "fault",
                                           "backup", "master"],
                     "notify scripts ran in transition order", lines(NOTIFY_LOG))
        with open(ANY_LOG) as f:
            any_lines = f.read().splitlines()
        report.check(any_lines[:2] == ["INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100"] and
                     "INSTANCE VI_1 BACKUP 98" in any_lines and "INSTANCE VI_1 FAULT 100" in any_lines,
                     "notify any got INSTANCE name state priority", any_lines)
        fifo = read_fifo()
        report.check(fifo[:2] == ['INSTANCE "VI_1" BACKUP 100', 'INSTANCE "VI_1" MASTER 100'] and
                     'INSTANCE "VI_1" FAULT 100' in fifo, "the notify FIFO carries keepalived's lines", fifo)
        hp.stop()
        ka.stop()

        # --- 3. sync group: two instances on two ports move together ---
        ka = lab.Keepalived(keepalived_conf([("VI_1", "ka0", 62, 100, "10.91.0.100"),
                                             ("VI_2", "ka1", 63, 100, "10.92.0.100")]), KA)
        procs.append(ka)
        ka.wait_log("(VI_2) Entering MASTER STATE", 5)
        hp = lab.Haplane(f"""
global:
  router_id: hp1
  control_socket: "@SOCKET@"
  notify_fifo: {FIFO}
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=hp0"
    addresses: [10.91.0.2/24]
  - name: int
    device: "net_af_packet1,iface=hp1"
    addresses: [10.92.0.2/24]
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 62
    priority: 150
    advert_interval: 100ms
    virtual_ipaddresses: [10.91.0.100/24]
    track_files: [{{ path: {DOWN}, weight: -60 }}]
  - name: VI_2
    port: int
    vrid: 63
    priority: 150
    advert_interval: 100ms
    virtual_ipaddresses: [10.92.0.100/24]
sync_groups:
  - name: VG_1
    instances: [VI_1, VI_2]
""", ns=HP)
        procs.append(hp)
        hp.wait_ready()
        read_fifo()
        report.check(lab.wait_for(lambda: state(hp, 0) == "MASTER" and state(hp, 1) == "MASTER", 5),
                     "group: both haplane instances MASTER", hp.output())
        with open(DOWN, "w") as f:
            f.write("1\n")
        report.check(lab.wait_for(lambda: state(hp, 0) == "BACKUP" and state(hp, 1) == "BACKUP", 5),
                     "VI_1 loses its election (90 < 100) and VI_2 follows it to BACKUP", hp.output())
        report.check(ka.wait_log("(VI_2) Entering MASTER STATE", 3, after=1),
                     "keepalived's VI_2 takes over although haplane's VI_2 kept priority 150", ka.output())
        before = [i["transitions"] for i in hp.status()["vrrp"]]
        time.sleep(1.5)
        after = [i["transitions"] for i in hp.status()["vrrp"]]
        report.check(before == after and state(hp, 1) == "BACKUP",
                     "VI_2 stays BACKUP: no flapping while VI_1 hears a better master", f"{before} -> {after}")
        os.unlink(DOWN)
        report.check(lab.wait_for(lambda: state(hp, 0) == "MASTER" and state(hp, 1) == "MASTER", 5),
                     "file removed: the group is MASTER again", hp.output())
        fifo = read_fifo()
        report.check('GROUP "VG_1" BACKUP' in fifo and 'GROUP "VG_1" MASTER' in fifo,
                     "the FIFO has the group's lines", fifo)
    finally:
        for p in procs:
            p.stop()
report.finish()
