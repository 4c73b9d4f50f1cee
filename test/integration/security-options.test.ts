// The security.* options and unix devices, against a real daemon: each option is applied (checked
// from the host and by an attempt from inside) or refused with a clear error.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { importBusybox, startDaemon, type RunResult, type TestDaemon } from "../helpers/daemon.ts";
import { X86_64_SYSCALLS } from "../../src/kernel/syscall-table.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon();
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  await importBusybox(d);
  await ok("launch", "busybox", "plain");
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);

/** Runs a shell script as root inside `name`. */
const sh = (name: string, script: string): Promise<RunResult> => d.lxdWith({ timeoutMs: 30_000 }, "exec", name, "--", "sh", "-c", script);

const initPid = async (name: string): Promise<number> => (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.pid;
const config = async (name: string): Promise<Record<string, string>> => (await d.api("GET", `/1.0/instances/${name}`)).body.metadata.config;
const statusField = (pid: number, field: string) =>
  readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${field}:`))!.split(/\s+/).slice(1);
/** The "NS HOST RANGE" lines of a process's uid or gid map. */
const idmap = (pid: number, kind: "uid" | "gid") =>
  readFileSync(`/proc/${pid}/${kind}_map`, "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));

describe("masks over /proc and /sys are locked", () => {
  test("container root can neither unmount nor remount them", async () => {
    const r = await sh("plain", `
      umount /proc/sysrq-trigger && echo umount-sysrq-ok
      umount -l /proc/kcore && echo umount-kcore-ok
      umount /sys/firmware && echo umount-firmware-ok
      umount /proc/sys && echo umount-sys-ok
      mount -o remount,rw /proc/sys && echo remount-ok
      mount -o remount,rw /sys && echo remount-sys-ok
      mount --move /proc /mnt && echo move-ok
      echo 1 > /proc/sys/kernel/sysrq && echo sysctl-ok
      true`);
    expect(r.stdout).not.toMatch(/-ok/);
    expect(r.stderr).toMatch(/umount.*(Invalid argument|Operation not permitted)/);
  });

  test("sysctls of the container's own network namespace stay writable", async () => {
    const r = await sh("plain", "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("1");
  });
});

describe("security.nesting", () => {
  const nested = "unshare -U -r -m -p -f --mount-proc sh -c 'echo pid=$$; ls /proc | grep -c \"^[0-9]\"'";

  test("off: a nested user namespace cannot mount its own /proc, as in LXD", async () => {
    const r = await sh("plain", nested);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain("pid=1");
    expect(r.stderr).toMatch(/mount.*(Operation not permitted|Permission denied)/);
  });

  test("on: a nested container gets its own pid namespace and /proc", async () => {
    await ok("launch", "busybox", "nest", "-c", "security.nesting=true");
    const r = await sh("nest", nested);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("pid=1");
    // Its /proc shows only its own processes (sh and ls).
    expect(Number(r.stdout.trim().split("\n").pop())).toBeLessThanOrEqual(3);
    // The masks still hold in the nesting container itself.
    expect((await sh("nest", "umount /proc/sysrq-trigger && echo umount-ok; true")).stdout).not.toContain("umount-ok");
    await ok("delete", "nest", "--force");
  });
});

describe("security.privileged", () => {
  test("runs as host root without a user namespace, minus LXD's dropped capabilities, still filtered", async () => {
    await ok("launch", "busybox", "priv", "-c", "security.privileged=true");
    const pid = await initPid("priv");
    expect(readlinkSync(`/proc/${pid}/ns/user`)).toBe(readlinkSync("/proc/self/ns/user"));
    expect(statusField(pid, "Uid")).toEqual(["0", "0", "0", "0"]);
    const bounding = BigInt(`0x${statusField(pid, "CapBnd")[0]}`);
    for (const cap of [16n, 17n, 25n, 32n, 33n]) expect(bounding & (1n << cap)).toBe(0n);
    expect(bounding & (1n << 21n)).not.toBe(0n); // sys_admin stays
    expect(statusField(pid, "Seccomp")[0]).toBe("2");
    const c = await config("priv");
    expect(c["volatile.idmap.next"]).toBe("[]");
    expect(c["volatile.idmap.base"]).toBe("0");
  });

  test("it cannot load modules or set the clock; exec'd commands lose the same capabilities", async () => {
    const year = new Date().getUTCFullYear();
    const r = await sh("priv", `
      grep CapBnd /proc/self/status
      echo junk > /tmp/x.ko; insmod /tmp/x.ko && echo insmod-ok
      date -s 2001-01-01 >/dev/null
      hwclock -w 2>/dev/null && echo hwclock-ok
      true`);
    const bounding = BigInt(`0x${/CapBnd:\s+(\w+)/.exec(r.stdout)![1]}`);
    for (const cap of [16n, 17n, 25n]) expect(bounding & (1n << cap)).toBe(0n);
    expect(r.stdout).not.toMatch(/insmod-ok|hwclock-ok/);
    // busybox date reports the failure but exits 0.
    expect(r.stderr).toMatch(/can't set date: Operation not permitted/);
    expect(new Date().getUTCFullYear()).toBe(year);
  });

  test("files, exec as another user and stop work as for any container", async () => {
    const r = await sh("priv", "echo hi > /root/f && stat -c %u /root/f");
    expect(r.stdout.trim()).toBe("0");
    expect(await ok("file", "pull", "priv/root/f", "-")).toBe("hi\n");
    expect((await d.lxd("exec", "priv", "--user", "1000", "--", "id", "-u")).stdout.trim()).toBe("1000");
    await ok("stop", "priv", "--force");
    await ok("delete", "priv");
  });
});

describe("security.idmap.isolated, .size, .base", () => {
  test("isolated containers get non-overlapping ranges, apart from the shared one, kept across restarts", async () => {
    await ok("launch", "busybox", "iso1", "-c", "security.idmap.isolated=true");
    await ok("launch", "busybox", "iso2", "-c", "security.idmap.isolated=true");
    const shared = idmap(await initPid("plain"), "uid")[0];
    const [m1, m2] = [idmap(await initPid("iso1"), "uid")[0], idmap(await initPid("iso2"), "uid")[0]];
    const overlap = (a: number[], b: number[]) => a[1] < b[1] + b[2] && b[1] < a[1] + a[2];
    expect(m1[2]).toBe(65536);
    expect(overlap(m1, m2) || overlap(m1, shared) || overlap(m2, shared)).toBe(false);
    const [c1, c2] = [await config("iso1"), await config("iso2")];
    expect(Number(c1["volatile.idmap.base"])).toBe(m1[1]);
    expect(Number(c2["volatile.idmap.base"])).toBe(m2[1]);
    expect(JSON.parse(c1["volatile.idmap.current"])).toEqual([
      { Isuid: true, Isgid: false, Hostid: m1[1], Nsid: 0, Maprange: 65536 },
      { Isuid: false, Isgid: true, Hostid: m1[1], Nsid: 0, Maprange: 65536 },
    ]);
    expect(c1["volatile.idmap.next"]).toBe(c1["volatile.idmap.current"]);
    expect(c1["volatile.last_state.idmap"]).toBe(c1["volatile.idmap.current"]);
    expect((await config("plain"))["volatile.idmap.base"]).toBe("0");

    // A file one writes belongs to its ids, none of the other's.
    await sh("iso1", "echo x > /dev/shm/mine");
    const owner = statSync(`/proc/${await initPid("iso1")}/root/dev/shm/mine`).uid;
    expect(owner).toBe(m1[1]);
    expect(owner >= m2[1] && owner < m2[1] + m2[2]).toBe(false);

    await ok("restart", "iso1", "--force");
    expect(idmap(await initPid("iso1"), "uid")[0]).toEqual(m1);
    await ok("delete", "iso1", "iso2", "--force");
  });

  test("size and base are honoured; a bad size is refused", async () => {
    await ok("init", "busybox", "sized", "-c", "security.idmap.isolated=true", "-c", "security.idmap.size=100000",
      "-c", "security.idmap.base=3000000000");
    // Recorded at creation as LXD does: the next map, nothing applied yet.
    const created = await config("sized");
    expect(created["volatile.idmap.base"]).toBe("3000000000");
    expect(JSON.parse(created["volatile.idmap.next"])[0]).toEqual({ Isuid: true, Isgid: false, Hostid: 3000000000, Nsid: 0, Maprange: 100000 });
    expect(created["volatile.last_state.idmap"]).toBe("[]");
    await ok("start", "sized");
    expect(idmap(await initPid("sized"), "uid")).toEqual([[0, 3000000000, 100000]]);
    expect(idmap(await initPid("sized"), "gid")).toEqual([[0, 3000000000, 100000]]);
    await ok("delete", "sized", "--force");
    const bad = await d.lxd("config", "set", "plain", "security.idmap.size", "0");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("security.idmap.size");
  });
});

describe("raw.idmap", () => {
  test("both 1000 1000: host id 1000 is container id 1000, both ways", async () => {
    await ok("init", "busybox", "raw");
    await ok("config", "set", "raw", "raw.idmap", "both 1000 1000");
    await ok("start", "raw");
    const pid = await initPid("raw");
    expect(idmap(pid, "uid")).toEqual([[0, 1000000, 1000], [1000, 1000, 1], [1001, 1001001, 64535]]);
    expect(idmap(pid, "gid")).toContainEqual([1000, 1000, 1]);
    // A host-owned file in the container's /dev/shm (a tmpfs of the host kernel).
    const path = `/proc/${pid}/root/dev/shm/hostfile`;
    writeFileSync(path, "x");
    chownSync(path, 1000, 1000);
    expect((await sh("raw", "stat -c %u:%g /dev/shm/hostfile")).stdout.trim()).toBe("1000:1000");
    await d.lxd("exec", "raw", "--user", "1000", "--group", "1000", "--", "touch", "/dev/shm/fromct");
    const st = statSync(`/proc/${pid}/root/dev/shm/fromct`);
    expect([st.uid, st.gid]).toEqual([1000, 1000]);
    await ok("delete", "raw", "--force");
  });

  test("uid 1000-1002 2000-2002 maps a range of uids only", async () => {
    await ok("init", "busybox", "rawr");
    await ok("config", "set", "rawr", "raw.idmap", "uid 1000-1002 2000-2002");
    await ok("start", "rawr");
    const pid = await initPid("rawr");
    expect(idmap(pid, "uid")).toContainEqual([2000, 1000, 3]);
    expect(idmap(pid, "gid")).toEqual([[0, 1000000, 65536]]);
    await ok("delete", "rawr", "--force");
  });

  test("bad entries are refused with the line or the clash, and nothing is lost", async () => {
    const before = await config("plain");
    const sizes = await d.lxd("config", "set", "plain", "raw.idmap", "uid 1000-1002 2000-2001");
    expect(sizes.code).not.toBe(0);
    expect(sizes.stderr).toMatch(/raw\.idmap.*differ in size/);
    expect(await config("plain")).toEqual(before);
    await ok("init", "busybox", "clash");
    await ok("config", "set", "clash", "raw.idmap", "both 1000 1000\nuid 1000 5000");
    const r = await d.lxd("start", "clash");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/raw\.idmap: host uids 1000-1000 are already mapped/);
    await ok("delete", "clash");
  });
});

describe("unix-char and unix-block devices", () => {
  test("a unix-char device appears with its numbers, owner and mode; hot-added and removed", async () => {
    await ok("config", "device", "add", "plain", "z", "unix-char", "source=/dev/zero", "path=/dev/myzero", "uid=1000", "gid=5", "mode=0640");
    const r = await sh("plain", "stat -c '%t:%T %u:%g %a %F' /dev/myzero; head -c 4 /dev/myzero | wc -c");
    expect(r.stdout.trim().split("\n")).toEqual(["1:5 1000:5 640 character special file", "4"]);
    await ok("config", "device", "remove", "plain", "z");
    expect((await sh("plain", "test -e /dev/myzero && echo present; true")).stdout).not.toContain("present");
  });

  test("devices with major/minor only, at start; optional and missing sources", async () => {
    await ok("init", "busybox", "dev");
    await ok("config", "device", "add", "dev", "n", "unix-char", "path=/dev/sub/null2", "major=1", "minor=3");
    await ok("config", "device", "add", "dev", "gone", "unix-char", "source=/dev/nonexistent", "required=false");
    await ok("config", "device", "add", "dev", "blk", "unix-block", "path=/dev/blk0", "major=7", "minor=0", "mode=0600");
    await ok("start", "dev");
    const r = await sh("dev", `
      stat -c '%t:%T %u %a' /dev/sub/null2; echo x > /dev/sub/null2 && echo write-ok; test -e /dev/nonexistent || echo absent
      stat -c '%t:%T %a %F' /dev/blk0
      find /dev -path /dev/pts -prune -o \\( -type c -o -type b \\) -print | sort | tr '\\n' ' '`);
    expect(r.stdout.trim().split("\n")).toEqual([
      "1:3 0 660", "write-ok", "absent", "7:0 600 block special file",
      // The standard set (with the console pty) and what the devices add, nothing else.
      "/dev/blk0 /dev/console /dev/full /dev/null /dev/random /dev/sub/null2 /dev/tty /dev/urandom /dev/zero",
    ]);
    await ok("delete", "dev", "--force");
  });

  test("a required device that is missing, or a path outside /dev, stops the start with a clear error", async () => {
    await ok("init", "busybox", "nodev");
    await ok("config", "device", "add", "nodev", "gone", "unix-char", "source=/dev/nonexistent");
    let r = await d.lxd("start", "nodev");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/device "gone".*\/dev\/nonexistent does not exist/);
    await ok("config", "device", "remove", "nodev", "gone");
    await ok("config", "device", "add", "nodev", "out", "unix-char", "path=/root/zero", "major=1", "minor=5");
    r = await d.lxd("start", "nodev");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/must be under \/dev/);
    await ok("delete", "nodev");
  });
});

describe("syscall filters", () => {
  test("security.syscalls.deny makes the call fail with EPERM", async () => {
    await ok("launch", "busybox", "deny", "-c", "security.syscalls.deny=sethostname mkdirat mkdir");
    const r = await sh("deny", "hostname changed; mkdir /tmp/d; hostname; echo still-running");
    expect(r.stderr).toContain("Operation not permitted");
    expect(r.stdout.trim().split("\n")).toEqual(["deny", "still-running"]);
    await ok("delete", "deny", "--force");
  });

  test("security.syscalls.allow lets only the listed calls through", async () => {
    const allowed = [...X86_64_SYSCALLS.keys()].filter((s) => !["mkdir", "mkdirat", "sethostname"].includes(s));
    await ok("launch", "busybox", "allow", "-c", `security.syscalls.allow=${allowed.join(" ")}`);
    const r = await sh("allow", "mkdir /tmp/d && echo mkdir-ok; hostname other && echo hostname-ok; echo x > /tmp/f && cat /tmp/f");
    expect(r.stdout.trim()).toBe("x");
    expect(r.stderr).toContain("Operation not permitted");
    expect(statusField(await initPid("allow"), "Seccomp")[0]).toBe("2");
    await ok("delete", "allow", "--force");
  });

  test("unknown syscall names and allow with deny are refused", async () => {
    const unknown = await d.lxd("config", "set", "plain", "security.syscalls.allow", "read nosuchcall");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('Unknown syscall "nosuchcall"');
    await ok("init", "busybox", "both", "-c", "security.syscalls.allow=read write", "-c", "security.syscalls.deny=mount");
    const r = await d.lxd("start", "both");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("mutually exclusive");
    await ok("delete", "both");
  });
});
