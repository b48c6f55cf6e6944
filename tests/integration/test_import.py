#!/usr/bin/python3
"""`haplane import-keepalived` (CONTRACT.md, issue 6): the real binary on every
keepalived.conf of tests/data/keepalived (the seed configs and the samples),
then `haplane -t` on what it printed. YAML on stdout only, warnings on stderr,
exit 1 with an error when the file cannot be read. Where keepalived itself is
installed, its `-t` confirms the samples are keepalived configs, and the
samples Debian ships with it import too (read in place, not copied)."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

report = lab.Report()
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.normpath(os.path.join(here, "..", "data", "keepalived"))
tmp = tempfile.mkdtemp(prefix="hp-import-")


def haplane(*args):
    return subprocess.run([lab.HAPLANE] + list(args), capture_output=True, text=True)


def import_and_check(conf, label):
    """Imports `conf`; returns (import result, -t result, yaml path)."""
    r = haplane("import-keepalived", conf)
    out = os.path.join(tmp, os.path.basename(conf) + ".yaml")
    with open(out, "w") as f:
        f.write(r.stdout)
    t = haplane("-t", "-f", out)
    ok = (r.returncode == 0 and r.stdout.startswith("# haplane configuration imported")
          and t.returncode == 0 and t.stderr == "")
    report.check(ok, f"{label}: import exits 0 and its YAML passes haplane -t",
                 f"import rc={r.returncode}\n{r.stderr}\n{r.stdout}\n-t rc={t.returncode}\n{t.stderr}")
    # stderr holds only messages about the source, stdout only YAML.
    bad = [l for l in r.stderr.splitlines() if not re.match(r"^\S+?(:\d+)?: (warning|note): ", l)]
    report.check(not bad, f"{label}: stderr holds only FILE:LINE: warning/note lines", "\n".join(bad))
    return r, t, out


confs = sorted(glob.glob(os.path.join(data, "*.conf")))
report.check(len([c for c in confs if os.path.basename(c).startswith("seed-")]) >= 20,
             "the seed configs are there", "\n".join(confs))
for conf in confs:
    import_and_check(conf, os.path.basename(conf))

# What an operator sees for seed 000's master: the keywords without meaning,
# the port stub, and a config that, once the port is filled in, checks.
r, _, out = import_and_check(os.path.join(data, "seed-000-single-master.conf"), "seed 000 master again")
for want in ["seed-000-single-master.conf:10: warning: 'smtp_server' in global_defs has no haplane equivalent",
             "seed-000-single-master.conf:17: warning: port eth0: its addresses are empty",
             "note: ports: each device is a stub, \"net_af_packet0,iface=eth0\""]:
    report.check(want in r.stderr, f"stderr says: {want}", r.stderr)
filled = r.stdout.replace('device: "net_af_packet0,iface=eth0"', 'device: "0000:03:00.0"') \
                 .replace("addresses: []", "addresses: [192.168.0.201/24]")
path = os.path.join(tmp, "filled.yaml")
with open(path, "w") as f:
    f.write(filled)
t = haplane("-t", "-f", path)
report.check(t.returncode == 0 and filled != r.stdout, "with the ports filled in, -t still passes", t.stderr)
d = haplane("-d", "-f", path)
report.check(d.returncode == 0 and "vrid: 55" in d.stdout and "version: 2" in d.stdout
             and "type: PASS" in d.stdout and "1111" in d.stdout,
             "-d shows the imported instance: vrid 55, VRRPv2, PASS 1111", d.stdout)

# Errors: exit 1, a message, nothing on stdout.
r = haplane("import-keepalived", os.path.join(tmp, "missing.conf"))
report.check(r.returncode == 1 and r.stdout == "" and "error: cannot read the file" in r.stderr,
             "a missing file: exit 1 and an error", r.stderr)
r = haplane("import-keepalived", tmp)
report.check(r.returncode == 1 and r.stdout == "" and "it is a directory" in r.stderr,
             "a directory: exit 1 and an error", r.stderr)
r = haplane("import-keepalived")
report.check(r.returncode == 1 and "import-keepalived KEEPALIVED.CONF" in r.stderr,
             "no file: usage error", r.stderr)

# keepalived itself agrees that the samples are keepalived configs (the only
# complaint allowed is about interfaces this machine does not have).
keepalived = shutil.which("keepalived")
if keepalived:
    for conf in [c for c in confs if os.path.basename(c).startswith("sample-")]:
        k = subprocess.run([keepalived, "-t", "-f", conf], capture_output=True, text=True)
        complaints = [l for l in (k.stdout + k.stderr).splitlines()
                      if l.strip() and not re.search(r"doesn't exist|Non-existent interface", l)]
        report.check(not complaints, f"keepalived -t accepts {os.path.basename(conf)}", "\n".join(complaints))
    # The samples Debian ships with keepalived, read where they are.
    shipped = sorted(glob.glob("/usr/share/doc/keepalived/samples/keepalived.conf.*"))
    for conf in shipped:
        import_and_check(conf, "keepalived's own " + os.path.basename(conf))
else:
    print("# keepalived is not installed: its own checks are skipped")

shutil.rmtree(tmp, ignore_errors=True)
report.finish()
