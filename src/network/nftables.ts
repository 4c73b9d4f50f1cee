// The daemon's firewall: ONE nftables table of its own (family inet), rewritten atomically from the
// list of managed networks whenever one changes. Other tables (the host's, Docker's) are never
// touched; note that a drop in another table's forward chain still wins over an accept here.
import { sh, shQuiet } from "./run.ts";

export interface FirewallNetwork {
  link: string;
  /** "10.1.2.0/24" */
  subnet?: string;
  nat: boolean;
}

const q = (s: string) => JSON.stringify(s);

/** The whole table as an `nft -f` script: creating it empty first makes the delete never fail. */
export function renderRuleset(table: string, nets: FirewallNetwork[]): string {
  const postrouting: string[] = [];
  const forward: string[] = [];
  const input: string[] = [];
  for (const n of nets) {
    // Managed bridges are isolated from each other: no routing between two of them.
    for (const other of nets) if (other !== n) forward.push(`iifname ${q(n.link)} oifname ${q(other.link)} drop`);
    forward.push(`iifname ${q(n.link)} accept`, `oifname ${q(n.link)} accept`);
    input.push(`iifname ${q(n.link)} udp dport { 53, 67 } accept`, `iifname ${q(n.link)} tcp dport 53 accept`);
    if (n.nat && n.subnet) postrouting.push(`ip saddr ${n.subnet} ip daddr != ${n.subnet} masquerade`);
  }
  const chain = (name: string, hook: string, priority: string, rules: string[]) =>
    `  chain ${name} {\n    type ${hook === "postrouting" ? "nat" : "filter"} hook ${hook} priority ${priority}; policy accept;\n` +
    rules.map((r) => `    ${r}\n`).join("") + "  }\n";
  return `table inet ${table} {}\ndelete table inet ${table}\ntable inet ${table} {\n` +
    chain("nat_postrouting", "postrouting", "srcnat", postrouting) +
    chain("filter_forward", "forward", "filter", forward) +
    chain("filter_input", "input", "filter", input) + "}\n";
}

export async function applyRuleset(table: string, nets: FirewallNetwork[]): Promise<void> {
  if (nets.length === 0) return removeTable(table);
  await sh(["nft", "-f", "-"], renderRuleset(table, nets));
}

export const removeTable = (table: string): Promise<void> => shQuiet(["nft", "delete", "table", "inet", table]);

export const listTable = (table: string): Promise<string> => sh(["nft", "list", "table", "inet", table]);
