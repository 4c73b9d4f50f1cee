// The daemon's firewall: its own tables (family inet for NAT, forwarding and input; family bridge for
// per-nic anti-spoofing and rate limits on bridge ports), rewritten atomically (`nft -f -`) whenever
// a network or a filtered nic changes. Another table's forward chain with policy drop (Docker's
// `iptables -P FORWARD DROP`) would still drop bridged traffic: see foreign.ts.
import { sh, shQuiet } from "./run.ts";

export interface FirewallNetwork {
  link: string;
  /** "10.1.2.0/24" */
  subnet?: string;
  nat: boolean;
  /** "fd42:1:2:3::/64" */
  subnet6?: string;
  nat6?: boolean;
  /** ipv4.routing / ipv6.routing: forward that family in and out of the bridge (default true). */
  routing4?: boolean;
  routing6?: boolean;
}

/** What the firewall enforces for one instance nic, keyed by its host-side interface. */
export interface NicFilter {
  link: string;
  /** Bridge port (bridge hooks) or a routed p2p end (inet hooks). */
  bridged: boolean;
  /** security.mac_filtering: frames from the container must carry this source MAC. */
  mac?: string;
  /** security.ipv4_filtering: IPv4 and ARP from the container must use this address. */
  ipv4?: string;
  /** limits.egress in bytes per second: the container's traffic above it is dropped. */
  egressBytes?: number;
}

const q = (s: string) => JSON.stringify(s);

function nicRules(f: NicFilter): string[] {
  const at = `iifname ${q(f.link)}`;
  const out: string[] = [];
  if (f.bridged && f.mac) {
    out.push(`${at} ether saddr != ${f.mac} drop`, `${at} arp saddr ether != ${f.mac} drop`);
  }
  if (f.bridged && f.ipv4) {
    // DHCP discovery comes from 0.0.0.0 before the container has its address.
    out.push(`${at} ip saddr 0.0.0.0 udp dport 67 accept`, `${at} ip saddr != ${f.ipv4} drop`, `${at} arp saddr ip != ${f.ipv4} drop`);
  }
  if (f.egressBytes) {
    const burst = Math.max(1500, Math.ceil(f.egressBytes / 10));
    out.push(`${at} limit rate over ${f.egressBytes} bytes/second burst ${burst} bytes drop`);
  }
  return out;
}

const chain = (name: string, type: string, hook: string, priority: string, rules: string[]) =>
  `  chain ${name} {\n    type ${type} hook ${hook} priority ${priority}; policy accept;\n` +
  rules.map((r) => `    ${r}\n`).join("") + "  }\n";

/** Both tables as an `nft -f` script: creating each empty first makes its delete never fail. */
export function renderRuleset(table: string, nets: FirewallNetwork[], nics: NicFilter[] = []): string {
  const postrouting: string[] = [];
  const forward: string[] = [];
  const input: string[] = [];
  for (const n of nets) {
    // Managed bridges are isolated from each other: no routing between two of them.
    for (const other of nets) if (other !== n) forward.push(`iifname ${q(n.link)} oifname ${q(other.link)} drop`);
    if (n.routing4 !== false && n.routing6 !== false) forward.push(`iifname ${q(n.link)} accept`, `oifname ${q(n.link)} accept`);
    else {
      for (const [family, on] of [["ipv4", n.routing4 !== false], ["ipv6", n.routing6 !== false]] as const) {
        const verdict = on ? "accept" : "drop";
        forward.push(`meta nfproto ${family} iifname ${q(n.link)} ${verdict}`, `meta nfproto ${family} oifname ${q(n.link)} ${verdict}`);
      }
    }
    input.push(`iifname ${q(n.link)} udp dport { 53, 67, 547 } accept`, `iifname ${q(n.link)} tcp dport 53 accept`);
    if (n.nat && n.subnet) postrouting.push(`ip saddr ${n.subnet} ip daddr != ${n.subnet} masquerade`);
    if (n.nat6 && n.subnet6) postrouting.push(`ip6 saddr ${n.subnet6} ip6 daddr != ${n.subnet6} masquerade`);
  }
  const routed = nics.filter((f) => !f.bridged).flatMap(nicRules);
  const bridged = nics.filter((f) => f.bridged).flatMap(nicRules);
  return `table inet ${table} {}\ndelete table inet ${table}\ntable inet ${table} {\n` +
    chain("nat_postrouting", "nat", "postrouting", "srcnat", postrouting) +
    chain("filter_forward", "filter", "forward", "filter", forward) +
    chain("filter_input", "filter", "input", "filter", input) +
    chain("nic_prerouting", "filter", "prerouting", "filter", routed) + "}\n" +
    `table bridge ${table} {}\ndelete table bridge ${table}\ntable bridge ${table} {\n` +
    chain("nic_prerouting", "filter", "prerouting", "filter", bridged) + "}\n";
}

export async function applyRuleset(table: string, nets: FirewallNetwork[], nics: NicFilter[] = []): Promise<void> {
  if (nets.length === 0 && nics.length === 0) return removeTable(table);
  await sh(["nft", "-f", "-"], renderRuleset(table, nets, nics));
}

export async function removeTable(table: string): Promise<void> {
  await shQuiet(["nft", "delete", "table", "inet", table]);
  await shQuiet(["nft", "delete", "table", "bridge", table]);
}

export const listTable = (table: string): Promise<string> => sh(["nft", "list", "table", "inet", table]);
