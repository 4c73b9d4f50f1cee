#!/bin/sh
# Debian's chromium for the web-console tests, in namespaces of its own (playwright starts this as
# the browser executable and talks to it over the inherited --remote-debugging-pipe fds):
# - a network namespace with only loopback, so the bridges and veths that test daemons create on
#   this host do not make Chromium abort its requests (ERR_NETWORK_CHANGED); the daemon's HTTPS
#   port is forwarded into it through a unix socket ($LXD_UI_SOCKET, served by the test);
# - a mount namespace where /etc/chromium/policies holds only $LXD_UI_POLICY, which makes Chromium
#   present the client certificate from its NSS database ($HOME/.pki/nssdb) without asking.
# Nothing outside the two namespaces changes.
exec unshare --mount --net --propagation private sh -c '
  set -e
  ip link set lo up
  mount -t tmpfs -o mode=0755 lxd-ui-test /etc/chromium
  mkdir -p /etc/chromium/policies/managed
  cp "$LXD_UI_POLICY" /etc/chromium/policies/managed/lxd-ui-test.json
  ready="$HOME/forward.ready"
  "$LXD_UI_BUN" "$LXD_UI_FORWARDER" "$LXD_UI_PORT" "$LXD_UI_SOCKET" "$$" "$ready" &
  while [ ! -e "$ready" ]; do sleep 0.05; done
  exec /usr/bin/chromium "$@"' sh "$@"
