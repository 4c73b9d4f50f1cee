// Instances as migration sources and targets: what of an instance goes into the header and the
// index header, how its volume is read, and how an arriving one is validated and built, all
// through the instance manager and the storage drivers.
import { NO_EXPIRY } from "../api/snapshot.ts";
import type { InstancesPost } from "../api/instance.ts";
import type { NewSnapshotRow } from "../db/snapshots.ts";
import type { InstanceManager } from "../instance/manager.ts";
import { validateSnapshotName } from "../config/schedule.ts";
import type { SnapshotRow } from "../instance/snapshots.ts";
import { instanceVolume } from "../storage/backend.ts";
import { stateDir } from "../instance/stateful.ts";
import { cp, rm } from "node:fs/promises";
import { headerSeconds, headerTime, type SnapshotInfo } from "./proto.ts";
import { receiveWith, rsyncOf, type SourceSpec, type TargetSpec } from "./transfer.ts";

/** LXD's architecture ids (osarch), as the header's snapshots carry them. */
const ARCH_IDS: Record<string, number> = {
  i686: 1, x86_64: 2, armv7l: 3, aarch64: 4, ppc: 5, ppc64: 6, ppc64le: 7, s390x: 8, mips: 9, mips64: 10, riscv32: 11, riscv64: 12,
};

function snapshotInfo(snap: SnapshotRow, architecture: string): SnapshotInfo {
  return {
    name: snap.name, localConfig: snap.config, profiles: snap.profiles, ephemeral: false, localDevices: snap.devices,
    architecture: ARCH_IDS[architecture] ?? 0, stateful: snap.stateful,
    creationDate: headerSeconds(snap.createdAt), lastUsedDate: 0, expiryDate: headerSeconds(snap.expiresAt),
  };
}

export interface SourceRequest {
  name: string;
  /** Send this snapshot (as a volume without snapshots) instead of the instance. */
  snapshot?: string;
  instanceOnly: boolean;
  allowInconsistent?: boolean;
  /** Live (CRIU): the running instance's checkpoint travels; it stops, stateful, until the
   *  client deletes it (a move) or starts it again (a copy: it resumes). */
  live?: boolean;
}

/** The instance (or one snapshot) as a migration source. Throws ApiErrors for bad requests. */
export function instanceSource(instances: InstanceManager, req: SourceRequest): SourceSpec {
  const row = instances.get(req.name);
  const from = req.snapshot === undefined ? row : instances.snapshots.get(req.name, req.snapshot);
  const snaps = req.snapshot !== undefined || req.instanceOnly ? [] : instances.snapshots.list(req.name);
  const pool = instances.poolOf(row);
  const backend = instances.backendOf(row);
  const fingerprint = row.config["volatile.base_image"] ?? "";
  const container = { ...instances.toApi(row), config: from.config, devices: from.devices, profiles: from.profiles };
  return {
    kind: "instance",
    name: req.snapshot === undefined ? req.name : `${req.name}/${req.snapshot}`,
    running: req.snapshot === undefined && instances.isRunning(req.name),
    live: req.live ? {
      async dump() {
        await instances.stop(req.name, { stateful: true });
        return stateDir(backend, req.name);
      },
      resume: () => instances.start(req.name),
    } : undefined,
    snapshots: snaps.map((s) => snapshotInfo(s, row.architecture)),
    config: {
      container,
      snapshots: snaps.map((s) => instances.snapshots.toApi(req.name, s)),
      pool: { name: pool.name, driver: pool.driver, config: pool.config },
      volume: { name: req.name, type: "container", content_type: "filesystem", config: {}, description: "" },
      volume_snapshots: snaps.map((s) => ({
        name: s.name, description: s.description, config: {}, content_type: "filesystem", expires_at: s.expiresAt || NO_EXPIRY,
      })),
    },
    rsync: rsyncOf(pool.config),
    allowInconsistent: req.allowInconsistent,
    // A whole instance on btrfs can go as btrfs streams (a single snapshot goes by rsync).
    sendBtrfs: backend.streams && req.snapshot === undefined
      ? (names, write) => instances.withVolume(req.name, () => instances.quiesced(req.name, () =>
        backend.sendStreams(instanceVolume(req.name), names, write)))
      : undefined,
    exportTree(snapshot, fn, quiesce = true) {
      if (snapshot !== undefined || req.snapshot !== undefined) {
        return backend.export(instanceVolume(req.name, snapshot ?? req.snapshot), fingerprint, fn);
      }
      // No start meanwhile, and a running instance frozen: the tree holds still while it is read
      // (a live migration's first pass reads it running: the final pass follows the checkpoint).
      const read = () => backend.export(instanceVolume(req.name), fingerprint, fn);
      return instances.withVolume(req.name, () => (quiesce ? instances.quiesced(req.name, read) : read()));
    },
  };
}

/** The rows of arriving snapshots (descriptions travel only in the index header). */
function snapshotRows(snapshots: SnapshotInfo[], info: Record<string, unknown> | undefined): NewSnapshotRow[] {
  for (const s of snapshots) {
    const err = validateSnapshotName(s.name);
    if (err) throw new Error(`Invalid snapshot in the migration header: ${err}`);
  }
  const described = new Map(((info?.snapshots ?? []) as { name?: string; description?: string }[]).map((s) => [s.name, s.description ?? ""]));
  return snapshots.map((s) => ({
    name: s.name, description: described.get(s.name) ?? "", stateful: false,
    createdAt: headerTime(s.creationDate) ?? new Date().toISOString(), expiresAt: headerTime(s.expiryDate) ?? "",
    config: s.localConfig, devices: s.localDevices, profiles: s.profiles,
  }));
}

/** An arriving instance: `name` was reserved by instances.prepareMigration. With `keepStopped`, a
 *  live migration's checkpoint is kept for the instance's next start instead of restored now. */
export function instanceTarget(instances: InstanceManager, body: InstancesPost, name: string, keepStopped = false): TargetSpec {
  return {
    kind: "instance",
    name,
    driver: instances.poolOf({ profiles: body.profiles ?? ["default"], devices: body.devices ?? {}, config: {} }).driver,
    async receive(snapshots, info, data) {
      const rows = snapshotRows(snapshots, info);
      await instances.createFromMigration(body, name, rows, (pool) => receiveWith(pool, instanceVolume(name), snapshots.map((s) => s.name), data));
    },
    async restore(dir) {
      try {
        const state = stateDir(instances.backendOf(instances.get(name)), name);
        instances.markIncoming(name, true);
        await rm(state, { recursive: true, force: true });
        await cp(dir, state, { recursive: true });
        instances.markStateful(name);
        if (keepStopped) return instances.markIncoming(name, false);
        await instances.start(name);
        instances.markIncoming(name, false);
      } catch (err) {
        // Nothing stays on the target: the source resumes.
        await instances.delete(name, true).catch(() => {});
        throw err;
      }
    },
  };
}

/** A refresh of existing instance `name` (source.refresh): only the snapshots it lacks are asked
 *  for (none with instance_only, which keeps its own), then its content is replaced. */
export function instanceRefreshTarget(instances: InstanceManager, body: InstancesPost, name: string): TargetSpec {
  return {
    kind: "instance",
    name,
    driver: instances.poolOf(instances.get(name)).driver,
    async refresh(offered) {
      if (instances.isRunning(name)) throw new Error(`Cannot refresh the running instance "${name}": stop it first`);
      if (body.source.instance_only) return [];
      const missing = new Set(await instances.snapshots.syncPlan(name, offered.map((s) => ({ name: s.name, createdAt: headerTime(s.creationDate) }))));
      return offered.filter((s) => missing.has(s.name));
    },
    async receive(snapshots, info, data) {
      const rows = snapshotRows(snapshots, info);
      await instances.refreshFrom(name, rows, (pool) => receiveWith(pool, instanceVolume(name), snapshots.map((s) => s.name), data, true));
    },
  };
}
