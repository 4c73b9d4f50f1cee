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

/** LXD's JSON form for volatile.idmap.* keys: identical uid and gid entries merge into one. */
export function idmapJson(uid: IdMapEntry[], gid: IdMapEntry[]): string {
  type Lxd = { Isuid: boolean; Isgid: boolean; Hostid: number; Nsid: number; Maprange: number };
  const out: Lxd[] = uid.map((e) => ({ Isuid: true, Isgid: false, Hostid: e.hostid, Nsid: e.nsid, Maprange: e.range }));
  for (const e of gid) {
    const same = out.find((o) => o.Isuid && !o.Isgid && o.Hostid === e.hostid && o.Nsid === e.nsid && o.Maprange === e.range);
    if (same) same.Isgid = true;
    else out.push({ Isuid: false, Isgid: true, Hostid: e.hostid, Nsid: e.nsid, Maprange: e.range });
  }
  return JSON.stringify(out);
}
