#!/usr/bin/env bash
# Benchmarks (not tests: they report, they do not assert). Root.
#   scripts/bench.sh failover [--repeat N]   VRRP failover time on the wire
#   scripts/bench.sh lb [--rounds N] [--no-hugepages] [--no-rt]
#                                            load balancer: forwarding rates against
#                                            dpdk-testpmd macswap (with and without
#                                            hugepages), lb/ per-packet cost, bytes
#                                            per connection, Maglev build time
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh programs/haplane programs/haplanectl
export HAPLANE=$PWD/build/programs/haplane HAPLANECTL=$PWD/build/programs/haplanectl
what=${1:-failover}
shift || true
case "$what" in
  failover) exec /usr/bin/python3 tests/bench/failover.py "$@" ;;
  lb)
    scripts/build.sh tests/bench/maglev_bench tests/bench/lb_pcap_gen tests/bench/lb_forward_bench
    export BENCH_BIN=$PWD/build/tests/bench
    exec /usr/bin/python3 tests/bench/lb.py "$@" ;;
  *) echo "usage: $0 failover [--repeat N] | lb [--rounds N] [--no-hugepages] [--no-rt]" >&2; exit 2 ;;
esac
