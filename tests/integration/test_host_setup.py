#!/usr/bin/python3
"""Host set-up: scripts/setup-host.sh in --dry-run (what it would do), and
the systemd unit passing `systemd-analyze verify`."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
report = lab.Report()

r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup-host.sh"), "--dry-run", "--hugepages-2m", "512",
                    "lo", "0000:03:00.1"], capture_output=True, text=True)
out = r.stdout
report.check(r.returncode == 0, "setup-host --dry-run succeeds", r.stderr)
report.check("+ write /etc/sysctl.d/80-haplane-hugepages.conf: vm.nr_hugepages = 512" in out,
             "hugepages are reserved persistently (sysctl.d)", out)
report.check("+ modprobe vfio-pci" in out and "haplane-vfio.conf: vfio-pci" in out, "vfio-pci loaded now and at boot", out)
report.check("--bind=vfio-pci 0000:03:00.1" in out, "a PCI address is bound with dpdk-devbind", out)
report.check("+ ip link set lo down" in out, "an interface name is taken down before binding", out)
report.check(not os.path.exists("/etc/sysctl.d/80-haplane-hugepages.conf"),
             "--dry-run wrote nothing")
r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup-host.sh"), "--frobnicate"], capture_output=True,
                   text=True)
report.check(r.returncode == 2 and "unknown option" in r.stderr, "unknown options are refused", r.stderr)

if shutil.which("systemd-analyze"):
    d = tempfile.mkdtemp(prefix="hp-unit-")
    with open(os.path.join(ROOT, "scripts", "haplane.service")) as f:
        unit = f.read().replace("/usr/local/sbin/haplane", os.path.abspath(lab.HAPLANE))
    path = os.path.join(d, "haplane.service")
    with open(path, "w") as f:
        f.write(unit)
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
    problems = [l for l in (r.stdout + r.stderr).splitlines() if "haplane.service" in l]
    report.check(r.returncode == 0 and not problems, "the systemd unit passes systemd-analyze verify",
                 r.stdout + r.stderr)
    report.check("ExecReload=/bin/kill -HUP $MAINPID" in unit and "Restart=on-failure" in unit,
                 "reload is SIGHUP, restart on failure", unit)
report.finish()
