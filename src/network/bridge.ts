// The kernel side of a managed bridge network: a Linux bridge with the host's address on it.
import { existsSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import { sh, shQuiet } from "./run.ts";

export const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

export interface BridgeSpec {
  /** Host interface name. */
  link: string;
  /** The host's address on the bridge ("10.1.2.1/24"), or none. */
  ipv4?: string;
  mtu?: number;
  hwaddr?: string;
}

/** Creates the bridge if missing and (re)applies its address, MTU and MAC; idempotent. */
export async function ensureBridge(spec: BridgeSpec): Promise<void> {
  if (!linkExists(spec.link)) await sh(["ip", "link", "add", "dev", spec.link, "type", "bridge"]);
  if (spec.mtu) await sh(["ip", "link", "set", "dev", spec.link, "mtu", String(spec.mtu)]);
  if (spec.hwaddr) await sh(["ip", "link", "set", "dev", spec.link, "address", spec.hwaddr]);
  // No IPv6 on managed bridges yet: keep the kernel from autoconfiguring link-local addresses.
  await writeFile(`/proc/sys/net/ipv6/conf/${spec.link}/disable_ipv6`, "1").catch(() => {});
  const current = await sh(["ip", "-4", "-o", "addr", "show", "dev", spec.link]);
  const have = [...current.matchAll(/inet (\S+)/g)].map((m) => m[1]);
  for (const addr of have) if (addr !== spec.ipv4) await sh(["ip", "addr", "del", addr, "dev", spec.link]);
  if (spec.ipv4 && !have.includes(spec.ipv4)) await sh(["ip", "addr", "add", spec.ipv4, "dev", spec.link]);
  await sh(["ip", "link", "set", "dev", spec.link, "up"]);
}

export async function deleteBridge(link: string): Promise<void> {
  if (linkExists(link)) await shQuiet(["ip", "link", "delete", "dev", link]);
}

export async function renameBridge(from: string, to: string): Promise<void> {
  await sh(["ip", "link", "set", "dev", from, "down"]);
  await sh(["ip", "link", "set", "dev", from, "name", to]);
  await sh(["ip", "link", "set", "dev", to, "up"]);
}

/** Interfaces enslaved to the bridge (the host ends of instance veths). */
export async function bridgePorts(link: string): Promise<string[]> {
  return readdir(`/sys/class/net/${link}/brif`).catch(() => []);
}
