// Live state of a running container, read from the host: cgroup counters and the
// container's network namespace as seen through /proc/<init>/net.
import { readFile } from "node:fs/promises";
import type { InstanceState } from "../api/instance.ts";
import type { Cgroups } from "../kernel/cgroup.ts";

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
    COUNTERS.forEach((key, i) => (counters[key] = fields[COLUMNS[i]] ?? 0));
    out.set(name.trim(), counters);
  }
  return out;
}

type Address = NetworkState["addresses"][number];

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

async function networkState(pid: number): Promise<Record<string, NetworkState>> {
  const read = (f: string) => readFile(`/proc/${pid}/net/${f}`, "utf8").catch(() => "");
  const [dev, inet6, fib] = await Promise.all([read("dev"), read("if_inet6"), read("fib_trie")]);
  const v6 = parseInet6(inet6);
  const v4 = parseFibTrie(fib);
  const out: Record<string, NetworkState> = {};
  for (const [name, counters] of parseNetDev(dev)) {
    const loopback = name === "lo";
    const addresses = [
      // Without per-interface v4 data in procfs, loopback gets 127.x and other interfaces the rest.
      ...v4.filter((a) => a.startsWith("127.") === loopback)
        .map((address) => ({ family: "inet", address, netmask: loopback ? "8" : "32", scope: loopback ? "local" : "global" })),
      ...(v6.get(name) ?? []),
    ];
    out[name] = {
      addresses, counters, hwaddr: "", host_name: "", mtu: loopback ? 65536 : 1500,
      state: "up", type: loopback ? "loopback" : "broadcast",
    };
  }
  return out;
}

export const STATUS = {
  Running: 103, Stopped: 102, Frozen: 110, Error: 112,
} as const;
export type Status = keyof typeof STATUS;

export async function runningState(name: string, pid: number, status: Status, cgroups: Cgroups, diskUsage: number): Promise<InstanceState> {
  const [usage, network] = await Promise.all([cgroups.usage(name), networkState(pid)]);
  return {
    status, status_code: STATUS[status],
    disk: { root: { usage: diskUsage } },
    memory: { usage: usage.memory, usage_peak: usage.memoryPeak, swap_usage: 0, swap_usage_peak: 0 },
    network, pid, processes: usage.processes, cpu: { usage: usage.cpuNs },
  };
}

export function stoppedState(diskUsage: number): InstanceState {
  return {
    status: "Stopped", status_code: STATUS.Stopped,
    disk: { root: { usage: diskUsage } },
    memory: { usage: 0, usage_peak: 0, swap_usage: 0, swap_usage_peak: 0 },
    network: null, pid: 0, processes: 0, cpu: { usage: 0 },
  };
}
