// Custom storage volumes as migration sources and targets (`lxd storage volume copy POOL/VOL
// REMOTE:POOL/VOL`): the same transfer as instances, without idmap or CRIU fields.
import { NO_EXPIRY } from "../api/snapshot.ts";
import { validateSnapshotName } from "../config/schedule.ts";
import { customVolume } from "../storage/backend.ts";
import type { CustomVolumes } from "../storage/volumes.ts";
import { headerSeconds, headerTime, type SnapshotInfo } from "./proto.ts";
import { receiveWith, rsyncOf, type SourceSpec, type TargetSpec } from "./transfer.ts";


/** Volume `name` of `pool` as a migration source, with its snapshots unless `volumeOnly`. */
export function volumeSource(volumes: CustomVolumes, pool: string, name: string, volumeOnly: boolean): SourceSpec {
  const row = volumes.get(pool, name);
  const p = volumes.pool(pool);
  const backend = volumes.backend(pool);
  const snaps = volumeOnly ? [] : volumes.snapshots(row);
  return {
    kind: "custom",
    name,
    running: false,
    snapshots: snaps.map((s): SnapshotInfo => ({
      name: s.name, localConfig: s.config, profiles: [], ephemeral: false, localDevices: {}, architecture: 0, stateful: false,
      creationDate: headerSeconds(s.createdAt), lastUsedDate: 0, expiryDate: headerSeconds(s.expiresAt),
    })),
    config: {
      volume: volumes.toApi(row),
      volume_snapshots: snaps.map((s) => ({
        name: s.name, description: s.description, config: s.config, content_type: "filesystem", expires_at: s.expiresAt || NO_EXPIRY,
      })),
    },
    rsync: rsyncOf(p.config),
    sendBtrfs: backend.streams ? (names, write) => backend.sendStreams(customVolume(name), names, write) : undefined,
    exportTree: (snapshot, fn) => backend.export(customVolume(name, snapshot), "", fn),
  };
}

/** A refresh of existing volume `name` in `pool` (source.refresh): only the snapshots it lacks are
 *  asked for (none with volume_only, which keeps its own), then its content is replaced. */
export function volumeRefreshTarget(volumes: CustomVolumes, pool: string, name: string, volumeOnly: boolean): TargetSpec {
  return {
    kind: "custom",
    name,
    driver: volumes.pool(pool).driver,
    async refresh(offered) {
      if (volumeOnly) return [];
      const missing = new Set(await volumes.syncPlan(pool, name, offered.map((s) => ({ name: s.name, createdAt: headerTime(s.creationDate) }))));
      return offered.filter((s) => missing.has(s.name));
    },
    async receive(snapshots, info, data) {
      await volumes.refreshFrom(pool, name, snapshotRows(snapshots, info), (b) => receiveWith(b, customVolume(name), snapshots.map((s) => s.name), data, true));
    },
  };
}

/** The rows of arriving snapshots (descriptions travel only in the index header). */
function snapshotRows(snapshots: SnapshotInfo[], info: Record<string, unknown> | undefined) {
  for (const s of snapshots) {
    const err = validateSnapshotName(s.name);
    if (err) throw new Error(`Invalid snapshot in the migration header: ${err}`);
  }
  const described = new Map(((info?.volume_snapshots ?? []) as { name?: string; description?: string }[]).map((s) => [s.name, s.description ?? ""]));
  return snapshots.map((s) => ({
    name: s.name, description: described.get(s.name) ?? "", config: s.localConfig,
    createdAt: headerTime(s.creationDate) ?? new Date().toISOString(), expiresAt: headerTime(s.expiryDate) ?? "",
  }));
}

/** A volume arriving in `pool`: `name` was reserved by volumes.prepareMigration. */
export function volumeTarget(volumes: CustomVolumes, pool: string, name: string, fields: { description?: string; config?: Record<string, string> | null }): TargetSpec {
  return {
    kind: "custom",
    name,
    driver: volumes.pool(pool).driver,
    async receive(snapshots, info, data) {
      const rows = snapshotRows(snapshots, info);
      const sourceVolume = (info?.volume ?? {}) as { description?: string; config?: Record<string, string> };
      await volumes.createFromMigration(pool, name, {
        description: fields.description ?? sourceVolume.description ?? "",
        config: fields.config ?? {},
      }, rows, (b) => receiveWith(b, customVolume(name), snapshots.map((s) => s.name), data));
    },
  };
}
