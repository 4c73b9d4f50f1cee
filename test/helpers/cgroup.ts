// The host's cgroup hierarchies as the tests see them, and the fresh cgroup each test daemon
// starts in: the daemon creates its containers' cgroups below its own, as under systemd with
// Delegate=yes, so every test daemon needs one it may manage.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Hierarchy {
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory or /sys/fs/cgroup. */
  mount: string;
  /** The cgroup path the mount shows as its top (not "/" inside a cgroup namespace). */
  root: string;
  version: 1 | 2;
  /** v1: the controllers (or name=...) bound to it; v2: empty. */
  controllers: string[];
}

/** One /proc/self/mountinfo line, with the kernel's octal escapes (\040 etc.) decoded. */
export interface MountInfo {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function mountInfo(pid: number | "self" = "self"): MountInfo[] {
  return readFileSync(`/proc/${pid}/mountinfo`, "utf8").trim().split("\n").map((line) => {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    return {
      root: unescapeOctal(fields[3]),
      mountPoint: unescapeOctal(fields[4]),
      fsType: fields[dash + 1],
      superOptions: (fields[dash + 3] ?? "").split(","),
    };
  });
}

const NOT_CONTROLLERS = new Set(["rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods"]);

export function hierarchies(): Hierarchy[] {
  const out: Hierarchy[] = [];
  for (const m of mountInfo()) {
    if (m.fsType === "cgroup2") out.push({ mount: m.mountPoint, root: m.root, version: 2, controllers: [] });
    if (m.fsType === "cgroup") {
      const controllers = m.superOptions.filter((o) => !NOT_CONTROLLERS.has(o) && !o.startsWith("release_agent="));
      out.push({ mount: m.mountPoint, root: m.root, version: 1, controllers });
    }
  }
  // The same hierarchy can be mounted twice (bind mounts): keep the first.
  return out.filter((h, i) => out.findIndex((o) => o.version === h.version && o.controllers.join() === h.controllers.join()) === i);
}

/** Pure cgroup v2 (the common case) vs v1 or hybrid (this CI machine). */
export const layout = (hs = hierarchies()): "v1" | "v2" => (hs.some((h) => h.version === 1) ? "v1" : "v2");

/** The directory of `pid`'s cgroup in `h`, or undefined when it is outside what `h` shows. */
export function cgroupDir(h: Hierarchy, pid: number | "self" = "self"): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.trim().split("\n")) {
    const [, ctrl, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (path === undefined) continue;
    const matches = h.version === 2 ? ctrl === "" : ctrl !== "" && ctrl.split(",").every((c) => h.controllers.includes(c));
    if (!matches) continue;
    const root = h.root === "/" ? "" : h.root;
    if (root && path !== root && !path.startsWith(`${root}/`)) return undefined;
    return join(h.mount, path.slice(root.length));
  }
  return undefined;
}

const readTrim = (file: string) => {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
};

/**
 * On v2, the cgroup a daemon cgroup goes below: the test's own cgroup when it already hands
 * the usual controllers to its children, otherwise the hierarchy's top, where the
 * no-internal-process rule does not apply and controllers can always be enabled.
 */
function v2Parent(h: Hierarchy): string {
  const own = cgroupDir(h);
  const wanted = readTrim(join(h.mount, "cgroup.controllers")).split(" ").filter(Boolean);
  if (own && wanted.every((c) => readTrim(join(own, "cgroup.subtree_control")).split(" ").includes(c))) return own;
  for (const c of wanted) {
    try {
      writeFileSync(join(h.mount, "cgroup.subtree_control"), `+${c}`);
    } catch {
      // Some controllers (e.g. cpuset inside a container) may be unavailable: the daemon gets the rest.
    }
  }
  return h.mount;
}

export interface DaemonCgroups {
  /** The cgroup directories created, one per hierarchy. */
  dirs: string[];
  /** Their cgroup.procs files: writing a pid there moves that process in. */
  procsFiles: string[];
  /** Hierarchies where no cgroup could be made, with why (the daemon then shares the test's). */
  skipped: string[];
}

/** Creates `lxd-test-<tag>` in every hierarchy (below the test's own cgroup where possible). */
export function createDaemonCgroups(tag: string): DaemonCgroups {
  const out: DaemonCgroups = { dirs: [], procsFiles: [], skipped: [] };
  for (const h of hierarchies()) {
    const parent = h.version === 2 ? v2Parent(h) : cgroupDir(h);
    if (!parent) {
      out.skipped.push(`${h.mount}: the test process's cgroup is not visible there`);
      continue;
    }
    const dir = join(parent, `lxd-test-${tag}`);
    try {
      mkdirSync(dir);
      // A new v1 cpuset has no CPUs or memory nodes, and nothing can join it until it has.
      if (h.controllers.includes("cpuset")) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(dir, f), readTrim(join(parent, f)));
      }
      out.dirs.push(dir);
      out.procsFiles.push(join(dir, "cgroup.procs"));
    } catch (e) {
      out.skipped.push(`${dir}: ${(e as Error).message}`);
      if (existsSync(dir)) out.dirs.push(dir);
    }
  }
  return out;
}

/** The memory limit of a process's cgroup, read from the host (v1 or v2). */
export function memoryLimit(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.find((l) => l.split(":")[1]!.split(",").includes("memory"));
  const file = v1
    ? `/sys/fs/cgroup/memory${v1.split(":")[2]}/memory.limit_in_bytes`
    : `/sys/fs/cgroup${lines.find((l) => l.startsWith("0::"))!.slice(3)}/memory.max`;
  return Number(readFileSync(file, "utf8").trim());
}
