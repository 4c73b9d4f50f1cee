// Managed network names and config keys: validation and defaults, as LXD's bridge driver knows them
// (the subset this daemon implements; anything else is refused with a clear error).
import { bool, isIPv4, key, range, type KeyInfo, type Validator } from "../config/values.ts";
import { IFNAMSIZ } from "./names.ts";
import { checkBridgeAddress } from "./subnet.ts";
import { checkBridgeAddress6 } from "./subnet6.ts";

type Check = Validator;

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;
const DURATION = /^\d+[smhd]?$|^infinite$/;

const leaseTime: Check = (v) => (DURATION.test(v) ? undefined : `Invalid lease time "${v}" (e.g. 1h, 3600, infinite)`);

/** `ipv4.dhcp.ranges`: "10.0.3.50-10.0.3.99,10.0.3.150-10.0.3.199" -> the pairs; throws when malformed. */
export function parseDhcpRanges(value: string): [string, string][] {
  return value.split(",").map((part) => {
    const [from, to, extra] = part.trim().split("-");
    if (extra !== undefined || !from || !to || !isIPv4(from) || !isIPv4(to)) {
      throw new Error(`Invalid DHCP range "${part.trim()}" (expected START-END IPv4 addresses)`);
    }
    return [from, to] as [string, string];
  });
}

const dhcpRanges: Check = (v) => {
  try {
    parseDhcpRanges(v);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

/** Every bridge network key this daemon understands (besides user.*). */
export const NETWORK_KEYS: Readonly<Record<string, KeyInfo>> = {
  "ipv4.address": key((v) => (v === "auto" || v === "none" ? undefined : checkBridgeAddress(v)),
    "The bridge's IPv4 address and subnet (CIDR), auto (a free private /24) or none"),
  "ipv4.nat": key(bool, "Masquerade IPv4 traffic leaving the subnet"),
  "ipv4.dhcp": key(bool, "Serve DHCPv4 on the bridge"),
  "ipv4.dhcp.expiry": key(leaseTime, "DHCPv4 lease time"),
  "ipv4.routing": key(bool, "Forward IPv4 traffic in and out of the bridge (default true)"),
  "ipv6.routing": key(bool, "Forward IPv6 traffic in and out of the bridge (default true)"),
  "ipv4.dhcp.ranges": key(dhcpRanges, "DHCPv4 pools: comma-separated START-END address pairs (default: the whole subnet)"),
  "ipv6.address": key((v) => (v === "auto" || v === "none" ? undefined : checkBridgeAddress6(v)),
    "The bridge's IPv6 address and /64 subnet, auto (a random fd42::/64) or none (the default)"),
  "ipv6.nat": key(bool, "Masquerade IPv6 traffic leaving the subnet"),
  "ipv6.dhcp": key(bool, "Serve DHCPv6 and router advertisements on the bridge"),
  "ipv6.dhcp.stateful": key(bool, "Hand out IPv6 addresses by DHCPv6 (otherwise SLAAC)"),
  "ipv6.dhcp.expiry": key(leaseTime, "DHCPv6 lease time"),
  "dns.mode": key((v) => (["managed", "dynamic", "none"].includes(v) ? undefined : `Invalid DNS mode "${v}" (managed, dynamic or none)`),
    "managed or dynamic: dnsmasq answers for the instances' names; none: no DNS server on the bridge"),
  "dns.domain": key((v) => (DOMAIN.test(v) ? undefined : `Invalid DNS domain "${v}"`), "Domain of the instances' DNS names (default lxd)"),
  "bridge.mtu": key(range(1280, 9000), "MTU of the bridge"),
  "bridge.hwaddr": key((v) => (MAC.test(v) ? undefined : `Invalid MAC address "${v}"`), "MAC address of the bridge"),
  "bridge.driver": key((v) => (v === "native" ? undefined : `Only the native bridge driver is supported, not "${v}"`), "native (the only bridge driver)"),
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
    const check = NETWORK_KEYS[key]?.validate;
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
