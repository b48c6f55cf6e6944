#!/usr/bin/env bash
# Benchmarks (not tests: they report, they do not assert). Root.
#   scripts/bench.sh failover [--repeat N]   VRRP failover time on the wire
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh programs/haplane programs/haplanectl
export HAPLANE=$PWD/build/programs/haplane HAPLANECTL=$PWD/build/programs/haplanectl
what=${1:-failover}
shift || true
case "$what" in
  failover) exec /usr/bin/python3 tests/bench/failover.py "$@" ;;
  *) echo "usage: $0 failover [--repeat N]" >&2; exit 2 ;;
esac
