// Turns an instance's expanded config into what the kernel layer needs: the monitor's launch
// spec (privilege, idmap, nesting, cgroups, seccomp, init), live cgroup limits, and the exec
// seccomp filter.
import { isTrue } from "../config/values.ts";
import { parseRawLxc } from "./raw-lxc.ts";
import { totalmem } from "node:os";
import type { CgroupLimits } from "../kernel/cgroup.ts";
import type { LaunchMount, LaunchSpec } from "../kernel/monitor.ts";
import {
  buildIdmap, CONTAINER_IDS, type FileReader, firstFree, hostRanges, type IdMapEntry, idmapJson, idmapJsonHostRanges, parseRawIdmap,
} from "../kernel/idmap.ts";
import { buildSeccomp } from "../kernel/seccomp.ts";
import { parseMemory } from "./config.ts";

type Config = Record<string, string>;


const syscalls = (v: string | undefined) => (v ?? "").split(/[\s,]+/).filter(Boolean);

/** Built filters by their four keys: most instances share one, and a restarted daemon needs the
 *  filter of every running instance (building one is about 0.15 ms of CPU). Never mutated. */
const seccompCache = new Map<string, Uint8Array>();

/** The filter for init and exec'd commands; security.syscalls.allow switches to allowlist mode. */
export function seccompFor(config: Config): Uint8Array {
  const keys = ["allow", "deny", "deny_compat", "deny_default"].map((k) => config[`security.syscalls.${k}`] ?? "");
  const key = keys.join("\0");
  const cached = seccompCache.get(key);
  if (cached) return cached;
  const [allowList, deny, denyCompat, denyDefault] = keys;
  const allow = syscalls(allowList);
  const program = buildSeccomp({
    deny: syscalls(deny), allow: allow.length ? allow : undefined,
    denyCompat: isTrue(denyCompat), denyDefault: !denyDefault || isTrue(denyDefault),
  });
  if (seccompCache.size >= 64) seccompCache.clear();
  seccompCache.set(key, program);
  return program;
}

/** `limits.cpu` is a count ("2") or a set of CPUs ("0-1,3"); either way, the number of CPUs. */
function cpuCount(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  let n = 0;
  for (const part of value.split(",")) {
    const [a, b] = part.split("-").map(Number);
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

export function liveLimits(config: Config): CgroupLimits {
  const out: CgroupLimits = {};
  if (config["limits.memory"]) out.memory = parseMemory(config["limits.memory"], totalmem());
  const cpu = config["limits.cpu"];
  if (cpu) out.cpu = cpuCount(cpu);
  if (cpu && !/^\d+$/.test(cpu)) out.cpus = cpu;
  if (config["limits.processes"]) out.processes = Number(config["limits.processes"]);
  return out;
}

/** Ids a container runs with: its maps (empty when privileged), container root's host ids, and
 *  the volatile.idmap.* keys that record them as LXD does. */
export interface IdmapPlan {
  uid: IdMapEntry[];
  gid: IdMapEntry[];
  root: { uid: number; gid: number };
  volatile: Record<string, string>;
}

/** What `config` asks for, given the other instances' recorded maps (their local config). An
 *  isolated container keeps its previous range while it is still free; otherwise it gets the
 *  first free one above the range non-isolated containers share. */
/** `others`: the other instances' configs, or a function giving them, called only when they
 *  matter (an isolated map without a fixed base): listing every instance is O(n) per start. */
export function planIdmap(config: Config, others: Config[] | (() => Config[]), read?: FileReader): IdmapPlan {
  const record = (uid: IdMapEntry[], gid: IdMapEntry[], base: number) => {
    const json = idmapJson(uid, gid);
    return {
      "volatile.idmap.base": String(base), "volatile.idmap.current": json,
      "volatile.idmap.next": json, "volatile.last_state.idmap": json,
    };
  };
  if (isTrue(config["security.privileged"])) {
    return { uid: [], gid: [], root: { uid: 0, gid: 0 }, volatile: record([], [], 0) };
  }
  const host = hostRanges(read);
  let base = { uid: host.uid.start, gid: host.gid.start };
  let size = CONTAINER_IDS;
  const isolated = isTrue(config["security.idmap.isolated"]);
  if (isolated) {
    size = config["security.idmap.size"] ? Number(config["security.idmap.size"]) : CONTAINER_IDS;
    if (!(size >= 1)) throw new Error(`security.idmap.size must be at least 1`);
    if (config["security.idmap.base"]) {
      base = { uid: Number(config["security.idmap.base"]), gid: Number(config["security.idmap.base"]) };
    } else {
      // The shared block and every other instance's recorded ranges are taken.
      const taken = [{ start: host.uid.start, size: CONTAINER_IDS }, ...(typeof others === "function" ? others() : others).flatMap((c) => [
        ...idmapJsonHostRanges(c["volatile.idmap.next"]), ...idmapJsonHostRanges(c["volatile.idmap.current"]),
      ])];
      const end = host.uid.start + host.uid.size;
      const previous = Number(config["volatile.idmap.base"] ?? 0);
      const start = previous > host.uid.start && firstFree(previous, end, size, taken) === previous
        ? previous : firstFree(host.uid.start + CONTAINER_IDS, end, size, taken);
      if (start === undefined) {
        throw new Error(`no free range of ${size} ids left in root's subordinate ids for an isolated container (security.idmap.isolated)`);
      }
      base = { uid: start, gid: host.gid.start + (start - host.uid.start) };
    }
  }
  const { uid, gid } = buildIdmap(base, size, parseRawIdmap(config["raw.idmap"] ?? ""));
  const rootOf = (map: IdMapEntry[]) => map.find((e) => e.nsid === 0)!.hostid;
  return { uid, gid, root: { uid: rootOf(uid), gid: rootOf(gid) }, volatile: record(uid, gid, isolated ? base.uid : 0) };
}

/** The `environment.*` keys as variables: init gets them, and every exec (as in LXD). */
export function environmentOf(config: Config): Record<string, string> {
  return Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith("environment.")).map(([k, v]) => [k.slice("environment.".length), v]));
}

/** `name`: the storage name; `hostname`: the instance's name in its project. */
export function launchSpec(opts: {
  name: string; hostname?: string; rundir: string; config: Config; idmap: IdmapPlan; cgroupProcs: string[]; cgroup2: boolean; lxcfs?: string;
  rootfs: LaunchSpec["rootfs"]; mounts?: LaunchMount[];
}): LaunchSpec {
  // raw.lxc may add lxc.environment lines and replace init.
  const raw = parseRawLxc(opts.config["raw.lxc"] ?? "");
  const env = ["container=lxc", ...Object.entries(environmentOf(opts.config)).map(([k, v]) => `${k}=${v}`), ...raw.environment];
  return {
    name: opts.name, hostname: opts.hostname ?? opts.name, rundir: opts.rundir, rootfs: opts.rootfs, mounts: opts.mounts,
    privileged: isTrue(opts.config["security.privileged"]), nesting: isTrue(opts.config["security.nesting"]),
    uidMap: opts.idmap.uid, gidMap: opts.idmap.gid, cgroupProcs: opts.cgroupProcs, cgroup2: opts.cgroup2, lxcfs: opts.lxcfs,
    seccomp: seccompFor(opts.config), env, init: raw.initCmd ?? ["/sbin/init"],
  };
}
