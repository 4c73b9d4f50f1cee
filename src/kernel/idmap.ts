// Default id mapping for unprivileged containers, by LXD's rules: root's first range in
// /etc/subuid and /etc/subgid (65536 ids of it), or base 1000000 when neither file exists.
import { existsSync, readFileSync } from "node:fs";

export interface IdMapEntry {
  nsid: number;
  hostid: number;
  range: number;
}

export interface IdRange {
  start: number;
  size: number;
}

/** Ids a container gets: covers root and nobody (65534). */
export const CONTAINER_IDS = 65536;
/** What LXD assumes when the host has no shadow id files at all. */
export const FALLBACK_RANGE: IdRange = { start: 1000000, size: 1000000000 };

/** Ranges granted to `user` (or its numeric uid) in subuid/subgid text ("name:start:count" lines). */
export function parseSubid(text: string, user = "root", uid = 0): IdRange[] {
  const out: IdRange[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [name, start, count] = line.split(":");
    if (name !== user && name !== String(uid)) continue;
    const s = Number(start);
    const n = Number(count);
    if (Number.isInteger(s) && Number.isInteger(n) && s >= 0 && n > 0) out.push({ start: s, size: n });
  }
  return out;
}

/** Host files the defaults come from; null when a file is absent (injectable for tests). */
export type FileReader = (path: string) => string | null;

const readHostFile: FileReader = (path) => (existsSync(path) ? readFileSync(path, "utf8") : null);

/** Whether this process runs in the initial user namespace, i.e. not inside a container. */
export function inInitialUserNamespace(): boolean {
  return readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/).join(" ") === "0 0 4294967295";
}

function pickRange(kind: "subuid" | "subgid", text: string): IdRange {
  const range = parseSubid(text)[0];
  if (!range) throw new Error(`/etc/${kind} has no range for root: add e.g. "root:1000000:1000000000"`);
  if (range.size < CONTAINER_IDS) {
    throw new Error(`/etc/${kind} grants root ${range.size} ids; containers need at least ${CONTAINER_IDS}`);
  }
  return range;
}

/** The host ranges unprivileged containers map into (uid and gid). */
export function hostRanges(read: FileReader = readHostFile): { uid: IdRange; gid: IdRange } {
  const subuid = read("/etc/subuid");
  const subgid = read("/etc/subgid");
  if (subuid === null && subgid === null) return { uid: FALLBACK_RANGE, gid: FALLBACK_RANGE };
  if (subuid === null || subgid === null) {
    throw new Error(`broken shadow id setup: /etc/${subuid === null ? "subuid" : "subgid"} is missing while the other exists`);
  }
  return { uid: pickRange("subuid", subuid), gid: pickRange("subgid", subgid) };
}

/** The idmap every unprivileged container gets by default. */
export function defaultIdmap(read: FileReader = readHostFile): { uid: IdMapEntry[]; gid: IdMapEntry[] } {
  const { uid, gid } = hostRanges(read);
  return {
    uid: [{ nsid: 0, hostid: uid.start, range: CONTAINER_IDS }],
    gid: [{ nsid: 0, hostid: gid.start, range: CONTAINER_IDS }],
  };
}

type LxdIdmapEntry = { Isuid: boolean; Isgid: boolean; Hostid: number; Nsid: number; Maprange: number };

/** LXD's JSON form for volatile.idmap.* keys: uid entries, then gid entries (as LXD 5.0 stores them). */
export function idmapJson(uid: IdMapEntry[], gid: IdMapEntry[]): string {
  const out: LxdIdmapEntry[] = [
    ...uid.map((e) => ({ Isuid: true, Isgid: false, Hostid: e.hostid, Nsid: e.nsid, Maprange: e.range })),
    ...gid.map((e) => ({ Isuid: false, Isgid: true, Hostid: e.hostid, Nsid: e.nsid, Maprange: e.range })),
  ];
  return JSON.stringify(out);
}

/** The host uid ranges a volatile.idmap.* value holds (empty when absent or malformed). */
export function idmapJsonHostRanges(text: string | undefined): IdRange[] {
  try {
    const entries = JSON.parse(text ?? "[]") as LxdIdmapEntry[];
    return Array.isArray(entries) ? entries.filter((e) => e.Isuid).map((e) => ({ start: e.Hostid, size: e.Maprange })) : [];
  } catch {
    return [];
  }
}

/** One raw.idmap line: host ids mapped to the same number of container ids. */
export interface RawIdmapEntry {
  uid: boolean;
  gid: boolean;
  hostid: number;
  nsid: number;
  range: number;
}

/** raw.idmap text ("both|uid|gid HOST[-END] CONTAINER[-END]" lines); throws on a bad line. */
export function parseRawIdmap(text: string): RawIdmapEntry[] {
  const out: RawIdmapEntry[] = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const m = /^(both|uid|gid)\s+(\d+)(?:-(\d+))?\s+(\d+)(?:-(\d+))?$/.exec(line);
    if (!m) throw new Error(`invalid raw.idmap line "${line}" (expected "both|uid|gid HOST[-END] CONTAINER[-END]")`);
    const [host, ns] = [Number(m[2]), Number(m[4])];
    const range = (m[3] === undefined ? host : Number(m[3])) - host + 1;
    if (range < 1 || range !== (m[5] === undefined ? ns : Number(m[5])) - ns + 1) {
      throw new Error(`invalid raw.idmap line "${line}": the host and container ranges differ in size`);
    }
    out.push({ uid: m[1] !== "gid", gid: m[1] !== "uid", hostid: host, nsid: ns, range });
  }
  return out;
}

const overlaps = (a: IdRange, b: IdRange) => a.start < b.start + b.size && b.start < a.start + a.size;

/** The first `size` ids at or after `from` and below `end` that overlap none of `taken`. */
export function firstFree(from: number, end: number, size: number, taken: IdRange[]): number | undefined {
  let start = from;
  for (const t of [...taken].sort((a, b) => a.start - b.start)) {
    if (overlaps({ start, size }, t)) start = t.start + t.size;
  }
  return start + size <= end ? start : undefined;
}

/** A map of container ids 0..size-1 onto host ids from `base`, with raw entries punched in:
 *  their container ids leave the base range and map to their own host ids instead. */
function kindMap(base: number, size: number, raw: { hostid: number; nsid: number; range: number }[], kind: string): IdMapEntry[] {
  let segments: IdMapEntry[] = [{ nsid: 0, hostid: base, range: size }];
  for (const r of raw) {
    const next: IdMapEntry[] = [];
    for (const s of segments) {
      const [lo, hi] = [Math.max(s.nsid, r.nsid), Math.min(s.nsid + s.range, r.nsid + r.range)];
      if (lo >= hi) {
        next.push(s);
        continue;
      }
      if (lo > s.nsid) next.push({ nsid: s.nsid, hostid: s.hostid, range: lo - s.nsid });
      if (hi < s.nsid + s.range) next.push({ nsid: hi, hostid: s.hostid + hi - s.nsid, range: s.nsid + s.range - hi });
    }
    segments = next;
  }
  const all = [...segments, ...raw.map((r) => ({ nsid: r.nsid, hostid: r.hostid, range: r.range }))];
  for (const [i, a] of raw.entries()) {
    const clash = all.find((b, j) => j !== segments.length + i && overlaps({ start: a.hostid, size: a.range }, { start: b.hostid, size: b.range }));
    if (clash) {
      throw new Error(`raw.idmap: host ${kind}s ${a.hostid}-${a.hostid + a.range - 1} are already mapped (to container ${kind}s from ${clash.nsid + Math.max(0, a.hostid - clash.hostid)})`);
    }
    const twice = raw.find((b, j) => j !== i && overlaps({ start: a.nsid, size: a.range }, { start: b.nsid, size: b.range }));
    if (twice) throw new Error(`raw.idmap: container ${kind}s ${a.nsid}-${a.nsid + a.range - 1} are mapped twice`);
  }
  if (all.length > 340) throw new Error(`raw.idmap: too many ${kind} ranges (the kernel takes at most 340)`);
  return all.sort((a, b) => a.nsid - b.nsid);
}

/** The uid and gid maps of a container whose ids start at host ids `base` (uid and gid). */
export function buildIdmap(base: { uid: number; gid: number }, size: number, raw: RawIdmapEntry[]): { uid: IdMapEntry[]; gid: IdMapEntry[] } {
  return {
    uid: kindMap(base.uid, size, raw.filter((r) => r.uid), "uid"),
    gid: kindMap(base.gid, size, raw.filter((r) => r.gid), "gid"),
  };
}
