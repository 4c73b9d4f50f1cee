// Container-aware /proc: with LXCFS running, `free`, `top` and `nproc` in a container limited to
// 256 MiB and 1 CPU show 256 MiB and 1 CPU (busybox, and Debian's procps). The test runs its own
// lxcfs on a temporary mountpoint (LXD_LXCFS_DIR points the daemon there) and stops it afterwards.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { importDebian } from "../helpers/debian-image.ts";
import { run } from "../helpers/run.ts";

let d: TestDaemon;
let lxcfs: Subprocess | undefined;
// Not in the (private) run directory: container root, an unprivileged host uid, must reach
// the files, as at /var/lib/lxcfs.
const work = mkdtempSync("/tmp/lxd-test-lxcfs-");
chmodSync(work, 0o755);
const mnt = join(work, "mnt");

const mounted = () => readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === mnt && l.includes(" - fuse.lxcfs "));

async function stopLxcfs() {
  if (!lxcfs) return;
  lxcfs.kill("SIGTERM");
  await lxcfs.exited;
  lxcfs = undefined;
  if (mounted()) await run(["umount", "-l", mnt]);
}

beforeAll(async () => {
  await run(["mkdir", "-p", mnt]);
  lxcfs = Bun.spawn(["lxcfs", "-f", "-p", join(work, "lxcfs.pid"), mnt], { stdout: "ignore", stderr: "pipe" });
  for (let i = 0; i < 100 && !mounted(); i++) await Bun.sleep(50);
  if (!mounted()) throw new Error(`lxcfs did not mount ${mnt}: ${await new Response(lxcfs.stderr as ReadableStream).text()}`);
  d = await startInitializedDaemon({ env: { LXD_LXCFS_DIR: mnt } });
});

afterAll(async () => {
  await d?.stop();
  await stopLxcfs();
  rmSync(work, { recursive: true, force: true });
});

const features = async () => (await d.api("GET", "/1.0")).body.metadata.environment.lxc_features;

describe("LXCFS", () => {
  test("the server says LXCFS is in use", async () => {
    expect((await features()).lxcfs).toBe("true");
    expect(await d.ok("info")).toContain("lxcfs: \"true\"");
  });

  test("top, /proc/meminfo, nproc and cpuinfo show the container's 256 MiB and 1 CPU", async () => {
    await d.ok("launch", "busybox", "c1", "-c", "limits.memory=256MiB", "-c", "limits.cpu=1");
    // busybox's free asks sysinfo(2), which LXCFS cannot cover; Debian's (procps) reads
    // /proc/meminfo: see systemd.test.ts.
    expect(await d.ok("exec", "c1", "--", "grep", "MemTotal", "/proc/meminfo")).toMatch(/^MemTotal:\s+262144 kB$/m);
    const top = await d.ok("exec", "c1", "--", "top", "-b", "-n", "1");
    const [used, freeK] = /^Mem: (\d+)K used, (\d+)K free/m.exec(top)!.slice(1).map(Number);
    expect(used + freeK).toBe(256 * 1024);
    expect((await d.ok("exec", "c1", "--", "nproc")).trim()).toBe("1");
    expect((await d.ok("exec", "c1", "--", "grep", "-c", "^processor", "/proc/cpuinfo")).trim()).toBe("1");
    expect((await d.ok("exec", "c1", "--", "cat", "/sys/devices/system/cpu/online")).trim()).toMatch(/^\d+$/);
    expect(readFileSync("/proc/meminfo", "utf8")).not.toMatch(/^MemTotal:\s+262144 kB$/m);
  });

  test("Debian's free, top and nproc show 256 MiB and 1 CPU", async () => {
    await importDebian(d);
    await d.ok("launch", "debian", "d1", "-c", "limits.memory=256MiB", "-c", "limits.cpu=1");
    const out = await d.ok("exec", "d1", "--", "bash", "-c", "free -m; top -b -n 1 | grep '^MiB Mem'; nproc");
    expect(out).toMatch(/^Mem:\s+256\s/m);
    expect(out).toMatch(/^MiB Mem :\s+256\.0 total/m);
    expect(out.trim().split("\n").at(-1)).toBe("1");
    await d.ok("delete", "d1", "--force");
  }, 900_000);

  test("limits change live", async () => {
    await d.ok("config", "set", "c1", "limits.memory", "128MiB");
    expect(await d.ok("exec", "c1", "--", "grep", "MemTotal", "/proc/meminfo")).toMatch(/^MemTotal:\s+131072 kB$/m);
  });

  test("without LXCFS the server says so and containers see the host's /proc", async () => {
    await d.ok("stop", "c1", "--force");
    await stopLxcfs();
    expect((await features()).lxcfs).toBe("false");
    await d.ok("start", "c1");
    const inside = (await d.ok("exec", "c1", "--", "grep", "MemTotal", "/proc/meminfo")).trim();
    expect(inside).toBe(readFileSync("/proc/meminfo", "utf8").split("\n").find((l) => l.startsWith("MemTotal"))!.trim());
    await d.ok("stop", "c1", "--force");
  });
});
