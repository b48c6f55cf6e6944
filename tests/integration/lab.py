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
    # Nothing routes back through it: the kernel drops what arrives there
    # instead of answering (with RSTs) for addresses the kernel mirror holds.
    run(["sysctl", "-qw", f"net.ipv4.conf.{ifname}.rp_filter=1"], ns=ns)


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


def dpdk_section(poll="adaptive", lcores="0-1"):
    return f"""  dpdk:
    lcores: "{lcores}"
    memory_mb: 256
    hugepages: false
    poll: {poll}
"""


class Segment:
    """An Ethernet segment: a bridge in its own namespace, and veths from it
    into the namespaces that plug in."""

    def __init__(self, ns, bridge="br0"):
        self.ns = ns
        self.bridge = bridge
        self.n = 0
        run(["ip", "link", "add", bridge, "type", "bridge"], ns=ns)
        # No STP, no forwarding delay, no multicast snooping: a plain hub-like switch.
        run(["ip", "link", "set", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0",
             "mcast_snooping", "0"], ns=ns)
        run(["ip", "link", "set", bridge, "up"], ns=ns)

    def attach(self, ns, ifname, dpdk=False):
        """A veth from the bridge to `ifname` in `ns`. dpdk=True: the end a
        DPDK af_packet port reads (the kernel there is told to keep out)."""
        self.n += 1
        peer = f"{self.bridge}p{self.n}"
        veth(peer, self.ns, ifname, ns)
        run(["ip", "link", "set", peer, "master", self.bridge], ns=self.ns)
        if dpdk:
            prepare_dpdk_side(ifname, ns)
        else:
            offload_off(ifname, ns)
        return ifname


class Keepalived(Process):
    """Debian's keepalived, VRRP only, with private pid files."""

    def __init__(self, conf_text, ns, name="ka"):
        self.dir = tempfile.mkdtemp(prefix=f"hp-{name}-")
        self.conf = os.path.join(self.dir, "keepalived.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        cmd = ["keepalived", "-n", "-l", "-D", "-P", "-f", self.conf,
               "--pid", os.path.join(self.dir, "k.pid"),
               "--vrrp_pid", os.path.join(self.dir, "v.pid"),
               "--checkers_pid", os.path.join(self.dir, "c.pid")]
        super().__init__(cmd, ns=ns, log_path=os.path.join(self.dir, "keepalived.log"))

    def kill9(self):
        """Like a crash: the VRRP child dies too, sends nothing."""
        for pidfile in ("v.pid", "k.pid"):
            try:
                with open(os.path.join(self.dir, pidfile)) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        return self.stop(signal.SIGKILL, timeout=5)

    def lines(self, needle):
        return [l for l in self.output().splitlines() if needle in l]

    def wait_log(self, needle, timeout, after=0):
        """Wait for the (after+1)-th line containing needle."""
        return wait_for(lambda: len(self.lines(needle)) > after, timeout)


def http_server(ns, body, port=8080, bind="::"):
    """python's http.server in `ns`, serving one file whose content says who answered."""
    d = tempfile.mkdtemp(prefix="hp-www-")
    with open(os.path.join(d, "who"), "w") as f:
        f.write(body + "\n")
    p = Process(["/usr/bin/python3", "-m", "http.server", "--bind", bind, str(port), "--directory", d], ns=ns)
    wait_for(lambda: f":{port}" in run(["ss", "-ltn"], ns=ns).stdout, 5)
    return p


def curl(ns, url, timeout=2):
    r = run(["curl", "-sS", "-g", "--max-time", str(timeout), url], ns=ns, check=False)
    return r.stdout.strip() if r.returncode == 0 else None
