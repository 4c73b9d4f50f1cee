// `GET /1.0`: the server object, with the same fields as LXD 5.0's api.Server.
import { t, type Static } from "elysia";

const StringMap = t.Record(t.String(), t.String());

export const StorageDriverInfo = t.Object({
  Name: t.String(),
  Version: t.String(),
  Remote: t.Boolean(),
});

export const ServerEnvironment = t.Object({
  addresses: t.Array(t.String(), { description: "Addresses the API is reachable on over the network" }),
  architectures: t.Array(t.String()),
  cgroup_layout: t.String({ description: 'Not in LXD: "unified" (cgroup v2), "hybrid" or "legacy" (v1 controllers)' }),
  certificate: t.String({ description: "PEM server certificate (empty: no TLS listener)" }),
  certificate_fingerprint: t.String(),
  driver: t.String({ description: "Instance driver" }),
  driver_version: t.String(),
  firewall: t.String({ description: "nftables or xtables" }),
  kernel: t.String(),
  kernel_architecture: t.String(),
  kernel_features: StringMap,
  kernel_version: t.String(),
  lxc_features: StringMap,
  os_name: t.String(),
  os_version: t.String(),
  project: t.String(),
  server: t.String(),
  server_clustered: t.Boolean(),
  server_event_mode: t.String(),
  server_name: t.String(),
  server_pid: t.Integer(),
  server_version: t.String(),
  storage: t.String({ description: 'Drivers of existing pools, e.g. "dir | btrfs"' }),
  storage_version: t.String(),
  storage_supported_drivers: t.Array(StorageDriverInfo),
});

export const Server = t.Object({
  config: StringMap,
  api_extensions: t.Array(t.String()),
  api_status: t.String(),
  api_version: t.String(),
  auth: t.String({ description: '"trusted" or "untrusted"' }),
  public: t.Boolean(),
  auth_methods: t.Array(t.String()),
  environment: ServerEnvironment,
});
export type Server = Static<typeof Server>;

/** PUT replaces the whole server config; PATCH merges (an empty value unsets a key). */
export const ServerPut = t.Object({
  config: t.Optional(StringMap),
});

export const ApiVersions = t.Array(t.String(), { description: 'Supported API versions: ["/1.0"]' });
