// lxd-helper, monitor, exec, cgroups and seccomp against the real kernel (needs root).
// A busybox rootfs is the image: overlay lower layer, with upper/work in a temp dir.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cgroups } from "../../src/kernel/cgroup.ts";
import { startExec, type ExecSession } from "../../src/kernel/exec.ts";
import { defaultIdmap } from "../../src/kernel/idmap.ts";
import { MNT, MS, mount, pidfdOpen, pidfdSignal, umount } from "../../src/kernel/ffi.ts";
import { launch, watch, type LaunchSpec } from "../../src/kernel/monitor.ts";
import { buildSeccomp } from "../../src/kernel/seccomp.ts";

const isRoot = process.getuid?.() === 0 && existsSync("/bin/busybox");
const SIGPWR = 30;
const APPLETS = ["sh", "id", "hostname", "cat", "sleep", "echo", "ls", "tty", "stty", "kill", "true", "false", "chroot", "touch", "mkdir", "rm"];

const tmp = mkdtempSync(join(tmpdir(), "lxd-native-"));
const tag = `nt${process.pid}`;
const PATH_ENV = { PATH: "/bin:/sbin" };
const started: { rundir: string; pid: number }[] = [];
let cgroups: Cgroups | undefined;

/** A busybox image: /bin applets, an /sbin/init script that sleeps until SIGPWR or SIGTERM. */
function makeImage(dir: string, init: "script" | "busybox") {
  for (const d of ["bin", "sbin", "etc", "root", "tmp"]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "bin/busybox"));
  for (const a of APPLETS) symlinkSync("busybox", join(dir, "bin", a));
  if (init === "script") {
    writeFileSync(join(dir, "sbin/init"), "#!/bin/sh\ntrap 'exit 0' PWR TERM\nwhile :; do sleep 1000 & wait; done\n", { mode: 0o755 });
  } else {
    symlinkSync("/bin/busybox", join(dir, "sbin/init"));
    writeFileSync(join(dir, "etc/inittab"), "::respawn:/bin/sleep 1000\n");
  }
}

function spec(name: string, dir: string, init: string[] = ["/sbin/init"], extra: Partial<LaunchSpec> = {}): LaunchSpec {
  const rundir = join(dir, "run");
  for (const d of ["upper", "work"]) mkdirSync(join(dir, d), { recursive: true });
  mkdirSync(rundir, { recursive: true, mode: 0o700 });
  const map = defaultIdmap();
  return {
    name, hostname: name, rundir,
    rootfs: { kind: "overlay", lower: join(tmp, "image"), upper: join(dir, "upper"), work: join(dir, "work") },
    uidMap: map.uid, gidMap: map.gid, cgroupProcs: [], cgroup2: false,
    seccomp: buildSeccomp({}), env: ["container=lxc", "PATH=/bin:/sbin"], init, ...extra,
  };
}

async function start(s: LaunchSpec) {
  const r = await launch(s);
  started.push({ rundir: s.rundir, pid: r.initPid });
  const w = await watch(s.rundir);
  if (!w.running) throw new Error(`${s.name} stopped right after starting`);
  if (w.execSocket) execSockets.set(r.initPid, w.execSocket);
  return { ...r, exited: w.exited };
}

async function collect(stream: ReadableStream<Uint8Array> | undefined): Promise<string> {
  if (!stream) return "";
  return new Response(stream).text();
}

type ExecOpts = Parameters<typeof startExec>[0];

/** Monitors that run exec requests, by init pid; `viaMonitor` off: every exec spawns a helper. */
const execSockets = new Map<number, string>();
let viaMonitor = true;

/** startExec on the container whose init is `pid`, through a pidfd (the helper keeps its own copy). */
function execIn(pid: number, opts: Omit<ExecOpts, "pidfd">): ExecSession {
  const pidfd = pidfdOpen(pid);
  try {
    return startExec({ pidfd, monitor: viaMonitor ? execSockets.get(pid) : undefined, ...opts });
  } finally {
    closeSync(pidfd);
  }
}

async function run(pid: number, command: string[], opts: Partial<ExecOpts> = {}) {
  const s = execIn(pid, { command, env: PATH_ENV, seccomp: buildSeccomp({}), ...opts });
  s.closeStdin();
  const [code, out, err] = await Promise.all([s.exit, collect(s.stdout), collect(s.stderr)]);
  return { code, out, err };
}

/** Reads a session's output until `pred` holds (pty output arrives in pieces). */
async function readUntil(s: ExecSession, pred: (text: string) => boolean, reader = s.stdout.getReader()) {
  let text = "";
  while (!pred(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  return { text, reader };
}

const mountsUnder = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(dir));
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
const ppid = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

describe.skipIf(!isRoot)("native runtime", () => {
  const c1 = join(tmp, "c1");
  let init = 0;
  let monitorPid = 0;
  let exited!: Promise<number>;

  beforeAll(async () => {
    process.env.LXD_DIR = join(tmp, "lxd");
    makeImage(join(tmp, "image"), "script");
    cgroups = await Cgroups.init(tag);
    const procs = await cgroups.create("c1");
    const t0 = performance.now();
    const r = await start(spec("c1", c1, ["/sbin/init"], { cgroupProcs: procs, cgroup2: cgroups.layout === "v2" }));
    console.log(`launch: ${(performance.now() - t0).toFixed(1)} ms (first run includes installing the helper)`);
    init = r.initPid;
    exited = r.exited;
    monitorPid = ppid(init);
  });

  afterAll(async () => {
    for (const s of started) {
      try {
        process.kill(s.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      await watch(s.rundir).then((w) => (w.running ? w.exited : 0)).catch(() => {});
    }
    await cgroups?.remove("c1").catch(() => {});
    await cgroups?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("monitor: detached parent of init, tiny, answers on its socket", async () => {
    expect(monitorPid).not.toBe(process.pid);
    expect(ppid(monitorPid)).not.toBe(process.pid);
    const status = readFileSync(`/proc/${monitorPid}/status`, "utf8");
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
    console.log(`monitor RSS: ${rssKiB} KiB`);
    expect(rssKiB).toBeLessThan(3 * 1024);
    expect(readFileSync(join(c1, "run/init.pid"), "utf8").trim()).toBe(String(init));
    const again = await watch(join(c1, "run"));
    expect(again).toMatchObject({ running: true, initPid: init });
  });

  test("init: own session, no leaked fds, seccomp on, in its cgroups", () => {
    const stat = readFileSync(`/proc/${init}/stat`, "utf8").split(") ")[1].split(" ");
    expect(stat[3]).toBe(String(init)); // session id (field 6) = its own pid
    for (const fd of readdirSync(`/proc/${init}/fd`)) {
      const target = readlinkSync(`/proc/${init}/fd/${fd}`);
      // 0-2 are the console; the shell keeps its script open on its own fd.
      expect(["/dev/console", "/sbin/init"]).toContain(target);
    }
    expect(readFileSync(`/proc/${init}/status`, "utf8")).toMatch(/^Seccomp:\s+2$/m);
    expect(readFileSync(`/proc/${init}/status`, "utf8")).toMatch(/^NoNewPrivs:\s+0$/m);
    const groups = readFileSync(`/proc/${init}/cgroup`, "utf8");
    expect(groups).toContain(`lxd.payload.${tag}/c1`);
  });

  test("exec: pid namespace, root, hostname; latency", async () => {
    const r = await run(init, ["sh", "-c", "echo $$; id -u; hostname"]);
    const [pid, uid, host] = r.out.trim().split("\n");
    expect(Number(pid)).toBeGreaterThan(1);
    expect(Number(pid)).toBeLessThan(100);
    expect(uid).toBe("0");
    expect(host).toBe("c1");
    expect(r.code).toBe(0);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const s = execIn(init, { command: ["echo", "x"], env: PATH_ENV });
      s.closeStdin();
      const reader = s.stdout.getReader();
      await reader.read();
      times.push(performance.now() - t0);
      await s.exit;
    }
    times.sort((a, b) => a - b);
    console.log(`exec first output: median ${times[5].toFixed(1)} ms, min ${times[0].toFixed(1)} ms`);
  });

  for (const via of ["monitor", "helper"] as const) {
    describe(`exec through ${via === "monitor" ? "the container's monitor" : "a spawned helper"}`, () => {
      beforeAll(() => {
        viaMonitor = via === "monitor";
      });
      test(`exec: exit codes 0/1/126/127/137 (${via})`, async () => {
        expect((await run(init, ["true"])).code).toBe(0);
        expect((await run(init, ["false"])).code).toBe(1);
        expect((await run(init, ["/etc"])).code).toBe(126);
        expect((await run(init, ["no-such-command"])).code).toBe(127);
        expect((await run(init, ["sh", "-c", "kill -9 $$"])).code).toBe(137);
      });

      test(`exec: uid/gid/cwd and environment (${via})`, async () => {
        const r = await run(init, ["sh", "-c", "id -u; id -g; pwd; echo $FOO"], { uid: 1000, gid: 1001, cwd: "/tmp", env: { ...PATH_ENV, FOO: "bar" } });
        expect(r.out).toBe("1000\n1001\n/tmp\nbar\n");
        await expect(run(init, ["true"], { cwd: "/nonexistent" })).rejects.toThrow(/chdir \/nonexistent: No such file/);
      });

      test(`exec: the command joins the container's cgroups (${via})`, async () => {
        const r = await run(init, ["sh", "-c", "cat /proc/self/cgroup"]);
        // Inside its cgroup namespace the container's cgroup is the root.
        for (const line of r.out.trim().split("\n")) expect(line).toMatch(/:\/$/);
      });

      test(`exec: closing stdin ends cat; stdin reaches the command (${via})`, async () => {
        const s = execIn(init, { command: ["cat"], env: PATH_ENV });
        s.stdin(new TextEncoder().encode("hello\n"));
        s.closeStdin();
        expect(await collect(s.stdout)).toBe("hello\n");
        expect(await s.exit).toBe(0);
      });

      test(`exec: a background child holding the pipes does not hang it (${via})`, async () => {
        const t0 = performance.now();
        const s = execIn(init, { command: ["sh", "-c", "sleep 100 & echo hi"], env: PATH_ENV });
        s.closeStdin();
        const { text } = await readUntil(s, (t) => t.includes("hi"));
        expect(text).toBe("hi\n");
        expect(await s.exit).toBe(0);
        expect(performance.now() - t0).toBeLessThan(1000);
      });

      test(`exec --pty: container devpts, window size, resize, background child (${via})`, async () => {
        const s = execIn(init, { command: ["sh", "-c", "tty; stty size; read x; stty size"], env: PATH_ENV, pty: { cols: 100, rows: 30 } });
        const first = await readUntil(s, (t) => t.includes("30 100"));
        expect(first.text).toMatch(/^\/dev\/pts\/\d+\r\n30 100\r\n$/);
        s.resize(120, 40);
        await Bun.sleep(20);
        s.stdin(new TextEncoder().encode("go\n"));
        const rest = await readUntil(s, (t) => t.includes("40 120"), first.reader);
        expect(rest.text).toContain("40 120");
        expect(await s.exit).toBe(0);

        const t0 = performance.now();
        const bg = execIn(init, { command: ["sh", "-c", "sleep 100 & echo hi"], env: PATH_ENV, pty: { cols: 80, rows: 24 } });
        expect(await bg.exit).toBe(0);
        expect((await collect(bg.stdout))).toContain("hi");
        expect(performance.now() - t0).toBeLessThan(1000);
      });

      test(`exec: signal over the control channel (${via})`, async () => {
        const s = execIn(init, { command: ["sleep", "100"], env: PATH_ENV });
        await Bun.sleep(30);
        s.signal(15);
        expect(await s.exit).toBe(128 + 15);
      });
    });
  }
  afterAll(() => {
    viaMonitor = true;
  });

  test("exec through the monitor: its zygote, already in the container's v1 cgroups but pids, forks the runner into its cgroup2 one", async () => {
    viaMonitor = true;
    expect(execSockets.get(init)).toBe(join(c1, "run/exec.sock"));
    const s = execIn(init, { command: ["sleep", "4321"], env: PATH_ENV });
    await Bun.sleep(50);
    const sleeper = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number)
      .find((pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, "utf8") === "sleep\u00004321\u0000"; } catch { return false; } });
    expect(sleeper).toBeDefined();
    const runner = ppid(sleeper!);
    const zygote = ppid(runner);
    expect(zygote).not.toBe(monitorPid);
    expect(ppid(zygote)).toBe(monitorPid);
    // The runner starts in all of init's cgroups; the zygote stays out of init's cgroup2 one (a
    // process there would keep systemd inside from enabling controllers for its children).
    const groups = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
    expect(groups(runner)).toEqual(groups(init));
    // Nor is it in init's pids cgroup: limits.processes counts the container's processes only.
    const v1 = (lines: string[]) => lines.filter((l) => !l.startsWith("0::") && !/^\d+:pids:/.test(l));
    expect(v1(groups(zygote))).toEqual(v1(groups(init)));
    const unified = groups(init).find((l) => l.startsWith("0::"));
    if (unified && unified !== "0::/") expect(groups(zygote)).not.toContain(unified);
    s.signal(9);
    expect(await s.exit).toBe(137);
  });

  test("seccomp: a denied syscall fails with EPERM (this kernel has no module support to try)", async () => {
    const deny = buildSeccomp({ deny: ["chroot"] });
    const denied = await run(init, ["chroot", "/", "true"], { seccomp: deny });
    expect(denied.code).not.toBe(0);
    expect(denied.err).toMatch(/Operation not permitted/);
    expect((await run(init, ["chroot", "/", "true"])).code).toBe(0);
  });

  test("rootfs: files made inside are 0:0 on disk in UPPER; the image is untouched", async () => {
    const before = readdirSync(join(tmp, "image/bin")).sort();
    const r = await run(init, ["sh", "-c", "echo x > /made; mkdir /dir; rm /bin/true; ls -n /made"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^-\S+\s+1\s+0\s+0\s/);
    for (const p of ["made", "dir"]) {
      const st = statSync(join(c1, "upper", p));
      expect([st.uid, st.gid]).toEqual([0, 0]);
    }
    expect(lstatSync(join(c1, "upper/bin/true")).isCharacterDevice()).toBe(true); // whiteout
    expect(readdirSync(join(tmp, "image/bin")).sort()).toEqual(before);
    expect(existsSync(join(tmp, "image/made"))).toBe(false);
    expect(statSync(join(tmp, "image/bin/busybox")).uid).toBe(0);
    // The overlay lives only in the container's mount namespace.
    expect(mountsUnder(tmp)).toEqual([]);
  });

  test("cgroups: limits, usage, freeze and thaw", async () => {
    const cg = cgroups!;
    await cg.applyLimits("c1", { memory: 256 * 1024 * 1024, cpu: 0.5, processes: 100 });
    const u = await cg.usage("c1");
    expect(u.processes).toBeGreaterThan(0);
    if (cg.controllers.includes("memory")) expect(u.memory).toBeGreaterThan(0);
    await cg.freeze("c1");
    expect(readFileSync(`/proc/${init}/status`, "utf8")).toMatch(/^State:\s+[DST]/m);
    await cg.thaw("c1");
    await cg.applyLimits("c1", {});
  });

  test("bind rootfs and start errors", async () => {
    const dir = join(tmp, "c3");
    mkdirSync(dir);
    const s = { ...spec("c3", dir), rootfs: { kind: "bind" as const, path: join(tmp, "image") } };
    const r = await start(s);
    expect((await run(r.initPid, ["hostname"])).out).toBe("c3\n");
    process.kill(r.initPid, "SIGKILL");
    expect(await r.exited).toBe(137);

    const bad = spec("c4", join(tmp, "c4"), ["/no/such/init"]);
    await expect(launch(bad)).rejects.toThrow("start c4: exec /no/such/init: No such file or directory");
    expect(existsSync(join(bad.rundir, "monitor.sock"))).toBe(false);
    expect(await watch(bad.rundir)).toEqual({ running: false });
  });

  test("the monitor outlives the process that launched it", async () => {
    const dir = join(tmp, "c6");
    const s = spec("c6", dir);
    const script = join(tmp, "launch-c6.ts");
    writeFileSync(script, `import { launch } from ${JSON.stringify(join(import.meta.dir, "../../src/kernel/monitor.ts"))};
const r = await launch(${JSON.stringify({ ...s, seccomp: undefined })});
console.log(r.initPid);
process.exit(0);`);
    const child = Bun.spawnSync([process.execPath, script], { env: { ...process.env } });
    expect(child.exitCode).toBe(0);
    const pid = Number(child.stdout.toString().trim());
    started.push({ rundir: s.rundir, pid });
    const w = await watch(s.rundir);
    expect(w).toMatchObject({ running: true, initPid: pid });
    expect((await run(pid, ["hostname"])).out).toBe("c6\n");
    process.kill(pid, "SIGKILL");
    if (w.running) expect(await w.exited).toBe(137);
  });

  test("ffi: mount/umount and pidfd from liblxd.so", async () => {
    const target = join(tmp, "ffi-mnt");
    mkdirSync(target);
    mount("tmpfs", target, "tmpfs", MS.NOSUID | MS.NODEV, "size=1m");
    expect(mountsUnder(target)).toHaveLength(1);
    umount(target, MNT.DETACH);
    expect(mountsUnder(target)).toHaveLength(0);
    expect(() => umount(target)).toThrow(/umount .*ffi-mnt: EINVAL/);
    const child = Bun.spawn(["sleep", "10"]);
    const fd = pidfdOpen(child.pid);
    pidfdSignal(fd, 9);
    closeSync(fd);
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
  });

  const unified = "/sys/fs/cgroup/unified";
  const own = /^0::(.*)$/m.exec(readFileSync("/proc/self/cgroup", "utf8"))?.[1] ?? "";
  const hybrid = existsSync(join(unified, "cgroup.procs")) && own !== "";
  test.skipIf(!hybrid)("cgroup v2 code path on the hybrid host's controller-less unified hierarchy (skipped: not a hybrid host)", async () => {
    // A /proc/self look-alike that shows only the cgroup2 mount: the layout detects as v2.
    const fake = join(tmp, "fake-proc");
    mkdirSync(fake);
    writeFileSync(join(fake, "mountinfo"), `40 30 0:37 / ${unified} rw,relatime - cgroup2 cgroup2 rw\n`);
    writeFileSync(join(fake, "cgroup"), `0::${own}\n`);
    const v2tag = `${tag}v2`;
    const cg = await Cgroups.init(v2tag, fake);
    const base = join(unified, own);
    try {
      expect(cg.layout).toBe("v2");
      expect(readFileSync("/proc/self/cgroup", "utf8")).toContain(`0::${join(own, `lxd.daemon.${v2tag}`)}`);
      const procs = await cg.create("c7");
      expect(procs).toEqual([join(base, `lxd.payload.${v2tag}`, "c7", "cgroup.procs")]);
      expect(statSync(join(base, `lxd.payload.${v2tag}`, "c7")).uid).toBe(defaultIdmap().uid[0].hostid);
      const r = await start(spec("c7", join(tmp, "c7"), ["/sbin/init"], { cgroupProcs: procs, cgroup2: true }));
      // Inside: cgroup2 mounted at /sys/fs/cgroup, rooted at the container's own cgroup.
      const inside = await run(r.initPid, ["sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/cgroup.procs | wc -l"]);
      expect(inside.out).toMatch(/^0::\/\n/m);
      expect(Number(inside.out.trim().split("\n").pop())).toBeGreaterThanOrEqual(2);
      await cg.freeze("c7");
      expect(readFileSync(`/proc/${r.initPid}/status`, "utf8")).toMatch(/^State:\s+[DST]/m);
      await cg.thaw("c7");
      await cg.killAll("c7");
      expect(await r.exited).toBe(137);
      await cg.remove("c7");
      await cg.destroy();
      expect(existsSync(join(base, `lxd.payload.${v2tag}`))).toBe(false);
    } finally {
      writeFileSync(join(base, "cgroup.procs"), String(process.pid));
      await cg.remove("c7").catch(() => {});
      await cg.destroy();
      // The monitor that ran in it lingers until the host's init reaps it.
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(join(base, `lxd.daemon.${v2tag}`));
          break;
        } catch {
          await Bun.sleep(20);
        }
      }
    }
  });

  test("busybox init powers off on SIGPWR (exit 128+SIGINT, as reboot(2) in a pid namespace)", async () => {
    const dir = join(tmp, "c5");
    const image = join(tmp, "image-bb");
    makeImage(image, "busybox");
    const s = spec("c5", dir);
    s.rootfs = { kind: "overlay", lower: image, upper: join(dir, "upper"), work: join(dir, "work") };
    const r = await start(s);
    await Bun.sleep(100);
    process.kill(r.initPid, SIGPWR);
    expect(await r.exited).toBe(130);
  }, 10000);

  test("SIGKILL of init: exit reported, monitor gone, nothing left behind", async () => {
    process.kill(init, "SIGKILL");
    expect(await exited).toBe(137);
    for (let i = 0; i < 100 && alive(monitorPid); i++) await Bun.sleep(10);
    expect(alive(monitorPid)).toBe(false);
    expect(existsSync(join(c1, "run/monitor.sock"))).toBe(false);
    expect(await watch(join(c1, "run"))).toEqual({ running: false });
    expect(mountsUnder(tmp)).toEqual([]);
    await cgroups!.remove("c1");
    expect(readFileSync("/proc/self/cgroup", "utf8")).not.toContain(`lxd.payload.${tag}/c1`);
  });
});
