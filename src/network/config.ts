// Managed network names and config keys: validation and defaults, as LXD's bridge driver knows them
// (the subset this daemon implements; anything else is refused with a clear error).
import { IFNAMSIZ } from "./names.ts";
import { checkBridgeAddress } from "./subnet.ts";
import { checkBridgeAddress6 } from "./subnet6.ts";

type Check = (v: string) => string | undefined;

const bool: Check = (v) => (["true", "false", "1", "0", "yes", "no", "on", "off"].includes(v.toLowerCase()) ? undefined : `Invalid value for a boolean "${v}"`);
const int = (min: number, max: number): Check => (v) =>
  /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? undefined : `"${v}" is not an integer between ${min} and ${max}`;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;
const DURATION = /^\d+[smhd]?$|^infinite$/;

export const truthy = (v: string | undefined): boolean => ["true", "1", "yes", "on"].includes((v ?? "").toLowerCase());

const KEYS: Record<string, Check> = {
  "ipv4.address": (v) => (v === "auto" || v === "none" ? undefined : checkBridgeAddress(v)),
  "ipv4.nat": bool,
  "ipv4.dhcp": bool,
  "ipv4.dhcp.expiry": (v) => (DURATION.test(v) ? undefined : `Invalid lease time "${v}" (e.g. 1h, 3600, infinite)`),
  "ipv6.address": (v) => (v === "auto" || v === "none" ? undefined : checkBridgeAddress6(v)),
  "ipv6.nat": bool,
  "ipv6.dhcp": bool,
  "ipv6.dhcp.stateful": bool,
  "ipv6.dhcp.expiry": (v) => (DURATION.test(v) ? undefined : `Invalid lease time "${v}" (e.g. 1h, 3600, infinite)`),
  "dns.domain": (v) => (DOMAIN.test(v) ? undefined : `Invalid DNS domain "${v}"`),
  "bridge.mtu": int(1280, 9000),
  "bridge.hwaddr": (v) => (MAC.test(v) ? undefined : `Invalid MAC address "${v}"`),
  "bridge.driver": (v) => (v === "native" ? undefined : `Only the native bridge driver is supported, not "${v}"`),
};

export function validateNetworkName(name: string): string | undefined {
  if (!name) return "No name provided";
  if (name.length > IFNAMSIZ) return `Network name "${name}" is too long: interface names are limited to ${IFNAMSIZ} characters`;
  if (name === "." || name === "..") return `Invalid network name "${name}"`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) return `Invalid network name "${name}": use letters, digits, "-", "_" and "." (starting with a letter or digit)`;
  if (/^\d+$/.test(name)) return `Network name "${name}" cannot be only digits`;
  return undefined;
}

/** The first problem of a network config, or undefined. */
export function validateNetworkConfig(config: Record<string, string>): string | undefined {
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith("user.")) continue;
    const check = KEYS[key];
    if (!check) return `Invalid config key "${key}" for a bridge network`;
    const err = check(value);
    if (err) return `Invalid value for "${key}": ${err}`;
  }
  return undefined;
}

/**
 * Defaults for a new bridge: an automatic NATed IPv4 subnet, and no IPv6 unless asked for (LXD
 * defaults to ipv6.address=auto; here IPv6 is opt-in because routing it switches on the host-wide
 * net.ipv6.conf.all.forwarding, which stops the host itself from accepting router advertisements).
 * An automatic IPv6 subnet is NATed like the IPv4 one.
 */
export function withDefaults(config: Record<string, string>): Record<string, string> {
  const out = { ...config };
  if (out["ipv4.address"] === undefined) out["ipv4.address"] = "auto";
  if (out["ipv4.address"] === "auto" && out["ipv4.nat"] === undefined) out["ipv4.nat"] = "true";
  if (out["ipv6.address"] === undefined) out["ipv6.address"] = "none";
  if (out["ipv6.address"] === "auto" && out["ipv6.nat"] === undefined) out["ipv6.nat"] = "true";
  return out;
}
