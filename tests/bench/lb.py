#!/usr/bin/python3
"""Load-balancer forwarding rates of haplane against dpdk-testpmd
--forward-mode=macswap on the same vdevs and the same core, with and without
hugepages; then lb/'s own per-packet cost (no DPDK), bytes per connection
entry and the Maglev build time. Prints Markdown.

    tests/bench/lb.py [--rounds N] [--no-hugepages] [--no-rt] [--keep]

Root (hugepages, SCHED_FIFO). Needs HAPLANE, HAPLANECTL and BENCH_BIN (the
build's tests/bench) in the environment, as scripts/bench.sh sets them.

Layout, identical for haplane and testpmd: two net_pcap ports, EAL lcores
0-1 (0 = haplane's control thread / testpmd's main lcore, 1 = the one
worker / forwarding lcore). ext (net_pcap0) replays client traffic to
VIP 10.10.0.100:80 (one dr service, scheduler mh, four real servers);
int (net_pcap1) is the real servers' side: its RX file starts with their
ARP replies (so haplane learns their MACs before the measured phase; on a
net_null port nobody would answer its ARP requests) and its TX drops, as
net_null's would. haplane sends each forwarded frame out of int; testpmd
forwards ext -> int. Frames are 64 bytes, IPv4/TCP.

Scenarios (1 M = --flows):
  est_hot  established flows: int first plays SYNs of 1 M flows (the table
           fills to 1 M), ext replays a 16 K-frame file of ACKs of flows
           drawn at random from those 1 M, forever (infinite_rx: the
           frames live in mbufs, which bounds the file, so the lookups hit
           16 K random flows of the 1 M-flow table).
  est_all  established flows, all of them: ext plays a file of 1 M SYNs,
           then ACKs of flows drawn uniformly from all 1 M (libpcap reads
           the file, which costs the core about 100 ns a frame, for both).
  new      new flows: ext plays a file of SYNs, each a new flow; measured
           after the first 1 M, while the table grows from 1 M towards the
           capacity (connections_per_lcore = all of the file's flows).

Method: both programs run under SCHED_FIFO (unless --no-rt), so other work
on the box does not take the forwarding core. The harness samples, every
0.2 s, haplane's own counters (`haplanectl status --json`, int tx_packets)
or testpmd's (`show port stats all` on its console, port 1 TX-packets),
with host timestamps. The rate is packets / time over the window where the
measured phase runs (prefill done, file not exhausted). testpmd and haplane
alternate, cell after cell, --rounds times (4); the table has the median
of the rounds, and the median of each round's own ratio (haplane over the
testpmd run just before it), which a slow minute of the VM skews less.
A benchmark: it asserts nothing."""

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HAPLANE = os.environ.get("HAPLANE", "build/programs/haplane")
HAPLANECTL = os.environ.get("HAPLANECTL", "build/programs/haplanectl")
BENCH_BIN = os.environ.get("BENCH_BIN", "build/tests/bench")
TESTPMD = shutil.which("dpdk-testpmd") or "/usr/bin/dpdk-testpmd"

EXT_MAC, INT_MAC = "02:70:63:61:70:00", "02:70:63:61:70:01"   # net_pcap's MACs for pcap0 / pcap1
VIP, VPORT = "10.10.0.100", 80
INT_OWN = "10.20.0.2"
REAL_SERVERS = [(f"10.20.0.{11 + i}", f"02:00:00:00:01:{11 + i:02x}") for i in range(4)]
MEMORY_MB = 512
HUGEPAGES_NEEDED = MEMORY_MB // 2 + 64      # 2 MB pages, some room over -m
SAMPLE_S = 0.2
MBUFS = 32767                               # haplane's pool for 2 ports, 1 worker; testpmd gets the same


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def gen(*args):
    subprocess.run([os.path.join(BENCH_BIN, "lb_pcap_gen")] + [str(a) for a in args], check=True)


class Scenario:
    def __init__(self, name, label, ext, ext_infinite, int_file, int_frames, capacity, start_after, ext_total=None,
                 seconds=3.0):
        self.name, self.label = name, label
        self.ext, self.ext_infinite, self.int_file = ext, ext_infinite, int_file
        self.int_frames = int_frames        # int's file is consumed first (prefill)
        self.capacity = capacity
        self.start_after = start_after      # ext frames before the measured phase
        self.ext_total = ext_total          # frames in ext's file (None: infinite)
        self.seconds = seconds              # measured window for infinite ext


def make_files(work, flows, hot, acks, new):
    """The pcap files; returns the scenarios."""
    rs = [f"{a}={m}" for a, m in REAL_SERVERS]
    arp = os.path.join(work, "arp.pcap")
    gen("arp", arp, INT_MAC, INT_OWN, *rs)
    prefill = os.path.join(work, "prefill.pcap")
    gen("arp", prefill, INT_MAC, INT_OWN, *rs)
    gen("syn", prefill, INT_MAC, VIP, VPORT, 0, flows)
    hot_file = os.path.join(work, "hot.pcap")
    gen("ack", hot_file, EXT_MAC, VIP, VPORT, flows, hot, 7)
    est = os.path.join(work, "est.pcap")
    gen("syn", est, EXT_MAC, VIP, VPORT, 0, flows)
    gen("ack", est, EXT_MAC, VIP, VPORT, flows, acks, 42)
    new_file = os.path.join(work, "new.pcap")
    gen("syn", new_file, EXT_MAC, VIP, VPORT, 0, flows + new)
    n_rs = len(REAL_SERVERS)
    m = f"{flows / 1e6:g} M"
    return [
        Scenario("est_hot", f"established, {m} flows in the table, {hot // 1024} K of them replayed",
                 hot_file, True, prefill, n_rs + flows, flows, 0),
        Scenario("est_all", f"established, {m} flows in the table, all of them (file)",
                 est, False, arp, n_rs, flows, flows + flows // 5, ext_total=flows + acks),
        Scenario("new", f"new flows (a SYN each), table from {m} up",
                 new_file, False, arp, n_rs, flows + new + 1024, flows + flows // 5, ext_total=flows + new),
    ]


def eal_memory(huge):
    return ["-m", str(MEMORY_MB), "--in-memory"] if huge else ["-m", str(MEMORY_MB), "--no-huge", "--no-shconf"]


def vdevs(sc):
    ext = f"net_pcap0,rx_pcap={sc.ext}" + (",infinite_rx=1" if sc.ext_infinite else "")
    return ext, f"net_pcap1,rx_pcap={sc.int_file}"


def window_rate(samples, sc):
    """samples: (t, ext_rx, int_rx, tx). The measured phase: int's file
    consumed, ext past start_after and not exhausted (infinite: the first
    `seconds` of it after a 0.5 s warm-up). Returns (Mpps, seconds, packets)."""
    ok = [s for s in samples if s[2] >= sc.int_frames and s[1] >= sc.start_after]
    if sc.ext_total is not None:
        ok = [s for s in ok if s[1] < sc.ext_total - 1024]
    else:
        ok = [s for s in ok if s[0] >= ok[0][0] + 0.5] if ok else []
        ok = [s for s in ok if s[0] <= ok[0][0] + sc.seconds] if ok else []
    if len(ok) < 2:
        return None, 0.0, 0
    dt, dp = ok[-1][0] - ok[0][0], ok[-1][3] - ok[0][3]
    return dp / dt / 1e6, dt, dp


def done(samples, sc):
    """Enough: the file is exhausted, or the infinite window is covered."""
    if not samples:
        return False
    t, ext_rx, int_rx, _ = samples[-1]
    if sc.ext_total is not None:
        return ext_rx >= sc.ext_total or (len(samples) > 10 and samples[-10][1] == ext_rx)
    started = [s for s in samples if s[2] >= sc.int_frames and s[1] >= sc.start_after]
    return bool(started) and t >= started[0][0] + 0.5 + sc.seconds + SAMPLE_S


def all_cpus():
    """In the child: EAL places its lcores itself; the harness's own
    affinity (CPU 0) is not the programs'."""
    os.sched_setaffinity(0, range(os.cpu_count()))


def rt_prefix(rt):
    return ["chrt", "-f", "1"] if rt else []


class Haplane:
    def __init__(self, work, sc, huge, rt):
        self.dir = tempfile.mkdtemp(prefix="hp-", dir=work)
        self.socket = os.path.join(self.dir, "ctl.sock")
        ext, int_ = vdevs(sc)
        servers = ", ".join(f"{{address: {a}}}" for a, _ in REAL_SERVERS)
        conf = f"""global:
  router_id: bench
  control_socket: {self.socket}
  connections_per_lcore: {sc.capacity}
  dpdk:
    lcores: "0-1"
    memory_mb: {MEMORY_MB}
    hugepages: {"true" if huge else "false"}
    poll: busy
ports:
  - name: ext
    device: "{ext}"
    addresses: [10.10.0.2/24]
  - name: int
    device: "{int_}"
    addresses: [{INT_OWN}/24]
virtual_servers:
  - name: web
    vip: {VIP}
    port: {VPORT}
    scheduler: mh
    method: dr
    real_servers: [{servers}]
"""
        path = os.path.join(self.dir, "haplane.yaml")
        with open(path, "w") as f:
            f.write(conf)
        self.log_path = os.path.join(self.dir, "haplane.log")
        self.proc = subprocess.Popen(rt_prefix(rt) + [HAPLANE, "-f", path, "-l"], stdout=open(self.log_path, "w"),
                                     stderr=subprocess.STDOUT, preexec_fn=all_cpus)

    def status(self):
        r = subprocess.run([HAPLANECTL, "-s", self.socket, "status", "--json"], capture_output=True, text=True)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def sample(self):
        t0 = time.monotonic()
        st = self.status()
        t1 = time.monotonic()
        if not st:
            return None, None
        ports = {p["name"]: p for p in st["ports"]}
        return ((t0 + t1) / 2, ports["ext"]["rx_packets"], ports["int"]["rx_packets"], ports["int"]["tx_packets"]), st

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Testpmd:
    """testpmd on its console: 'show port stats all' on demand."""

    STATS = re.compile(r"NIC statistics for port (\d).*?RX-packets:\s+(\d+).*?TX-packets:\s+(\d+)", re.S)

    def __init__(self, work, sc, huge, rt):
        ext, int_ = vdevs(sc)
        # stdbuf: testpmd prints with stdio, block-buffered into a pipe.
        cmd = rt_prefix(rt) + ["stdbuf", "-o0", TESTPMD, "-l", "0,1", *eal_memory(huge), "--no-pci", "--no-telemetry",
                               "--log-level=*:warning", "--vdev", ext, "--vdev", int_, "--",
                               "-i", "--forward-mode=macswap", "--nb-cores=1", f"--total-num-mbufs={MBUFS}"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=all_cpus)
        self.buf, self.lock = "", threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self._wait_for("testpmd> ", 30)
        self.send("start")

    def _read(self):
        # Raw reads: the prompt ends in no newline.
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            with self.lock:
                self.buf += chunk.decode(errors="replace")

    def _wait_for(self, text, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if text in self.buf:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError("testpmd did not start:\n" + self.buf[-2000:])

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def sample(self):
        with self.lock:
            self.buf = ""
        t0 = time.monotonic()
        self.send("show port stats all")
        end = t0 + 2
        while time.monotonic() < end:
            with self.lock:
                found = self.STATS.findall(self.buf)
            if len(found) >= 2:
                t1 = time.monotonic()
                c = {int(p): (int(rx), int(tx)) for p, rx, tx in found}
                return ((t0 + t1) / 2, c[0][0], c[1][0], c[1][1]), None
            time.sleep(0.002)
        return None, None

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.send("stop")
                self.send("quit")
                self.proc.wait(20)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def measure(kind, work, sc, huge, rt):
    dut = (Haplane if kind == "haplane" else Testpmd)(work, sc, huge, rt)
    samples, last = [], None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not done(samples, sc):
            if kind == "haplane" and dut.proc.poll() is not None:
                raise RuntimeError("haplane exited:\n" + open(dut.log_path).read()[-2000:])
            s, st = dut.sample()
            if s:
                samples.append(s)
                last = st or last
            time.sleep(SAMPLE_S)
    finally:
        dut.stop()
    mpps, seconds, packets = window_rate(samples, sc)
    extra = {}
    if last:
        extra = {"drops": {k: v for k, v in last["lb"]["drops"].items() if v},
                 "connections": sum(v["connections"] for v in last["virtual_servers"])}
    return {"tool": kind, "scenario": sc.name, "hugepages": huge, "mpps": mpps, "window_s": round(seconds, 2),
            "packets": packets, **extra}


@contextlib.contextmanager
def hugepages(count):
    path = "/proc/sys/vm/nr_hugepages"
    before = int(open(path).read())
    try:
        if before < count:
            with open(path, "w") as f:
                f.write(str(count))
        have = int(open(path).read())
        yield have >= count
    finally:
        with open(path, "w") as f:
            f.write(str(before))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4, help="testpmd/haplane alternations per cell (median)")
    ap.add_argument("--flows", type=int, default=1_000_000)
    ap.add_argument("--hot", type=int, default=16384)
    ap.add_argument("--acks", type=int, default=12_000_000, help="ACK frames after the SYNs in est_all")
    ap.add_argument("--new", type=int, default=8_000_000, help="new flows after the first --flows in new")
    ap.add_argument("--no-hugepages", action="store_true", help="only the run without hugepages")
    ap.add_argument("--no-rt", action="store_true", help="no SCHED_FIFO for haplane and testpmd")
    ap.add_argument("--only", help="comma-separated scenarios (est_hot, est_all, new)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (pcaps, logs)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("lb.py: run as root (hugepages, SCHED_FIFO)")
    # SIGTERM too unwinds (programs stopped, hugepages given back, files removed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("lb.py: terminated"))
    # The harness and the haplanectl it runs stay off the forwarding core.
    os.sched_setaffinity(0, {0})
    rt = not args.no_rt
    started = datetime.datetime.now()
    load_before = os.getloadavg()
    work = tempfile.mkdtemp(prefix="haplane-bench-", dir="/dev/shm")
    results = []
    try:
        log(f"generating pcaps in {work} ...")
        scenarios = make_files(work, args.flows, args.hot, args.acks, args.new)
        if args.only:
            scenarios = [s for s in scenarios if s.name in args.only.split(",")]

        log("lb_forward_bench, maglev_bench ...")
        pin = ["taskset", "-c", "1"] + rt_prefix(rt)
        lb_alone = run_json(pin + [os.path.join(BENCH_BIN, "lb_forward_bench"), "--flows", str(args.flows),
                                   "--hot", str(args.hot)])
        micro = run_json(pin + [os.path.join(BENCH_BIN, "maglev_bench")])

        # Rounds outermost: whatever else the box does drifts over minutes,
        # and should touch every cell alike, not the hugepage half only.
        ctx = contextlib.nullcontext(False) if args.no_hugepages else hugepages(HUGEPAGES_NEEDED)
        with ctx as have_huge:
            if not args.no_hugepages and not have_huge:
                log("could not reserve hugepages: runs without hugepages only")
            modes = [False, True] if have_huge else [False]
            for r in range(args.rounds):
                for sc in scenarios:
                    for huge in modes:
                        for kind in ("testpmd", "haplane"):
                            res = measure(kind, work, sc, huge, rt)
                            res["round"] = r
                            log(json.dumps(res))
                            results.append(res)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")

    load_after = os.getloadavg()
    print(f"Run of {started:%Y-%m-%d %H:%M} ({os.uname().nodename}, {os.cpu_count()} cores; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
          f"{'SCHED_FIFO' if rt else 'normal scheduling'}; {args.rounds} round(s) per cell, median)")
    print()
    # Paired: each round's haplane run over the testpmd run just before it
    # (same cell, seconds apart), so a slow minute of the VM touches both.
    print("| traffic | hugepages | testpmd macswap Mpps | haplane Mpps | haplane / testpmd | "
          "median of the rounds' ratios | haplane ns/packet over testpmd | rounds: testpmd / haplane Mpps |")
    print("|---|---|---|---|---|---|---|---|")
    for sc in scenarios:
        for huge in (False, True):
            cell = [r for r in results if r["scenario"] == sc.name and r["hugepages"] == huge]
            if not cell:
                continue
            tp = [r["mpps"] for r in cell if r["tool"] == "testpmd" and r["mpps"]]
            hp = [r["mpps"] for r in cell if r["tool"] == "haplane" and r["mpps"]]
            tpm = statistics.median(tp) if tp else None
            hpm = statistics.median(hp) if hp else None
            ratio = hpm / tpm if tpm and hpm else None
            extra_ns = (1e3 / hpm - 1e3 / tpm) if tpm and hpm else None
            by_round = {}
            for r in cell:
                by_round.setdefault(r["round"], {})[r["tool"]] = r["mpps"]
            paired = [d["haplane"] / d["testpmd"] for d in by_round.values() if d.get("haplane") and d.get("testpmd")]
            paired_ratio = statistics.median(paired) if paired else None
            print(f"| {sc.label} | {'yes' if huge else 'no'} | {fmt(tpm)} | {fmt(hpm)} | {fmt(ratio)} | "
                  f"{fmt(paired_ratio)} | "
                  f"{fmt(extra_ns, 0)} | {', '.join(fmt(x) for x in tp)} / {', '.join(fmt(x) for x in hp)} |")
    print()
    print("lb/ alone (tests/bench/lb_forward_bench: dataplane::classify (parse, own addresses, claims), forward in "
          "bursts of 32; frames from memory, no DPDK; dr, mh, 4 real servers; table capacity 2 × flows):")
    print()
    print("| phase | table flows after | ns/packet | Mpps |")
    print("|---|---|---|---|")
    for r in lb_alone:
        print(f"| {r['phase']} | {r['table_flows']} | {r['ns_per_packet']:.1f} | {r['mpps']:.2f} |")
    print()
    entry = next(r for r in micro if r["what"] == "conn_entry")
    print(f"Connection entry: sizeof(Conn) = {entry['sizeof_conn']} bytes; ConnTable memory_bytes()/capacity at "
          f"{entry['capacity']} = {entry['bytes_per_entry']} bytes (index and wheel included).")
    print()
    print("| Maglev build, M = 65537 | median | min | max | runs |")
    print("|---|---|---|---|---|")
    for r in micro:
        if r["what"] == "maglev":
            w = ", weights 1–10" if r["weighted"] else ""
            print(f"| {r['backends']} real servers{w} | {r['median_us'] / 1000:.2f} ms | {r['min_us'] / 1000:.2f} ms | "
                  f"{r['max_us'] / 1000:.2f} ms | {r['runs']} |")


if __name__ == "__main__":
    main()
