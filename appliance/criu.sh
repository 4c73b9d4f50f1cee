#!/bin/bash
# Provides CRIU 4.x (stateful snapshots and stop, live migration) without touching the host's
# packages: Debian 12's criu 3.17 fails on current kernels ("Unexpected rt vDSO area bounds"), so
# this unpacks Debian trixie's criu (4.1.1) and its libraries into DIR with debootstrap, once, and
# writes DIR/criu, a wrapper that runs it through that tree's own dynamic loader. CRIU must not run
# chrooted (it sees the host's mounts) and the loader is exec'd so the pid stays the caller's child.
# Point the daemon at the wrapper with LXD_CRIU=DIR/criu (or put it on PATH as `criu`).
#
#   appliance/criu.sh [DIR]      default DIR: /var/cache/lxd-test/criu
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "criu.sh: must run as root (debootstrap)" >&2; exit 1; }
dir=${1:-/var/cache/lxd-test/criu}
mirror=${CRIU_MIRROR:-http://deb.debian.org/debian}

if [ -x "$dir/criu" ] && "$dir/criu" --version >/dev/null 2>&1; then
  "$dir/criu" --version | head -1
  exit 0
fi
mkdir -p "$(dirname "$dir")"
# Concurrent callers (parallel test files) wait for the first one's tree.
exec 9>"$dir.lock"
flock 9
if [ -x "$dir/criu" ] && "$dir/criu" --version >/dev/null 2>&1; then exit 0; fi
rm -rf "$dir.tmp" "$dir"
debootstrap --variant=minbase --include=criu trixie "$dir.tmp" "$mirror" >"$dir.log" 2>&1 ||
  { echo "criu.sh: debootstrap failed, see $dir.log" >&2; exit 1; }
libs="$dir/usr/lib/x86_64-linux-gnu"
case "$(uname -m)" in
  x86_64) loader=ld-linux-x86-64.so.2 ;;
  aarch64) loader=ld-linux-aarch64.so.1; libs="$dir/usr/lib/aarch64-linux-gnu" ;;
  *) echo "criu.sh: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
cat >"$dir.tmp/criu" <<EOF
#!/bin/sh
# CRIU from Debian trixie, run with its own libraries (made by appliance/criu.sh).
exec "$libs/$loader" --library-path "$libs" "$dir/usr/sbin/criu" "\$@"
EOF
chmod 755 "$dir.tmp/criu"
mv "$dir.tmp" "$dir"
"$dir/criu" --version | head -1
