// Instance and profile configuration as LXD defines it: one table of key -> validator (also used to
// describe keys), device validation per device type, profile expansion and name rules.
// Validators return an error message, or undefined when the value is acceptable.

import {
  bool, cron, expiry, int, ipv4, ipv6, key as k, parseSize, size, uint32, type KeyInfo, type Validator,
} from "../config/values.ts";
import { parseRawLxc } from "./raw-lxc.ts";
import { knownSyscalls } from "../kernel/seccomp.ts";
import { checkProxyPair, parseProxyAddress, unsupportedProxyOption } from "./proxy-address.ts";

type Config = Record<string, string>;
type Device = Record<string, string>;
type Devices = Record<string, Device>;
export type { KeyInfo };

// ---- value validators (the generic ones are in config/values.ts) -------------------------------

const any: Validator = () => undefined;
const positive: Validator = (v) => uint32(v) ?? (Number(v) < 1 ? `Value "${v}" must be at least 1` : undefined);
const oneOf = (...choices: string[]): Validator => (v) =>
  choices.includes(v) ? undefined : `Invalid value "${v}" (must be one of: ${choices.join(", ")})`;
/** Keys this daemon has no mechanism for: only the values that describe what it does anyway are
 *  accepted (so a key the daemon accepts always holds), anything else is refused. */
const onlyAsIs = (what: string, ...values: string[]): Validator => (v) =>
  values.includes(v.toLowerCase()) ? undefined : `not supported by this daemon (${what}; accepted: ${values.join(", ")})`;
const unsupported = (what: string): Validator => () => `not supported by this daemon (${what})`;

/** `limits.memory`: a size ("256MiB", "1GB") or a share of the host's memory ("50%"), in bytes. */
export function parseMemory(value: string, hostTotal: number): number {
  const pct = /^(\d+)%$/.exec(value);
  if (pct) {
    if (Number(pct[1]) > 100) throw new Error(`Invalid memory limit "${value}": more than 100%`);
    return Math.floor((hostTotal * Number(pct[1])) / 100);
  }
  const bytes = parseSize(value);
  if (bytes === undefined) throw new Error(`Invalid memory limit "${value}" (expected e.g. 256MiB, 1GB or 50%)`);
  return bytes;
}

/** A validator from a parser that throws with the problem. */
const parsedBy = (parse: (v: string) => unknown): Validator => (v) => {
  try {
    parse(v);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

const memory = parsedBy((v) => parseMemory(v, 0));

/** A CPU set such as "0-1,3" -> [0, 1, 3]; undefined when malformed. */
function parseCpuSet(value: string): number[] | undefined {
  const cpus = new Set<number>();
  for (const part of value.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return undefined;
    for (let c = from; c <= to; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/**
 * `limits.cpu`: a plain number is a count of CPUs ("2"); anything else is a set of CPUs to pin
 * ("0-1,3", or "1-1" to pin one CPU), as in LXD.
 */
export function parseCpuLimit(value: string): { count: number; cpus?: number[] } {
  if (/^\d+$/.test(value)) {
    if (Number(value) < 1) throw new Error(`Invalid CPU limit "${value}": must be at least 1`);
    return { count: Number(value) };
  }
  const cpus = parseCpuSet(value);
  if (!cpus) throw new Error(`Invalid CPU limit "${value}" (expected a count like 2 or a set like 0-1,3)`);
  return { count: cpus.length, cpus };
}

const cpu = parsedBy(parseCpuLimit);

/** Syscall names separated by spaces, commas or newlines, each one the kernel knows. */
const syscallList: Validator = (v) => {
  const known = new Set(knownSyscalls());
  const bad = v.split(/[\s,]+/).find((s) => s && !known.has(s));
  return bad ? `Unknown syscall "${bad}"` : undefined;
};

/** raw.idmap lines: "both|uid|gid HOST[-END] CONTAINER[-END]". */
const idmapLines: Validator = (v) => {
  for (const line of v.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const m = /^(both|uid|gid)\s+(\d+)(?:-(\d+))?\s+(\d+)(?:-(\d+))?$/.exec(line);
    if (!m) return `Invalid raw.idmap line "${line}" (expected "both|uid|gid HOST[-END] CONTAINER[-END]")`;
    const hostLen = m[3] === undefined ? 1 : Number(m[3]) - Number(m[2]) + 1;
    const ctLen = m[5] === undefined ? 1 : Number(m[5]) - Number(m[4]) + 1;
    if (hostLen < 1 || ctLen < 1 || hostLen !== ctLen) return `Invalid raw.idmap line "${line}": ranges differ in size`;
  }
  return undefined;
};

const rawLxc = parsedBy(parseRawLxc);

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const hwaddr: Validator = (v) => (MAC.test(v) ? undefined : `Invalid MAC address "${v}"`);
/** Kernel interface names: at most 15 bytes, no "/", ":" or whitespace. */
const ifname: Validator = (v) => {
  if (v.length > 15) return `Interface name "${v}" is too long (at most 15 characters)`;
  if (!/^[A-Za-z0-9_.-]+$/.test(v) || v === "." || v === "..") return `Invalid interface name "${v}"`;
  return undefined;
};
/** A bit rate such as "100Mbit" or "10MB" (per second). */
const rate: Validator = (v) => (/^\d+(bit|[kMGTP]bit|B|[kMGTP]B)?$/.test(v) ? undefined : `Invalid rate "${v}"`);
const octalMode: Validator = (v) => (/^0?[0-7]{3,4}$/.test(v) ? undefined : `Invalid file mode "${v}"`);
/** linux.kernel_modules: comma-separated module names. */
const moduleList: Validator = (v) =>
  v.split(",").map((m) => m.trim()).every((m) => /^[A-Za-z0-9_-]+$/.test(m)) ? undefined : `Invalid kernel module list "${v}"`;
const absPath: Validator = (v) => (v.startsWith("/") ? undefined : `Path "${v}" must be absolute`);

// ---- instance keys ----------------------------------------------------------------------------

/** Every fixed instance/profile configuration key this daemon understands. */
export const INSTANCE_KEYS: Record<string, KeyInfo> = {
  "boot.autostart": k(bool, "Start the instance when the daemon starts (running containers survive a daemon restart anyway)"),
  "boot.autostart.delay": k(int, "Seconds to wait after starting this instance before the next one"),
  "boot.autostart.priority": k(int, "Start order (higher first)"),
  "boot.host_shutdown_timeout": k(int, "Seconds to wait for the instance to stop on `lxd shutdown`"),
  "boot.stop.priority": k(int, "Stop order on `lxd shutdown` (higher first)"),
  "cluster.evacuate": k(oneOf("auto", "migrate", "live-migrate", "stop"), "What `lxd cluster evacuate` does with the instance: auto, migrate, live-migrate or stop"),

  "limits.cpu": k(cpu, "Number of CPUs (2) or CPUs to pin (0-1,3)", true),
  "limits.cpu.allowance": k(unsupported("use limits.cpu"), "CPU time share (not supported: use limits.cpu)"),
  "limits.cpu.priority": k(unsupported("no CPU weights"), "CPU scheduling priority (not supported)"),
  "limits.disk.priority": k(unsupported("no I/O weights"), "I/O priority (not supported)"),
  "limits.memory": k(memory, "Memory limit: a size (256MiB, 1GB) or a share of host memory (50%)", true),
  "limits.memory.enforce": k(onlyAsIs("the memory limit is always hard", "hard"), "hard (the only mode: a hard limit)"),
  "limits.memory.swap": k(onlyAsIs("swap is never restricted", "true", "1", "yes", "on"), "Whether the instance may use swap (always true)"),
  "limits.memory.swap.priority": k(unsupported("no swap priorities"), "Swap priority (not supported)"),
  "limits.network.priority": k(unsupported("no network priorities"), "Network priority (not supported)"),
  "limits.processes": k(int, "Maximum number of processes", true),

  "linux.kernel_modules": k(moduleList, "Kernel modules to load (modprobe) before starting the instance"),

  "raw.apparmor": k(unsupported("no AppArmor profiles"), "AppArmor profile entries (not supported)"),
  "raw.idmap": k(idmapLines, "Extra id mappings: lines of \"both|uid|gid HOST CONTAINER\""),
  "raw.lxc": k(rawLxc, "LXC configuration lines; only lxc.environment and lxc.init.cmd are honoured (others are refused)"),
  "raw.seccomp": k(unsupported("use security.syscalls.*"), "Raw seccomp policy (not supported: use security.syscalls.*)"),

  "security.devlxd": k(onlyAsIs("there is no /dev/lxd", "false", "0", "no", "off"), "Provide /dev/lxd in the instance (never: false only)"),
  "security.idmap.base": k(uint32, "First host id of the instance's id range"),
  "security.idmap.isolated": k(bool, "Use an id range not shared with other instances"),
  "security.idmap.size": k(positive, "Size of the instance's id range"),
  "security.nesting": k(bool, "Allow running containers inside the instance"),
  "security.privileged": k(bool, "Run without a user namespace (container root is host root)"),
  "security.protection.delete": k(bool, "Refuse to delete the instance"),
  // Files are never shifted (idmapped mounts): the protection always holds.
  "security.protection.shift": k(bool, "Refuse to shift the instance's filesystem ids (never done here)"),
  "security.syscalls.allow": k(syscallList, "Syscalls to allow (all others denied)"),
  "security.syscalls.deny": k(syscallList, "Syscalls to deny"),
  "security.syscalls.deny_compat": k(bool, "Deny 32-bit compat syscalls on 64-bit hosts"),
  "security.syscalls.deny_default": k(bool, "Apply the default syscall deny list"),
  "security.syscalls.intercept.mknod": k(onlyAsIs("no syscall interception", "false", "0", "no", "off"), "Intercept mknod (not supported: false only)"),
  "security.syscalls.intercept.mount": k(onlyAsIs("no syscall interception", "false", "0", "no", "off"), "Intercept mount (not supported: false only)"),
  "security.syscalls.intercept.setxattr": k(onlyAsIs("no syscall interception", "false", "0", "no", "off"), "Intercept setxattr (not supported: false only)"),

  "snapshots.expiry": k(expiry, "How long snapshots are kept (e.g. 1d 2w), unless a snapshot names its own expiry"),
  "snapshots.pattern": k(any, "Name pattern of automatic snapshots (e.g. snap%d)"),
  "snapshots.schedule": k(cron, "Cron schedule of automatic snapshots (or @daily etc.)"),
  "snapshots.schedule.stopped": k(bool, "Take automatic snapshots of stopped instances too"),

  // Read by image templates (config_get), as cloud-init images use them.
  "cloud-init.network-config": k(any, "cloud-init network configuration"),
  "cloud-init.user-data": k(any, "cloud-init user data"),
  "cloud-init.vendor-data": k(any, "cloud-init vendor data"),
};

/** Namespaces where any key name is valid (free-form). */
const FREE_PREFIXES: Record<string, string> = {
  "user.": "Free-form user key",
  "environment.": "Environment variable set in the instance",
  "image.": "Copy of the source image's properties",
};

/** Volatile keys: daemon state, only ever on instances. */
const VOLATILE_KEYS = [
  "volatile.apply_template", "volatile.base_image", "volatile.idmap.base", "volatile.idmap.current",
  "volatile.idmap.next", "volatile.last_state.idmap", "volatile.last_state.power", "volatile.uuid",
  "volatile.uuid.generation",
];
const VOLATILE_DEVICE_KEY = /^volatile\.[^.]+\.(hwaddr|name|host_name|mtu|apply_quota|last_state\.[a-z_.]+)$/;

/** The validator and description of a key, or undefined when the key is unknown. */
export function describeKey(key: string): KeyInfo | undefined {
  if (INSTANCE_KEYS[key]) return INSTANCE_KEYS[key];
  for (const [prefix, description] of Object.entries(FREE_PREFIXES)) {
    if (key.startsWith(prefix) && key.length > prefix.length) return { validate: any, description };
  }
  if (VOLATILE_KEYS.includes(key) || VOLATILE_DEVICE_KEY.test(key)) return { validate: any, description: "Daemon-managed state" };
  return undefined;
}

/**
 * Checks an instance's (or, with `profile`, a profile's) local config. Returns the first problem
 * as LXD words it, e.g. `Unknown configuration key: foo`, or undefined when all is valid.
 */
export function validateInstanceConfig(config: Config, opts: { profile?: boolean } = {}): string | undefined {
  for (const [key, value] of Object.entries(config)) {
    if (typeof value !== "string") return `Invalid value for "${key}": must be a string`;
    if (opts.profile && key.startsWith("volatile.")) return `Volatile keys can only be set on instances: ${key}`;
    if (opts.profile && key.startsWith("image.")) return `Image keys can only be set on instances: ${key}`;
    const info = describeKey(key);
    if (!info) return `Unknown configuration key: ${key}`;
    // Handed to init line by line, and a variable name ends at "=".
    if (key.startsWith("environment.") && (/[\n\r\0]/.test(value) || /[=\0\n\r]/.test(key))) {
      return `Invalid value for "${key}": an environment variable's name has no "=" and neither it nor its value a newline`;
    }
    // An empty value unsets the key (as with `lxc config unset`), so it is always acceptable.
    if (value === "") continue;
    const err = info.validate(value);
    if (err) return `Invalid value for "${key}": ${err}`;
  }
  return undefined;
}

// ---- devices ----------------------------------------------------------------------------------

/** Options of every device type, by type. */
export const DEVICE_KEYS: Readonly<Record<string, Record<string, Validator>>> = {
  none: {},
  disk: {
    path: any, source: any, pool: any, readonly: bool, size: size, "size.state": size,
    recursive: bool, required: bool, optional: bool, shift: bool, propagation: any,
    "raw.mount.options": any, "limits.read": any, "limits.write": any, "limits.max": any, "boot.priority": int,
  },
  nic: {
    name: ifname, nictype: oneOf("bridged", "macvlan", "p2p", "physical", "sriov", "ipvlan", "routed"),
    network: any, parent: ifname, hwaddr, mtu: int, host_name: ifname,
    "ipv4.address": ipv4, "ipv6.address": ipv6, "ipv4.routes": any, "ipv6.routes": any,
    "ipv4.gateway": any, "ipv6.gateway": any, vlan: int, "vlan.tagged": any,
    "limits.ingress": rate, "limits.egress": rate, "limits.max": rate, "limits.priority": int,
    "security.mac_filtering": bool, "security.ipv4_filtering": bool, "security.ipv6_filtering": bool,
    "security.port_isolation": bool, "queue.tx.length": int, "boot.priority": int,
  },
  "unix-char": { path: absPath, source: absPath, major: int, minor: int, uid: int, gid: int, mode: octalMode, required: bool },
  "unix-block": { path: absPath, source: absPath, major: int, minor: int, uid: int, gid: int, mode: octalMode, required: bool },
  proxy: {
    listen: proxyAddress, connect: proxyAddress, bind: oneOf("host", "instance"), nat: bool, proxy_protocol: bool,
    "security.uid": int, "security.gid": int, uid: int, gid: int, mode: octalMode,
  },
};

/** Proxy endpoints: tcp:ADDR:PORT, udp:ADDR:PORT, unix:PATH or unix:@ABSTRACT. */
function proxyAddress(v: string): string | undefined {
  const parsed = parseProxyAddress(v);
  return typeof parsed === "string" ? parsed : undefined;
}

/** Problems of one device, independent of the others. */
function validateDevice(dev: Device): string | undefined {
  if (!dev.type) return "Missing device type";
  const keys = DEVICE_KEYS[dev.type];
  if (!keys) return `Unsupported device type "${dev.type}" (supported: ${Object.keys(DEVICE_KEYS).join(", ")})`;
  for (const [key, value] of Object.entries(dev)) {
    if (key === "type") continue;
    if (typeof value !== "string") return `Invalid value for device option "${key}": must be a string`;
    const check = keys[key];
    if (!check) return `Invalid device option "${key}"`;
    const err = check(value);
    if (err) return `Invalid value for device option "${key}": ${err}`;
  }
  switch (dev.type) {
    case "disk":
      if (!dev.path) return `Disk entry is missing the required "path" property`;
      if (dev.path === "/") {
        if (!dev.pool) return `Root disk entry must have a "pool" property set`;
        if (dev.source) return `Root disk entry may not have a "source" property set`;
      } else if (!dev.source && !dev.pool) return `Disk entry is missing the required "source" or "pool" property`;
      break;
    case "nic":
      if (!dev.nictype && !dev.network) return `NIC entry is missing "nictype" or "network"`;
      if (dev.nictype && dev.network) return `NIC entry may not have both "nictype" and "network"`;
      break;
    case "unix-char":
    case "unix-block":
      if (!dev.path && !dev.source) return `Unix device entry is missing the required "source" or "path" property`;
      break;
    case "proxy":
      if (!dev.listen || !dev.connect) return `Proxy entry needs both "listen" and "connect"`;
      return checkProxyPair(dev.listen, dev.connect) ?? unsupportedProxyOption(dev);
  }
  return undefined;
}

/** Checks a devices map; returns the first problem naming the device, or undefined. */
/** A device key set to "" is unset, as in LXD (`lxc config device unset` sends exactly that). */
export const withoutEmptyDeviceKeys = (devices: Devices): Devices =>
  Object.fromEntries(Object.entries(devices).map(([name, dev]) =>
    [name, typeof dev === "object" && dev !== null ? Object.fromEntries(Object.entries(dev).filter(([, v]) => v !== "")) : dev]));

export function validateDevices(devices: Devices): string | undefined {
  const rootDisks = [];
  for (const [name, dev] of Object.entries(devices)) {
    if (!name || name.includes("/")) return `Invalid device name "${name}"`;
    if (typeof dev !== "object" || dev === null) return `Device validation failed for "${name}": must be a map of options`;
    const err = validateDevice(dev);
    if (err) return `Device validation failed for "${name}": ${err}`;
    if (dev.type === "disk" && dev.path === "/") rootDisks.push(name);
  }
  if (rootDisks.length > 1) return `More than one root disk device: ${rootDisks.join(", ")}`;
  return undefined;
}

// ---- expansion --------------------------------------------------------------------------------


// ---- names ------------------------------------------------------------------------------------

/** LXD's instance names are hostnames: 1-63 letters, digits and hyphens, not starting with a digit or hyphen. */
export function validateInstanceName(name: string): string | undefined {
  if (name.includes("/")) return `Name may not contain "/" (reserved for snapshots: instance/snapshot)`;
  if (name.length < 1 || name.length > 63) return "Name must be 1-63 characters long";
  if (name.startsWith("-")) return `Name must not start with "-" character`;
  if (/^\d/.test(name)) return "Name must not start with a digit";
  if (name.endsWith("-")) return `Name must not end with "-" character`;
  if (!/^[a-zA-Z0-9-]+$/.test(name)) return "Name can only contain alphanumeric and hyphen characters";
  return undefined;
}

/** "c1/snap0" -> ["c1", "snap0"]; a plain instance name -> [name, undefined]. */
export function splitSnapshotName(full: string): [string, string | undefined] {
  const i = full.indexOf("/");
  return i < 0 ? [full, undefined] : [full.slice(0, i), full.slice(i + 1)];
}

export function validateProfileName(name: string): string | undefined {
  if (!name) return "No name provided";
  if (name.includes("/")) return "Profile names may not contain slashes";
  if (name === "." || name === ".." || name === "*") return `Invalid profile name "${name}"`;
  if (/\s/.test(name)) return "Profile names may not contain spaces";
  return undefined;
}
