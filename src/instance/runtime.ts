// Turns an instance's expanded config into what the kernel layer needs: the monitor's launch
// spec (idmap, cgroups, seccomp, init), live cgroup limits, and the exec seccomp filter.
import { totalmem } from "node:os";
import type { LaunchMount, LaunchSpec } from "../kernel/monitor.ts";
import { defaultIdmap } from "../kernel/idmap.ts";
import { buildSeccomp } from "../kernel/seccomp.ts";
import { parseMemory } from "./config.ts";

type Config = Record<string, string>;

const truthy = (v: string | undefined) => ["true", "1", "yes", "on"].includes((v ?? "").toLowerCase());

export function seccompFor(config: Config): Uint8Array {
  const deny = (config["security.syscalls.deny"] ?? "").split(/[\s,]+/).filter(Boolean);
  const denyDefault = config["security.syscalls.deny_default"];
  return buildSeccomp({
    deny, denyCompat: truthy(config["security.syscalls.deny_compat"]), denyDefault: !denyDefault || truthy(denyDefault),
  });
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

export function liveLimits(config: Config): { memory?: number; cpu?: number; processes?: number } {
  const out: { memory?: number; cpu?: number; processes?: number } = {};
  if (config["limits.memory"]) out.memory = parseMemory(config["limits.memory"], totalmem());
  if (config["limits.cpu"]) out.cpu = cpuCount(config["limits.cpu"]);
  if (config["limits.processes"]) out.processes = Number(config["limits.processes"]);
  return out;
}

/** Security settings this runtime does not implement yet and would otherwise silently run
 *  weaker than asked: such a container does not start. (Validation already refuses
 *  security.privileged; a row or profile stored before that check must not start either.) */
function unsupportedSecurity(config: Config): string | undefined {
  if (truthy(config["security.privileged"])) {
    return "security.privileged=true is not supported (containers always run unprivileged)";
  }
  if (truthy(config["security.idmap.isolated"])) {
    return "security.idmap.isolated=true is not supported yet (every container would share the default id range)";
  }
  if ((config["security.syscalls.allow"] ?? "").trim()) {
    return "security.syscalls.allow is not supported yet (only deny lists: security.syscalls.deny)";
  }
  return undefined;
}

export function launchSpec(opts: {
  name: string; rundir: string; config: Config; cgroupProcs: string[]; cgroup2: boolean; rootfs: LaunchSpec["rootfs"];
  mounts?: LaunchMount[];
}): LaunchSpec {
  const refused = unsupportedSecurity(opts.config);
  if (refused) throw new Error(`instance "${opts.name}": ${refused}`);
  const idmap = defaultIdmap();
  const env = ["container=lxc"];
  return {
    name: opts.name, hostname: opts.name, rundir: opts.rundir, rootfs: opts.rootfs, mounts: opts.mounts,
    uidMap: idmap.uid, gidMap: idmap.gid, cgroupProcs: opts.cgroupProcs, cgroup2: opts.cgroup2,
    seccomp: seccompFor(opts.config), env, init: ["/sbin/init"],
  };
}
