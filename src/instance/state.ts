// Live state of a running container, read from the host: cgroup counters and the container's
// interfaces and addresses, by rtnetlink dumps naming its namespace (procfs and sysfs through
// /proc/<init> where the namespace has no netnsid).
import { readdir, readFile } from "node:fs/promises";
import type { InstanceState } from "../api/instance.ts";
import type { Cgroups } from "../kernel/cgroup.ts";
import { addresses, links } from "../kernel/rtnetlink.ts";

type NetworkState = NonNullable<InstanceState["network"]>[string];

const COUNTERS = ["bytes_received", "packets_received", "errors_received", "packets_dropped_inbound",
  "bytes_sent", "packets_sent", "errors_sent", "packets_dropped_outbound"] as const;
// Column positions in /proc/net/dev for the counters above (receive then transmit blocks).
const COLUMNS = [0, 1, 2, 3, 8, 9, 10, 11];

function parseNetDev(text: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const line of text.split("\n").slice(2)) {
    const [name, rest] = line.split(":");
    if (!rest) continue;
    const fields = rest.trim().split(/\s+/).map(Number);
    const counters: Record<string, number> = {};
    for (const [i, key] of COUNTERS.entries()) counters[key] = fields[COLUMNS[i]] ?? 0;
    out.set(name.trim(), counters);
  }
  return out;
}

type Address = NonNullable<NetworkState["addresses"]>[number];

/** Shortens the longest run of zero groups to "::" (RFC 5952). */
export function compressIPv6(groups: string[]): string {
  let best = [-1, 0];
  for (let i = 0; i < groups.length;) {
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > best[1] && j - i > 1) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best[0] < 0) return groups.join(":");
  return `${groups.slice(0, best[0]).join(":")}::${groups.slice(best[0] + best[1]).join(":")}`;
}

/** IPv6 addresses per interface from /proc/net/if_inet6. */
function parseInet6(text: string): Map<string, Address[]> {
  const out = new Map<string, Address[]>();
  for (const line of text.trim().split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const address = compressIPv6(f[0].match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16)));
    const scope = { "00": "global", "10": "local", "20": "link" }[f[3]] ?? "global";
    const list = out.get(f[5]) ?? [];
    list.push({ family: "inet6", address, netmask: String(parseInt(f[2], 16)), scope });
    out.set(f[5], list);
  }
  return out;
}

/** Local IPv4 addresses from /proc/net/fib_trie: "|-- ADDR" followed by "/32 host LOCAL". */
function parseFibTrie(text: string): string[] {
  const addrs = new Set<string>();
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].includes("/32 host LOCAL")) {
      const m = lines[i - 1].match(/([\d.]+)\s*$/);
      if (m) addrs.add(m[1]);
    }
  }
  return [...addrs];
}

/** One interface as `ip -j addr` prints it. */
export interface IpLink {
  ifname: string;
  mtu?: number;
  flags?: string[];
  address?: string;
  link_type?: string;
  /** For a veth whose peer is in another namespace: the peer's ifindex there. */
  link_index?: number;
  link_netnsid?: number;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

const SCOPES: Record<string, string> = { host: "local", link: "link", global: "global" };

/** A little-endian hex IPv4 word from /proc/net/route as a number in network order. */
const routeWord = (hex: string) => {
  const n = parseInt(hex, 16);
  return (((n & 0xff) << 24) | ((n >> 8 & 0xff) << 16) | ((n >> 16 & 0xff) << 8) | (n >>> 24)) >>> 0;
};
const ipv4Word = (address: string) => address.split(".").reduce((n, b) => ((n << 8) | Number(b)) >>> 0, 0);
const popcount = (n: number) => n.toString(2).replaceAll("0", "").length;

/** Which interface (and prefix) each local IPv4 address belongs to: the connected route
 *  (no gateway) of /proc/<pid>/net/route whose subnet holds it. */
export function ipv4ByInterface(local: string[], routeText: string): Map<string, { local: string; prefixlen: number }[]> {
  const routes = routeText.split("\n").slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 8 && f[2] === "00000000")
    .map((f) => ({ iface: f[0], dest: routeWord(f[1]), mask: routeWord(f[7]) }));
  const out = new Map<string, { local: string; prefixlen: number }[]>();
  for (const address of local) {
    const word = ipv4Word(address);
    const loopback = address.startsWith("127.");
    const route = loopback ? undefined : routes.find((r) => r.mask !== 0 && ((word & r.mask) >>> 0) === r.dest);
    const iface = loopback ? "lo" : route?.iface;
    if (!iface) continue;
    const list = out.get(iface) ?? [];
    list.push({ local: address, prefixlen: loopback ? 8 : popcount(route!.mask) });
    out.set(iface, list);
  }
  return out;
}

const IFF_UP = 0x1;
const ARPHRD_LOOPBACK = 772;

/**
 * The container's interfaces with their own addresses, MAC and MTU, in the shape `ip -j addr`
 * prints, read from the sysfs the container mounted in its own network namespace
 * (/proc/<pid>/root/sys/class/net) plus its procfs: no process is spawned, which matters
 * because `lxd list` asks for every running container. Undefined when that sysfs is not
 * reachable (the procfs view is used then).
 */
async function sysfsLinks(pid: number, local: string[], routeText: string, v6: Map<string, Address[]>): Promise<IpLink[] | undefined> {
  const base = `/proc/${pid}/root/sys/class/net`;
  const names = await readdir(base).catch(() => undefined);
  if (!names) return undefined;
  const v4 = ipv4ByInterface(local, routeText);
  return Promise.all(names.map(async (ifname): Promise<IpLink> => {
    const attr = (a: string) => readFile(`${base}/${ifname}/${a}`, "utf8").then((t) => t.trim(), () => "");
    const [address, mtu, flags, type, ifindex, iflink] = await Promise.all(["address", "mtu", "flags", "type", "ifindex", "iflink"].map(attr));
    const loopback = Number(type) === ARPHRD_LOOPBACK;
    const scope4 = loopback ? "host" : "global";
    return {
      ifname, address, mtu: Number(mtu) || undefined,
      flags: Number.parseInt(flags, 16) & IFF_UP ? ["UP"] : [],
      link_type: loopback ? "loopback" : "ether",
      // A veth's peer in another namespace (the host end): its ifindex there.
      ...(iflink && iflink !== ifindex ? { link_index: Number(iflink), link_netnsid: 0 } : {}),
      addr_info: [
        ...(v4.get(ifname) ?? []).map((a) => ({ family: "inet", ...a, scope: scope4 })),
        ...(v6.get(ifname) ?? []).map((a) => ({
          family: "inet6", local: a.address, prefixlen: Number(a.netmask), scope: a.scope === "local" ? "host" : a.scope,
        })),
      ],
    };
  }));
}

/** Host interface names by ifindex, kept between calls (one `lxd list` asks for every container's
 *  veth peer) and dumped again when an index is missing: a veth created since then. */
let hostIfnameCache = new Map<number, string>();
function hostIfnames(wanted: number[]): Map<number, string> {
  if (wanted.every((i) => hostIfnameCache.has(i))) return hostIfnameCache;
  hostIfnameCache = new Map(links().map((l) => [l.index, l.name]));
  return hostIfnameCache;
}

/** Overlays what `ip` knows about one interface onto its procfs-derived state. */
export function applyIpLink(state: NetworkState, link: IpLink, hostNames: Map<number, string>): NetworkState {
  const loopback = link.link_type === "loopback";
  return {
    ...state,
    addresses: (link.addr_info ?? []).map((a) => ({
      family: a.family, address: a.local, netmask: String(a.prefixlen), scope: loopback ? "local" : (SCOPES[a.scope] ?? a.scope),
    })),
    hwaddr: loopback ? "" : (link.address ?? ""),
    mtu: link.mtu ?? state.mtu,
    state: link.flags?.includes("UP") ? "up" : "down",
    type: loopback ? "loopback" : "broadcast",
    host_name: link.link_netnsid !== undefined && link.link_index ? (hostNames.get(link.link_index) ?? "") : "",
  };
}

const RT_SCOPE_NAMES: Record<number, string> = { 0: "global", 253: "link", 254: "host" };

/** The namespace's interfaces from two rtnetlink dumps (addresses, MAC, MTU, flags, counters). */
function netlinkState(nsid: number): Record<string, NetworkState> {
  const addrs = addresses(nsid);
  const own = links(nsid);
  const peers = own.flatMap((l) => (l.linkOtherNs && l.link ? [l.link] : []));
  const hostNames = peers.length ? hostIfnames(peers) : new Map<number, string>();
  const out: Record<string, NetworkState> = {};
  for (const l of own) {
    const s = l.stats;
    const counters = {
      bytes_received: s?.rxBytes ?? 0, packets_received: s?.rxPackets ?? 0, errors_received: s?.rxErrors ?? 0,
      packets_dropped_inbound: s?.rxDropped ?? 0, bytes_sent: s?.txBytes ?? 0, packets_sent: s?.txPackets ?? 0,
      errors_sent: s?.txErrors ?? 0, packets_dropped_outbound: s?.txDropped ?? 0,
    };
    const loopback = l.type === ARPHRD_LOOPBACK;
    const link: IpLink = {
      ifname: l.name, mtu: l.mtu, flags: l.flags & IFF_UP ? ["UP"] : [], address: l.mac,
      link_type: loopback ? "loopback" : "ether",
      ...(l.linkOtherNs && l.link ? { link_index: l.link, link_netnsid: 0 } : {}),
      addr_info: addrs.filter((a) => a.index === l.index).map((a) => ({
        family: a.family, prefixlen: a.prefixlen, scope: RT_SCOPE_NAMES[a.scope] ?? "global",
        local: a.family === "inet6" ? compressIPv6(a.address.split(":")) : a.address,
      })),
    };
    const base: NetworkState = { addresses: [], counters, hwaddr: "", host_name: "", mtu: l.mtu, state: "up", type: "broadcast" };
    out[l.name] = applyIpLink(base, link, hostNames);
  }
  return out;
}

/** The procfs/sysfs view, for when the namespace has no netnsid (a kernel before 4.20). */
async function procNetworkState(pid: number): Promise<Record<string, NetworkState>> {
  const read = (f: string) => readFile(`/proc/${pid}/net/${f}`, "utf8").catch(() => "");
  const [dev, inet6, fib, route] = await Promise.all([read("dev"), read("if_inet6"), read("fib_trie"), read("route")]);
  const v6 = parseInet6(inet6);
  const v4 = parseFibTrie(fib);
  const links = await sysfsLinks(pid, v4, route, v6);
  const byName = new Map((links ?? []).map((l) => [l.ifname, l]));
  const peers = (links ?? []).flatMap((l) => (l.link_netnsid !== undefined && l.link_index ? [l.link_index] : []));
  const hostNames = peers.length ? hostIfnames(peers) : new Map<number, string>();
  const out: Record<string, NetworkState> = {};
  for (const [name, counters] of parseNetDev(dev)) {
    const loopback = name === "lo";
    const addresses = [
      // Without per-interface v4 data in procfs, loopback gets 127.x and other interfaces the rest.
      ...v4.filter((a) => a.startsWith("127.") === loopback)
        .map((address) => ({ family: "inet", address, netmask: loopback ? "8" : "32", scope: loopback ? "local" : "global" })),
      ...(v6.get(name) ?? []),
    ];
    const state: NetworkState = {
      addresses, counters, hwaddr: "", host_name: "", mtu: loopback ? 65536 : 1500,
      state: "up", type: loopback ? "loopback" : "broadcast",
    };
    const link = byName.get(name);
    out[name] = link ? applyIpLink(state, link, hostNames) : state;
  }
  return out;
}

export const STATUS = {
  Running: 103, Stopped: 102, Frozen: 110, Error: 112,
} as const;
export type Status = keyof typeof STATUS;

/** Disk entries: the root volume's usage when it was measured (a tree walk on `dir`, so lists skip it). */
const diskState = (usage?: number): InstanceState["disk"] => (usage === undefined ? {} : { root: { usage } });

/** `nsid`: the netnsid of the container's network namespace (see `netnsId`), when it has one. */
export async function runningState(name: string, pid: number, status: Status, cgroups: Cgroups, diskUsage?: number, nsid?: number): Promise<InstanceState> {
  const network = nsid === undefined ? procNetworkState(pid) : netlinkState(nsid);
  const [usage, net] = await Promise.all([cgroups.usage(name), network]);
  return {
    status, status_code: STATUS[status],
    disk: diskState(diskUsage),
    memory: { usage: usage.memory, usage_peak: usage.memoryPeak, swap_usage: usage.swap, swap_usage_peak: usage.swapPeak },
    network: net, pid, processes: usage.processes, cpu: { usage: usage.cpuNs },
  };
}

export function stoppedState(diskUsage?: number): InstanceState {
  return {
    status: "Stopped", status_code: STATUS.Stopped,
    disk: diskState(diskUsage),
    memory: { usage: 0, usage_peak: 0, swap_usage: 0, swap_usage_peak: 0 },
    network: null, pid: 0, processes: 0, cpu: { usage: 0 },
  };
}
