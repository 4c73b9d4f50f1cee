// Config values as LXD spells them: one parser per value type, shared by every config family.

const BOOLS = ["true", "false", "1", "0", "yes", "no", "on", "off"];
const TRUE = ["true", "1", "yes", "on"];

/** LXD's boolean reading: true/1/yes/on (any case) are true, everything else false. */
export const isTrue = (value: string | undefined): boolean => TRUE.includes((value ?? "").toLowerCase());
/** Whether LXD accepts the value as a boolean at all. */
export const isBool = (value: string): boolean => BOOLS.includes(value.toLowerCase());

const SIZE_UNITS: Record<string, number> = {
  "": 1, B: 1, " bytes": 1,
  kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15, EB: 1e18,
  KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, PiB: 2 ** 50, EiB: 2 ** 60,
};

/** LXD's byte sizes: an integer with an optional unit, decimal (kB, MB…) or binary (KiB, MiB…). */
export function parseSize(value: string): number | undefined {
  const m = /^(\d+)(.*)$/.exec(value);
  if (!m || !(m[2] in SIZE_UNITS)) return undefined;
  return Number(m[1]) * SIZE_UNITS[m[2]];
}
