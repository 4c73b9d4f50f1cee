// Instance API shapes (LXD REST API 1.0). These schemas validate requests and feed the OpenAPI document.
import { t, type Static } from "elysia";
import { RecursionQuery } from "./envelope.ts";
import { StringMap, Devices, Description } from "./fields.ts";

export { Devices } from "./fields.ts";

export const InstanceSource = t.Object({
  type: t.Union([t.Literal("image"), t.Literal("none"), t.Literal("copy"), t.Literal("migration"), t.Literal("backup", { description: "set by the server for an octet-stream body (a backup tarball)" })]),
  fingerprint: t.Optional(t.String()),
  alias: t.Optional(t.String()),
  properties: t.Optional(StringMap),
  server: t.Optional(t.String()),
  protocol: t.Optional(t.String()),
  mode: t.Optional(t.String()),
  secret: t.Optional(t.String()),
  certificate: t.Optional(t.String()),
  source: t.Optional(t.String()),
  project: t.Optional(t.String({ description: "Project of the source instance (copy); only default exists" })),
  instance_only: t.Optional(t.Boolean({ description: "Copy without the source's snapshots" })),
  operation: t.Optional(t.String({ description: "Migration: the source operation's URL (pull)" })),
  secrets: t.Optional(t.Record(t.String(), t.String(), { description: "Migration: websocket secrets by channel (control, fs)" })),
  live: t.Optional(t.Boolean()),
  container_only: t.Optional(t.Boolean()),
  refresh: t.Optional(t.Boolean()),
  cluster_move: t.Optional(t.Boolean({
    description: "Internal, between cluster members: a live instance arrives stopped with its checkpoint (it arrives under a temporary name; the move restores it once renamed)",
  })),
}, { additionalProperties: true });

export const InstancesPost = t.Object({
  name: t.Optional(t.String({ description: "Instance name; generated when empty" })),
  type: t.Optional(t.String({ description: "container (the only type this daemon runs)" })),
  source: InstanceSource,
  profiles: t.Optional(t.Union([t.Array(t.String()), t.Null()])),
  config: t.Optional(t.Union([StringMap, t.Null()])),
  devices: t.Optional(t.Union([Devices, t.Null()])),
  ephemeral: t.Optional(t.Boolean()),
  start: t.Optional(t.Boolean()),
  stateful: t.Optional(t.Boolean()),
  description: t.Optional(Description),
  architecture: t.Optional(t.String()),
  instance_type: t.Optional(t.String()),
}, { additionalProperties: true });
export type InstancesPost = Static<typeof InstancesPost>;

// `lxc restore` sends null for the fields it leaves alone.
export const InstancePut = t.Object({
  architecture: t.Optional(t.String()),
  config: t.Optional(t.Union([StringMap, t.Null()])),
  devices: t.Optional(t.Union([Devices, t.Null()])),
  ephemeral: t.Optional(t.Boolean()),
  profiles: t.Optional(t.Union([t.Array(t.String()), t.Null()])),
  stateful: t.Optional(t.Boolean()),
  description: t.Optional(Description),
  restore: t.Optional(t.String({ description: "Snapshot to restore: \"snap0\" or \"c1/snap0\"" })),
}, { additionalProperties: true });
export type InstancePut = Static<typeof InstancePut>;

/** Where a pushed migration goes (the target's operation, certificate and secrets). */
export const MigrationTarget = t.Object({
  operation: t.Optional(t.String()),
  certificate: t.Optional(t.String()),
  secrets: t.Optional(t.Record(t.String(), t.String())),
}, { additionalProperties: true });

export const InstancePost = t.Object({
  name: t.String({ description: "New name (rename); ignored by a migration" }),
  migration: t.Optional(t.Boolean({ description: "Start a migration to another server (an operation with websocket secrets)" })),
  live: t.Optional(t.Boolean({ description: "Migration: stateful (absent means true, as in LXD)" })),
  instance_only: t.Optional(t.Boolean()),
  container_only: t.Optional(t.Boolean()),
  allow_inconsistent: t.Optional(t.Boolean()),
  target: t.Optional(t.Union([MigrationTarget, t.Null()])),
  pool: t.Optional(t.String({ description: "With migration and no target: move the instance to this storage pool (instance_pool_move)" })),
  project: t.Optional(t.String({ description: "With migration and no target: move the instance to this project (instance_project_move)" })),
}, { additionalProperties: true });
export type InstancePost = Static<typeof InstancePost>;

export const InstanceStatePut = t.Object({
  action: t.Union(["start", "stop", "restart", "freeze", "unfreeze"].map((a) => t.Literal(a))),
  timeout: t.Optional(t.Number({ description: "Seconds to wait for a clean stop (-1: forever)" })),
  force: t.Optional(t.Boolean()),
  stateful: t.Optional(t.Boolean()),
}, { additionalProperties: true });
export type InstanceStatePut = Static<typeof InstanceStatePut>;

export const InstanceExecPost = t.Object({
  command: t.Array(t.String(), { minItems: 1 }),
  environment: t.Optional(t.Union([StringMap, t.Null()])),
  interactive: t.Optional(t.Boolean()),
  "wait-for-websocket": t.Optional(t.Boolean()),
  "record-output": t.Optional(t.Boolean()),
  width: t.Optional(t.Number()),
  height: t.Optional(t.Number()),
  user: t.Optional(t.Number()),
  group: t.Optional(t.Number()),
  cwd: t.Optional(t.String()),
}, { additionalProperties: true });
export type InstanceExecPost = Static<typeof InstanceExecPost>;

/** POST /1.0/instances/{name}/console: attach to the console (containers have only "console"). */
export const InstanceConsolePost = t.Object({
  width: t.Optional(t.Integer({ minimum: 0, maximum: 65535 })),
  height: t.Optional(t.Integer({ minimum: 0, maximum: 65535 })),
  type: t.Optional(t.String({ description: '"console" (the default); "vga" is for virtual machines' })),
}, { additionalProperties: true });
export type InstanceConsolePost = Static<typeof InstanceConsolePost>;

const Address = t.Object({ family: t.String(), address: t.String(), netmask: t.String(), scope: t.String() });
const NetworkState = t.Object({
  addresses: t.Union([t.Array(Address), t.Null()]),
  counters: t.Record(t.String(), t.Number()),
  hwaddr: t.String(),
  host_name: t.String(),
  mtu: t.Number(),
  state: t.String(),
  type: t.String(),
});

export const InstanceState = t.Object({
  status: t.String(),
  status_code: t.Number(),
  disk: t.Union([t.Record(t.String(), t.Object({ usage: t.Number(), total: t.Optional(t.Number()) })), t.Null()]),
  memory: t.Object({
    usage: t.Number(), usage_peak: t.Number(), total: t.Optional(t.Number()),
    swap_usage: t.Number(), swap_usage_peak: t.Number(),
  }),
  network: t.Union([t.Record(t.String(), NetworkState), t.Null()]),
  pid: t.Number(),
  processes: t.Number(),
  cpu: t.Object({ usage: t.Number() }),
});
export type InstanceState = Static<typeof InstanceState>;

export const Instance = t.Object({
  name: t.String(),
  type: t.String(),
  architecture: t.String(),
  description: Description,
  status: t.String(),
  status_code: t.Number(),
  ephemeral: t.Boolean(),
  stateful: t.Boolean(),
  profiles: t.Array(t.String()),
  config: StringMap,
  devices: Devices,
  expanded_config: StringMap,
  expanded_devices: Devices,
  created_at: t.String(),
  last_used_at: t.String(),
  location: t.String(),
  project: t.String(),
}, { additionalProperties: true });
export type Instance = Static<typeof Instance>;

export const InstanceFull = t.Composite([Instance, t.Object({
  state: t.Union([InstanceState, t.Null()]),
  snapshots: t.Union([t.Array(t.Any()), t.Null()]),
  backups: t.Union([t.Array(t.Any()), t.Null()]),
})]);
export type InstanceFull = Static<typeof InstanceFull>;

/** GET and DELETE of instances: recursion (and `force` for DELETE). */
export const InstancesQuery = t.Composite([RecursionQuery, t.Object({
  force: t.Optional(t.String({ description: "1: stop a running instance first (DELETE)" })),
  target: t.Optional(t.String({ description: "Cluster member: where a new instance goes, or where a moved one goes (POST with migration)" })),
})]);

export const InstanceName = t.Object({ name: t.String({ description: "Instance name" }) });

/** `?path=` of /1.0/instances/{name}/files (checked by the handler, so a missing one gets LXD's message). */
export const InstanceFilesQuery = t.Object({
  path: t.Optional(t.String({ description: "Absolute path inside the instance (a relative one is taken from /)" })),
  project: t.Optional(t.String()),
}, { additionalProperties: true });
