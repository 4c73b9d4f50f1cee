#!/bin/bash
# One command from a fresh Debian 12 checkout to a running lxd:
# installs the build and runtime packages, builds dist/lxd, installs it as a service
# (appliance/install.sh) and applies the embedded defaults (`lxd init --auto`).
#   sudo appliance/setup.sh
set -euo pipefail

repo=$(dirname "$(dirname "$(readlink -f "$0")")")
cd "$repo"
[ "$(id -u)" = 0 ] || { echo "setup.sh: must run as root" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt-get update
# gcc/libc6-dev: the native helpers; busybox-static: `lxd image build busybox`; debootstrap:
# `lxd image build debian`; lxcfs: container-aware /proc files (meminfo, cpuinfo, ...);
# iproute2/nftables/dnsmasq-base: managed bridges, NAT, DHCP/DNS; kmod: linux.kernel_modules; lxd-client: the reference `lxc` client, which talks to this
# daemon too and is used by the compatibility tests; btrfs-progs: btrfs storage pools; rsync:
# moving instances and volumes between hosts (`lxd copy`/`move` to another server; both ends);
# libdqlite0: the cluster database; libssl3: its TLS between members (lxd-dqlite opens both).
apt-get install -y --no-install-recommends \
  ca-certificates gcc libc6-dev busybox-static xz-utils iproute2 kmod nftables dnsmasq-base file lxd-client \
  debootstrap lxcfs btrfs-progs squashfs-tools rsync libdqlite0 libssl3
command -v npm >/dev/null || apt-get install -y --no-install-recommends nodejs npm

npm ci
npm run build
appliance/install.sh dist/lxd
