// MAC addresses of instance nics: the device's `hwaddr`, else `volatile.<dev>.hwaddr`, else one
// derived from the instance's volatile.uuid and the device name — stable across restarts without
// writing anything, in LXD's 00:16:3e prefix.
import { createHash } from "node:crypto";

export function nicHwaddr(instance: string, config: Record<string, string>, device: string, dev: Record<string, string>): string {
  const given = dev.hwaddr || config[`volatile.${device}.hwaddr`];
  if (given) return given.toLowerCase();
  const h = createHash("sha256").update(`${config["volatile.uuid"] || instance}/${device}`).digest("hex");
  return `00:16:3e:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}
