#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the unit suite,
# then the integration suite (root: network namespaces, TAPs, DPDK vdevs).
# Ends with one line: "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
scripts/build.sh || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

suites=(--suite unit)
if [ "$(id -u)" -eq 0 ]; then
  suites+=(--suite integration)
else
  echo "not root: skipping the integration suite"
fi

start=$(date +%s)
meson test -C build "${suites[@]}" --print-errorlogs --num-processes 1 "$@"
rc=$?
echo "suite time: $(( $(date +%s) - start ))s"

# The summary counts every GoogleTest case and every TAP check; a test
# program that failed without saying which case counts as one failure.
python3 - build/meson-logs/testlog.json <<'PY'
import json, re, sys
passed = failed = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout") or ""
    ok = len(re.findall(r"^\[       OK \] ", out, re.M)) + len(re.findall(r"^ok \d+", out, re.M))
    bad = len(re.findall(r"^\[  FAILED  \] \S+ \(", out, re.M)) + len(re.findall(r"^not ok \d+", out, re.M))
    if t["result"] == "SKIP":
        continue
    if t["result"] != "OK" and bad == 0:
        bad = 1
    if ok == 0 and bad == 0:
        ok = 1
    passed += ok
    failed += bad
print(f"{passed} passed, {failed} failed")
PY
exit $rc
