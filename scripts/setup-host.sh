#!/usr/bin/env bash
# Prepares a host for haplane: hugepages (persistently), vfio-pci, and the
# NICs bound to DPDK with dpdk-devbind.py (from Debian's `dpdk` package).
#
#   scripts/setup-host.sh [--dry-run] [--hugepages-2m N] [--hugepages-1g N] [NIC ...]
#   scripts/setup-host.sh --status
#
# NIC: a PCI address (0000:03:00.1) or a kernel interface name (ens1f1).
# --dry-run prints every command instead of running it.
set -euo pipefail

DRY=0 PAGES_2M=1024 PAGES_1G=0 STATUS=0
NICS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --status) STATUS=1 ;;
    --hugepages-2m) PAGES_2M=$2; shift ;;
    --hugepages-1g) PAGES_1G=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "setup-host: unknown option $1" >&2; exit 2 ;;
    *) NICS+=("$1") ;;
  esac
  shift
done

run() {
  if [ "$DRY" -eq 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
write_file() {   # write_file PATH CONTENT
  if [ "$DRY" -eq 1 ]; then printf '+ write %s: %s\n' "$1" "$2"; else printf '%s\n' "$2" > "$1"; fi
}

DEVBIND=$(command -v dpdk-devbind.py || true)
if [ -z "$DEVBIND" ]; then
  echo "setup-host: dpdk-devbind.py not found (apt-get install dpdk)" >&2
  [ "$DRY" -eq 1 ] || exit 1
  DEVBIND=dpdk-devbind.py
fi

if [ "$STATUS" -eq 1 ]; then
  run "$DEVBIND" --status-dev net
  grep -i huge /proc/meminfo
  exit 0
fi

# Hugepages: now and at every boot.
write_file /etc/sysctl.d/80-haplane-hugepages.conf "vm.nr_hugepages = $PAGES_2M"
run sysctl -q -p /etc/sysctl.d/80-haplane-hugepages.conf
if [ "$PAGES_1G" -gt 0 ]; then
  if [ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ]; then
    write_file /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages "$PAGES_1G"
    echo "note: for 1 GB pages at boot add 'default_hugepagesz=1G hugepagesz=1G hugepages=$PAGES_1G' to the kernel command line"
  else
    echo "setup-host: this CPU/kernel has no 1 GB pages; skipped" >&2
  fi
fi
run mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages 2>/dev/null || run mount -t hugetlbfs nodev /dev/hugepages

# vfio-pci, now and at boot.
run modprobe vfio-pci
write_file /etc/modules-load.d/haplane-vfio.conf "vfio-pci"

# The NICs: interface names become PCI addresses; each is taken down and bound.
for nic in "${NICS[@]}"; do
  if [[ "$nic" =~ ^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]]; then
    pci=$nic
  else
    if [ -e "/sys/class/net/$nic/device" ]; then
      pci=$(basename "$(readlink -f "/sys/class/net/$nic/device")")
    elif [ "$DRY" -eq 1 ]; then
      pci="<pci-address-of-$nic>"
    else
      echo "setup-host: $nic is not a PCI network interface" >&2
      exit 1
    fi
    run ip link set "$nic" down
  fi
  run "$DEVBIND" --bind=vfio-pci "$pci"
  echo "port device for haplane.yaml: \"$pci\""
done
[ "$DRY" -eq 1 ] || "$DEVBIND" --status-dev net
