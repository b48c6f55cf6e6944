#!/usr/bin/python3
"""VRRPv3 over IPv4 against Debian's real keepalived, on one Ethernet segment.

    client (10.88.0.10) ─┐
    keepalived (ka0 10.88.0.3, priority 100) ─┤ bridge
    haplane (hp0 via af_packet, 10.88.0.2, priority 150, kernel mirror ha0) ─┘

Both sides serve HTTP on the VIP 10.88.0.100 saying who they are, so the
client sees who holds the VIP. Asserted on haplane's status, keepalived's
own log lines, and what the client gets."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
SW, CLI, KA, HP = (f"hp-{n}-{tag}" for n in ("sw", "cli", "ka", "hp"))
VIP = "10.88.0.100"
report = lab.Report()

KEEPALIVED_CONF = """
global_defs {{
    router_id ka1
    vrrp_version 3
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface ka0
    virtual_router_id 51
    priority {prio}
    advert_int 0.1
    {preempt}
    virtual_ipaddress {{
        {vip}/24
    }}
}}
"""

HAPLANE_CONF = f"""
global:
  router_id: hp1
  control_socket: "@SOCKET@"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=hp0"
    addresses: [10.88.0.2/24]
    kernel_mirror: ha0
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 51
    priority: {{prio}}
    version: 3
    advert_interval: 100ms
    preempt: {{preempt}}
    use_vmac: true
    virtual_ipaddresses: [{VIP}/24]
    virtual_routes: ["10.200.0.0/16 via 10.88.0.3"]
    garp: {{{{ master_delay: 1s, master_repeat: 2 }}}}
"""


def vrrp_state(hp):
    try:
        return hp.status()["vrrp"][0]["state"]
    except Exception:
        return None


def vip_mac():
    out = lab.run(["ip", "neigh", "show", VIP], ns=CLI).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def who_has_vip():
    return lab.curl(CLI, f"http://{VIP}:8080/who", timeout=1)


with lab.netns(SW, CLI, KA, HP):
    seg = lab.Segment(SW)
    seg.attach(CLI, "cli0")
    seg.attach(KA, "ka0")
    seg.attach(HP, "hp0", dpdk=True)
    lab.run(["ip", "addr", "add", "10.88.0.10/24", "dev", "cli0"], ns=CLI)
    lab.run(["ip", "addr", "add", "10.88.0.3/24", "dev", "ka0"], ns=KA)
    webs = [lab.http_server(KA, "keepalived"), lab.http_server(HP, "haplane")]
    ka = hp = None
    try:
        # 1. keepalived alone becomes MASTER; the client reaches it on the VIP.
        ka = lab.Keepalived(KEEPALIVED_CONF.format(prio=100, preempt="", vip=VIP), KA)
        report.check(ka.wait_log("(VI_1) Entering MASTER STATE", 10), "keepalived alone becomes MASTER",
                     ka.output())
        report.check(lab.wait_for(lambda: who_has_vip() == "keepalived", 5), "the VIP answers from keepalived")

        # 2. haplane with a higher priority preempts it.
        hp = lab.Haplane(HAPLANE_CONF.format(prio=150, preempt="true"), ns=HP)
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        report.check(lab.wait_for(lambda: vrrp_state(hp) == "MASTER", 5), "haplane (150) preempts keepalived (100)",
                     hp.output())
        report.check(ka.wait_log("(VI_1) Entering BACKUP STATE", 5), "keepalived logs Entering BACKUP STATE",
                     ka.output())
        report.check(lab.wait_for(lambda: who_has_vip() == "haplane", 5), "the VIP now answers from haplane",
                     hp.output())
        report.check(vip_mac() == "00:00:5e:00:01:33", "the client reaches the VIP at the virtual MAC (use_vmac)",
                     lab.run(["ip", "neigh"], ns=CLI).stdout)
        st = hp.status()["vrrp"][0]
        report.check(st["effective_priority"] == 150 and st["master_ip"] == "10.88.0.2" and st["vrid"] == 51,
                     "haplane status: master_ip is its own address, priority 150", st)
        report.check(st["adverts_received"] > 0 and all(v == 0 for v in st["drops"].values()),
                     "haplane accepted keepalived's adverts without a single drop", st)
        report.check(not ka.lines("invalid") and not ka.lines("checksum"),
                     "keepalived found nothing wrong with haplane's adverts", ka.output())
        addrs = lab.run(["ip", "-o", "addr", "show", "dev", "ha0"], ns=HP).stdout
        report.check(f"{VIP}/24" in addrs, "the kernel mirror carries the VIP while MASTER", addrs)
        routes = lab.run(["ip", "route", "show", "10.200.0.0/16"], ns=HP).stdout
        report.check("via 10.88.0.3 dev ha0" in routes, "the virtual route is in the kernel while MASTER", routes)

        # 3. Graceful stop: priority 0, keepalived takes over after Skew_Time.
        before = len(ka.lines("Entering MASTER STATE"))
        t0 = time.monotonic()
        rc = hp.stop()
        report.check(rc == 0, "haplane stops with exit code 0", hp.output())
        report.check(ka.wait_log("Entering MASTER STATE", 3, after=before), "keepalived takes over after the stop",
                     ka.output())
        took = time.monotonic() - t0
        report.check(took < 1.0, f"keepalived took over fast ({took:.2f}s < 1s: priority 0, not a timeout)",
                     ka.output())
        report.check(ka.lines("priority 0"), "keepalived saw haplane's priority-0 advert", ka.output())
        report.check(lab.wait_for(lambda: who_has_vip() == "keepalived", 5), "the VIP answers from keepalived again")
        report.check("Entering BACKUP STATE" not in hp.output().split("Stopping")[-1],
                     "haplane did not linger as BACKUP after stopping", hp.output())

        # 4. haplane with a lower priority stays BACKUP; kill -9 of keepalived
        #    makes haplane MASTER after Master_Down_Interval.
        hp = lab.Haplane(HAPLANE_CONF.format(prio=50, preempt="true"), ns=HP)
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        time.sleep(1.0)
        report.check(vrrp_state(hp) == "BACKUP", "haplane (50) stays BACKUP under keepalived (100)", hp.status())
        report.check(hp.status()["vrrp"][0]["master_ip"] == "10.88.0.3", "haplane knows keepalived is master")
        lab.run(["ip", "neigh", "flush", "all"], ns=CLI)
        who_has_vip()
        ka_mac = lab.run(["cat", "/sys/class/net/ka0/address"], ns=KA).stdout.strip()
        report.check(vip_mac() == ka_mac, "as BACKUP haplane does not answer ARP for the VIP: keepalived does",
                     f"{vip_mac()} vs keepalived {ka_mac}")
        t0 = time.monotonic()
        ka.kill9()
        report.check(lab.wait_for(lambda: vrrp_state(hp) == "MASTER", 3), "after kill -9 of keepalived haplane is MASTER",
                     hp.output())
        took = time.monotonic() - t0
        # Master_Down_Interval = 3*100ms + (256-50)*100ms/256 = 380 ms
        # Master_Down_Interval after the last advert, which came up to one interval before the kill
        report.check(0.25 <= took <= 1.0, f"it took Master_Down_Interval ({took:.2f}s, expect 0.28-0.38s)")
        report.check(lab.wait_for(lambda: who_has_vip() == "haplane", 5), "the VIP answers from haplane")

        # 5. keepalived returns with a lower priority and preempt off: haplane keeps MASTER.
        ka = lab.Keepalived(KEEPALIVED_CONF.format(prio=100, preempt="nopreempt", vip=VIP), KA)
        time.sleep(1.5)
        report.check(vrrp_state(hp) == "MASTER", "haplane (50) stays MASTER over a nopreempt keepalived (100)",
                     hp.output())
        report.check(not ka.lines("Entering MASTER STATE"), "keepalived did not take over", ka.output())
        # 6. haplane with preempt: false under a lower-priority keepalived stays BACKUP.
        hp.stop()
        ka.stop()
        ka = lab.Keepalived(KEEPALIVED_CONF.format(prio=100, preempt="", vip=VIP), KA)
        ka.wait_log("(VI_1) Entering MASTER STATE", 5)
        hp = lab.Haplane(HAPLANE_CONF.format(prio=150, preempt="false"), ns=HP)
        hp.wait_ready()
        lab.wait_for(lambda: hp.status()["vrrp"][0]["master_ip"] == "10.88.0.3", 2)
        time.sleep(1.0)   # > Master_Down_Interval (0.36 s)
        report.check(vrrp_state(hp) == "BACKUP" and hp.status()["vrrp"][0]["transitions"] == 1,
                     "haplane (150, preempt: false) stays BACKUP under keepalived (100)", hp.output())
        # 7. keepalived stops gracefully: haplane takes over after Skew_Time.
        t0 = time.monotonic()
        ka.stop()
        report.check(lab.wait_for(lambda: vrrp_state(hp) == "MASTER", 2), "keepalived's priority 0 hands haplane the VIP",
                     hp.output())
        report.check("(VI_1) Backup received priority 0 advertisement" in hp.output(),
                     "haplane logs the priority-0 advert", hp.output())
        # 8. keepalived with a higher priority returns and preempts haplane.
        ka = lab.Keepalived(KEEPALIVED_CONF.format(prio=200, preempt="", vip=VIP), KA)
        report.check(ka.wait_log("(VI_1) Entering MASTER STATE", 5), "keepalived (200) preempts haplane (150)",
                     ka.output())
        report.check(lab.wait_for(lambda: vrrp_state(hp) == "BACKUP", 3), "haplane steps down to BACKUP", hp.output())
        report.check("(VI_1) Master received advert from 10.88.0.3 with higher priority 200, ours 150" in hp.output(),
                     "haplane logs it in keepalived's words", hp.output())
        report.check(lab.wait_for(lambda: who_has_vip() == "keepalived", 5), "the VIP answers from keepalived")
        addrs = lab.run(["ip", "-o", "addr", "show", "dev", "ha0"], ns=HP).stdout
        report.check(f"{VIP}/24" not in addrs, "the VIP left haplane's kernel mirror", addrs)
        routes = lab.run(["ip", "route", "show", "10.200.0.0/16"], ns=HP).stdout
        report.check(routes.strip() == "", "and so did the virtual route", routes)
    finally:
        for p in (hp, ka):
            if p:
                p.stop()
        for w in webs:
            w.stop()
report.finish()
