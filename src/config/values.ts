// Config values as LXD spells them: one parser per value type (bool, integer, size, IP address and
// CIDR, cron schedule), shared by every config family's table (server, instance, device, network,
// pool, volume), and the one byte formatter. A Validator returns an error message, or undefined
// when the value is acceptable.
import ipaddr from "ipaddr.js";
import { parseSchedule } from "./schedule.ts";

export type Validator = (value: string) => string | undefined;

/** One config key: how its value is checked and what it means (for docs and the OpenAPI text). */
export interface KeyInfo {
  validate: Validator;
  description: string;
  /** Applies to a running container without a restart (cgroup limits). */
  live?: boolean;
}

export const key = (validate: Validator, description: string, live?: boolean): KeyInfo => ({ validate, description, live });

// ---- booleans ---------------------------------------------------------------------------------

const BOOLS = ["true", "false", "1", "0", "yes", "no", "on", "off"];
const TRUE = ["true", "1", "yes", "on"];

/** LXD's boolean reading: true/1/yes/on (any case) are true, everything else false. */
export const isTrue = (value: string | undefined | null): boolean => TRUE.includes((value ?? "").trim().toLowerCase());
/** Whether LXD accepts the value as a boolean at all. */
export const isBool = (value: string): boolean => BOOLS.includes(value.toLowerCase());

export const bool: Validator = (v) => (isBool(v) ? undefined : `Invalid value for a boolean "${v}"`);

// ---- integers ---------------------------------------------------------------------------------

export const int: Validator = (v) => (/^-?\d+$/.test(v) ? undefined : `Invalid value for an integer "${v}"`);
export const uint32: Validator = (v) =>
  /^\d+$/.test(v) && Number(v) <= 0xffffffff ? undefined : `Invalid value for a 32-bit unsigned integer "${v}"`;
export const range = (min: number, max: number): Validator => (v) =>
  int(v) ?? (Number(v) < min || Number(v) > max ? `Value "${v}" must be between ${min} and ${max}` : undefined);

// ---- sizes ------------------------------------------------------------------------------------

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

export const size: Validator = (v) => (parseSize(v) === undefined ? `Invalid size "${v}"` : undefined);

function scaled(n: number, base: number, units: string[], precision: number): string {
  if (n < base) return `${Math.trunc(n)}B`;
  let value = n;
  for (const unit of units) {
    value /= base;
    if (value < base) return `${value.toFixed(precision)}${unit}`;
  }
  return `${value.toFixed(precision)}${units[units.length - 1]}`;
}

/** SI sizes like LXD's units.GetByteSizeString: 996B, 56.78kB, 1.04MB. */
export const bytesSI = (n: number, precision = 2) => scaled(n, 1000, ["kB", "MB", "GB", "TB", "PB", "EB"], precision);
/** IEC sizes like units.GetByteSizeStringIEC: 984.00KiB, 1.89MiB. */
export const bytesIEC = (n: number, precision = 2) => scaled(n, 1024, ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"], precision);

// ---- IP addresses and subnets (ipaddr.js: dotted quads without leading zeros, RFC 4291 text) ---

export const isIPv4 = (v: string): boolean => ipaddr.IPv4.isValidFourPartDecimal(v);
/** No zone index ("%eth0"): config names addresses, not interfaces. */
export const isIPv6 = (v: string): boolean => !v.includes("%") && ipaddr.IPv6.isValid(v);

/** An IPv4 address as a 32-bit number, for subnet arithmetic. */
export function ipv4Number(v: string): number | undefined {
  if (!isIPv4(v)) return undefined;
  return ipaddr.IPv4.parse(v).toByteArray().reduce((n, b) => n * 256 + b, 0);
}

/** An IPv6 address as 128 bits, for subnet arithmetic. */
export function ipv6Number(v: string): bigint | undefined {
  if (!isIPv6(v)) return undefined;
  return ipaddr.IPv6.parse(v).toByteArray().reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

/** "10.0.0.1/24" or "fd42::1/64" of the given family: the address as written and the prefix length. */
export function parseCidr(v: string, family: 4 | 6): { address: string; prefix: number } | undefined {
  const slash = v.indexOf("/");
  if (slash < 0 || !/^\d{1,3}$/.test(v.slice(slash + 1))) return undefined;
  const address = v.slice(0, slash);
  const prefix = Number(v.slice(slash + 1));
  if (family === 4 ? !isIPv4(address) || prefix > 32 : !isIPv6(address) || prefix > 128) return undefined;
  return { address, prefix };
}

export const ipv4: Validator = (v) => (isIPv4(v) ? undefined : `Invalid IPv4 address "${v}"`);
export const ipv6: Validator = (v) => (isIPv6(v) ? undefined : `Invalid IPv6 address "${v}"`);
export const cidr4: Validator = (v) => (parseCidr(v, 4) ? undefined : `Invalid IPv4 subnet "${v}" (an address and a prefix, e.g. 10.0.0.1/24)`);
export const cidr6: Validator = (v) => (parseCidr(v, 6) ? undefined : `Invalid IPv6 subnet "${v}" (an address and a prefix, e.g. fd42::1/64)`);

// ---- schedules --------------------------------------------------------------------------------

/** Space-separated durations: 1M (minutes) 2H (hours) 3d 4w 5m (months) 6y. */
export const expiry: Validator = (v) =>
  v.trim().split(/\s+/).filter(Boolean).every((x) => /^\d+[MHdwmy]$/.test(x)) ? undefined : `Invalid expiry "${v}"`;

/** Comma-separated 5-field cron expressions or @aliases (@hourly, @daily, … @never, @startup). */
export const cron: Validator = (v) => {
  try {
    parseSchedule(v);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};
