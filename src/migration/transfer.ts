// The two roles of a cold (stateless) migration, in LXD's message order:
//   source -> target  MigrationHeader offer (fs type, rsync features, snapshots, idmap, criu)
//   target -> source  MigrationHeader answer (the matched type and features)
//   fs channel        index header JSON {"config": …} + barrier, answered {"StatusCode":200,…} + barrier
//   fs channel        one rsync stream per snapshot (oldest first), then the volume's own
//                     (twice for a running instance: LXD's final sync)
//   target -> source  MigrationControl{success}; either side sends {success:false, message} on error.
// Live (criu CRIU_RSYNC, a running instance): after the first rsync pass the source checkpoints
// the instance (CRIU; it stops), sends the checkpoint as an rsync stream on the `criu` channel,
// then the final pass on `fs`; the target restores it and only then reports success. A failure
// after the checkpoint restores the source where it was.
// Between btrfs pools the volume moves as `btrfs send` streams instead (type BTRFS, with LXD's
// migration_header: a JSON list of subvolumes first), snapshots incrementally; everything else
// falls back to RSYNC, as LXD's negotiation does (an LXD peer offering zfs gets rsync too).
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { statefulRefusal } from "../instance/stateful.ts";
import type { PoolBackend, Volume } from "../storage/backend.ts";
import type { Channel } from "./channel.ts";
import type { Channels } from "./connect.ts";
import { shiftTree } from "./idmap.ts";
import {
  CriuType, decodeControl, decodeHeader, encodeControl, encodeHeader, FsType, rsyncFeatureNames,
  type IdmapEntry, type MigrationHeader, type SnapshotInfo,
} from "./proto.ts";
import { RSYNC_FEATURES, rsyncReceive, rsyncSend } from "./rsync.ts";
import { TAR_EXTENSION, tarReceive, tarSend } from "./tar.ts";
import { log } from "../log.ts";

export const INDEX_HEADER_VERSION = 1;
const LEGACY_RSYNC_FEATURES = ["xattrs", "delete", "compress"];

/** What a transfer reports while it runs. */
export interface TransferOptions {
  /** Where rsync's netcat socket goes (root-only directory). */
  socketDir: string;
  /** Bytes moved on the fs channel so far (called a few times a second). */
  progress?: (bytes: number) => void;
}

export class LiveMigrationUnsupported extends Error {
  constructor() {
    super(`${statefulRefusal("Live migration")}: copy or move the instance with --stateless`);
  }
}

/** `btrfs send` streams: each one is handed to the writer in turn. */
export type StreamSender = (snapshots: string[], write: (stream: ReadableStream<Uint8Array>) => Promise<void>) => Promise<void>;
/** `btrfs receive`: each call of `read` feeds one stream to the sink. */
export type StreamReader = (sink: (chunk: Uint8Array) => Promise<void>) => Promise<void>;
/** How the receiver gets the data: rsync trees, or btrfs streams. */
export type Arrival = { fill: (dir: string, snapshot?: string) => Promise<void> } | { read: StreamReader };

/** The sender's side of one volume (an instance's or a custom volume). */
export interface SourceSpec {
  kind: "instance" | "custom";
  name: string;
  /** Present when the volume sits on btrfs: the optimized transfer to another btrfs pool. */
  sendBtrfs?: StreamSender;
  /** The instance runs (it is copied statelessly, with LXD's final sync, unless `live`). */
  running: boolean;
  /** A live migration of the running instance: its checkpoint travels too. */
  live?: {
    /** Checkpoints the instance (it stops) and returns the checkpoint's directory. */
    dump(): Promise<string>;
    /** After a failure: restores the instance from that checkpoint. */
    resume(): Promise<void>;
  };
  /** Snapshots to send, oldest first (none with instance_only). */
  snapshots: SnapshotInfo[];
  /** The index header's `config` (LXD's backup.yaml equivalent). */
  config: unknown;
  rsync: { compress: boolean; bwlimit?: string };
  allowInconsistent?: boolean;
  /** Runs `fn` on the directory tree to send (a snapshot's, or undefined: the volume's, frozen
   *  while it is read unless `quiesce` is false). */
  exportTree<T>(snapshot: string | undefined, fn: (dir: string) => Promise<T>, quiesce?: boolean): Promise<T>;
}

/** The receiver's side: builds the volume (and its database rows) from what arrives. */
export interface TargetSpec {
  kind: "instance" | "custom";
  name: string;
  /** The receiving pool's driver ("btrfs" accepts btrfs streams). */
  driver: string;
  /** A refresh of an existing volume (LXD's `refresh`): given the offered snapshots, drops the
   *  target's stale ones and returns those to send (rsync then carries only these and the volume). */
  refresh?(offered: SnapshotInfo[]): Promise<SnapshotInfo[]>;
  receive(snapshots: SnapshotInfo[], info: Record<string, unknown> | undefined, data: Arrival): Promise<void>;
  /** Live: restores the received instance from the checkpoint in `dir` (which it takes over);
   *  on failure removes the instance again. Absent: live migrations are refused. */
  restore?(dir: string): Promise<void>;
}

/** Builds `volume` from what arrives, through its pool (`refresh`: into the existing one). */
export function receiveWith(pool: PoolBackend, volume: Volume, snapshots: string[], data: Arrival, refresh = false): Promise<void> {
  if ("read" in data) {
    if (refresh) throw new Error("A refresh cannot take btrfs streams");
    return pool.receiveStreams(volume, snapshots, data.read);
  }
  return pool.receive(volume, snapshots, data.fill, refresh);
}

const BTRFS_FEATURES = { migrationHeader: true, headerSubvolumes: false, headerSubvolumeUuids: false };

/** LXD's btrfs migration header: the subvolumes that follow (only each volume's top one here). */
interface BtrfsHeader { subvolumes: { path: string; snapshot: string; readonly: boolean; uuid: string }[] }

/** A sending pool's rsync settings. Compression is opt-in (`rsync.compression=true`, unlike
 *  LXD's default): on a LAN it costs far more CPU time than the bytes it saves. */
export const rsyncOf = (config: Record<string, string>): SourceSpec["rsync"] => ({
  compress: config["rsync.compression"] === "true", bwlimit: config["rsync.bwlimit"] || undefined,
});

function reportProgress(ch: Channel, opts: TransferOptions): () => void {
  if (!opts.progress) return () => {};
  const timer = setInterval(() => opts.progress!(ch.sent + ch.received), 500);
  return () => {
    clearInterval(timer);
    opts.progress!(ch.sent + ch.received);
  };
}

/** The peer's failure message, if it sent one on the control channel. */
function peerFailure(control: Channel): string | undefined {
  for (let m = control.poll(); m !== undefined; m = control.poll()) {
    if (typeof m === "string") continue;
    try {
      const c = decodeControl(m);
      if (!c.success) return c.message || "the migration peer failed";
    } catch { /* not a control message */ }
  }
  return undefined;
}

/** Runs one role; on failure tells the peer (as LXD does) and closes both channels. */
async function guarded(ch: Channels, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const message = peerFailure(ch.control) ?? (err as Error).message;
    try { ch.control.sendMessage(encodeControl({ success: false, message })); } catch { /* gone */ }
    throw err instanceof LiveMigrationUnsupported ? err : new Error(message);
  } finally {
    ch.control.close();
    ch.fs.close();
    ch.criu?.close();
  }
}

const common = (ours: string[], theirs: string[]) => ours.filter((f) => theirs.includes(f));
const offeredRsync = (h: MigrationHeader) => {
  const names = rsyncFeatureNames(h.rsyncFeatures);
  // Without bidirectional the peer is an old LXD: assume LXD 3.7's set, as LXD does.
  return names.includes("bidirectional") ? names : LEGACY_RSYNC_FEATURES;
};
const toFlags = (names: string[]) => ({
  xattrs: names.includes("xattrs"), delete: names.includes("delete"),
  compress: names.includes("compress"), bidirectional: names.includes("bidirectional"),
});

export async function runSource(spec: SourceSpec, ch: Channels, opts: TransferOptions): Promise<void> {
  const stop = reportProgress(ch.fs, opts);
  try {
    await guarded(ch, async () => {
      const ours = spec.rsync.compress ? RSYNC_FEATURES : RSYNC_FEATURES.filter((f) => f !== "compress");
      const instance = spec.kind === "instance";
      const live = instance && spec.running && spec.live ? spec.live : undefined;
      if (live && !ch.criu) throw new Error("The migration peer did not open the criu channel a live migration needs");
      // Live goes by rsync: its final pass follows the checkpoint.
      const sendBtrfs = live ? undefined : spec.sendBtrfs;
      // Between two of our daemons a stopped volume goes as tar streams, unless the pool asks for
      // rsync's bandwidth limit or compression (or a running instance needs its final pass).
      const tarOffered = !spec.running && !spec.rsync.bwlimit && !spec.rsync.compress;
      const offer: MigrationHeader = {
        fs: sendBtrfs ? FsType.BTRFS : FsType.RSYNC,
        btrfsFeatures: sendBtrfs ? BTRFS_FEATURES : undefined,
        criu: live ? CriuType.CRIU_RSYNC : instance && spec.running ? CriuType.NONE : undefined,
        // Files keep their on-disk owners, which are the container's own ids (idmapped mounts).
        idmap: [],
        snapshotNames: spec.snapshots.map((s) => s.name),
        snapshots: spec.snapshots,
        predump: instance ? false : undefined,
        rsyncFeatures: toFlags(ours),
        indexHeaderVersion: INDEX_HEADER_VERSION,
        extensions: tarOffered ? [TAR_EXTENSION] : undefined,
      };
      ch.control.sendMessage(encodeHeader(offer));
      const answer = decodeHeader(await ch.control.recvMessage());
      if (live && answer.criu !== CriuType.CRIU_RSYNC) throw new Error("The target cannot take a live migration: copy or move the instance with --stateless");
      const btrfs = answer.fs === FsType.BTRFS && sendBtrfs !== undefined;
      if (answer.fs !== FsType.RSYNC && !btrfs) throw new Error(`The target chose a transfer this server cannot send (type ${answer.fs})`);
      const features = common(ours, offeredRsync(answer));
      const names = answer.refresh ? answer.snapshotNames : offer.snapshotNames;
      if ((answer.indexHeaderVersion ?? 0) > 0) {
        await ch.fs.write(new TextEncoder().encode(JSON.stringify({ config: spec.config })));
        ch.fs.barrier();
        const reply = JSON.parse(new TextDecoder().decode(await ch.fs.readAll())) as { StatusCode?: number; Error?: string };
        if (reply.StatusCode !== 200) throw new Error(`The target refused the migration: ${reply.Error || `status ${reply.StatusCode}`}`);
      }
      if (btrfs) {
        if (answer.btrfsFeatures?.migrationHeader) {
          const header: BtrfsHeader = {
            subvolumes: [...names, ""].map((snapshot) => ({ path: "/", snapshot, readonly: snapshot !== "", uuid: "" })),
          };
          await ch.fs.write(new TextEncoder().encode(JSON.stringify(header)));
          ch.fs.barrier();
        }
        await sendBtrfs!(names, async (stream) => {
          for await (const chunk of stream) await ch.fs.write(chunk);
          ch.fs.barrier();
        });
        const done = decodeControl(await ch.control.recvMessage());
        if (!done.success) throw new Error(done.message || "The target failed to receive the volume");
        return;
      }
      const rsync = { features, bwlimit: spec.rsync.bwlimit, socketDir: opts.socketDir, allowInconsistent: spec.allowInconsistent };
      const tar = tarOffered && Boolean(answer.extensions?.includes(TAR_EXTENSION));
      const send = (dir: string, name: string) => (tar ? tarSend(dir, ch.fs, name) : rsyncSend(dir, ch.fs, { ...rsync, name }));
      log.debug("Sending volume", { name: spec.name, transfer: tar ? "tar" : "rsync", snapshots: names.length });
      for (const snap of names) {
        await spec.exportTree(snap, (dir) => send(dir, `${spec.name}/${snap}`));
      }
      if (live) return sendLive(spec, live, ch, rsync);
      await spec.exportTree(undefined, async (dir) => {
        await send(dir, spec.name);
        // A running instance gets LXD's final sync pass (the target expects it after criu NONE).
        if (instance && spec.running) await rsyncSend(dir, ch.fs, { ...rsync, name: spec.name });
      });
      const result = decodeControl(await ch.control.recvMessage());
      if (!result.success) throw new Error(result.message || "The target failed to receive the volume");
    });
  } finally {
    stop();
  }
}

/** The live tail of the source: a pass while it runs, the checkpoint (the instance stops), the
 *  final pass; the instance comes back here unless the target reports that it runs. */
async function sendLive(spec: SourceSpec, live: NonNullable<SourceSpec["live"]>, ch: Channels, rsync: Omit<Parameters<typeof rsyncSend>[2], "name">): Promise<void> {
  await spec.exportTree(undefined, (dir) => rsyncSend(dir, ch.fs, { ...rsync, name: spec.name }), false);
  const state = await live.dump();
  try {
    await rsyncSend(state, ch.criu!, { ...rsync, name: `${spec.name} (checkpoint)` });
    await spec.exportTree(undefined, (dir) => rsyncSend(dir, ch.fs, { ...rsync, name: spec.name }));
    const result = decodeControl(await ch.control.recvMessage());
    if (!result.success) throw new Error(result.message || "The target failed to restore the instance");
  } catch (err) {
    await live.resume().catch((e) => { throw new Error(`${(err as Error).message}; resuming the source failed too: ${(e as Error).message}`); });
    throw err;
  }
}

export async function runTarget(spec: TargetSpec, ch: Channels, opts: TransferOptions): Promise<void> {
  const stop = reportProgress(ch.fs, opts);
  try {
    await guarded(ch, async () => {
      const offer = decodeHeader(await ch.control.recvMessage());
      const live = offer.criu === CriuType.CRIU_RSYNC;
      if (offer.criu === CriuType.PHAUL || (live && (!spec.restore || !ch.criu))) throw new LiveMigrationUnsupported();
      const features = common(RSYNC_FEATURES, offeredRsync(offer));
      const instance = spec.kind === "instance";
      const refresh = spec.refresh !== undefined;
      // A refresh adds to an existing volume: btrfs streams would need its parent, rsync does not.
      const btrfs = offer.fs === FsType.BTRFS && spec.driver === "btrfs" && !refresh;
      const btrfsFeatures = btrfs ? { migrationHeader: Boolean(offer.btrfsFeatures?.migrationHeader), headerSubvolumes: false, headerSubvolumeUuids: false } : undefined;
      // btrfs streams carry the final state at once: no final sync pass.
      const finalSync = instance && (offer.criu === CriuType.NONE || live) && !btrfs;
      const tar = !btrfs && !finalSync && Boolean(offer.extensions?.includes(TAR_EXTENSION));
      // An old peer may list names only: they then get the default snapshot fields.
      const offered = offer.snapshots.length === offer.snapshotNames.length
        ? offer.snapshots
        : offer.snapshotNames.map((name) => ({ name, localConfig: {}, profiles: [], ephemeral: false, localDevices: {}, architecture: 0, stateful: false }));
      const snapshots = refresh ? await spec.refresh!(offered) : offered;
      const answer: MigrationHeader = {
        fs: btrfs ? FsType.BTRFS : FsType.RSYNC,
        btrfsFeatures,
        criu: live ? CriuType.CRIU_RSYNC : instance && offer.criu === CriuType.NONE ? CriuType.NONE : undefined,
        idmap: [],
        snapshotNames: refresh ? snapshots.map((s) => s.name) : offer.snapshotNames,
        snapshots: refresh ? snapshots : offer.snapshots,
        predump: instance ? false : undefined,
        rsyncFeatures: toFlags(features),
        refresh,
        indexHeaderVersion: Math.min(offer.indexHeaderVersion ?? 0, INDEX_HEADER_VERSION),
        extensions: tar ? [TAR_EXTENSION] : undefined,
      };
      ch.control.sendMessage(encodeHeader(answer));
      let info: Record<string, unknown> | undefined;
      if ((answer.indexHeaderVersion ?? 0) > 0) {
        const parsed = JSON.parse(new TextDecoder().decode(await ch.fs.readAll())) as { config?: Record<string, unknown> };
        info = parsed.config ?? undefined;
        await ch.fs.write(new TextEncoder().encode(JSON.stringify({ StatusCode: 200, Error: "", Refresh: refresh })));
        ch.fs.barrier();
      }
      const idmap: IdmapEntry[] = offer.idmap;
      if (btrfs) {
        if (btrfsFeatures!.migrationHeader) {
          const header = JSON.parse(new TextDecoder().decode(await ch.fs.readAll())) as BtrfsHeader;
          if (header.subvolumes?.some((v) => v.path !== "/")) throw new Error("The source volume holds nested btrfs subvolumes, which this server cannot receive");
        }
        await spec.receive(snapshots, info, { read: (sink) => ch.fs.readStream(sink) });
        ch.control.sendMessage(encodeControl({ success: true }));
        return;
      }
      // Live: the checkpoint arrives between the two passes, into a root-only directory.
      if (live) await mkdir(opts.socketDir, { recursive: true, mode: 0o700 });
      const state = live ? await mkdtemp(join(opts.socketDir, "checkpoint-")) : undefined;
      try {
        await spec.receive(snapshots, info, { fill: async (dir, snapshot) => {
          const name = snapshot === undefined ? spec.name : `${spec.name}/${snapshot}`;
          if (tar) await tarReceive(dir, ch.fs, name);
          else await rsyncReceive(dir, ch.fs, { features, name });
          if (snapshot === undefined && state) await rsyncReceive(state, ch.criu!, { features, name: `${name} (checkpoint)` });
          if (snapshot === undefined && finalSync) await rsyncReceive(dir, ch.fs, { features, name });
          // The sender's files carry its shifted host ids: back to the container's own.
          if (idmap.length) await shiftTree(dir, idmap);
        } });
        if (state) await spec.restore!(state);
      } finally {
        if (state) await rm(state, { recursive: true, force: true });
      }
      ch.control.sendMessage(encodeControl({ success: true }));
    });
  } finally {
    stop();
  }
}
