#!/usr/bin/python3
"""virtual_routes in the dataplane's route table (and the kernel mirror's)
while MASTER: a real server behind a router is reached through the route's
gateway, by fnat, with real HTTP; the instance going FAULT takes the route
away from both tables, coming back puts it back.

  client 10.30.0.1 ── ext: haplane 10.30.0.2, VIP 10.30.0.100
                       int: haplane 10.20.0.2 (local address 10.20.0.200)
                            ── router 10.20.0.1 | 10.40.0.1 ── rs1 10.40.0.11
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
SWE, SWI, CLI, LB, RTR, RS = (f"hp-{n}-{tag}" for n in ("swe", "swi", "cli", "lb", "rtr", "rs"))
VIP = "10.30.0.100"
report = lab.Report()


def config(fault_file):
    return f"""
global:
  router_id: lb-routes
  control_socket: "@SOCKET@"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=ext"
    addresses: [10.30.0.2/24]
    kernel_mirror: ha-ext
  - name: int
    device: "net_af_packet1,iface=int"
    addresses: [10.20.0.2/24]
    kernel_mirror: ha-int
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 72
    priority: 255
    advert_interval: 100ms
    virtual_ipaddresses: [{VIP}/24]
    virtual_routes: ["10.40.0.0/24 via 10.20.0.1 dev int"]
    track_files: [{{ path: {fault_file}, weight: 0 }}]
virtual_servers:
  - name: web
    vip: {VIP}
    port: 80
    scheduler: rr
    method: fnat
    local_addresses: [10.20.0.200]
    real_servers:
      - address: 10.40.0.11
        port: 80
"""


def kernel_route():
    return lab.run(["ip", "route", "show", "10.40.0.0/24"], ns=LB).stdout.strip()


with lab.netns(SWE, SWI, CLI, LB, RTR, RS):
    ext, inside = lab.Segment(SWE), lab.Segment(SWI)
    ext.attach(CLI, "eth0")
    ext.attach(LB, "ext", dpdk=True)
    inside.attach(LB, "int", dpdk=True)
    inside.attach(RTR, "r-int")
    lab.veth("r-rs", RTR, "eth0", RS)
    lab.offload_off("r-rs", RTR)
    lab.offload_off("eth0", RS)
    lab.run(["sysctl", "-qw", "net.ipv4.conf.ext.rp_filter=1", "net.ipv4.conf.int.rp_filter=1"], ns=LB)
    lab.run(["ip", "addr", "add", "10.30.0.1/24", "dev", "eth0"], ns=CLI)
    lab.run(["ip", "addr", "add", "10.20.0.1/24", "dev", "r-int"], ns=RTR)
    lab.run(["ip", "addr", "add", "10.40.0.1/24", "dev", "r-rs"], ns=RTR)
    lab.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], ns=RTR)
    lab.run(["ip", "addr", "add", "10.40.0.11/24", "dev", "eth0"], ns=RS)
    lab.run(["ip", "route", "add", "default", "via", "10.40.0.1"], ns=RS)
    server = lab.http_server(RS, "rs1", port=80, bind="0.0.0.0")

    fault = os.path.join(lab.tempfile.mkdtemp(prefix="hp-routes-"), "fault")
    with open(fault, "w") as f:
        f.write("0\n")
    hp = lab.Haplane(config(fault), ns=LB)
    try:
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        master = lambda: hp.status()["vrrp"][0]["state"] == "MASTER"  # noqa: E731
        report.check(lab.wait_for(master, 5), "VI_1 is MASTER")
        routes = hp.status()["lb"]["routes"]
        report.check(routes == [{"destination": "10.40.0.0/24", "gateway": "10.20.0.1", "port": "int"}],
                     "the dataplane's route table holds the virtual route", routes)
        report.check(lab.wait_for(lambda: "via 10.20.0.1" in kernel_route(), 3),
                     "the kernel mirror has it too", kernel_route())
        hop = lambda: next((n for n in hp.status()["lb"]["neighbours"] if n["address"] == "10.20.0.1"), None)  # noqa: E731
        report.check(lab.wait_for(lambda: hop() and hop()["mac"], 5),
                     "the real server's next hop is the gateway, resolved on int", hp.status()["lb"]["neighbours"])
        answers = [lab.curl(CLI, f"http://{VIP}/who", timeout=2) for _ in range(5)]
        report.check(answers == ["rs1"] * 5, "HTTP through the VIP reaches the routed real server (fnat)", answers)

        with open(fault, "w") as f:
            f.write("1\n")
        report.check(lab.wait_for(lambda: hp.status()["vrrp"][0]["state"] == "FAULT", 3), "VI_1 goes FAULT")
        report.check(hp.status()["lb"]["routes"] == [], "the route leaves the dataplane's table",
                     hp.status()["lb"]["routes"])
        report.check(lab.wait_for(lambda: kernel_route() == "", 3), "and the kernel mirror", kernel_route())

        with open(fault, "w") as f:
            f.write("0\n")
        report.check(lab.wait_for(master, 5), "VI_1 is MASTER again")
        report.check(len(hp.status()["lb"]["routes"]) == 1 and "via 10.20.0.1" in kernel_route(),
                     "the route is back in both tables", (hp.status()["lb"]["routes"], kernel_route()))
        ok = lab.wait_for(lambda: lab.curl(CLI, f"http://{VIP}/who", timeout=1) == "rs1", 5)
        report.check(ok, "HTTP through the VIP works again")
    finally:
        report.check(hp.stop() == 0, "haplane stops with exit code 0")
        server.stop()
report.finish()
