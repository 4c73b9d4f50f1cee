// Instance snapshot API shapes (LXD REST API 1.0: InstanceSnapshot, InstanceSnapshotsPost,
// InstanceSnapshotPost, InstanceSnapshotPut).
import { t, type Static } from "elysia";
import { StringMap, Devices, Description } from "./fields.ts";
import { MigrationTarget } from "./instance.ts";


/** LXD's "no expiry": Go's zero time. */
export const NO_EXPIRY = "0001-01-01T00:00:00Z";

export const InstanceSnapshot = t.Object({
  name: t.String(),
  architecture: t.String(),
  config: StringMap,
  devices: Devices,
  expanded_config: StringMap,
  expanded_devices: Devices,
  profiles: t.Array(t.String()),
  ephemeral: t.Boolean(),
  stateful: t.Boolean(),
  description: Description,
  created_at: t.String(),
  last_used_at: t.String(),
  expires_at: t.String({ description: `When the snapshot is deleted; ${NO_EXPIRY} for never` }),
  size: t.Number({ description: "Bytes, -1 when unknown" }),
}, { additionalProperties: true });
export type InstanceSnapshot = Static<typeof InstanceSnapshot>;

export const InstanceSnapshotsPost = t.Object({
  name: t.Optional(t.String({ description: "Snapshot name; from snapshots.pattern (snap%d) when empty" })),
  stateful: t.Optional(t.Boolean({ description: "Also checkpoint the running processes (CRIU); the container runs on" })),
  expires_at: t.Optional(t.Union([t.String(), t.Null()], { description: "Expiry; the zero time for never; snapshots.expiry when absent or null" })),
}, { additionalProperties: true });
export type InstanceSnapshotsPost = Static<typeof InstanceSnapshotsPost>;

export const InstanceSnapshotPost = t.Object({
  name: t.Optional(t.String({ description: "New name (rename)" })),
  migration: t.Optional(t.Boolean()),
  live: t.Optional(t.Boolean()),
  target: t.Optional(t.Union([MigrationTarget, t.Null()])),
}, { additionalProperties: true });

export const InstanceSnapshotPut = t.Object({
  expires_at: t.Optional(t.Union([t.String(), t.Null()])),
  description: t.Optional(Description),
}, { additionalProperties: true });
export type InstanceSnapshotPut = Static<typeof InstanceSnapshotPut>;

export const SnapshotParams = t.Object({ name: t.String(), snapshot: t.String() });
