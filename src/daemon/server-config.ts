// The server configuration keys (`lxc config set KEY VALUE`): one table, validation and the
// OpenAPI text both read it. The modules that act on a key read its value from the database.
import { bool, key, type KeyInfo, type Validator } from "../config/values.ts";
import { parseExpiry } from "../tls/token.ts";

const count: Validator = (v) => (/^\d+$/.test(v) ? undefined : "expected a whole number");

/** [host]:port, host:port, :port, host — as LXD accepts (the port defaults to 8443). */
const listenAddress: Validator = (v) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*|[0-9a-fA-F:]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return "expected an address such as :8443, 0.0.0.0:8443 or [::]:8443";
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return `invalid port ${m[2]}`;
  return undefined;
};

export const SERVER_KEYS: Readonly<Record<string, KeyInfo>> = {
  "core.https_address": key(listenAddress, "Address the HTTPS API listens on (empty: unix socket only)"),
  "core.remote_token_expiry": key(
    (v) => (parseExpiry(v) === undefined ? 'expected a duration such as "30M", "3H" or "1d"' : undefined),
    "How long join tokens stay valid (default 1d)",
  ),
  // Stored hashed, shown as "true" (tls/remote.ts); checked by POST /1.0/certificates.
  "core.trust_password": key(() => undefined, "Password a new client may give to be trusted (`lxc remote add HOST --password`)"),
  "cluster.https_address": key(listenAddress, "Address other cluster members reach this one at (set by `lxd cluster enable` and joins)"),
  "cluster.max_voters": key((v) => (/^\d+$/.test(v) && Number(v) >= 3 && Number(v) % 2 === 1 ? undefined : "expected an odd number of at least 3"), "Members with a vote in the cluster database (default 3)"),
  "cluster.max_standby": key((v) => (/^\d+$/.test(v) && Number(v) <= 5 ? undefined : "expected a number from 0 to 5"), "Members keeping a standby copy of the cluster database (default 2)"),
  "cluster.offline_threshold": key((v) => (/^\d+$/.test(v) && Number(v) >= 1 ? undefined : "expected a number of seconds"), "Seconds without a heartbeat after which a member is offline (default 20; heartbeats every half of it)"),
  "cluster.join_token_expiry": key((v) => (parseExpiry(v) === undefined ? 'expected a duration such as "30M", "3H" or "1d"' : undefined), "How long cluster join tokens stay valid (default 3H)"),
  "images.auto_update_cached": key(bool, "Refresh images copied from other servers automatically (default true)"),
  "images.auto_update_interval": key(count, "Hours between image refreshes; 0 disables them (default 6)"),
  "images.remote_cache_expiry": key(count, "Days an unused cached image is kept (default 10)"),
};
