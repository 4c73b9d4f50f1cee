// The bare-kernel floor the benchmark compares against: the same static busybox started in
// fresh user/mount/pid/uts/ipc/net/cgroup namespaces by util-linux `unshare`, with /proc
// mounted and the root switched, and entered with `nsenter`. No daemon, no image, no cgroup
// setup: what launching and entering a container costs the kernel itself.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";

export interface FloorContainer {
  /** The `unshare` process (the floor's "monitor": it waits for its child). */
  unsharePid: number;
  /** PID 1 of the new pid namespace, as the host sees it. */
  initPid: number;
  exited: Promise<number>;
  /** SIGKILLs PID 1; `exited` resolves once unshare has seen it die. */
  kill(): void;
}

/** A minimal rootfs: the host's static busybox as /bin/busybox, /bin/sh and /sbin/init. */
export function makeRootfs(busybox = "/bin/busybox"): string {
  const root = mkdtempSync("/tmp/lxd-bench-floor-");
  chmodSync(root, 0o755);
  for (const d of ["bin", "sbin", "proc", "dev", "tmp"]) mkdirSync(join(root, d));
  copyFileSync(busybox, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  symlinkSync("busybox", join(root, "bin/sh"));
  symlinkSync("../bin/busybox", join(root, "sbin/init"));
  return root;
}

export const removeRootfs = (root: string) => rmSync(root, { recursive: true, force: true });

const unshareArgs = (root: string) => [
  "unshare", "--user", "--map-root-user", "--mount", "--pid", "--uts", "--ipc", "--net", "--cgroup",
  "--fork", "--kill-child", `--root=${root}`, "--mount-proc",
];

const live = new Set<FloorContainer>();
// A benchmark that fails half-way must not leave idle namespaces behind.
process.on("exit", () => {
  for (const c of live) c.kill();
});

const children = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

const hasExeced = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("/bin/busybox\0");
  } catch {
    return false;
  }
};

/** Starts an idle floor container; resolves once its PID 1 runs busybox (ids mapped, root switched). */
export async function startFloor(root: string): Promise<FloorContainer> {
  const proc = Bun.spawn([...unshareArgs(root), "/bin/busybox", "sleep", "1000000"], { stdout: "ignore", stderr: "pipe" });
  for (;;) {
    const [child] = children(proc.pid);
    if (child && hasExeced(child)) {
      // Killing PID 1 ends the namespace and unshare with it (the stop floor).
      const c: FloorContainer = {
        unsharePid: proc.pid,
        initPid: child,
        exited: proc.exited,
        kill: () => {
          live.delete(c);
          try {
            process.kill(child, "SIGKILL");
          } catch {
            // already gone
          }
        },
      };
      live.add(c);
      return c;
    }
    if (proc.exitCode !== null) throw new Error(`unshare failed: ${await new Response(proc.stderr).text()}`);
    await Bun.sleep(0.2);
  }
}

/** One start-to-exit of a command in fresh namespaces (the floor of "launch, init runs"). */
export async function launchFloor(root: string): Promise<void> {
  const proc = Bun.spawn([...unshareArgs(root), "/bin/busybox", "true"], { stdout: "ignore", stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`unshare failed: ${await new Response(proc.stderr).text()}`);
}

/** Runs `true` inside a floor container's namespaces (the floor of `exec c -- true`). */
export async function execFloor(c: FloorContainer): Promise<void> {
  const proc = Bun.spawn(["nsenter", `--target=${c.initPid}`, "--all", "/bin/busybox", "true"], { stdout: "ignore", stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`nsenter failed: ${await new Response(proc.stderr).text()}`);
}
