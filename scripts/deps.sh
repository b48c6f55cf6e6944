#!/usr/bin/env bash
# Installs the Debian 12 packages haplane needs to build, test and demo.
# Idempotent and quiet when everything is already there.
set -euo pipefail

PACKAGES=(
  build-essential g++ meson ninja-build pkg-config
  libdpdk-dev dpdk-dev dpdk
  libnl-3-dev libnl-route-3-dev libyaml-cpp-dev libboost-program-options-dev
  nlohmann-json3-dev libfmt-dev libgtest-dev libpcap-dev
  python3 python3-scapy python3-prometheus-client iproute2 ethtool curl keepalived tcpdump procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# keepalived is a test peer, never a service on this box.
if command -v systemctl >/dev/null && systemctl is-active -q keepalived 2>/dev/null; then
  $SUDO systemctl disable --now keepalived >/dev/null 2>&1 || true
fi
