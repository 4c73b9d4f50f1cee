// Kernel names of what the daemon creates on the host: bridges, veths and its nftables table.
// Interface names are limited to 15 bytes. Under the test harness (LXD_TEST_TAG set) every name
// carries the tag, so parallel daemons never collide and the harness cleanup finds what is left.
import { createHash } from "node:crypto";
import { lxdDir } from "../paths.ts";

export const IFNAMSIZ = 15;

const testTag = () => process.env.LXD_TEST_TAG || "";
const hex = (s: string, n: number) => createHash("sha256").update(s).digest("hex").slice(0, n);

/** The host interface of a managed bridge: its network name, or `b<tag><hash>` under a test tag. */
export function bridgeLinkName(network: string, tag = testTag()): string {
  return tag ? `b${tag.slice(0, 8)}${hex(network, 5)}` : network;
}

/** The host interface of a network of a project other than default (by its storage name
 *  `<project>_<name>`): `lxd` and 12 hex of it, or as above under a test tag (15 bytes either way). */
export function projectBridgeLinkName(stored: string, tag = testTag()): string {
  return tag ? bridgeLinkName(stored, tag) : `lxd${hex(stored, 12)}`;
}

/**
 * Host end of an instance nic's veth pair: `veth<8 hex>`, or `v<tag><5 hex>` under a test tag.
 * Derived from `seed` (instance uuid and device), so the daemon finds it again without state.
 */
export function vethName(seed: string, tag = testTag()): string {
  return tag ? `v${tag.slice(0, 8)}${hex(seed, 5)}` : `veth${hex(seed, 8)}`;
}

/** The daemon's own nftables table (family inet): one per daemon, named after its state directory. */
export function nftTableName(tag = testTag()): string {
  return `lxd-${tag || hex(lxdDir(), 8)}`;
}
