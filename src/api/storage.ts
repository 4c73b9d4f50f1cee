// Storage pool API shapes (LXD REST API 1.0): validation of requests and the OpenAPI document.
import { t, type Static } from "elysia";
import { StringMap, Description } from "./fields.ts";


export const StoragePool = t.Object({
  name: t.String(),
  driver: t.String({ description: "Storage driver (dir or btrfs)" }),
  description: Description,
  config: StringMap,
  status: t.String({ description: "Created, Pending, Errored or Unknown" }),
  locations: t.Array(t.String(), { description: "Cluster members holding the pool (\"none\" when not clustered)" }),
  used_by: t.Union([t.Array(t.String()), t.Null()], { description: "URLs of the instances and profiles using this pool" }),
});
export type StoragePool = Static<typeof StoragePool>;

export const StoragePoolsPost = t.Object({
  name: t.String({ description: "Name of the new pool" }),
  driver: t.String({ description: "Storage driver (dir or btrfs)" }),
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type StoragePoolsPost = Static<typeof StoragePoolsPost>;

/** PUT replaces description and config; PATCH merges config by key. */
export const StoragePoolPut = t.Object({
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type StoragePoolPut = Static<typeof StoragePoolPut>;

export const StoragePoolName = t.Object({ name: t.String({ description: "Storage pool name" }) });

// ---- custom storage volumes ---------------------------------------------------------------------

export const StorageVolume = t.Object({
  name: t.String(),
  description: Description,
  type: t.String({ description: "container (an instance's root volume), image (an image unpacked on the pool) or custom" }),
  config: StringMap,
  content_type: t.String({ description: "filesystem" }),
  used_by: t.Array(t.String(), { description: "URLs of the instances and profiles with a disk device on the volume" }),
  location: t.String(),
  project: t.String(),
  created_at: t.String(),
});
export type StorageVolume = Static<typeof StorageVolume>;

export const StorageVolumeSource = t.Object({
  type: t.Optional(t.String({ description: "\"copy\" (or empty for a new volume)" })),
  name: t.Optional(t.String({ description: "Source volume, or VOLUME/SNAPSHOT" })),
  pool: t.Optional(t.String({ description: "Source pool (default: this pool)" })),
  project: t.Optional(t.String({ description: "Source project (copy into the request's project: --target-project)" })),
  location: t.Optional(t.String({ description: "Cluster member holding the source volume (cluster_internal_custom_volume_copy)" })),
  volume_only: t.Optional(t.Boolean({ description: "Copy without the source's snapshots" })),
  refresh: t.Optional(t.Boolean({ description: "Update the existing volume: the snapshots it lacks, then the content" })),
  mode: t.Optional(t.String({ description: "Migration (type migration): pull or push" })),
  operation: t.Optional(t.String({ description: "Migration, pull: the source operation's URL" })),
  certificate: t.Optional(t.String({ description: "Migration, pull: the source server's certificate" })),
  secrets: t.Optional(t.Record(t.String(), t.String(), { description: "Migration, pull: websocket secrets by channel" })),
}, { additionalProperties: true });

export const StorageVolumesPost = t.Object({
  name: t.String({ description: "Name of the new volume" }),
  type: t.Optional(t.String({ description: "custom" })),
  description: t.Optional(Description),
  content_type: t.Optional(t.String({ description: "filesystem (block volumes are not supported)" })),
  config: t.Optional(t.Union([StringMap, t.Null()])),
  source: t.Optional(StorageVolumeSource),
}, { additionalProperties: true });
export type StorageVolumesPost = Static<typeof StorageVolumesPost>;

/** POST on a volume: a new name (`pool`/`migration` would move it, which is refused). */
export const StorageVolumeRename = t.Object({
  name: t.Optional(t.String()),
  pool: t.Optional(t.String()),
  project: t.Optional(t.String({ description: "Move the volume to this project (storage_volume_project_move)" })),
  migration: t.Optional(t.Boolean({ description: "Send the volume to another server (an operation with websocket secrets)" })),
  volume_only: t.Optional(t.Boolean()),
  target: t.Optional(t.Union([t.Object({
    operation: t.Optional(t.String()), certificate: t.Optional(t.String()), secrets: t.Optional(t.Record(t.String(), t.String())),
  }, { additionalProperties: true }), t.Null()])),
}, { additionalProperties: true });
export type StorageVolumeRename = Static<typeof StorageVolumeRename>;

/** PUT replaces description and config; `restore` names a snapshot to roll the volume back to. */
export const StorageVolumePut = t.Object({
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
  restore: t.Optional(t.String()),
}, { additionalProperties: true });
export type StorageVolumePut = Static<typeof StorageVolumePut>;

/** GET .../volumes/custom/{name}/state: bytes used and the quota (-1 without one); null when unknown. */
export const StorageVolumeState = t.Object({
  usage: t.Union([t.Object({ used: t.Number(), total: t.Number() }), t.Null()]),
});

export const StorageVolumeSnapshot = t.Object({
  name: t.String(),
  description: Description,
  config: StringMap,
  content_type: t.String(),
  created_at: t.String(),
  expires_at: t.String(),
});
export type StorageVolumeSnapshot = Static<typeof StorageVolumeSnapshot>;

export const StorageVolumeSnapshotPut = t.Object({
  description: t.Optional(t.String()),
  expires_at: t.Optional(t.Union([t.String(), t.Null()], { description: "Expiry; null or the zero time for never" })),
}, { additionalProperties: true });

/** POST on a snapshot: its new name. */
export const StorageVolumeSnapshotPost = t.Object({ name: t.String() }, { additionalProperties: true });

export const StorageVolumeSnapshotsPost = t.Object({
  name: t.Optional(t.String()),
  expires_at: t.Optional(t.Union([t.String(), t.Null()])),
}, { additionalProperties: true });
