#!/usr/bin/env bash
# The two-command demo: installs what is missing, builds, and runs a lab in
# network namespaces, then tears it down.
#
#   scripts/demo.sh          run the demo and clean up
#   scripts/demo.sh --keep   leave the lab up and print how to poke it
#   scripts/demo.sh --ci     non-interactive (same as the default; for CI)
#
# Today's lab: a client and one haplane node; the client reaches a web
# server on the appliance's own address through DPDK and the kernel mirror.
# (The VRRP pair, real servers and failover join as those features land.)
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
for a in "$@"; do
  case "$a" in
    --keep) KEEP=1 ;;
    --ci) ;;
    *) echo "usage: $0 [--keep|--ci]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (network namespaces, TAP, DPDK)" >&2; exit 1; }

scripts/deps.sh
scripts/build.sh programs/haplane programs/haplanectl

CLI=hpdemo-client APP=hpdemo-lb1
DIR=$(mktemp -d /tmp/haplane-demo.XXXXXX)
HP_PID="" WEB_PID=""

cleanup() {
  [ -n "$WEB_PID" ] && kill "$WEB_PID" 2>/dev/null || true
  if [ -n "$HP_PID" ]; then kill -TERM "$HP_PID" 2>/dev/null || true; wait "$HP_PID" 2>/dev/null || true; fi
  ip netns del "$CLI" 2>/dev/null || true
  ip netns del "$APP" 2>/dev/null || true
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ip netns del "$CLI" 2>/dev/null || true
ip netns del "$APP" 2>/dev/null || true
[ "$KEEP" -eq 1 ] || trap cleanup EXIT
ip netns add "$CLI"; ip netns add "$APP"
ip -n "$CLI" link set lo up; ip -n "$APP" link set lo up
ip link add cli0 netns "$CLI" type veth peer name lb1-ext netns "$APP"
ip -n "$CLI" link set cli0 up; ip -n "$APP" link set lb1-ext up
ip netns exec "$CLI" ethtool -K cli0 tx off >/dev/null
ip netns exec "$APP" sysctl -qw net.ipv4.conf.lb1-ext.arp_ignore=8 net.ipv6.conf.lb1-ext.disable_ipv6=1 net.ipv4.conf.lb1-ext.rp_filter=1
ip -n "$CLI" addr add 10.10.0.1/24 dev cli0

cat > "$DIR/lb1.yaml" <<YAML
global:
  router_id: lb1
  control_socket: $DIR/lb1.sock
  dpdk: { lcores: "0-1", memory_mb: 256, hugepages: false, poll: adaptive }
ports:
  - name: ext
    device: "net_af_packet0,iface=lb1-ext"
    addresses: [10.10.0.2/24]
    kernel_mirror: ha-ext
YAML

say "haplane -t checks the config"
build/programs/haplane -t -f "$DIR/lb1.yaml" && echo "valid"

say "Starting haplane (lb1) in namespace $APP"
ip netns exec "$APP" build/programs/haplane -f "$DIR/lb1.yaml" -l > "$DIR/lb1.log" 2>&1 &
HP_PID=$!
for _ in $(seq 100); do
  build/programs/haplanectl -s "$DIR/lb1.sock" status --json >/dev/null 2>&1 && break
  sleep 0.1
done
ip -n "$APP" -brief addr show dev ha-ext

say "A web server on the appliance's own address (host stack, via the TAP)"
mkdir -p "$DIR/www"; echo "hello from lb1" > "$DIR/www/index.html"
ip netns exec "$APP" python3 -m http.server --bind 10.10.0.2 80 --directory "$DIR/www" >/dev/null 2>&1 &
WEB_PID=$!
sleep 1

say "The client asks it: client -> veth -> DPDK -> TAP -> kernel, and back"
ok=0
for i in 1 2 3 4 5; do
  if out=$(ip netns exec "$CLI" curl -s --max-time 3 http://10.10.0.2/); then
    echo "request $i: $out"; ok=$((ok + 1))
  else
    echo "request $i: FAILED"
  fi
done
echo "$ok of 5 requests answered"

say "haplanectl status"
build/programs/haplanectl -s "$DIR/lb1.sock" status

if [ "$KEEP" -eq 1 ]; then
  cat <<EOT

The lab is up. Try:
  ip netns exec $CLI curl http://10.10.0.2/
  build/programs/haplanectl -s $DIR/lb1.sock status
  less $DIR/lb1.log
Tear it down:
  kill $WEB_PID; kill $HP_PID; ip netns del $CLI; ip netns del $APP
EOT
  exit 0
fi
say "Tearing the lab down"
[ "$ok" -eq 5 ]
