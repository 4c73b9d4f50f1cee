#!/bin/bash
# Installs a built lxd on this host and starts it with the embedded defaults.
#   appliance/install.sh [BINARY]          install (default BINARY: dist/lxd), start, `lxd init --auto` once
#   appliance/install.sh --uninstall       stop the daemon (and its containers), remove binary and unit
#   appliance/install.sh --uninstall --purge   ... and delete /var/lib/lxd and /var/log/lxd
set -euo pipefail

here=$(dirname "$(readlink -f "$0")")
repo=$(dirname "$here")
state=/var/lib/lxd
logs=/var/log/lxd
bin=/usr/local/bin/lxd
unit=/etc/systemd/system/lxd.service

die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# systemd is PID 1 on a normal host; containers and CI sandboxes often have no init system.
has_systemd() { [ -d /run/systemd/system ]; }

start_daemon() {
  if has_systemd; then
    systemctl daemon-reload
    systemctl enable lxd.service
    systemctl restart lxd.service   # ExecStartPost waits until the API answers
  else
    echo "install.sh: no systemd, starting the daemon directly (it will not start at boot)"
    if LXD_DIR=$state "$bin" waitready --timeout=1 >/dev/null 2>&1; then
      LXD_DIR=$state "$bin" shutdown
    fi
    LXD_DIR=$state setsid "$bin" serve --logfile "$logs/lxd.log" </dev/null >/dev/null 2>&1 &
    LXD_DIR=$state "$bin" waitready --timeout=600
  fi
}

stop_daemon() {
  if has_systemd && systemctl list-unit-files lxd.service >/dev/null 2>&1; then
    systemctl disable --now lxd.service || true
  elif [ -x "$bin" ] && LXD_DIR=$state "$bin" waitready --timeout=1 >/dev/null 2>&1; then
    LXD_DIR=$state "$bin" shutdown
  fi
}

do_uninstall() {
  local purge=0
  case "${1:-}" in --purge) purge=1 ;; "") ;; *) die "unknown option ${1}" ;; esac
  stop_daemon
  rm -f "$bin" "$unit"
  has_systemd && systemctl daemon-reload
  if [ "$purge" = 1 ]; then
    # Deleting through a live mount would reach into whatever is mounted there.
    if awk -v d="$state" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      die "mounts remain below $state (see /proc/self/mountinfo); unmount them, then run again"
    fi
    rm -rf "$state" "$logs"
  fi
  if [ "$purge" = 1 ]; then echo "lxd uninstalled, state purged"; else echo "lxd uninstalled, state kept in $state"; fi
}

do_install() {
  local src=${1:-$repo/dist/lxd}
  [ -x "$src" ] || die "$src not found: build it first (npm run build)"
  local fresh=1
  [ -e "$state/database/lxd.db" ] && fresh=0

  "$here/host-setup.sh"
  install -D -m 0755 "$src" "$bin.new" && mv -f "$bin.new" "$bin"
  install -d -m 0711 "$state"
  install -d -m 0755 "$logs"
  if has_systemd; then install -m 0644 "$here/lxd.service" "$unit"; fi
  start_daemon
  # Only a new state directory gets the defaults: a reinstall keeps what the admin configured.
  if [ "$fresh" = 1 ]; then LXD_DIR=$state "$bin" init --auto; fi
  echo "lxd installed: $bin, state in $state, log in $logs/lxd.log"
}

case "${1:-}" in
  --uninstall) do_uninstall "${2:-}" ;;
  -h|--help) sed -n '2,5p' "$0" ;;
  *) do_install "${1:-}" ;;
esac
