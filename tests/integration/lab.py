"""Integration-test helpers: network namespaces, veths, the real haplane
daemon, and TAP-protocol reporting (one "ok"/"not ok" line per check).

Every process a test starts is stopped by PID, every namespace deleted,
also when the test fails."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HAPLANE = os.environ.get("HAPLANE", "build/programs/haplane")
HAPLANECTL = os.environ.get("HAPLANECTL", "build/programs/haplanectl")
EAL_TEST_ARGS = []   # the config's dpdk section carries what tests need


class Report:
    """TAP output for meson's 'tap' protocol."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        self.n += 1
        if not ok:
            self.failed += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}", flush=True)
        if not ok and detail:
            for line in str(detail).splitlines()[-40:]:
                print(f"# {line}", flush=True)
        return ok

    def bail(self, why):
        print(f"Bail out! {why}", flush=True)
        sys.exit(1)

    def finish(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


def run(cmd, ns=None, check=True, **kw):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@contextlib.contextmanager
def netns(*names):
    """Fresh namespaces (with lo up), deleted on exit whatever happens."""
    made = []
    try:
        for name in names:
            run(["ip", "netns", "del", name], check=False)
            run(["ip", "netns", "add", name])
            made.append(name)
            run(["ip", "link", "set", "lo", "up"], ns=name)
        yield names
    finally:
        for name in made:
            run(["ip", "netns", "del", name], check=False)


def veth(a, ns_a, b, ns_b):
    run(["ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b])
    run(["ip", "link", "set", a, "up"], ns=ns_a)
    run(["ip", "link", "set", b, "up"], ns=ns_b)


def prepare_dpdk_side(ifname, ns):
    """The kernel still sees every frame on a veth that DPDK's af_packet
    reads: keep it from answering for the appliance's addresses."""
    run(["sysctl", "-qw", f"net.ipv4.conf.{ifname}.arp_ignore=8"], ns=ns)
    run(["sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1"], ns=ns)


def offload_off(ifname, ns):
    """Kernel-sent TCP/UDP on a veth carries partial checksums unless TX
    offload is off; a DPDK reader would see them as bad."""
    run(["ethtool", "-K", ifname, "tx", "off"], ns=ns)


class Process:
    """A background process, stopped by PID."""

    def __init__(self, cmd, ns=None, log_path=None, **kw):
        if ns:
            cmd = ["ip", "netns", "exec", ns] + cmd
        self.log_path = log_path or tempfile.mktemp(prefix="hp-proc-", suffix=".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, **kw)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Haplane(Process):
    """The real daemon with a YAML config written to a temporary directory."""

    def __init__(self, config_yaml, ns=None, detail=False, extra=()):
        self.dir = tempfile.mkdtemp(prefix="hp-test-")
        self.socket = os.path.join(self.dir, "ctl.sock")
        self.config_path = os.path.join(self.dir, "haplane.yaml")
        with open(self.config_path, "w") as f:
            f.write(config_yaml.replace("@SOCKET@", self.socket).replace("@DIR@", self.dir))
        cmd = [HAPLANE, "-f", self.config_path, "-l"] + (["-D"] if detail else []) + list(extra)
        super().__init__(cmd, ns=ns, log_path=os.path.join(self.dir, "haplane.log"))
        self.ns = ns

    def ctl(self, *args, check=True):
        return run([HAPLANECTL, "-s", self.socket] + list(args), check=check)

    def status(self):
        return json.loads(self.ctl("status", "--json").stdout)

    def wait_ready(self, timeout=20):
        def ready():
            if not self.alive():
                return "exited"
            if not os.path.exists(self.socket):
                return None
            return "ready" if self.ctl("status", "--json", check=False).returncode == 0 else None
        return wait_for(ready, timeout) == "ready"

    def port(self, name):
        return next(p for p in self.status()["ports"] if p["name"] == name)


def dpdk_section(poll="adaptive"):
    return f"""  dpdk:
    lcores: "0-1"
    memory_mb: 256
    hugepages: false
    poll: {poll}
"""
