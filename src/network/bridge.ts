// The kernel side of a managed bridge network: a Linux bridge with the host's address on it.
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { sh, shQuiet } from "./run.ts";

export const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

export interface BridgeSpec {
  /** Host interface name. */
  link: string;
  /** The host's address on the bridge ("10.1.2.1/24"), or none. */
  ipv4?: string;
  /** The host's IPv6 address on the bridge ("fd42:1:2:3::1/64"), or none (IPv6 is then off on it). */
  ipv6?: string;
  mtu?: number;
  hwaddr?: string;
}

/** Creates the bridge if missing and (re)applies its address, MTU and MAC; idempotent. */
export async function ensureBridge(spec: BridgeSpec): Promise<void> {
  if (!linkExists(spec.link)) await sh(["ip", "link", "add", "dev", spec.link, "type", "bridge"]);
  // What sysfs shows as already set is left alone: a restarted daemon finds its bridges as they were.
  const now = (attr: string) => readFile(`/sys/class/net/${spec.link}/${attr}`, "utf8").then((v) => v.trim(), () => "");
  if (spec.mtu && (await now("mtu")) !== String(spec.mtu)) await sh(["ip", "link", "set", "dev", spec.link, "mtu", String(spec.mtu)]);
  if (spec.hwaddr && (await now("address")) !== spec.hwaddr.toLowerCase()) await sh(["ip", "link", "set", "dev", spec.link, "address", spec.hwaddr]);
  // Without IPv6 the kernel must not even autoconfigure a link-local address; with it, router
  // advertisements go out from the link-local address.
  await writeFile(`/proc/sys/net/ipv6/conf/${spec.link}/disable_ipv6`, spec.ipv6 ? "0" : "1").catch(() => {});
  await setAddress(spec.link, "-4", spec.ipv4);
  if (spec.ipv6) {
    await writeFile(`/proc/sys/net/ipv6/conf/${spec.link}/accept_ra`, "0").catch(() => {});
    await setAddress(spec.link, "-6", spec.ipv6);
  }
  // IFF_UP is bit 0 of the flags.
  if (!(Number(await now("flags")) & 1)) await sh(["ip", "link", "set", "dev", spec.link, "up"]);
}

/** Makes `want` the only address of its family on the link (IPv6: only global ones count). */
async function setAddress(link: string, family: "-4" | "-6", want?: string): Promise<void> {
  const current = await sh(["ip", family, "-o", "addr", "show", "dev", link, ...(family === "-6" ? ["scope", "global"] : [])]);
  const have = [...current.matchAll(/inet6? (\S+)/g)].map((m) => m[1]);
  for (const addr of have) if (addr !== want) await sh(["ip", family, "addr", "del", addr, "dev", link]);
  // nodad: the address is usable at once (dnsmasq binds to it right after).
  if (want && !have.includes(want)) await sh(["ip", family, "addr", "add", want, "dev", link, ...(family === "-6" ? ["nodad"] : [])]);
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
