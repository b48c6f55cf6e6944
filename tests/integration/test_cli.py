#!/usr/bin/python3
"""The command lines operators and scripts rely on (CONTRACT.md): haplane -t
and -d, their exit codes and FILE:LINE:COLUMN messages; haplanectl's errors
when no daemon is there."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

report = lab.Report()
d = tempfile.mkdtemp(prefix="hp-cli-")


def write(name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def haplane(*args):
    return subprocess.run([lab.HAPLANE] + list(args), capture_output=True, text=True)


good = write("good.yaml", """
global:
  router_id: lb1
ports:
  - name: ext
    device: "net_af_packet0,iface=veth0"
    addresses: [10.10.0.2/24]
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 51
    priority: 150
    virtual_ipaddresses: [10.10.0.100/24]
""")
r = haplane("-t", "-f", good)
report.check(r.returncode == 0 and r.stderr == "", "-t on a valid file: exit 0, silent", r.stderr)

bad = write("bad.yaml", """
global:
  router_id: lb1
  colour: blue
ports:
  - name: ext
    device: "net_af_packet0,iface=veth0"
vrrp_instances:
  - name: VI_1
    port: int
    vrid: 300
    priority: 150
    version: 3
    authentication: { type: PASS, password: "1111" }
    virtual_ipaddresses: [10.10.0.100/24, "fd00::1"]
""")
r = haplane("-t", "-f", bad)
lines = r.stderr.strip().splitlines()
report.check(r.returncode == 1, "-t on a bad file: exit 1", r.stderr)
expected = [
    f"{bad}:4:3: unknown key",
    f"{bad}:10:11: unknown port \"int\"",
    f"{bad}:11:11: vrrp_instances[0].vrid must be between 1 and 255",
    f"{bad}:14:21: authentication is only supported with VRRP version 2",
    f"{bad}:15:43: mixed address families",
]
for want in expected:
    report.check(any(l.startswith(want.split(": ", 1)[0] + ": ") and want.split(": ", 1)[1] in l for l in lines),
                 f"reported: {want}", r.stderr)
report.check(len(lines) == len(expected), f"all {len(expected)} problems at once, nothing else", r.stderr)

r = haplane("-f", bad)
report.check(r.returncode == 1 and "unknown key" in r.stderr, "running with a bad file refuses to start")

r = haplane("-d", "-f", good)
report.check(r.returncode == 0 and "advert_interval: 1s" in r.stdout and "poll: busy" in r.stdout,
             "-d prints the effective config with defaults", r.stdout)
dumped = write("dumped.yaml", r.stdout)
r2 = haplane("-t", "-f", dumped)
report.check(r2.returncode == 0, "the dump passes -t itself", r2.stderr)
r3 = haplane("-d", "-f", dumped)
report.check(r3.stdout == r.stdout, "dumping the dump changes nothing")

r = haplane("-t", "-f", os.path.join(d, "missing.yaml"))
report.check(r.returncode == 1 and "missing.yaml" in r.stderr, "a missing file is an error naming it", r.stderr)

r = subprocess.run([lab.HAPLANECTL, "-s", os.path.join(d, "nope.sock"), "status"], capture_output=True, text=True)
report.check(r.returncode == 1 and "is the daemon running?" in r.stderr,
             "haplanectl without a daemon says so and exits 1", r.stderr)
r = subprocess.run([lab.HAPLANECTL, "frobnicate"], capture_output=True, text=True)
report.check(r.returncode == 2 and "unknown command" in r.stderr, "haplanectl rejects unknown commands", r.stderr)
report.finish()
