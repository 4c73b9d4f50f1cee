// Escape and abuse attempts by a hostile root inside a container, against a real daemon. Every
// test fails if the attack works: each one tries the attack, then checks the host (and the
// neighbouring container) from the outside.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { importBusybox, lxdBinary, run, startDaemon, type RunResult, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
/** A host directory the containers must never reach; it holds a secret and must gain no files. */
let hostDir: string;
const SECRET = `host-secret-${crypto.randomUUID()}`;

beforeAll(async () => {
  d = await startDaemon();
  hostDir = mkdtempSync("/tmp/lxd-sec-canary-");
  writeFileSync(join(hostDir, "secret"), SECRET);
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  await importBusybox(d);
  await ok("launch", "busybox", "c1");
  await ok("launch", "busybox", "c2");
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
  }
});

const ok = (...args: string[]) => d.ok(...args);

/** Runs a shell script as root inside `name` (bounded in time). */
const sh = (name: string, script: string, timeoutMs = 30_000): Promise<RunResult> =>
  d.lxdWith({ timeoutMs }, "exec", name, "--", "sh", "-c", script);

const state = async (name: string) => (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata as { status: string; pid: number };

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** Host pids whose pid namespace is that of `initPid` (the container's processes, seen from the host). */
function containerPids(initPid: number): number[] {
  const ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) === ns) pids.push(Number(e));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

const statusField = (pid: number, field: string) =>
  readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${field}:`))!.split(/\s+/).slice(1);

/** A file of the container's cgroup for `controller` (v1), or of its unified cgroup (v2), read from the host. */
function cgroupFile(pid: number, controller: string, v1File: string, v2File: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.find((l) => l.split(":")[1].split(",").includes(controller));
  if (v1) return readFileSync(`/sys/fs/cgroup/${controller}${v1.split(":")[2]}/${v1File}`, "utf8");
  return readFileSync(`/sys/fs/cgroup${lines.find((l) => l.startsWith("0::"))!.slice(3)}/${v2File}`, "utf8");
}

const hostFilesUnchanged = () => expect(readdirSync(hostDir)).toEqual(["secret"]);

describe("a hostile container root cannot reach the host's files", () => {
  test("writes through /proc/1/root and /proc/<any pid>/root land in the container", async () => {
    const r = await sh("c1", `
      for p in /proc/[0-9]*; do
        echo pwned > $p/root${hostDir}/via-root 2>/dev/null
        echo pwned > $p/cwd/../../../../${hostDir}/via-cwd 2>/dev/null
        cat $p/root${hostDir}/secret 2>/dev/null
      done
      echo pwned > /proc/1/root/tmp/in-container && cat /tmp/in-container`);
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stdout.trim()).toBe("pwned");
    hostFilesUnchanged();
  });

  test("a bind mount or a new proc mount reaches nothing of the host", async () => {
    const r = await sh("c1", `
      mkdir -p /mnt/b /mnt/p
      mount --bind / /mnt/b && echo pwned > /mnt/b${hostDir}/via-bind 2>/dev/null
      mount --bind /proc/1/root /mnt/b 2>/dev/null && cat /mnt/b${hostDir}/secret 2>/dev/null
      if mount -t proc proc /mnt/p 2>/dev/null; then
        for p in /mnt/p/[0-9]*; do cat $p/root${hostDir}/secret 2>/dev/null; echo pwned > $p/root${hostDir}/via-proc 2>/dev/null; done
        umount /mnt/p
      fi
      umount /mnt/b 2>/dev/null; umount /mnt/b 2>/dev/null; true`);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(SECRET);
    hostFilesUnchanged();
  });

  test("hard links cannot reach other mounts, and writes through them never touch the shared image", async () => {
    const image = readdirSync(join(d.dir, "storage-pools/default/images"))[0];
    const hostPasswd = join(d.dir, "storage-pools/default/images", image, "rootfs/etc/passwd");
    const before = readFileSync(hostPasswd, "utf8");
    const r = await sh("c1", `
      ln /dev/null /root/devnull 2>/dev/null && echo linked-devnull
      ln /proc/1/root/etc/passwd /root/pw && echo pwned >> /root/pw
      ln /etc/passwd /root/pw2 && echo pwned >> /root/pw2
      echo pwned >> /etc/passwd; true`);
    expect(r.stdout).not.toContain("linked-devnull");
    // The image layer on the host and the neighbour's view of it are untouched.
    expect(readFileSync(hostPasswd, "utf8")).toBe(before);
    const c2 = await sh("c2", "cat /etc/passwd");
    expect(c2.stdout).toBe(before);
  });

  test("files container root creates (even setuid ones) are out of reach of unprivileged host users", async () => {
    const r = await sh("c1", "cp /bin/busybox /suid && chmod 4755 /suid && mkdir -p /tmp/x && echo data > /tmp/x/f && chmod 777 /tmp/x && chmod 666 /tmp/x/f && echo made");
    expect(r.stdout.trim()).toBe("made");
    const found = Bun.spawnSync(["find", d.dir, "-name", "suid", "-path", "*upper*"]).stdout.toString().trim().split("\n").filter(Boolean);
    expect(found.length).toBeGreaterThan(0);
    const runuser = ["/usr/sbin/runuser", "/sbin/runuser"].find(existsSync);
    if (!runuser) throw new Error("runuser (util-linux) is needed to act as an unprivileged host user");
    for (const path of found) {
      const data = path.replace(/suid$/, "tmp/x/f");
      const probe = await run([runuser, "-u", "nobody", "--", "/bin/busybox", "sh", "-c",
        `test -x '${path}' && echo exec-ok; cat '${data}' && echo read-ok; echo x >> '${data}' && echo write-ok; true`]);
      expect(probe.stdout).not.toMatch(/exec-ok|read-ok|write-ok/);
    }
    // The shared image layer (which may hold setuid-root files of its own) is closed the same way.
    const images = join(d.dir, "storage-pools/default/images");
    const busybox = join(images, readdirSync(images)[0], "rootfs/bin/busybox");
    expect(existsSync(busybox)).toBe(true);
    const probe = await run([runuser, "-u", "nobody", "--", "/bin/busybox", "sh", "-c", `test -x '${busybox}' && echo exec-ok; true`]);
    expect(probe.stdout).not.toContain("exec-ok");
  });

  test("no file descriptor of the host leaks into init or exec'd processes", async () => {
    const r = await sh("c1", "ls /proc/1/fd; echo --; ls /proc/$$/fd");
    const [init, self] = r.stdout.split("--\n").map((s) => s.trim().split(/\s+/).map(Number).sort((a, b) => a - b));
    expect(init).toEqual([0, 1, 2]);
    // The shell's own 0-2 and at most the directory ls is reading.
    expect(self.filter((fd) => fd > 2).length).toBeLessThanOrEqual(1);
  });
});

// `lxd file` arrives with the file-transfer work; until the binary has it there is nothing to attack.
const hasFileCommand = Bun.spawnSync([lxdBinary(), "file", "push", "--help"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;

describe.skipIf(!hasFileCommand)("file transfer cannot be turned against the host", () => {
  test("push through a symlink planted by container root lands inside the container", async () => {
    const src = join(hostDir, "..", `lxd-sec-push-${crypto.randomUUID()}`);
    writeFileSync(src, "pushed\n");
    try {
      await sh("c1", `ln -sf ${hostDir}/pushed /root/abs; ln -sf ../../../../../../..${hostDir}/pushed2 /root/rel; ln -sf /proc/1/root${hostDir}/pushed3 /root/viaproc; mkdir -p ${hostDir}`);
      const codes: Record<string, number> = {};
      for (const link of ["abs", "rel", "viaproc"]) codes[link] = (await d.lxd("file", "push", src, `c1/root/${link}`)).code;
      hostFilesUnchanged();
      // Plain symlinks resolve inside the container; the /proc magic link may be refused.
      expect(codes).toMatchObject({ abs: 0, rel: 0 });
      const inside = await sh("c1", `cat ${hostDir}/pushed ${hostDir}/pushed2; stat -c '%u:%g' ${hostDir}/pushed; cat ${hostDir}/pushed3 2>/dev/null`);
      expect(inside.stdout).toBe(`pushed\npushed\n0:0\n${codes.viaproc === 0 ? "pushed\n" : ""}`);
    } finally {
      rmSync(src, { force: true });
    }
  });

  test("pull through symlinks and hard links never returns host files", async () => {
    const out = mkdtempSync("/tmp/lxd-sec-pull-");
    try {
      await sh("c1", `ln -sf ${hostDir}/secret /root/s1; ln -sf /proc/1/root${hostDir}/secret /root/s2; ln -sf /proc/self/root${hostDir}/secret /root/s3; ln /etc/passwd /root/hard 2>/dev/null; true`);
      for (const name of ["s1", "s2", "s3", "hard"]) {
        const dest = join(out, name);
        await d.lxd("file", "pull", `c1/root/${name}`, dest);
        // A symlink comes back as a symlink (its target string); only regular files have content.
        if (existsSync(dest) && !lstatSync(dest).isSymbolicLink()) expect(readFileSync(dest, "utf8")).not.toContain(SECRET);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("a hostile container root cannot see or touch its neighbour", () => {
  test("reads of another container's files and processes fail", async () => {
    const id = crypto.randomUUID();
    const secret = `c2-secret-${id}`;
    const marker = 1000 + Math.floor(Math.random() * 8000);
    expect((await sh("c2", `echo ${secret} > /root/secret; (sleep ${marker} </dev/null >/dev/null 2>&1 &) ; echo ok`)).stdout.trim()).toBe("ok");
    // The bait is really there, as c2 itself sees it.
    expect((await sh("c2", "ps -o args")).stdout.split("\n").map((l) => l.trim())).toContain(`sleep ${marker}`);
    const r = await sh("c1", `
      cat /proc/[0-9]*/root/root/secret 2>/dev/null
      # The pattern is assembled at run time so that c1's own command line does not contain it.
      s=c2-sec; grep -rs "\${s}ret-${id}" /root /tmp /var /proc/[0-9]*/root/root 2>/dev/null
      ps -o args
      for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done`);
    expect(r.stdout).not.toContain(secret);
    // Every process c1 sees, one command line per line: none is c2's sleep.
    expect(r.stdout.split("\n").map((l) => l.trim())).not.toContain(`sleep ${marker}`);
    expect(r.stdout).toContain("init");
    await sh("c2", `pkill -f 'sleep ${marker}'; rm /root/secret; true`);
  });
});

describe("a hostile container root cannot see or change the host", () => {
  test("it sees only its own processes", async () => {
    const { pid } = await state("c1");
    const r = await sh("c1", "ls -d /proc/[0-9]* | wc -l; ps -o pid,args");
    const count = Number(r.stdout.split("\n")[0]);
    // Init, the shell, ls/wc: a handful, against the host's hundreds.
    expect(count).toBeLessThan(10);
    expect(count).toBeLessThanOrEqual(containerPids(pid).length + 3);
    expect(r.stdout).not.toMatch(/serve|lxd-helper|bun/);
  });

  test("hostname changes only its own", async () => {
    const host = os.hostname();
    const r = await sh("c1", "hostname pwned-host; hostname");
    expect(r.stdout.trim()).toBe("pwned-host");
    expect(readFileSync("/proc/sys/kernel/hostname", "utf8").trim()).toBe(host);
    expect((await sh("c2", "hostname")).stdout.trim()).toBe("c2");
    await sh("c1", "hostname c1");
  });

  test("setting the clock fails and the host clock is unchanged", async () => {
    // busybox date reports the failure on stderr but exits 0: the clock itself is what counts.
    const r = await sh("c1", "date -s '2001-02-03 04:05:06' >/dev/null; adjtimex -o 1000000 >/dev/null 2>&1; echo adj=$?; date +%Y");
    expect(r.stderr).toContain("can't set date");
    expect(r.stdout).toMatch(/adj=[1-9]/);
    expect(r.stdout.trim().split("\n").pop()).not.toBe("2001");
    expect(new Date().getFullYear()).toBeGreaterThan(2001);
  });

  test("it sees no host interface and its network changes stay inside", async () => {
    const hostMacs = readdirSync("/sys/class/net").filter((n) => n !== "lo")
      .map((n) => readFileSync(`/sys/class/net/${n}/address`, "utf8").trim()).filter((mac) => !/^[0:]*$/.test(mac));
    const loMtu = readFileSync("/sys/class/net/lo/mtu", "utf8");
    const dummy = `pw${Math.random().toString(36).slice(2, 8)}`;
    const r = await sh("c1", `ip -o link; ip link add ${dummy} type dummy 2>/dev/null; ip link set lo mtu 1280; echo done`);
    for (const mac of hostMacs) expect(r.stdout).not.toContain(mac);
    expect(r.stdout).toContain("done");
    expect(existsSync(`/sys/class/net/${dummy}`)).toBe(false);
    expect(readFileSync("/sys/class/net/lo/mtu", "utf8")).toBe(loMtu);
    expect(readlinkSync(`/proc/${(await state("c1")).pid}/ns/net`)).not.toBe(readlinkSync("/proc/self/ns/net"));
  });

  test("loading or removing kernel modules fails with ENOSYS (seccomp)", async () => {
    const modules = () => (existsSync("/proc/modules") ? readFileSync("/proc/modules", "utf8") : "");
    const before = modules();
    const r = await sh("c1", "echo junk > /tmp/x.ko; insmod /tmp/x.ko; echo insmod=$?; rmmod dummy; echo rmmod=$?");
    expect(r.stdout).toMatch(/insmod=[1-9]/);
    expect(r.stdout).toMatch(/rmmod=[1-9]/);
    expect(r.stderr).toContain("Function not implemented");
    expect(modules()).toBe(before);
  });

  test("the host's block devices cannot be created or mounted", async () => {
    const dev = statSync("/").dev;
    const [major, minor] = [Math.floor(dev / 256) & 0xfff, (dev & 0xff) | ((dev >> 12) & 0xfff00)];
    const r = await sh("c1", `
      find /dev -type b | sed 's/^/block /'
      mknod /tmp/disk b ${major} ${minor} && echo mknod-ok
      mknod /tmp/mem c 1 1 && echo mknod-mem-ok
      mkdir -p /mnt/disk; mount /tmp/disk /mnt/disk 2>/dev/null && echo mount-ok
      mount -t ext4 /dev/vda /mnt/disk 2>/dev/null && echo mount-ok
      true`);
    expect(r.stdout).not.toMatch(/block |mknod-ok|mknod-mem-ok|mount-ok/);
  });

  test("/proc and /sys paths that change or leak host state are not usable, even after unmounting masks", async () => {
    const sysctls = ["kernel/core_pattern", "kernel/printk", "vm/swappiness", "kernel/modprobe"].filter((s) => existsSync(`/proc/sys/${s}`));
    const before = sysctls.map((s) => readFileSync(`/proc/sys/${s}`, "utf8"));
    const thp = "/sys/kernel/mm/transparent_hugepage/enabled";
    const thpBefore = existsSync(thp) ? readFileSync(thp, "utf8") : "";
    const r = await sh("c1", `
      for f in /proc/kallsyms /sys/firmware; do umount $f 2>/dev/null; done
      mount -o remount,rw /sys 2>/dev/null
      [ -e /proc/sysrq-trigger ] && echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq-ok
      [ -e /proc/kcore ] && head -c 16 /proc/kcore 2>/dev/null | wc -c | grep -qv '^0$' && echo kcore-ok
      grep -v '^0000000000000000 ' /proc/kallsyms 2>/dev/null | head -1 | grep -q . && echo kallsyms-ok
      for s in ${sysctls.join(" ")}; do cat /proc/sys/$s > /tmp/v && cat /tmp/v > /proc/sys/$s 2>/dev/null && echo sysctl-ok $s; done
      echo never > ${thp} 2>/dev/null && echo sys-ok
      touch /sys/kernel/pwned 2>/dev/null && echo sys-ok
      echo /tmp/pwn > /sys/kernel/uevent_helper 2>/dev/null && echo uevent-ok
      cat /sys/firmware/acpi/tables/DSDT 2>/dev/null | head -c 4 | grep -q . && echo firmware-ok
      true`);
    expect(r.stdout).not.toMatch(/sysrq-ok|kcore-ok|kallsyms-ok|sysctl-ok|sys-ok|uevent-ok|firmware-ok/);
    expect(sysctls.map((s) => readFileSync(`/proc/sys/${s}`, "utf8"))).toEqual(before);
    if (thpBefore) expect(readFileSync(thp, "utf8")).toBe(thpBefore);
  });

  test("a cgroup release_agent (CVE-2022-0492) cannot be set", async () => {
    const r = await sh("c1", `
      mkdir -p /tmp/cg
      for c in rdma memory pids; do
        if mount -t cgroup -o $c cgroup /tmp/cg 2>/dev/null; then
          echo /tmp/pwn > /tmp/cg/release_agent 2>/dev/null && echo agent-ok
          umount /tmp/cg
        fi
      done
      true`);
    expect(r.stdout).not.toContain("agent-ok");
  });
});

describe("lxd exec never exposes the host's binaries (CVE-2019-5736 class)", () => {
  test("an exec'd process's /proc/PID/exe is the container's own binary", async () => {
    const r = await sh("c1", "readlink /proc/$$/exe; stat -L -c '%d:%i' /proc/$$/exe; stat -c '%d:%i' /bin/busybox");
    const [link, viaExe, inside] = r.stdout.trim().split("\n");
    expect(link).toBe("/bin/busybox");
    expect(viaExe).toBe(inside);
  });

  test("helper processes inside the container's namespaces are not dumpable and not writable", async () => {
    const { pid: init } = await state("c1");
    const userns = readlinkSync(`/proc/${init}/ns/user`);
    const helperDir = join(d.dir, "bin");
    const longExec = d.lxdWith({ timeoutMs: 30_000 }, "exec", "c1", "--", "sleep", "3");
    let helpers: number[] = [];
    await waitFor("an exec helper", async () => {
      helpers = readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => {
        try {
          return readlinkSync(`/proc/${p}/exe`).startsWith(`${helperDir}/`) && readlinkSync(`/proc/${p}/ns/user`) === userns;
        } catch {
          return false;
        }
      });
      return helpers.length > 0;
    });
    for (const p of helpers) {
      // Running as the container's root, yet /proc/PID/* belongs to host root: the kernel's sign of
      // a non-dumpable process, whose exe/mem/fd container root cannot open.
      expect(Number(statusField(p, "Uid")[0])).toBeGreaterThanOrEqual(100000);
      expect(statSync(`/proc/${p}/status`).uid).toBe(0);
      // Not in the container's pid namespace: nothing inside can even name it.
      expect(containerPids(init)).not.toContain(p);
    }
    expect((await longExec).code).toBe(0);
    for (const f of readdirSync(helperDir)) {
      const st = statSync(join(helperDir, f));
      expect(st.uid).toBe(0);
      expect(st.mode & 0o022).toBe(0);
    }
    expect(statSync(helperDir).mode & 0o022).toBe(0);
  });

  test("racing for /proc/PID/exe during exec never reaches the helper", async () => {
    // Inside: keep reading every process's exe link and opening it; outside: exec over and over.
    const spy = sh("c1", `
      end=$(( $(date +%s) + 4 )); : > /tmp/leak
      while [ $(date +%s) -lt $end ]; do
        for p in /proc/[0-9]*; do
          l=$(readlink $p/exe 2>/dev/null) || continue
          case "$l" in /bin/*|/sbin/*|/usr/*) ;; *) echo "$p $l" >> /tmp/leak ;; esac
          case "$l" in *lxd*) echo "$p $l" >> /tmp/leak ;; esac
        done
      done
      cat /tmp/leak`, 30_000);
    const end = Date.now() + 3500;
    let execs = 0;
    while (Date.now() < end) {
      expect((await d.lxd("exec", "c1", "--", "true")).code).toBe(0);
      execs++;
    }
    const r = await spy;
    expect(execs).toBeGreaterThanOrEqual(3);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("");
  });
});

describe("reboot and power from inside end only the container", () => {
  test("reboot -f restarts the container; the host and the neighbour keep running", async () => {
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8");
    const c1 = await state("c1");
    const c2 = await state("c2");
    await sh("c1", "reboot -f", 15_000);
    await waitFor("c1 to come back", async () => {
      const s = await state("c1");
      return s.status === "Running" && s.pid !== c1.pid;
    });
    expect((await sh("c1", "echo back")).stdout.trim()).toBe("back");
    expect(await state("c2")).toMatchObject({ status: "Running", pid: c2.pid });
    expect(d.pid).toBeDefined();
    expect(readFileSync("/proc/sys/kernel/random/boot_id", "utf8")).toBe(bootId);
  });

  test("poweroff -f stops the container and leaves it stopped", async () => {
    await ok("launch", "busybox", "c3");
    const c2 = await state("c2");
    await sh("c3", "poweroff -f", 15_000);
    await waitFor("c3 to stop", async () => (await state("c3")).status === "Stopped");
    await Bun.sleep(1000);
    expect((await state("c3")).status).toBe("Stopped");
    expect(await state("c2")).toMatchObject({ status: "Running", pid: c2.pid });
    await ok("delete", "c3");
  });
});

describe("limits contain abuse", () => {
  test("limits.processes=20 contains a fork bomb; the host stays responsive", async () => {
    await ok("launch", "busybox", "bomb", "-c", "limits.processes=20");
    const { pid } = await state("bomb");
    // Raising its own limit from inside fails (the limit files are not delegated).
    const raise = await sh("bomb", `
      echo max > /sys/fs/cgroup/pids.max 2>/dev/null && echo raised
      mkdir -p /tmp/cg; mount -t cgroup -o pids cgroup /tmp/cg 2>/dev/null && echo max > /tmp/cg/pids.max 2>/dev/null && echo raised
      true`);
    expect(raise.stdout).not.toContain("raised");
    expect(cgroupFile(pid, "pids", "pids.max", "pids.max").trim()).toBe("20");
    // The bomb detaches from the exec's pipes, so the exec itself returns at once. It starts in a
    // subshell: run directly, the exec's own shell forks each side of the first pipeline, and once
    // the first side's descendants fill the limit its second fork fails and ash exits early.
    const started = await sh("bomb", "f() { f | f & }; (f </dev/null >/dev/null 2>&1 &); echo launched", 20_000);
    expect(started.stdout).toContain("launched");
    await waitFor("the pids limit to be hit", async () =>
      Number(/max (\d+)/.exec(cgroupFile(pid, "pids", "pids.events", "pids.events"))?.[1] ?? 0) > 0);
    expect(Number(cgroupFile(pid, "pids", "pids.current", "pids.current"))).toBeLessThanOrEqual(20);
    // The host and the other containers answer promptly.
    const t0 = Date.now();
    expect((await sh("c2", "echo alive")).stdout.trim()).toBe("alive");
    expect(Date.now() - t0).toBeLessThan(5000);
    const t1 = Date.now();
    await ok("stop", "bomb", "--force");
    expect(Date.now() - t1).toBeLessThan(10_000);
    await ok("delete", "bomb");
  });

  test("limits.memory=32MiB: a memory hog is OOM-killed inside its container only", async () => {
    await ok("launch", "busybox", "hog", "-c", "limits.memory=32MiB");
    const { pid } = await state("hog");
    const r = await sh("hog", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}", 60_000);
    expect(r.stdout).not.toContain("survived");
    const events = cgroupFile(pid, "memory", "memory.oom_control", "memory.events");
    expect(Number(/oom_kill (\d+)/.exec(events)?.[1] ?? 0)).toBeGreaterThan(0);
    // The container's init, its neighbours and the daemon live on.
    expect(await state("hog")).toMatchObject({ status: "Running", pid });
    expect((await sh("hog", "echo alive")).stdout.trim()).toBe("alive");
    expect((await sh("c2", "echo alive")).stdout.trim()).toBe("alive");
    expect(d.pid).toBeDefined();
  });

  test("memory the OOM killer cannot free (tmpfs) kills only the container's processes, never the daemon", async () => {
    // Everything in the cgroup gets killed, the exec's helper included: that must fail this
    // exec, not bring the daemon down.
    const r = await sh("hog", "head -c 100000000 /dev/zero > /dev/shm/fill; echo survived", 60_000);
    expect(r.stdout).not.toContain("survived");
    expect(d.pid).toBeDefined();
    expect((await d.api("GET", "/1.0")).status).toBe(200);
    expect((await sh("c2", "echo alive")).stdout.trim()).toBe("alive");
    await ok("delete", "hog", "--force");
  });

  test("an exec whose helper fails fails alone; the daemon keeps serving", async () => {
    const r = await d.lxd("exec", "c1", "--cwd", "/nonexistent", "--", "true");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/nonexistent");
    expect(d.pid).toBeDefined();
    expect((await sh("c1", "echo alive")).stdout.trim()).toBe("alive");
  });
});

describe("container root is never host root", () => {
  test("init and exec'd processes run as a mapped, unprivileged host uid", async () => {
    const { pid } = await state("c1");
    const running = sh("c1", "sleep 2");
    await waitFor("the exec'd sleep", async () => containerPids(pid).length > 1);
    for (const p of containerPids(pid)) {
      for (const field of ["Uid", "Gid"]) {
        for (const id of statusField(p, field)) expect(Number(id)).toBeGreaterThanOrEqual(100000);
      }
      // No capability in the host's user namespace: all of them are relative to the container's.
      expect(readlinkSync(`/proc/${p}/ns/user`)).not.toBe(readlinkSync("/proc/self/ns/user"));
    }
    expect((await running).code).toBe(0);
  });

  test("files container root creates are owned by its root, and host-root-only files stay closed", async () => {
    const r = await sh("c1", "echo x > /root/mine && stat -c '%u:%g' /root/mine; cat /proc/1/environ >/dev/null && echo environ-ok; stat -c %u /proc/sys/kernel/core_pattern");
    const [owner, environ, coreOwner] = r.stdout.trim().split("\n");
    expect(owner).toBe("0:0");
    expect(environ).toBe("environ-ok");
    // Host root's files show as the overflow id: container root is not their owner.
    expect(coreOwner).toBe("65534");
  });

  test("privilege is opt-in: security.privileged=false still runs in a user namespace", async () => {
    await ok("launch", "busybox", "unpriv", "-c", "security.privileged=false");
    const { pid } = await state("unpriv");
    expect(readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(readlinkSync("/proc/self/ns/user"));
    expect(Number(statusField(pid, "Uid")[0])).toBeGreaterThanOrEqual(100000);
    await ok("delete", "unpriv", "--force");
  });
});

describe("security settings are applied or refused, never silently ignored", () => {
  test("security.syscalls.deny adds to the default filter (EPERM), for init and exec alike", async () => {
    await ok("launch", "busybox", "deny", "-c", "security.syscalls.deny=sethostname");
    const r = await sh("deny", "hostname changed; hostname; echo junk > /tmp/x.ko; insmod /tmp/x.ko");
    expect(r.stderr).toContain("sethostname: Operation not permitted");
    // The default list still answers ENOSYS (busybox words it its own way).
    expect(r.stderr).toContain("kernel does not support requested operation");
    expect(r.stdout.trim()).toBe("deny");
    await ok("delete", "deny", "--force");
  });
});

test("GET /1.0 reports whether the host has AppArmor (this runtime gives containers no profile)", async () => {
  const enabled = existsSync("/sys/module/apparmor/parameters/enabled")
    && readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").trim() === "Y";
  const server = (await d.api("GET", "/1.0")).body.metadata;
  expect(server.environment.kernel_features.apparmor).toBe(String(enabled));
});
