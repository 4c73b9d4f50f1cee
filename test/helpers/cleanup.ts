// Removes every trace a test daemon can leave on the host, whatever state it died in:
// processes (daemon, monitors, container inits, exec helpers), mounts, cgroups, network
// interfaces and nft tables carrying its tag, then its LXD_DIR. Fully synchronous so it can
// run from a process 'exit' hook.
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hierarchies, mountInfo } from "./cgroup.ts";

export interface Leftovers {
  /** The daemon's LXD_DIR (absolute, no trailing slash). */
  dir: string;
  /** The daemon's LXD_TEST_TAG: cgroups, interfaces and nft tables whose name contains it are its. */
  tag: string;
  /** Extra directories to delete (e.g. the lxc client's config). */
  extraDirs?: string[];
}

const sleep = (ms: number) => Bun.sleepSync(ms);

const below = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

const tryRead = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

const tryLink = (file: string) => {
  try {
    return readlinkSync(file);
  } catch {
    return "";
  }
};

const pids = () => readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number);

/** Our own process and its ancestors: never killed, whatever their environment says. */
function protectedPids(): Set<number> {
  const out = new Set<number>([1]);
  let pid = process.pid;
  while (pid > 1 && !out.has(pid)) {
    out.add(pid);
    pid = parentOf(pid);
  }
  return out;
}

function parentOf(pid: number): number {
  // The command name in field 2 may contain spaces and parentheses: parse after the last ')'.
  const stat = tryRead(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? 0);
}

const isGone = (pid: number) => {
  const stat = tryRead(`/proc/${pid}/stat`);
  return stat === "" || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
};

/**
 * Cgroup directories (any hierarchy, v1 or v2) whose name contains the tag, and everything
 * below them, parents before children.
 */
function taggedCgroups(tag: string): string[] {
  const found: string[] = [];
  const subdirs = (dir: string) => {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
    } catch {
      return [];
    }
  };
  const collect = (dir: string) => {
    found.push(dir);
    for (const sub of subdirs(dir)) collect(sub);
  };
  const search = (dir: string, depth: number) => {
    for (const sub of subdirs(dir)) {
      if (sub.slice(dir.length + 1).includes(tag)) collect(sub);
      else if (depth < 8) search(sub, depth + 1);
    }
  };
  for (const h of hierarchies()) search(h.mount, 0);
  return found;
}

/** A process belongs to the daemon when any of its links, arguments or cgroups point at it. */
function belongs(pid: number, t: Leftovers, cgroupPids: Set<number>): boolean {
  if (cgroupPids.has(pid)) return true;
  for (const link of ["exe", "cwd", "root"]) if (below(tryLink(`/proc/${pid}/${link}`), t.dir)) return true;
  if (tryRead(`/proc/${pid}/cgroup`).includes(t.tag)) return true;
  const cmdline = tryRead(`/proc/${pid}/cmdline`).split("\0");
  if (cmdline.some((a) => below(a, t.dir) || a.includes(`${t.dir}/`))) return true;
  const environ = tryRead(`/proc/${pid}/environ`).split("\0");
  return environ.includes(`LXD_DIR=${t.dir}`) || environ.includes(`LXD_TEST_TAG=${t.tag}`);
}

/** The matched processes plus all their descendants (a container init is a monitor's child). */
function doomed(t: Leftovers, cgroups: string[]): number[] {
  const keep = protectedPids();
  const cgroupPids = new Set<number>();
  for (const cg of cgroups) {
    for (const file of ["cgroup.procs", "tasks"]) {
      for (const p of tryRead(join(cg, file)).split("\n")) if (p) cgroupPids.add(Number(p));
    }
  }
  const all = pids();
  const children = new Map<number, number[]>();
  for (const p of all) {
    const pp = parentOf(p);
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const seen = new Set<number>();
  const add = (p: number) => {
    if (keep.has(p) || seen.has(p)) return;
    seen.add(p);
    for (const c of children.get(p) ?? []) add(c);
  };
  for (const p of all) if (belongs(p, t, cgroupPids)) add(p);
  // Zombies cannot be killed (their parent or init reaps them); their children were added above.
  return [...seen].filter((p) => !isGone(p));
}

/** Frozen tasks ignore SIGKILL until thawed. */
function thaw(cgroups: string[]) {
  for (const cg of cgroups) {
    const files: [string, string][] = [["freezer.state", "THAWED"], ["cgroup.freeze", "0"]];
    for (const [f, v] of files) {
      if (!existsSync(join(cg, f))) continue;
      try {
        writeFileSync(join(cg, f), v);
      } catch {
        // Best effort: a parent may be frozen too; the kill loop below reports what survives.
      }
    }
  }
}

function killAll(t: Leftovers, problems: string[]) {
  for (let round = 0; round < 3; round++) {
    const cgroups = taggedCgroups(t.tag);
    thaw(cgroups);
    for (const cg of cgroups) {
      if (existsSync(join(cg, "cgroup.kill"))) {
        try {
          writeFileSync(join(cg, "cgroup.kill"), "1");
        } catch {
          // Older kernels: the per-pid kill below does the same.
        }
      }
    }
    const victims = doomed(t, cgroups);
    if (victims.length === 0) return;
    for (const p of victims) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    const deadline = Date.now() + 5000;
    while (victims.some((p) => !isGone(p)) && Date.now() < deadline) sleep(20);
  }
  const left = doomed(t, taggedCgroups(t.tag));
  if (left.length) problems.push(`processes survived SIGKILL: ${left.join(" ")}`);
}

/** Lazily unmounts everything mounted at or below `dir`, deepest (and latest) first. */
function unmountAll(dir: string, problems: string[]) {
  for (let round = 0; round < 3; round++) {
    const mounts = mountInfo().map((m) => m.mountPoint).filter((m) => below(m, dir));
    if (mounts.length === 0) return;
    mounts.reverse().sort((a, b) => b.split("/").length - a.split("/").length);
    for (const m of mounts) Bun.spawnSync(["umount", "-l", m], { stdout: "ignore", stderr: "ignore" });
  }
  const left = mountInfo().map((m) => m.mountPoint).filter((m) => below(m, dir));
  if (left.length) problems.push(`still mounted: ${left.join(" ")}`);
}

/** Loop devices backed by files below `dir` (btrfs pools' loop files): detached once unmounted. */
function detachLoops(dir: string, problems: string[]) {
  let devices: string[] = [];
  try {
    devices = readdirSync("/sys/block").filter((n) => n.startsWith("loop"));
  } catch {
    return;
  }
  for (const dev of devices) {
    const backing = tryRead(`/sys/block/${dev}/loop/backing_file`).trim().replace(/ \(deleted\)$/, "");
    if (!backing || !below(backing, dir)) continue;
    Bun.spawnSync(["losetup", "-d", `/dev/${dev}`], { stdout: "ignore", stderr: "ignore" });
    // After a lazy unmount the device is released only when the filesystem's last user has gone,
    // which under load can take seconds (a process of the daemon still exiting).
    for (let i = 0; i < 250 && tryRead(`/sys/block/${dev}/loop/backing_file`).trim(); i++) sleep(20);
    if (below(tryRead(`/sys/block/${dev}/loop/backing_file`).trim().replace(/ \(deleted\)$/, ""), dir)) {
      problems.push(`loop device /dev/${dev} still attached to ${backing}`);
    }
  }
}

function removeCgroups(tag: string, problems: string[]) {
  const deepestFirst = taggedCgroups(tag).sort((a, b) => b.split("/").length - a.split("/").length);
  for (const dir of deepestFirst) {
    // A cgroup whose last task just died can stay busy for a moment.
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") break;
        if (attempt === 10) {
          problems.push(`cannot remove cgroup ${dir}: ${(e as Error).message}`);
          break;
        }
        sleep(20);
      }
    }
  }
}

/** Links (bridges, veths) and nft tables named after the tag; both tools may be absent. */
function removeNetwork(tag: string) {
  const links = Bun.spawnSync(["ip", "-o", "link", "show"], { stdout: "pipe", stderr: "ignore" });
  if (links.exitCode === 0) {
    for (const line of links.stdout.toString().split("\n")) {
      const name = line.split(":")[1]?.trim().split("@")[0];
      if (name?.includes(tag)) Bun.spawnSync(["ip", "link", "delete", name], { stdout: "ignore", stderr: "ignore" });
    }
  }
  const tables = Bun.spawnSync(["nft", "list", "tables"], { stdout: "pipe", stderr: "ignore" });
  if (tables.exitCode === 0) {
    for (const line of tables.stdout.toString().split("\n")) {
      const [, family, name] = line.trim().split(/\s+/);
      if (name?.includes(tag)) Bun.spawnSync(["nft", "delete", "table", family, name], { stdout: "ignore", stderr: "ignore" });
    }
  }
}

/**
 * Everything, in the only order that works: thaw and kill (a live process pins mounts and
 * cgroups), unmount, detach loop devices, remove cgroups and network objects, then delete files. The directory is
 * only deleted once nothing is mounted below it: rm -rf through a mount would reach whatever is
 * mounted there. Returns what could not be cleaned (empty when all went).
 */
export function cleanupLeftovers(t: Leftovers): string[] {
  const problems: string[] = [];
  if (!t.dir.startsWith("/tmp/") || t.tag.length < 6) throw new Error(`cleanup refused for ${t.dir} (tag "${t.tag}")`);
  killAll(t, problems);
  unmountAll(t.dir, problems);
  detachLoops(t.dir, problems);
  removeCgroups(t.tag, problems);
  removeNetwork(t.tag);
  if (mountInfo().some((m) => below(m.mountPoint, t.dir))) {
    problems.push(`left ${t.dir} in place: something is still mounted below it`);
  } else {
    for (const d of [t.dir, ...(t.extraDirs ?? [])]) rmSync(d, { recursive: true, force: true, maxRetries: 3 });
  }
  return problems;
}
