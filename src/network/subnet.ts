// IPv4 address arithmetic for managed networks: parsing CIDRs, overlap checks and picking a free
// private /24 for `ipv4.address=auto`.
import { ipv4Number, parseCidr } from "../config/values.ts";
import { ipJson } from "./run.ts";

export interface Cidr4 {
  /** The address as written (the host's own address on the bridge). */
  address: number;
  prefix: number;
}

export const parseIPv4 = ipv4Number;

export const formatIPv4 = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");

export function parseCidr4(text: string): Cidr4 | undefined {
  const c = parseCidr(text, 4);
  return c && { address: ipv4Number(c.address)!, prefix: c.prefix };
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
export const networkOf = (c: Cidr4): number => (c.address & mask(c.prefix)) >>> 0;
export const broadcastOf = (c: Cidr4): number => (networkOf(c) | (~mask(c.prefix) >>> 0)) >>> 0;
export const formatCidr4 = (c: Cidr4): string => `${formatIPv4(c.address)}/${c.prefix}`;
/** "10.1.2.0/24" for "10.1.2.1/24". */
export const subnetString = (c: Cidr4): string => `${formatIPv4(networkOf(c))}/${c.prefix}`;

export function overlaps(a: Cidr4, b: Cidr4): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.address & mask(p)) >>> 0) === ((b.address & mask(p)) >>> 0);
}

export function contains(c: Cidr4, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === networkOf(c);
}

/** A usable host address of a bridge subnet: not the network or broadcast address, prefix ≤ 30. */
export function checkBridgeAddress(text: string): string | undefined {
  const c = parseCidr4(text);
  if (!c) return `Invalid IPv4 CIDR "${text}" (expected e.g. 10.0.3.1/24)`;
  if (c.prefix > 30 || c.prefix < 8) return `Invalid prefix in "${text}": must be between /8 and /30`;
  if (c.address === networkOf(c) || c.address === broadcastOf(c)) return `"${text}" is the network or broadcast address, not a host address`;
  return undefined;
}

/** The DHCP pool of a bridge: every address from .2 (past the gateway) to the last before broadcast, minus the gateway. */
export function dhcpRange(c: Cidr4): [string, string] {
  const first = networkOf(c) + 1 === c.address ? networkOf(c) + 2 : networkOf(c) + 1;
  const last = broadcastOf(c) - 1 === c.address ? broadcastOf(c) - 2 : broadcastOf(c) - 1;
  return [formatIPv4(first), formatIPv4(last)];
}

/**
 * A random 10.x.y.1/24 that overlaps none of `taken` (the host's routes and addresses, other
 * managed networks). `random` is injectable so tests can drive it.
 */
export function pickSubnet(taken: Cidr4[], random: () => number = Math.random): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const x = Math.floor(random() * 256);
    const y = Math.floor(random() * 256);
    const candidate = { address: parseIPv4(`10.${x}.${y}.1`)!, prefix: 24 };
    if (!taken.some((t) => overlaps(t, candidate))) return formatCidr4(candidate);
  }
  throw new Error("Failed to automatically find an unused IPv4 subnet, manual configuration required");
}

/** IPv4 destinations of the host's routes (every table) and its addresses, from `ip -j`, with their device. */
export async function hostSubnets(): Promise<(Cidr4 & { dev: string })[]> {
  const out: (Cidr4 & { dev: string })[] = [];
  for (const r of await ipJson(["ip", "-j", "-4", "route", "show", "table", "all"])) {
    const dst = String(r.dst ?? "");
    if (dst === "default" || !dst) continue;
    const c = parseCidr4(dst.includes("/") ? dst : `${dst}/32`);
    if (c) out.push({ ...c, dev: String(r.dev ?? "") });
  }
  for (const link of await ipJson(["ip", "-j", "-4", "addr", "show"])) {
    for (const a of (link.addr_info as { local?: string; prefixlen?: number }[] | undefined) ?? []) {
      const c = a.local ? parseCidr4(`${a.local}/${a.prefixlen ?? 32}`) : undefined;
      if (c) out.push({ ...c, dev: String(link.ifname ?? "") });
    }
  }
  return out;
}
