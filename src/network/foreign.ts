// Other software's forward chains that drop by default — Docker sets `iptables -P FORWARD DROP`,
// which iptables-nft turns into `table ip filter { chain FORWARD { policy drop } }`. A drop there
// wins over every accept in the daemon's own table, so, as LXD does, the daemon puts accept rules
// for its bridges at the top of each such chain, marked with a comment naming its table, and takes
// them out again when the bridges go. Nothing else in those tables is ever changed.
import { sh, shQuiet } from "./run.ts";

interface NftObject {
  chain?: { family: string; table: string; name: string; hook?: string; policy?: string };
  rule?: { family: string; table: string; chain: string; handle: number; comment?: string };
}

const FAMILIES = new Set(["ip", "ip6", "inet"]);

async function ruleset(): Promise<NftObject[]> {
  const text = await sh(["nft", "-j", "list", "ruleset"]).catch(() => "");
  try {
    return (JSON.parse(text) as { nftables: NftObject[] }).nftables;
  } catch {
    return [];
  }
}

/** Forward chains with policy drop in tables other than the daemon's own. */
export function droppingForwardChains(objects: NftObject[], own: string): { family: string; table: string; name: string }[] {
  return objects.flatMap((o) => {
    const c = o.chain;
    return c && c.hook === "forward" && c.policy === "drop" && FAMILIES.has(c.family) && c.table !== own ? [c] : [];
  });
}

/**
 * Makes each dropping forward chain accept traffic from and to `links` (the daemon's bridges):
 * removes the rules it added before (found by their comment) and inserts the current ones.
 */
export async function acceptInForeignChains(own: string, links: string[]): Promise<{ family: string; table: string; name: string }[]> {
  const objects = await ruleset();
  const mark = `managed by ${own}`;
  for (const o of objects) {
    const r = o.rule;
    if (r?.comment === mark) await shQuiet(["nft", "delete", "rule", r.family, r.table, r.chain, "handle", String(r.handle)]);
  }
  // Names nft would need quoted are left alone (iptables' FORWARD, DOCKER-USER... never need it).
  const chains = droppingForwardChains(objects, own).filter((c) => /^[A-Za-z0-9_.-]+$/.test(c.table + c.name));
  if (!links.length || !chains.length) return chains;
  const script = chains.flatMap((c) => links.flatMap((l) => ["iifname", "oifname"].map((dir) =>
    `insert rule ${c.family} ${c.table} ${c.name} ${dir} ${JSON.stringify(l)} accept comment ${JSON.stringify(mark)}\n`))).join("");
  await sh(["nft", "-f", "-"], script);
  return chains;
}
