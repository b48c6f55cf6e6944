#!/usr/bin/python3
"""The kernel mirror, both directions, on real veths in network namespaces.

client ns (cli0, 10.77.0.1, fd77::1) <-veth-> app ns (hp0: DPDK af_packet)
                                               haplane -> TAP ha-ext (kernel)
An HTTP server in the appliance namespace listens on the appliance's own
address; curl from the client reaches it through veth -> net_af_packet ->
dataplane -> TAP -> kernel, and the answer goes TAP -> dataplane -> veth."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

tag = str(os.getpid())
CLI, APP = f"hp-cli-{tag}", f"hp-app-{tag}"
report = lab.Report()

config = f"""
global:
  router_id: netns-test
  control_socket: "@SOCKET@"
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_af_packet0,iface=hp0"
    addresses: [10.77.0.2/24, fd77::2/64]
    kernel_mirror: ha-ext
"""

with lab.netns(CLI, APP):
    lab.veth("cli0", CLI, "hp0", APP)
    lab.offload_off("cli0", CLI)
    lab.prepare_dpdk_side("hp0", APP)
    lab.run(["ip", "addr", "add", "10.77.0.1/24", "dev", "cli0"], ns=CLI)
    lab.run(["ip", "addr", "add", "fd77::1/64", "dev", "cli0", "nodad"], ns=CLI)

    pid_file = os.path.join(lab.tempfile.mkdtemp(prefix="hp-pid-"), "haplane.pid")
    hp = lab.Haplane(config.replace("control_socket", "state_dump_file: \"@DIR@/state.json\"\n  control_socket"),
                     ns=APP, extra=["--pid-file", pid_file])
    web = None
    try:
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        addrs = lab.run(["ip", "-o", "addr", "show", "dev", "ha-ext"], ns=APP).stdout
        report.check("10.77.0.2/24" in addrs and "fd77::2/64" in addrs,
                     "the TAP ha-ext carries the port's addresses (netlink)", addrs)
        link = lab.run(["ip", "-o", "link", "show", "dev", "ha-ext"], ns=APP).stdout
        mac = hp.port("ext")["mac"]
        report.check(",UP" in link and mac in link, "the TAP is up and wears the port's MAC",
                     f"{link}\nport mac {mac}")

        os.makedirs(os.path.join(hp.dir, "www"), exist_ok=True)
        with open(os.path.join(hp.dir, "www", "hello.txt"), "w") as f:
            f.write("hello from the appliance\n")
        web = lab.Process(["/usr/bin/python3", "-m", "http.server", "--bind", "::", "8080",
                           "--directory", os.path.join(hp.dir, "www")], ns=APP)
        lab.wait_for(lambda: ":8080" in lab.run(["ss", "-ltn"], ns=APP).stdout, 5)

        def curl(url):
            return lab.run(["curl", "-sS", "-g", "--max-time", "5", url], ns=CLI, check=False)

        r = curl("http://10.77.0.2:8080/hello.txt")
        report.check(r.returncode == 0 and "hello from the appliance" in r.stdout,
                     "HTTP over IPv4 to the appliance's own address works", r.stderr + hp.output())
        r = curl("http://[fd77::2]:8080/hello.txt")
        report.check(r.returncode == 0 and "hello from the appliance" in r.stdout,
                     "HTTP over IPv6 to the appliance's own address works", r.stderr + hp.output())

        neigh = lab.run(["ip", "neigh", "show", "10.77.0.2"], ns=CLI).stdout
        report.check(mac in neigh, "the client learnt the port MAC for 10.77.0.2 (dataplane ARP)", neigh)
        port = hp.port("ext")
        report.check(port["classes"]["to_kernel"] > 0 and port["from_kernel"] > 0,
                     "traffic crossed the mirror both ways",
                     f"to_kernel={port['classes']['to_kernel']} from_kernel={port['from_kernel']}")
        report.check(port["classes"]["arp_reply"] >= 1, "the dataplane answered ARP itself")
        report.check(port["classes"]["nd_reply"] >= 1, "the dataplane answered ND itself")
        with open(pid_file) as f:
            report.check(f.read().strip() == str(hp.proc.pid), "--pid-file holds the daemon's PID")
        hp.proc.send_signal(lab.signal.SIGUSR1)
        state_file = os.path.join(hp.dir, "state.json")
        report.check(lab.wait_for(lambda: os.path.exists(state_file) and os.path.getsize(state_file) > 0, 5),
                     "SIGUSR1 writes the state to global.state_dump_file")
        if os.path.exists(state_file):
            with open(state_file) as f:
                doc = lab.json.load(f)
            report.check(doc["router_id"] == "netns-test" and doc["ports"][0]["name"] == "ext" and
                         doc["ports"][0]["rx_packets"] > 0, "the dump is the status document", doc)
    finally:
        if web:
            web.stop()
        rc = hp.stop()
    report.check(rc == 0, "haplane stops with exit code 0", hp.output())
    gone = lab.run(["ip", "link", "show", "dev", "ha-ext"], ns=APP, check=False)
    report.check(gone.returncode != 0, "the TAP is gone after stop", gone.stdout)
    report.check(not os.path.exists(pid_file), "the PID file is removed on stop")
report.finish()
