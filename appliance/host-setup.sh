#!/bin/bash
# Prepares a host for lxd containers; idempotent. Run by install.sh and by CI.
# Containers run as unprivileged host ids: root needs a subordinate uid/gid range for them
# (the same range Debian's lxd package grants).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "host-setup.sh: must run as root" >&2; exit 1; }

for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if ! grep -q '^root:' "$f"; then
    echo "root:1000000:1000000000" >> "$f"
    echo "host-setup.sh: added root:1000000:1000000000 to $f"
  fi
done
