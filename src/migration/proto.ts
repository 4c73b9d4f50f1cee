// LXD's migration messages (migrate.proto, proto2; unchanged since LXD 5.0): a hand-written codec
// for the few messages the control channel carries. Each message is one binary websocket frame.
// Only varints and length-delimited fields occur; unknown fields are skipped, so a newer peer's
// additions do no harm.

export const FsType = { RSYNC: 0, BTRFS: 1, ZFS: 2, RBD: 3, BLOCK_AND_RSYNC: 4, RBD_AND_RSYNC: 5 } as const;
export const CriuType = { CRIU_RSYNC: 0, PHAUL: 1, NONE: 2, VM_QEMU: 3 } as const;

export interface IdmapEntry { isuid: boolean; isgid: boolean; hostid: number; nsid: number; maprange: number }

export interface SnapshotInfo {
  name: string;
  localConfig: Record<string, string>;
  profiles: string[];
  ephemeral: boolean;
  localDevices: Record<string, Record<string, string>>;
  architecture: number;
  stateful: boolean;
  /** Unix seconds. */
  creationDate?: number;
  lastUsedDate?: number;
  expiryDate?: number;
}

export interface RsyncFeatures { xattrs?: boolean; delete?: boolean; compress?: boolean; bidirectional?: boolean }
export interface BtrfsFeatures { migrationHeader?: boolean; headerSubvolumes?: boolean; headerSubvolumeUuids?: boolean }
export interface ZfsFeatures { compress?: boolean; migrationHeader?: boolean; headerZvols?: boolean }

export interface MigrationHeader {
  fs: number;
  criu?: number;
  idmap: IdmapEntry[];
  snapshotNames: string[];
  snapshots: SnapshotInfo[];
  predump?: boolean;
  rsyncFeatures?: RsyncFeatures;
  refresh?: boolean;
  zfsFeatures?: ZfsFeatures;
  volumeSize?: number;
  btrfsFeatures?: BtrfsFeatures;
  indexHeaderVersion?: number;
  /** Transfers only this daemon knows (field 1000, outside LXD's range: an LXD peer skips it and
   *  never answers with it, so it keeps talking rsync). */
  extensions?: string[];
}

const EXTENSIONS_FIELD = 1000;

export interface MigrationControl { success: boolean; message?: string }

// ---- wire primitives ----

class Writer {
  private parts: number[] = [];

  varint(v: number | bigint): void {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.parts.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.parts.push(Number(n));
  }

  tag(field: number, wire: number): void { this.varint((field << 3) | wire); }
  uint(field: number, v: number | undefined): void { if (v !== undefined) { this.tag(field, 0); this.varint(v); } }
  bool(field: number, v: boolean | undefined): void { if (v !== undefined) this.uint(field, v ? 1 : 0); }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    for (const b of data) this.parts.push(b);
  }

  string(field: number, v: string | undefined): void { if (v !== undefined) this.bytes(field, new TextEncoder().encode(v)); }
  message(field: number, w: Writer | undefined): void { if (w) this.bytes(field, w.finish()); }
  finish(): Uint8Array { return Uint8Array.from(this.parts); }
}

type Field = { field: number; wire: number; int?: bigint; data?: Uint8Array };

function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= buf.length) throw new Error("truncated migration message");
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      if (shift > 63n) throw new Error("malformed varint in migration message");
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) yield { field, wire, int: varint() };
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error("truncated migration message");
      yield { field, wire, data: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire} in migration message`);
  }
}

const text = (f: Field) => new TextDecoder().decode(f.data);
const int32 = (f: Field) => Number(BigInt.asIntN(32, f.int ?? 0n));
const int64 = (f: Field) => Number(BigInt.asIntN(64, f.int ?? 0n));
const flag = (f: Field) => (f.int ?? 0n) !== 0n;

// ---- messages ----

function encodeConfig(map: Record<string, string>, field: number, w: Writer): void {
  for (const [key, value] of Object.entries(map)) {
    const c = new Writer();
    c.string(1, key);
    c.string(2, value);
    w.message(field, c);
  }
}

function decodeConfig(buf: Uint8Array): [string, string] {
  let key = "";
  let value = "";
  for (const f of fields(buf)) {
    if (f.field === 1) key = text(f);
    else if (f.field === 2) value = text(f);
  }
  return [key, value];
}

function encodeSnapshot(s: SnapshotInfo): Writer {
  const w = new Writer();
  w.string(1, s.name);
  encodeConfig(s.localConfig, 2, w);
  for (const p of s.profiles) w.string(3, p);
  w.bool(4, s.ephemeral);
  for (const [name, config] of Object.entries(s.localDevices)) {
    const d = new Writer();
    d.string(1, name);
    encodeConfig(config, 2, d);
    w.message(5, d);
  }
  w.uint(6, s.architecture);
  w.bool(7, s.stateful);
  w.uint(8, s.creationDate);
  w.uint(9, s.lastUsedDate);
  w.uint(10, s.expiryDate);
  return w;
}

function decodeSnapshot(buf: Uint8Array): SnapshotInfo {
  const s: SnapshotInfo = { name: "", localConfig: {}, profiles: [], ephemeral: false, localDevices: {}, architecture: 0, stateful: false };
  for (const f of fields(buf)) {
    switch (f.field) {
      case 1: s.name = text(f); break;
      case 2: { const [k, v] = decodeConfig(f.data!); s.localConfig[k] = v; break; }
      case 3: s.profiles.push(text(f)); break;
      case 4: s.ephemeral = flag(f); break;
      case 5: {
        let name = "";
        const config: Record<string, string> = {};
        for (const g of fields(f.data!)) {
          if (g.field === 1) name = text(g);
          else if (g.field === 2) { const [k, v] = decodeConfig(g.data!); config[k] = v; }
        }
        s.localDevices[name] = config;
        break;
      }
      case 6: s.architecture = int32(f); break;
      case 7: s.stateful = flag(f); break;
      case 8: s.creationDate = int64(f); break;
      case 9: s.lastUsedDate = int64(f); break;
      case 10: s.expiryDate = int64(f); break;
    }
  }
  return s;
}

function boolsMessage(values: (boolean | undefined)[]): Writer {
  const w = new Writer();
  values.forEach((v, i) => {
    w.bool(i + 1, v);
  });
  return w;
}

function decodeBools(buf: Uint8Array, n: number): (boolean | undefined)[] {
  const out: (boolean | undefined)[] = new Array(n).fill(undefined);
  for (const f of fields(buf)) if (f.field >= 1 && f.field <= n && f.wire === 0) out[f.field - 1] = flag(f);
  return out;
}

export function encodeHeader(h: MigrationHeader): Uint8Array {
  const w = new Writer();
  w.uint(1, h.fs);
  w.uint(2, h.criu);
  for (const m of h.idmap) {
    const e = new Writer();
    e.bool(1, m.isuid);
    e.bool(2, m.isgid);
    e.uint(3, m.hostid);
    e.uint(4, m.nsid);
    e.uint(5, m.maprange);
    w.message(3, e);
  }
  for (const n of h.snapshotNames) w.string(4, n);
  for (const s of h.snapshots) w.message(5, encodeSnapshot(s));
  w.bool(7, h.predump);
  if (h.rsyncFeatures) {
    const r = h.rsyncFeatures;
    w.message(8, boolsMessage([r.xattrs, r.delete, r.compress, r.bidirectional]));
  }
  w.bool(9, h.refresh);
  if (h.zfsFeatures) {
    const z = h.zfsFeatures;
    w.message(10, boolsMessage([z.compress, z.migrationHeader, z.headerZvols]));
  }
  w.uint(11, h.volumeSize);
  if (h.btrfsFeatures) {
    const b = h.btrfsFeatures;
    w.message(12, boolsMessage([b.migrationHeader, b.headerSubvolumes, b.headerSubvolumeUuids]));
  }
  w.uint(13, h.indexHeaderVersion);
  for (const e of h.extensions ?? []) w.string(EXTENSIONS_FIELD, e);
  return w.finish();
}

export function decodeHeader(buf: Uint8Array): MigrationHeader {
  const h: MigrationHeader = { fs: -1, idmap: [], snapshotNames: [], snapshots: [] };
  for (const f of fields(buf)) {
    switch (f.field) {
      case 1: h.fs = int32(f); break;
      case 2:
        // A MigrationControl where a header was due: the peer failed before it could answer.
        if (f.wire === 2) throw new Error(text(f) || "the migration peer failed");
        h.criu = int32(f);
        break;
      case 3: {
        const m: IdmapEntry = { isuid: false, isgid: false, hostid: 0, nsid: 0, maprange: 0 };
        for (const g of fields(f.data!)) {
          if (g.field === 1) m.isuid = flag(g);
          else if (g.field === 2) m.isgid = flag(g);
          else if (g.field === 3) m.hostid = int32(g);
          else if (g.field === 4) m.nsid = int32(g);
          else if (g.field === 5) m.maprange = int32(g);
        }
        h.idmap.push(m);
        break;
      }
      case 4: h.snapshotNames.push(text(f)); break;
      case 5: h.snapshots.push(decodeSnapshot(f.data!)); break;
      case 7: h.predump = flag(f); break;
      case 8: {
        const [xattrs, del, compress, bidirectional] = decodeBools(f.data!, 4);
        h.rsyncFeatures = { xattrs, delete: del, compress, bidirectional };
        break;
      }
      case 9: h.refresh = flag(f); break;
      case 10: {
        const [compress, migrationHeader, headerZvols] = decodeBools(f.data!, 3);
        h.zfsFeatures = { compress, migrationHeader, headerZvols };
        break;
      }
      case 11: h.volumeSize = int64(f); break;
      case 12: {
        const [migrationHeader, headerSubvolumes, headerSubvolumeUuids] = decodeBools(f.data!, 3);
        h.btrfsFeatures = { migrationHeader, headerSubvolumes, headerSubvolumeUuids };
        break;
      }
      case 13: h.indexHeaderVersion = Number(f.int ?? 0n); break;
      case EXTENSIONS_FIELD: (h.extensions ??= []).push(text(f)); break;
    }
  }
  if (h.fs < 0) throw new Error("migration header without a filesystem type");
  return h;
}

export function encodeControl(c: MigrationControl): Uint8Array {
  const w = new Writer();
  w.bool(1, c.success);
  w.string(2, c.message ?? "");
  return w.finish();
}

export function decodeControl(buf: Uint8Array): MigrationControl {
  const c: MigrationControl = { success: false };
  for (const f of fields(buf)) {
    if (f.field === 1) c.success = flag(f);
    else if (f.field === 2) c.message = text(f);
  }
  return c;
}

/** The rsync features a header offers, as names (LXD's GetRsyncFeaturesSlice). */
export function rsyncFeatureNames(f: RsyncFeatures | undefined): string[] {
  if (!f) return [];
  return (["xattrs", "delete", "compress", "bidirectional"] as const).filter((k) => f[k]);
}

/** Go's zero time in Unix seconds: what LXD sends for "never" (an expiry) or "unknown". */
const GO_ZERO_TIME = -62135596800;

/** An API timestamp as a header's Unix seconds ("" or the zero time: Go's zero time). */
export function headerSeconds(iso: string | undefined): number {
  if (!iso || iso.startsWith("0001-01-01")) return GO_ZERO_TIME;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? GO_ZERO_TIME : Math.floor(ms / 1000);
}

/** A header's Unix seconds as an ISO timestamp; undefined for none (zero, negative: Go's zero time). */
export const headerTime = (secs: number | undefined): string | undefined =>
  secs === undefined || secs <= 0 ? undefined : new Date(secs * 1000).toISOString();
