#!/usr/bin/env bash
# The two-command demo: installs what is missing, builds, and runs a lab in
# network namespaces, then tears it down.
#
#   scripts/demo.sh          run the demo and clean up
#   scripts/demo.sh --keep   leave the lab up and print how to poke it
#   scripts/demo.sh --ci     non-interactive, shorter pauses (CI runs it)
#
# The lab, on one Ethernet segment (a bridge):
#   client 10.10.0.1
#   lb1 (haplane, priority 150) 10.10.0.2   } VRRPv3 pair for VIP 10.10.0.100,
#   lb2 (haplane, priority 100) 10.10.0.3   } virtual MAC, 100 ms adverts
#   rs1..rs3 10.10.0.11-13: HTTP servers behind the VIP (LVS-DR, round robin)
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0 CI_MODE=0
for a in "$@"; do
  case "$a" in
    --keep) KEEP=1 ;;
    --ci) CI_MODE=1 ;;
    *) echo "usage: $0 [--keep|--ci]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "the demo needs root (network namespaces, TAP, DPDK)" >&2; exit 1; }

if [ -z "${HAPLANE:-}" ]; then
  scripts/deps.sh
  scripts/build.sh programs/haplane programs/haplanectl
  HAPLANE=$PWD/build/programs/haplane HAPLANECTL=$PWD/build/programs/haplanectl
fi
: "${HAPLANECTL:=$(dirname "$HAPLANE")/haplanectl}"

TAG=hpd$$
SW=$TAG-sw CLI=$TAG-client LB1=$TAG-lb1 LB2=$TAG-lb2
RS=("$TAG-rs1" "$TAG-rs2" "$TAG-rs3")
VIP=10.10.0.100
DIR=$(mktemp -d /tmp/haplane-demo.XXXXXX)
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pause() { [ "$CI_MODE" -eq 1 ] || sleep "$1"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in "$CLI" "$LB1" "$LB2" "${RS[@]}" "$SW"; do ip netns del "$ns" 2>/dev/null || true; done
}
[ "$KEEP" -eq 1 ] || trap cleanup EXIT

# --- the segment ---
ip netns add "$SW"
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
ip -n "$SW" link set br0 up
n=0
plug() {   # plug NS IFNAME [dpdk]
  local ns=$1 ifname=$2
  n=$((n + 1))
  ip netns add "$ns" 2>/dev/null || true
  ip -n "$ns" link set lo up
  ip link add "p$n" netns "$SW" type veth peer name "$ifname" netns "$ns"
  ip -n "$SW" link set "p$n" master br0 up
  ip -n "$ns" link set "$ifname" up
  if [ "${3:-}" = dpdk ]; then
    # DPDK reads this veth; its kernel side keeps out of the way.
    in_ns "$ns" sysctl -qw "net.ipv4.conf.$ifname.arp_ignore=8" "net.ipv6.conf.$ifname.disable_ipv6=1" \
      "net.ipv4.conf.$ifname.rp_filter=1"
  else
    in_ns "$ns" ethtool -K "$ifname" tx off >/dev/null
  fi
}
plug "$CLI" eth0
ip -n "$CLI" addr add 10.10.0.1/24 dev eth0
for i in 0 1 2; do
  ns=${RS[$i]} addr=10.10.0.1$((i + 1))
  plug "$ns" eth0
  ip -n "$ns" addr add "$addr/24" dev eth0
  # LVS-DR real server: the VIP on lo, never answered for on the wire.
  ip -n "$ns" addr add "$VIP/32" dev lo
  in_ns "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  mkdir -p "$DIR/www$i"
  echo "hello from rs$((i + 1)) ($addr)" > "$DIR/www$i/index.html"
  # Started directly (not through a shell function) so $! is the server itself.
  ip netns exec "$ns" python3 -m http.server --bind 0.0.0.0 80 --directory "$DIR/www$i" >/dev/null 2>&1 &
  PIDS+=($!)
done
plug "$LB1" ext dpdk
plug "$LB2" ext dpdk

lb_config() {   # lb_config NAME ADDRESS PRIORITY
  cat <<YAML
global:
  router_id: $1
  control_socket: $DIR/$1.sock
  dpdk: { lcores: "0-1", memory_mb: 256, hugepages: false, poll: adaptive }
ports:
  - name: ext
    device: "net_af_packet0,iface=ext"
    addresses: [$2/24]
    kernel_mirror: ha-ext
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 51
    priority: $3
    version: 3
    advert_interval: 100ms
    use_vmac: true
    virtual_ipaddresses: [$VIP/24]
virtual_servers:
  - name: web
    vip: $VIP
    port: 80
    protocol: tcp
    scheduler: rr
    method: dr
    real_servers:
      - { address: 10.10.0.11, port: 80 }
      - { address: 10.10.0.12, port: 80 }
      - { address: 10.10.0.13, port: 80 }
YAML
}
lb_config lb1 10.10.0.2 150 > "$DIR/lb1.yaml"
lb_config lb2 10.10.0.3 100 > "$DIR/lb2.yaml"

start_lb() {   # start_lb NAME NS -> sets LB_PID
  ip netns exec "$2" "$HAPLANE" -f "$DIR/$1.yaml" -l > "$DIR/$1.log" 2>&1 &
  LB_PID=$!
  PIDS+=("$LB_PID")
  for _ in $(seq 100); do
    "$HAPLANECTL" -s "$DIR/$1.sock" status --json >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 did not start:"; cat "$DIR/$1.log"; return 1
}
state_of() { "$HAPLANECTL" -s "$DIR/$1.sock" vrrp --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["vrrp"][0]["state"])' 2>/dev/null || echo DOWN; }
wait_state() {   # wait_state NAME STATE SECONDS
  for _ in $(seq $(( $3 * 10 ))); do [ "$(state_of "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
ask() { in_ns "$CLI" curl -s --max-time 1 "http://$VIP/" 2>/dev/null; }

say "Configs are checked before anything starts (haplane -t)"
"$HAPLANE" -t -f "$DIR/lb1.yaml" && "$HAPLANE" -t -f "$DIR/lb2.yaml" && echo "lb1.yaml and lb2.yaml are valid"

say "Starting lb1 (priority 150) and lb2 (priority 100)"
start_lb lb1 "$LB1"; LB1_PID=$LB_PID
start_lb lb2 "$LB2"; LB2_PID=$LB_PID
wait_state lb1 MASTER 5 || { echo "lb1 did not become MASTER"; exit 1; }
wait_state lb2 BACKUP 5 || true
echo "lb1 is $(state_of lb1), lb2 is $(state_of lb2)"
"$HAPLANECTL" -s "$DIR/lb1.sock" vrrp
pause 1

say "Ten requests to http://$VIP/ spread over the real servers (LVS-DR, round robin)"
sleep 1   # the real servers' MACs are resolved within a second of start
ok=0
for i in $(seq 10); do
  if out=$(ask); then echo "  request $i: $out"; ok=$((ok + 1)); else echo "  request $i: FAILED"; fi
done
echo "$ok of 10 answered"
"$HAPLANECTL" -s "$DIR/lb1.sock" services
[ "$ok" -ge 9 ] || { echo "the virtual service does not answer"; exit 1; }
pause 2

say "Failover: lb1 is stopped while the client keeps asking (one request every 20 ms)"
ip netns exec "$CLI" python3 - "$VIP" > "$DIR/traffic.log" 2>&1 <<'PY' &
import sys, time, urllib.request
vip, ok, failed, t_end = sys.argv[1], 0, 0, time.time() + 4.0
while time.time() < t_end:
    try:
        urllib.request.urlopen(f"http://{vip}/", timeout=0.5).read()
        ok += 1
    except Exception:
        failed += 1
    time.sleep(0.02)
print(f"{ok} {failed}")
PY
TRAFFIC=$!
sleep 1
kill -TERM "$LB1_PID"; wait "$LB1_PID" 2>/dev/null || true
wait_state lb2 MASTER 3 && echo "lb2 is now MASTER"
wait "$TRAFFIC" || true
read -r t_ok t_failed < "$DIR/traffic.log" || { t_ok=0; t_failed=999; }
echo "during the failover: $t_ok requests answered, $t_failed failed"
grep -E "\(VI_1\) (Backup received priority 0|Entering MASTER)" "$DIR/lb2.log" | sed 's/^/  lb2: /' || true
out=$(ask) && echo "  now: $out"
pause 2

say "lb1 returns and, with the higher priority, takes the VIP back"
start_lb lb1 "$LB1"; LB1_PID=$LB_PID
wait_state lb1 MASTER 5 && echo "lb1 is $(state_of lb1), lb2 is $(state_of lb2)"
out=$(ask) && echo "  now: $out"

if [ "$KEEP" -eq 1 ]; then
  cat <<EOT

The lab is up (namespaces $TAG-*). Try:
  ip netns exec $CLI curl http://$VIP/
  $HAPLANECTL -s $DIR/lb1.sock status
  $HAPLANECTL -s $DIR/lb2.sock vrrp
  less $DIR/lb1.log $DIR/lb2.log
Tear it down:
  kill ${PIDS[*]}; for ns in \$(ip netns list | awk '/^$TAG-/{print \$1}'); do ip netns del \$ns; done
EOT
  exit 0
fi

say "Tearing the lab down"
# Success: traffic kept flowing through the failover (a request or two in
# flight at the switch may fail), and lb1 is MASTER again.
[ "$t_ok" -gt 50 ] && [ "$t_failed" -le 5 ] && [ "$(state_of lb1)" = MASTER ]
