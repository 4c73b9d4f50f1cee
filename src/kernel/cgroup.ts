// Container cgroups, on cgroup v1 (per-controller hierarchies) and v2 (unified). Everything lives
// below the cgroup the daemon runs in, under `lxd.payload.<tag>`, so daemons with different tags
// never collide and nothing is created at a hierarchy root.
import { existsSync, readFileSync } from "node:fs";
import { chown, mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { applyDeviceProgram, type DeviceRule, ruleText } from "./devcg.ts";
import { defaultIdmap } from "./idmap.ts";

export type CgroupLayout = "v1" | "v2";

export interface CgroupLimits {
  /** Bytes. */
  memory?: number;
  /** CPUs, may be fractional (becomes a CFS quota; a whole count also pins that many CPUs). */
  cpu?: number;
  /** Explicit CPU set ("0-1,3") to pin to instead of the first `cpu` ones. */
  cpus?: string;
  processes?: number;
}

export interface CgroupUsage {
  memory: number;
  memoryPeak: number;
  /** Swap in use and its peak, bytes (0 where the kernel does not account swap). */
  swap: number;
  swapPeak: number;
  cpuNs: number;
  /** The CPU time split into user and system time (ns). */
  cpuUserNs: number;
  cpuSystemNs: number;
  processes: number;
}

interface Mount {
  /** Where the hierarchy is mounted. */
  point: string;
  /** The cgroup path the mount shows at `point`. */
  root: string;
  fstype: string;
  options: string[];
}

/** cgroup and cgroup2 mounts from /proc/self/mountinfo text. */
export function parseCgroupMounts(mountinfo: string): Mount[] {
  const out: Mount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!post) continue;
    const f = pre.split(" ");
    const [fstype, , superOpts = ""] = post.split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const unescapeOctal = (s: string) => s.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    out.push({ point: unescapeOctal(f[4]), root: unescapeOctal(f[3]), fstype, options: superOpts.split(",") });
  }
  return out;
}

/** The v1 controllers containers get (a new v1 cpuset needs cpus and mems before anyone joins). */
const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "name=systemd"];
const V2_CONTROLLERS = ["cpu", "cpuset", "memory", "pids", "io"];

/** "0-2,5" → [0, 1, 2, 5]. */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(",").filter(Boolean)) {
    const [a, b] = part.split("-").map(Number);
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

/** The CPUs a limit pins to: the explicit set, else the first whole `count` of `available`
 *  (LXD spreads containers over CPUs; first-N keeps this simple and predictable). */
export function pinnedCpus(available: number[], count?: number, set?: string): string | undefined {
  if (set) return set;
  if (!count || !Number.isInteger(count) || count >= available.length) return undefined;
  return available.slice(0, count).join(",");
}

/** Controllers that make a host "v1" even when a cgroup2 mount exists beside them. */
const V1_MARKERS = ["memory", "cpu", "pids"];

/** The host's layout in the usual words: "unified" (pure v2), "hybrid" (v1 controllers beside a
 *  cgroup2 mount, like this development machine) or "legacy" (v1 only). */
export function describeLayout(mounts: Mount[]): "unified" | "hybrid" | "legacy" {
  if (detectLayout(mounts) === "v2") return "unified";
  return mounts.some((m) => m.fstype === "cgroup2") ? "hybrid" : "legacy";
}

/** "v1" when the resource controllers are on v1 hierarchies (hybrid hosts too), else "v2". */
export function detectLayout(mounts: Mount[]): CgroupLayout {
  if (mounts.some((m) => m.fstype === "cgroup" && m.options.some((o) => V1_MARKERS.includes(o)))) return "v1";
  if (mounts.some((m) => m.fstype === "cgroup2")) return "v2";
  throw new Error("no cgroup filesystem is mounted");
}

/** /proc/self/cgroup text → hierarchy key ("memory", "cpu,cpuacct", "name=systemd", "" for v2) → path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.trim().split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** Directory of cgroup `path` within a mount. */
function dirIn(mount: Mount, path: string): string {
  const rel = mount.root !== "/" && (path === mount.root || path.startsWith(`${mount.root}/`))
    ? path.slice(mount.root.length)
    : path;
  return join(mount.point, rel);
}

/** A daemon moved into its own leaf on v2 must not nest its next leaf inside it. */
const ownPath = (path: string) => path.replace(/\/lxd\.daemon\.[^/]+$/, "") || "/";

/** Files the owner of a delegated cgroup must be able to write (cgroup-v2.rst, "Delegation"). */
const DELEGATED_FILES = ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "tasks"];

function defaultRoot(): { uid: number; gid: number } | undefined {
  try {
    const map = defaultIdmap();
    return { uid: map.uid[0].hostid, gid: map.gid[0].hostid };
  } catch {
    return undefined;
  }
}

const read = (file: string) => readFile(file, "utf8").then((s) => s.trim(), () => "");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a freeze or thaw may take before it is reported (and a freeze undone). */
const FREEZE_TIMEOUT_MS = 10_000;
/** A counter file, read synchronously: a handful of bytes from kernel memory, where an async read's
 *  thread-pool round trip costs more than the read (a list of 200 containers: 13 ms async, 5 ms sync). */
const readNow = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};
const numNow = (file: string) => Number(readNow(file).split(/\s/)[0]) || 0;

/** A new v1 cpuset starts with no CPUs or memory nodes: copy its parent's. */
async function inheritCpuset(dir: string): Promise<void> {
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    if (!(await read(join(dir, f)))) await writeFile(join(dir, f), await read(join(dir, "..", f)));
  }
}

/** Removes a cgroup directory and its children (cgroupfs rmdir works on non-empty-looking dirs). */
async function removeTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      // EBUSY while the last processes are still exiting: usually gone within a millisecond or
      // two, so retry quickly first, then back off (about 1 s in total).
      if (code !== "EBUSY" || i >= 60) throw new Error(`remove cgroup ${dir}: ${(err as Error).message}`);
      await sleep(Math.min(1 + i, 20));
    }
  }
}

export class Cgroups {
  private constructor(
    readonly layout: CgroupLayout,
    /** Payload root per hierarchy key ("" on v2). */
    private readonly roots: Map<string, string>,
    /** Controllers that limits can use (v2: enabled in the payload root; v1: mounted). */
    readonly controllers: string[],
    /** Payload root per hierarchy key as /proc/PID/cgroup shows it. */
    private readonly shown: Map<string, string>,
    /** The daemon's own cgroups (/proc/self/cgroup), which containers inherit where we make none. */
    private readonly own: Map<string, string>,
  ) {}

  /** A container's cgroup per hierarchy as /proc/PID/cgroup names them ("cpu,cpuacct", "name=systemd",
   *  "" for cgroup2) and shows their paths (the daemon's own in hierarchies it leaves alone, as a
   *  booted container inherits them): where CRIU is to put a restored container. */
  paths(name: string): [key: string, path: string][] {
    return [...this.own.keys()].map((key) => {
      const root = this.shown.get(key);
      return [key, root ? join(root, name) : this.own.get(key)!];
    });
  }

  /** Sets up the payload root below the daemon's own cgroup. `tag` must be stable for one
   *  daemon (e.g. a hash of its LXD_DIR) so a restarted daemon finds its containers again. */
  static async init(tag: string, procSelf = "/proc/self"): Promise<Cgroups> {
    if (!/^[A-Za-z0-9_-]+$/.test(tag)) throw new Error(`invalid cgroup tag "${tag}"`);
    const mounts = parseCgroupMounts(readFileSync(`${procSelf}/mountinfo`, "utf8"));
    const own = parseProcCgroup(readFileSync(`${procSelf}/cgroup`, "utf8"));
    const layout = detectLayout(mounts);
    return layout === "v2" ? Cgroups.initV2(tag, mounts, own) : Cgroups.initV1(tag, mounts, own);
  }

  private static async initV1(tag: string, mounts: Mount[], own: Map<string, string>): Promise<Cgroups> {
    const roots = new Map<string, string>();
    const shown = new Map<string, string>();
    const controllers: string[] = [];
    for (const [key, path] of own) {
      const names = key.split(",");
      const wanted = names.filter((n) => V1_CONTROLLERS.includes(n));
      if (!wanted.length) continue;
      const mount = mounts.find((m) => m.fstype === "cgroup" && names.every((n) => m.options.includes(n)));
      if (!mount) continue;
      const root = join(dirIn(mount, path), `lxd.payload.${tag}`);
      await mkdir(root, { recursive: true });
      if (names.includes("cpuset")) await inheritCpuset(root);
      roots.set(key, root);
      shown.set(key, join(path, `lxd.payload.${tag}`));
      controllers.push(...wanted.filter((n) => !n.startsWith("name=")));
    }
    if (!roots.size) throw new Error("no usable cgroup v1 hierarchy (memory, cpu, pids, freezer)");
    // Hybrid hosts: a cgroup2 mount beside the controllers. Containers get a delegated subtree
    // there too, which they see as their /sys/fs/cgroup: systemd >= 247 runs in unified mode on it
    // (it has no controllers; limits stay on the v1 hierarchies).
    const unified = mounts.find((m) => m.fstype === "cgroup2");
    if (unified && own.has("")) {
      const root = join(dirIn(unified, own.get("")!), `lxd.payload.${tag}`);
      await mkdir(root, { recursive: true });
      roots.set("", root);
      shown.set("", join(own.get("")!, `lxd.payload.${tag}`));
    }
    return new Cgroups("v1", roots, controllers, shown, own);
  }

  private static async initV2(tag: string, mounts: Mount[], own: Map<string, string>): Promise<Cgroups> {
    const mount = mounts.find((m) => m.fstype === "cgroup2")!;
    const base = dirIn(mount, ownPath(own.get("") ?? "/"));
    const root = join(base, `lxd.payload.${tag}`);
    // "No internal processes": the daemon leaves `base` for a leaf of its own so controllers can
    // be enabled for the payload beside it. This fails when others share `base`: then limits
    // are not enforced and `controllers` says so.
    const daemonLeaf = join(base, `lxd.daemon.${tag}`);
    await mkdir(daemonLeaf, { recursive: true });
    await writeFile(join(daemonLeaf, "cgroup.procs"), String(process.pid)).catch(() => {});
    await mkdir(root, { recursive: true });
    const available = (await read(join(base, "cgroup.controllers"))).split(/\s+/);
    const enable = V2_CONTROLLERS.filter((c) => available.includes(c));
    const controllers: string[] = [];
    for (const c of enable) {
      try {
        await writeFile(join(base, "cgroup.subtree_control"), `+${c}`);
        await writeFile(join(root, "cgroup.subtree_control"), `+${c}`);
        controllers.push(c);
      } catch {
        // Not delegated to us, or processes share `base`.
      }
    }
    return new Cgroups("v2", new Map([["", root]]), controllers, new Map([["", join(ownPath(own.get("") ?? "/"), `lxd.payload.${tag}`)]]), new Map([["", own.get("") ?? "/"]]));
  }

  /** Whether containers get a cgroup2 tree of their own (v2 hosts, and hybrid v1 hosts). */
  get unified(): boolean {
    return this.roots.has("");
  }

  /** Directories of one container, per hierarchy. */
  private dirs(name: string): string[] {
    return [...this.roots.values()].map((r) => join(r, name));
  }

  /** Directory of a container in the hierarchy holding `controller` (v2: the only one). */
  private dir(name: string, controller: string): string | undefined {
    if (this.layout === "v2") return join(this.roots.get("")!, name);
    for (const [key, root] of this.roots) if (key.split(",").includes(controller)) return join(root, name);
    return undefined;
  }

  /** Creates the container's cgroups; returns the cgroup.procs files for the monitor. The
   *  directories are delegated to the container's root (`rootIds`, host ids; default: the
   *  default idmap's) so an init such as systemd can manage its own subtree. */
  async create(name: string, rootIds?: { uid: number; gid: number }): Promise<string[]> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`invalid cgroup name "${name}"`);
    const owner = rootIds ?? defaultRoot();
    const dirs = this.dirs(name);
    for (const d of dirs) {
      await mkdir(d, { recursive: true });
      if (this.layout === "v1" && d === this.dir(name, "cpuset")) await inheritCpuset(d);
      if (!owner) continue;
      for (const f of ["", ...DELEGATED_FILES]) await chown(join(d, f), owner.uid, owner.gid).catch(() => {});
    }
    return dirs.map((d) => join(d, "cgroup.procs"));
  }

  /** Applies limits live; a limit left out is reset to unlimited. */
  async applyLimits(name: string, limits: CgroupLimits): Promise<void> {
    const set = async (controller: string, file: string, value: string) => {
      const dir = this.dir(name, controller);
      if (!dir || !this.controllers.includes(controller)) return;
      await writeFile(join(dir, file), value).catch((err) => {
        throw new Error(`cgroup ${name}: set ${file} to ${value}: ${(err as Error).message}`);
      });
    };
    const period = 100000;
    const quota = limits.cpu ? Math.max(1000, Math.round(limits.cpu * period)) : undefined;
    // Pinning is what makes nproc (sched_getaffinity) and LXCFS's cpuinfo show the limit.
    const cpusetDir = this.dir(name, "cpuset");
    const parentCpus = this.layout === "v2" ? "cpuset.cpus.effective" : "cpuset.cpus";
    const available = cpusetDir ? parseCpuList(await read(join(cpusetDir, "..", parentCpus))) : [];
    const pin = pinnedCpus(available, limits.cpu, limits.cpus);
    if (this.layout === "v2") {
      await set("memory", "memory.max", limits.memory ? String(limits.memory) : "max");
      await set("cpu", "cpu.max", `${quota ?? "max"} ${period}`);
      await set("cpuset", "cpuset.cpus", pin ?? "\n"); // empty: all of the parent's
      await set("pids", "pids.max", limits.processes ? String(limits.processes) : "max");
    } else {
      await set("memory", "memory.limit_in_bytes", limits.memory ? String(limits.memory) : "-1");
      await set("cpu", "cpu.cfs_period_us", String(period));
      await set("cpu", "cpu.cfs_quota_us", quota ? String(quota) : "-1");
      await set("cpuset", "cpuset.cpus", pin ?? available.join(","));
      await set("pids", "pids.max", limits.processes ? String(limits.processes) : "max");
    }
  }

  /** Limits which device nodes the container may use to `rules` (deny everything else). Live:
   *  on v1 only the difference to the current list is written, so access a container keeps is
   *  never interrupted; on v2 the eBPF program is replaced. */
  async setDevices(name: string, rules: DeviceRule[]): Promise<void> {
    const what = `cgroup ${name}`;
    if (this.layout === "v2") return applyDeviceProgram(join(this.roots.get("")!, name), rules, what);
    const dir = this.dir(name, "devices");
    if (!dir) throw new Error(`${what}: the devices cgroup controller is not mounted, cannot restrict device access`);
    const write = (file: string, rule: string) => writeFile(join(dir, file), rule).catch((err) => {
      throw new Error(`${what}: write "${rule}" to ${file}: ${(err as Error).message}`);
    });
    let current = (await read(join(dir, "devices.list"))).split("\n").filter(Boolean);
    if (current.includes("a *:* rwm")) {
      await write("devices.deny", "a");
      current = [];
    }
    const wanted = rules.map(ruleText);
    for (const rule of wanted) if (!current.includes(rule)) await write("devices.allow", rule);
    for (const rule of current) if (!wanted.includes(rule)) await write("devices.deny", rule);
  }

  /** `lxd list` asks this for every running container. */
  usage(name: string): CgroupUsage {
    const file = (controller: string, f: string) => join(this.dir(name, controller) ?? "/nonexistent", f);
    if (this.layout === "v2") {
      // memory.peak and memory.swap.peak exist since Linux 5.19: before, the current values stand in.
      const memory = numNow(file("memory", "memory.current"));
      const peak = numNow(file("memory", "memory.peak"));
      const swap = numNow(file("memory", "memory.swap.current"));
      const swapPeak = numNow(file("memory", "memory.swap.peak"));
      const cpuStat = readNow(file("cpu", "cpu.stat"));
      const usec = (key: string) => Number(new RegExp(`^${key} (\\d+)`, "m").exec(cpuStat)?.[1] ?? 0);
      return {
        memory, memoryPeak: peak || memory, swap, swapPeak: swapPeak || swap, processes: numNow(file("pids", "pids.current")),
        cpuNs: usec("usage_usec") * 1000, cpuUserNs: usec("user_usec") * 1000, cpuSystemNs: usec("system_usec") * 1000,
      };
    }
    // v1 counts memory+swap together (memsw, when swap accounting is on): swap is the difference.
    const memory = numNow(file("memory", "memory.usage_in_bytes"));
    const memoryPeak = numNow(file("memory", "memory.max_usage_in_bytes"));
    const memsw = numNow(file("memory", "memory.memsw.usage_in_bytes"));
    const memswPeak = numNow(file("memory", "memory.memsw.max_usage_in_bytes"));
    const cpuStat = readNow(file("cpuacct", "cpuacct.stat"));
    const swap = memsw ? Math.max(0, memsw - memory) : 0;
    const swapPeak = memswPeak ? Math.max(0, memswPeak - memoryPeak) : 0;
    // cpuacct.stat counts USER_HZ (100 per second) ticks.
    const ticks = (key: string) => Number(new RegExp(`^${key} (\\d+)`, "m").exec(cpuStat)?.[1] ?? 0) * 10_000_000;
    return {
      memory, memoryPeak, swap, swapPeak, cpuNs: numNow(file("cpuacct", "cpuacct.usage")), cpuUserNs: ticks("user"), cpuSystemNs: ticks("system"),
      processes: numNow(file("pids", "pids.current")),
    };
  }

  async freeze(name: string): Promise<void> {
    await this.setFrozen(name, true);
  }

  async thaw(name: string): Promise<void> {
    await this.setFrozen(name, false);
  }

  /** Thaws only what is (being) frozen: one read per container when a restarted daemon checks them all. */
  async thawIfFrozen(name: string): Promise<void> {
    const dir = this.dir(name, "freezer");
    if (!dir) return;
    const thawed = this.layout === "v2" ? (await read(join(dir, "cgroup.freeze"))) === "0" : (await read(join(dir, "freezer.state"))) === "THAWED";
    if (!thawed) await this.setFrozen(name, false);
  }

  private async setFrozen(name: string, frozen: boolean): Promise<void> {
    const what = frozen ? "freeze" : "thaw";
    const dir = this.dir(name, "freezer");
    if (!dir) throw new Error(`${what} ${name}: no freezer cgroup on this host`);
    const [file, value, done] = this.layout === "v2"
      ? ["cgroup.freeze", frozen ? "1" : "0", async () => /^frozen (\d)/m.exec(await read(join(dir, "cgroup.events")))?.[1] === (frozen ? "1" : "0")]
      : ["freezer.state", frozen ? "FROZEN" : "THAWED", async () => (await read(join(dir, "freezer.state"))) === (frozen ? "FROZEN" : "THAWED")];
    await writeFile(join(dir, file), value).catch((err) => {
      throw new Error(`${what} ${name}: ${(err as Error).message}`);
    });
    // Usually done within milliseconds; a task in uninterruptible I/O (writeback after a large
    // write, a hung mount) holds the freezer until it returns, so allow 10 s, polling less often.
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      if (await done()) return;
      if (Date.now() >= deadline) break;
      await sleep(pause);
    }
    // A freeze that did not complete must not leave the container half frozen.
    if (frozen) await writeFile(join(dir, file), this.layout === "v2" ? "0" : "THAWED").catch(() => {});
    throw new Error(`${what} ${name}: timed out after ${FREEZE_TIMEOUT_MS / 1000} s (a process is stuck in the kernel, e.g. in uninterruptible I/O)`);
  }

  /** SIGKILLs every process of the container. */
  async killAll(name: string): Promise<void> {
    const dir = this.dirs(name)[0];
    if (this.layout === "v2" && existsSync(join(dir, "cgroup.kill"))) {
      await writeFile(join(dir, "cgroup.kill"), "1");
      return;
    }
    // v1 (or v2 before 5.14): kill what is listed until a round finds nobody new. A process with
    // SIGKILL pending cannot complete a fork, so only children forked before the kill can appear
    // after it, and the next round catches them; killed processes may stay listed while they
    // exit, which is why "nobody new" rather than "nobody" ends the loop (no sleeping).
    const killed = new Set<number>();
    for (let round = 0; round < 100; round++) {
      const pids = (await read(join(dir, "cgroup.procs"))).split("\n").filter(Boolean).map(Number);
      const fresh = pids.filter((pid) => !killed.has(pid));
      if (!fresh.length) return;
      for (const pid of fresh) {
        killed.add(pid);
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
  }

  /** Removes the container's cgroups (waits briefly for exiting processes). */
  async remove(name: string): Promise<void> {
    for (const d of this.dirs(name)) await removeTree(d);
  }

  /** Removes the payload roots when no container cgroup is left in them. */
  async destroy(): Promise<void> {
    for (const root of this.roots.values()) await rmdir(root).catch(() => {});
  }
}
