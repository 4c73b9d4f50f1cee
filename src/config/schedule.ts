// Time rules of automatic snapshots: `snapshots.schedule` (cron, 5 fields, or @daily and friends,
// several separated by commas) and `snapshots.expiry` ("1d 2w": how long a snapshot is kept).
// Pure functions: the daemon's timer asks `scheduleMatches` once a minute.

const ALIASES: Record<string, string> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
};

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface Field { min: number; max: number; names?: string[]; nameBase?: number }
const FIELDS: Field[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { min: 0, max: 7, names: DAYS, nameBase: 0 },
];

/** One cron expression as the set of allowed values per field, plus which day fields were restricted. */
export interface Cron {
  values: Set<number>[];
  domAny: boolean;
  dowAny: boolean;
}

function parseValue(text: string, f: Field, what: string): number {
  const named = f.names?.indexOf(text.toLowerCase()) ?? -1;
  const n = named >= 0 ? named + (f.nameBase ?? 0) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < f.min || n > f.max) throw new Error(`${what}: "${text}" is not in ${f.min}-${f.max}`);
  return n;
}

function parseField(text: string, f: Field, what: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const [range, stepText, extra] = part.split("/");
    if (extra !== undefined || !range) throw new Error(`${what}: bad part "${part}"`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`${what}: bad step "${stepText}"`);
    let lo: number, hi: number;
    if (range === "*") {
      [lo, hi] = [f.min, f.max];
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      [lo, hi] = [parseValue(a!, f, what), parseValue(b ?? "", f, what)];
      if (lo > hi) throw new Error(`${what}: range "${range}" goes backwards`);
    } else {
      lo = parseValue(range, f, what);
      // "5/15" means from 5 to the end, every 15.
      hi = stepText === undefined ? lo : f.max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Parses one 5-field expression or alias; throws with what is wrong. */
export function parseCron(expr: string): Cron {
  const text = ALIASES[expr.trim()] ?? expr.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5) throw new Error(`Invalid cron expression "${expr}": expected 5 fields, got ${parts.length}`);
  const names = ["minute", "hour", "day of month", "month", "day of week"];
  const values = parts.map((p, i) => parseField(p, FIELDS[i]!, `Invalid cron expression "${expr}" (${names[i]})`));
  // Sunday is 0 or 7.
  if (values[4]!.has(7)) values[4]!.add(0);
  return { values, domAny: parts[2] === "*", dowAny: parts[4] === "*" };
}

/** Accepted by config validation but never due on the clock. */
const NEVER = new Set(["@never", "@startup"]);

/** `snapshots.schedule`: empty, or expressions/aliases separated by ", " (comma and space, as in
 *  LXD: a bare comma is a list inside one cron field, "0 1,13 * * *"). */
export function parseSchedule(value: string): Cron[] {
  return value.split(/,\s+/).map((s) => s.trim()).filter((s) => s && !NEVER.has(s)).map(parseCron);
}

/** Whether the (local-time) minute of `at` is one the expression fires on. */
export function cronMatches(cron: Cron, at: Date): boolean {
  const [min, hour, dom, month, dow] = cron.values as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  if (!min.has(at.getMinutes()) || !hour.has(at.getHours()) || !month.has(at.getMonth() + 1)) return false;
  const domOk = dom.has(at.getDate());
  const dowOk = dow.has(at.getDay());
  // Classic cron: when both day fields are restricted, either one matching is enough.
  if (!cron.domAny && !cron.dowAny) return domOk || dowOk;
  return domOk && dowOk;
}

export function scheduleMatches(value: string, at: Date): boolean {
  return parseSchedule(value).some((c) => cronMatches(c, at));
}

/** `snapshots.expiry` applied to `from`: "1M" minutes, "H" hours, "d" days, "w" weeks, "m" months,
 *  "y" years, several separated by spaces. Empty means never (null). */
export function expiryDate(value: string, from: Date): Date | null {
  const parts = value.trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return null;
  const d = new Date(from.getTime());
  for (const part of parts) {
    const m = /^(\d+)([MHdwmy])$/.exec(part);
    if (!m) throw new Error(`Invalid expiry "${value}": "${part}" is not a number followed by M, H, d, w, m or y`);
    const n = Number(m[1]);
    switch (m[2]) {
      case "M": d.setMinutes(d.getMinutes() + n); break;
      case "H": d.setHours(d.getHours() + n); break;
      case "d": d.setDate(d.getDate() + n); break;
      case "w": d.setDate(d.getDate() + 7 * n); break;
      case "m": d.setMonth(d.getMonth() + n); break;
      case "y": d.setFullYear(d.getFullYear() + n); break;
    }
  }
  return d;
}

/** An API `expires_at` as a row stores it: "" (never) for null, "" or the zero time (what
 *  `--no-expiry` sends); undefined when it is no timestamp. */
export function expiresAt(value: string | null | undefined): string | undefined {
  if (!value || value.startsWith("0001-01-01")) return "";
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

/** A refresh's comparison of snapshot lists, as LXD's: the target's snapshots the source lacks, or
 *  has with another creation time (to the second), are stale; the source's the target does not
 *  keep are missing (in the source's order). */
export function compareSnapshots(ours: { name: string; createdAt: string }[], theirs: { name: string; createdAt?: string }[]): { stale: string[]; missing: string[] } {
  const second = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
  const byName = new Map(theirs.map((s) => [s.name, s]));
  const stale = ours.filter((o) => {
    const t = byName.get(o.name);
    return !t || (t.createdAt !== undefined && second(t.createdAt) !== second(o.createdAt));
  }).map((o) => o.name);
  const kept = new Set(ours.map((o) => o.name).filter((n) => !stale.includes(n)));
  return { stale, missing: theirs.filter((t) => !kept.has(t.name)).map((t) => t.name) };
}

/** Next name from `snapshots.pattern` ("snap%d" by default): as LXD, one past the highest number
 *  in use, so a deleted snap0 is not reused while snap1 exists. */
export function nextSnapshotName(pattern: string, taken: Set<string>): string {
  const p = pattern || "snap%d";
  const at = p.indexOf("%d");
  if (at < 0) {
    if (!taken.has(p)) return p;
    for (let i = 0; ; i++) if (!taken.has(`${p}-${i}`)) return `${p}-${i}`;
  }
  const [head, tail] = [p.slice(0, at), p.slice(at + 2)];
  let next = 0;
  for (const name of taken) {
    if (!name.startsWith(head) || !name.endsWith(tail)) continue;
    const digits = name.slice(head.length, name.length - tail.length);
    if (/^\d+$/.test(digits)) next = Math.max(next, Number(digits) + 1);
  }
  return `${head}${next}${tail}`;
}

/** Why a snapshot name (of an instance or a volume) is unusable, or undefined. */
export function validateSnapshotName(name: string): string | undefined {
  if (!name) return "Snapshot name may not be empty";
  if (name.includes("/")) return `Snapshot name "${name}" may not contain "/"`;
  if (name === "." || name === "..") return `Snapshot name "${name}" is reserved`;
  if (name.length > 255) return "Snapshot name is longer than 255 characters";
  if (/[\s\0]/.test(name)) return `Snapshot name "${name}" may not contain white space`;
  return undefined;
}
