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

# Bad packets must never read or write outside their buffers: the parsers and
# the load balancer's fast path once more, built with ASan and UBSan (their own
# build directory, -O0: it builds in about a minute), on every crafted and
# mutated frame of their tests (LbWorkerBadInput, Parse.RandomMutations...).
asan_targets=(tests/unit/packet_test tests/unit/dataplane_test tests/unit/lb_forwarding_test tests/unit/lb_steer_test)
logs=(build/meson-logs/testlog.json)
if { [ -f build-asan/build.ninja ] ||
     meson setup build-asan --werror --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null; } &&
   ninja -C build-asan -j"$(nproc)" "${asan_targets[@]}" >/dev/null; then
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --no-rebuild --print-errorlogs packet dataplane lb_forwarding lb_steer || rc=1
  logs+=(build-asan/meson-logs/testlog.json)
else
  echo "sanitizer build failed"
  rc=1
  asan_failed=1
fi
echo "suite time: $(( $(date +%s) - start ))s"

# The summary counts every GoogleTest case and every TAP check; a test
# program that failed without saying which case counts as one failure.
ASAN_FAILED=${asan_failed:-0} python3 - "${logs[@]}" <<'PY'
import json, os, re, sys
passed = 0
failed = int(os.environ["ASAN_FAILED"])   # the sanitizer build itself failed
for line in (l for path in sys.argv[1:] for l in open(path)):
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
