// IPv6 address arithmetic for managed networks: CIDR parsing, overlap checks, `ipv6.address=auto`
// (a random unique-local fd42:…/64, as LXD picks) and the SLAAC (EUI-64) address a MAC gets.
import { ipv6Number, parseCidr } from "../config/values.ts";
import { ipJson } from "./run.ts";

export interface Cidr6 {
  /** The address as 128 bits. */
  address: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

export const parseIPv6 = ipv6Number;

/** RFC 5952 text: lower case, the longest run of two or more zero groups as "::". */
export function formatIPv6(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best[1] && j - i > 1) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best[0] < 0) return hex.join(":");
  return `${hex.slice(0, best[0]).join(":")}::${hex.slice(best[0] + best[1]).join(":")}`;
}

export function parseCidr6(text: string): Cidr6 | undefined {
  const c = parseCidr(text, 6);
  return c && { address: ipv6Number(c.address)!, prefix: c.prefix };
}

const mask6 = (prefix: number) => (prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL);
export const networkOf6 = (c: Cidr6): bigint => c.address & mask6(c.prefix);
export const subnetString6 = (c: Cidr6): string => `${formatIPv6(networkOf6(c))}/${c.prefix}`;

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const m = mask6(Math.min(a.prefix, b.prefix));
  return (a.address & m) === (b.address & m);
}

/** A host address of a /64 (SLAAC needs exactly 64 bits of interface id), not the subnet's zero address. */
export function checkBridgeAddress6(text: string): string | undefined {
  const c = parseCidr6(text);
  if (!c) return `Invalid IPv6 CIDR "${text}" (expected e.g. fd42:1:2:3::1/64)`;
  if (c.prefix !== 64) return `Invalid prefix in "${text}": managed bridges use /64 subnets (needed for SLAAC)`;
  if (c.address === networkOf6(c)) return `"${text}" is the subnet's own address, not a host address`;
  return undefined;
}

/** A random fd42:xxxx:xxxx:xxxx::1/64 that overlaps none of `taken`. */
export function pickSubnet6(taken: Cidr6[], random: () => number = Math.random): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const g = () => Math.floor(random() * 0x10000).toString(16);
    const text = `fd42:${g()}:${g()}:${g()}::1/64`;
    const c = parseCidr6(text)!;
    if (!taken.some((t) => overlaps6(t, c))) return text;
  }
  throw new Error("Failed to automatically find an unused IPv6 subnet, manual configuration required");
}

/** The stateless autoconfiguration address (modified EUI-64) of `mac` in a /64. */
export function slaacAddress(c: Cidr6, mac: string): string {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  const eui = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
  const iid = eui.reduce((n, x) => (n << 8n) | BigInt(x), 0n);
  return formatIPv6(networkOf6(c) | iid);
}

/** The stateful DHCPv6 pool: ::1000 to ::ffff of the subnet, as a range dnsmasq accepts. */
export function dhcpRange6(c: Cidr6): [string, string] {
  const base = networkOf6(c);
  return [formatIPv6(base | 0x1000n), formatIPv6(base | 0xffffn)];
}

/** IPv6 destinations of the host's routes and its addresses (link-local ones left out), with their device. */
export async function hostSubnets6(): Promise<(Cidr6 & { dev: string })[]> {
  const out: (Cidr6 & { dev: string })[] = [];
  const add = (text: string, dev: unknown) => {
    const c = parseCidr6(text.includes("/") ? text : `${text}/128`);
    if (c && !text.toLowerCase().startsWith("fe80") && c.prefix > 0) out.push({ ...c, dev: String(dev ?? "") });
  };
  for (const r of await ipJson(["ip", "-j", "-6", "route", "show"])) {
    const dst = String(r.dst ?? "");
    if (dst && dst !== "default") add(dst, r.dev);
  }
  for (const link of await ipJson(["ip", "-j", "-6", "addr", "show"])) {
    for (const a of (link.addr_info as { local?: string; prefixlen?: number }[] | undefined) ?? []) {
      if (a.local) add(`${a.local}/${a.prefixlen ?? 128}`, link.ifname);
    }
  }
  return out;
}
