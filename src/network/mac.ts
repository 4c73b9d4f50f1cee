// MAC addresses derived from a name, stable across restarts without writing anything, in LXD's
// 00:16:3e prefix: instance nics and managed bridges.
import { createHash } from "node:crypto";

function derivedMac(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `00:16:3e:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

/** The device's `hwaddr`, else `volatile.<dev>.hwaddr`, else one from volatile.uuid and the device. */
export function nicHwaddr(instance: string, config: Record<string, string>, device: string, dev: Record<string, string>): string {
  const given = dev.hwaddr || config[`volatile.${device}.hwaddr`];
  if (given) return given.toLowerCase();
  return derivedMac(`${config["volatile.uuid"] || instance}/${device}`);
}

/**
 * A bridge's own MAC when `bridge.hwaddr` is unset. A bridge whose address was never set takes the
 * lowest of its ports' addresses, so it changed whenever a container's veth joined or left, and
 * every container's neighbour entry for the gateway went stale until it asked again (seconds
 * without DNS or routing). Keyed by the host interface name, unique on the host.
 */
export const bridgeHwaddr = (link: string): string => derivedMac(`bridge/${link}`);
