// Device access control: containers (privileged ones too) may create any device node but only
// open the standard set and their own unix-char/unix-block devices; hot-added devices become
// usable at once and removed ones stop being usable.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importBusybox, startDaemon, type RunResult, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
/** A loop device the test attaches to a file with known content: a host block device
 *  that host root can read. */
let loop = "";
let disk: [string, string];
const scratch = mkdtempSync(join(tmpdir(), "lxd-devaccess-"));

beforeAll(async () => {
  writeFileSync(join(scratch, "img"), Buffer.alloc(1 << 20, "L"));
  const losetup = Bun.spawnSync(["losetup", "-f", "--show", join(scratch, "img")]);
  loop = losetup.stdout.toString().trim();
  expect(loop).toMatch(/^\/dev\/loop\d+$/);
  disk = readFileSync(`/sys/block/${loop.slice(5)}/dev`, "utf8").trim().split(":") as [string, string];
  d = await startDaemon();
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  await importBusybox(d);
});

afterAll(async () => {
  await d?.stop();
  if (loop) Bun.spawnSync(["losetup", "-d", loop]);
  rmSync(scratch, { recursive: true, force: true });
});

const ok = (...args: string[]) => d.ok(...args);
const sh = (name: string, script: string): Promise<RunResult> => d.lxdWith({ timeoutMs: 30_000 }, "exec", name, "--", "sh", "-c", script);

/** Creates nodes for the loop device and /dev/loop-control and tries to open them, and /dev/null. */
const probe = () => `
  mknod /tmp/disk b ${disk[0]} ${disk[1]} && echo mknod-disk-ok
  head -c 512 /tmp/disk >/dev/null && echo open-disk-ok
  mknod /tmp/lc c 10 237 && echo mknod-lc-ok
  head -c 0 /tmp/lc && echo open-lc-ok
  echo x > /dev/null && head -c 4 /dev/zero | wc -c
  true`;

describe("device access", () => {
  test("a privileged container can mknod but not open host devices; the standard set works", async () => {
    await ok("launch", "busybox", "priv", "-c", "security.privileged=true");
    const r = await sh("priv", probe());
    expect(r.stdout).toContain("mknod-disk-ok");
    expect(r.stdout).toContain("mknod-lc-ok");
    expect(r.stdout).not.toContain("open-disk-ok");
    expect(r.stdout).not.toContain("open-lc-ok");
    expect(r.stderr).toMatch(/head: \/tmp\/disk: Operation not permitted/);
    expect(r.stdout).toContain("4\n");
    // The console and exec'd ptys (devpts) stay usable.
    expect((await d.lxd("exec", "priv", "-t", "--", "sh", "-c", "tty && echo hi > /dev/tty && echo tty-ok")).stdout).toContain("tty-ok");
  });

  test("a hot-added unix-char device is usable at once, and no longer once removed", async () => {
    await ok("config", "device", "add", "priv", "lc", "unix-char", "path=/dev/loop-control");
    expect((await sh("priv", "head -c 0 /dev/loop-control && head -c 0 /tmp/lc && echo open-ok")).stdout).toContain("open-ok");
    await ok("config", "device", "remove", "priv", "lc");
    const r = await sh("priv", "head -c 0 /tmp/lc && echo open-ok; true");
    expect(r.stdout).not.toContain("open-ok");
    expect(r.stderr).toContain("Operation not permitted");
  });

  test("devices of the config are allowed from the start; a restart keeps the rules", async () => {
    await ok("config", "device", "add", "priv", "d", "unix-block", `path=/dev/hostdisk`, `major=${disk[0]}`, `minor=${disk[1]}`);
    await ok("restart", "priv", "--force");
    const read = await sh("priv", "head -c 4 /dev/hostdisk");
    expect(read.stderr).toBe("");
    expect(read.stdout).toBe("LLLL");
    expect((await sh("priv", probe())).stdout).not.toContain("open-lc-ok");
    await ok("delete", "priv", "--force");
  });

  test("unprivileged containers get the same allow list", async () => {
    await ok("launch", "busybox", "unpriv");
    const r = await sh("unpriv", "echo x > /dev/null && head -c 0 /dev/ptmx && echo std-ok");
    expect(r.stdout).toContain("std-ok");
    await ok("config", "device", "add", "unpriv", "lc", "unix-char", "path=/dev/loop-control");
    expect((await sh("unpriv", "head -c 0 /dev/loop-control && echo open-ok")).stdout).toContain("open-ok");
    await ok("delete", "unpriv", "--force");
  });
});
