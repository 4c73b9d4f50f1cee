// Backup API shapes (LXD REST API 1.0: InstanceBackup, InstanceBackupsPost, InstanceBackupPost,
// StorageVolumeBackup, StorageVolumeBackupsPost).
import { t, type Static } from "elysia";

export const InstanceBackup = t.Object({
  name: t.String(),
  created_at: t.String(),
  expires_at: t.String({ description: "When the backup is deleted; 0001-01-01T00:00:00Z for never" }),
  instance_only: t.Boolean(),
  container_only: t.Boolean(),
  optimized_storage: t.Boolean(),
});
export type InstanceBackup = Static<typeof InstanceBackup>;

export const InstanceBackupsPost = t.Object({
  name: t.Optional(t.String({ description: "Backup name; backup0, backup1, ... when empty" })),
  expires_at: t.Optional(t.Union([t.String(), t.Null()], { description: "When the backup is deleted; the zero time for never" })),
  instance_only: t.Optional(t.Boolean({ description: "Leave the snapshots out" })),
  container_only: t.Optional(t.Boolean({ description: "Older name of instance_only" })),
  optimized_storage: t.Optional(t.Boolean({ description: "btrfs: send streams instead of a file tree (refused on other pools)" })),
  compression_algorithm: t.Optional(t.String({ description: "gzip (default: backups.compression_algorithm), xz or none" })),
}, { additionalProperties: true });
export type InstanceBackupsPost = Static<typeof InstanceBackupsPost>;

export const InstanceBackupPost = t.Object({ name: t.String({ description: "New name" }) }, { additionalProperties: true });

export const BackupParams = t.Object({ name: t.String(), backup: t.String() });

export const StorageVolumeBackup = t.Object({
  name: t.String(),
  created_at: t.String(),
  expires_at: t.String({ description: "When the backup is deleted; 0001-01-01T00:00:00Z for never" }),
  volume_only: t.Boolean(),
  optimized_storage: t.Boolean(),
});
export type StorageVolumeBackup = Static<typeof StorageVolumeBackup>;

export const StorageVolumeBackupsPost = t.Object({
  name: t.Optional(t.String({ description: "Backup name; backup0, backup1, ... when empty" })),
  expires_at: t.Optional(t.Union([t.String(), t.Null()])),
  volume_only: t.Optional(t.Boolean({ description: "Leave the snapshots out" })),
  optimized_storage: t.Optional(t.Boolean({ description: "Refused: custom volumes are backed up as file trees" })),
  compression_algorithm: t.Optional(t.String({ description: "gzip (default), xz or none" })),
}, { additionalProperties: true });
export type StorageVolumeBackupsPost = Static<typeof StorageVolumeBackupsPost>;

export const VolumeBackupParams = t.Object({ name: t.String(), volume: t.String(), backup: t.String() });
