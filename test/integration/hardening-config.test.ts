// "Accepted but not applied" must not happen: every key of the instance config table is either
// observed to act (here, or in the test file named for it), or refused for the values that would
// do nothing. Bodies of the wrong shape get 400; PUT replaces as LXD does.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { INSTANCE_KEYS, validateInstanceConfig } from "../../src/instance/config.ts";
import { repoRoot } from "../helpers/run.ts";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  // A fast snapshot timer, so schedules are seen within seconds.
  d = await startInitializedDaemon({ env: { LXD_SNAPSHOT_TIMER_MS: "300" } });
  await d.ok("launch", "busybox", "e1");
});

afterAll(async () => {
  await d?.stop();
});

const instance = async (name: string) => (await d.api("GET", `/1.0/instances/${name}`)).body.metadata;
const power = async (name: string) => (await instance(name)).status as string;

/** Keys observed in this file, by the test that does it. */
const OBSERVED_HERE: Record<string, string> = {
  "snapshots.expiry": "snapshots.expiry applies to new snapshots, from lxc and lxd",
  "security.protection.delete": "security.protection.delete refuses the delete",
  "snapshots.schedule.stopped": "snapshots.schedule.stopped: scheduled snapshots of stopped instances only when set",
  "linux.kernel_modules": "linux.kernel_modules are loaded before the start",
  "boot.autostart": "boot.autostart starts instances at daemon start, by priority, with delays",
  "boot.autostart.priority": "boot.autostart starts instances at daemon start, by priority, with delays",
  "boot.autostart.delay": "boot.autostart starts instances at daemon start, by priority, with delays",
  "boot.stop.priority": "lxd shutdown stops by boot.stop.priority with each boot.host_shutdown_timeout",
  "boot.host_shutdown_timeout": "lxd shutdown stops by boot.stop.priority with each boot.host_shutdown_timeout",
};

/** Keys whose effect another test observes: [file, text it must contain]. */
const OBSERVED_ELSEWHERE: Record<string, [string, string]> = {
  "cluster.evacuate": ["test/integration/cluster.test.ts", "cluster.evacuate"],
  "limits.cpu": ["test/integration/lxcfs.test.ts", "limits.cpu"],
  "limits.memory": ["test/integration/lifecycle.test.ts", "limits.memory"],
  "limits.processes": ["test/integration/lifecycle.test.ts", "limits.processes"],
  "raw.idmap": ["test/integration/security-options.test.ts", "raw.idmap"],
  "security.idmap.base": ["test/integration/security-options.test.ts", "security.idmap.base"],
  "security.idmap.isolated": ["test/integration/security-options.test.ts", "security.idmap.isolated"],
  "security.idmap.size": ["test/integration/security-options.test.ts", "security.idmap.size"],
  "security.nesting": ["test/integration/nesting.test.ts", "security.nesting"],
  "security.privileged": ["test/integration/security-options.test.ts", "security.privileged"],
  "security.syscalls.allow": ["test/integration/security-options.test.ts", "security.syscalls.allow"],
  "security.syscalls.deny": ["test/integration/security-options.test.ts", "security.syscalls.deny"],
  // The filter these two choose is checked rule by rule.
  "security.syscalls.deny_default": ["test/unit/kernel-seccomp.test.ts", "denyDefault"],
  "security.syscalls.deny_compat": ["test/unit/kernel-seccomp.test.ts", "denyCompat"],
  "snapshots.pattern": ["test/integration/snapshots.test.ts", "snapshots.pattern"],
  "snapshots.schedule": ["test/integration/snapshots.test.ts", "snapshots.schedule"],
  // Read by image templates through config_get, which the images test renders.
  "cloud-init.network-config": ["test/integration/images.test.ts", "config_get"],
  "cloud-init.user-data": ["test/integration/images.test.ts", "config_get"],
  "cloud-init.vendor-data": ["test/integration/images.test.ts", "config_get"],
  // lxc.environment and lxc.init.cmd act; every other raw.lxc key is refused with LXD's message.
  "raw.lxc": ["test/integration/lxd-compat-config.test.ts", "raw.lxc"],
};

/** Keys this daemon has no mechanism for: the value that would ask for something is refused. */
const REFUSED: Record<string, string> = {
  "limits.cpu.allowance": "50%", "limits.cpu.priority": "5", "limits.disk.priority": "5",
  "limits.memory.enforce": "soft", "limits.memory.swap": "false", "limits.memory.swap.priority": "5",
  "limits.network.priority": "5", "raw.apparmor": "deny /x,",
  "raw.seccomp": "2\ndenylist\nreject_force_umount", "security.devlxd": "true",
  "security.syscalls.intercept.mknod": "true", "security.syscalls.intercept.mount": "true",
  "security.syscalls.intercept.setxattr": "true",
  // Files are never shifted here (idmapped mounts), so "true" always holds; nothing to refuse.
  "security.protection.shift": "",
};

describe("the config key table", () => {
  test("every key is observed to act, or refused where it would not", async () => {
    for (const key of Object.keys(INSTANCE_KEYS)) {
      const places = [OBSERVED_HERE[key], OBSERVED_ELSEWHERE[key], REFUSED[key]].filter((p) => p !== undefined);
      expect({ key, places: places.length }).toEqual({ key, places: 1 });
      const elsewhere = OBSERVED_ELSEWHERE[key];
      if (elsewhere) expect(readFileSync(join(repoRoot, elsewhere[0]), "utf8")).toContain(elsewhere[1]);
      const value = REFUSED[key];
      if (value) {
        expect(validateInstanceConfig({ [key]: value })).toContain("not supported by this daemon");
        const r = await d.api("PATCH", "/1.0/instances/e1", { config: { [key]: value } });
        expect({ key, status: r.status }).toEqual({ key, status: 400 });
      }
    }
    expect(Object.keys((await instance("e1")).config).filter((k) => REFUSED[k] !== undefined)).toEqual([]);
  });
});

describe("keys act", () => {
  test("environment.* reaches init and exec, from lxd and lxc", async () => {
    await d.ok("config", "set", "e1", "environment.FOO=from-lxd");
    expect(await d.ok("exec", "e1", "--", "env")).toContain("FOO=from-lxd");
    const lxc = await d.lxc("config", "set", "e1", "environment.BAR=from lxc");
    expect(lxc.code, lxc.stderr).toBe(0);
    const env = await d.lxc("exec", "e1", "--", "env");
    expect(env.stdout).toContain("BAR=from lxc");
    // A request's own variables win over the config's.
    expect(await d.ok("exec", "e1", "--env", "FOO=mine", "--", "env")).toContain("FOO=mine");
    await d.ok("restart", "e1");
    const initEnv = (await d.ok("exec", "e1", "--", "cat", "/proc/1/environ")).split("\0");
    expect(initEnv).toContain("FOO=from-lxd");
    expect(initEnv).toContain("BAR=from lxc");
    expect((await d.lxd("config", "set", "e1", "environment.BAD=a\nb")).code).not.toBe(0);
  });

  test("snapshots.expiry applies to new snapshots, from lxc and lxd", async () => {
    await d.ok("config", "set", "e1", "snapshots.expiry=1d");
    const from = Date.now();
    await d.ok("snapshot", "e1", "s-lxd");
    expect((await d.lxc("snapshot", "e1", "s-lxc")).code).toBe(0);
    expect((await d.lxc("snapshot", "e1", "s-never", "--no-expiry")).code).toBe(0);
    const expiry = async (s: string) => (await d.api("GET", `/1.0/instances/e1/snapshots/${s}`)).body.metadata.expires_at as string;
    for (const s of ["s-lxd", "s-lxc"]) {
      const at = Date.parse(await expiry(s));
      expect(at).toBeGreaterThanOrEqual(from + 86_400_000 - 60_000);
      expect(at).toBeLessThanOrEqual(Date.now() + 86_400_000 + 60_000);
    }
    expect(await expiry("s-never")).toStartWith("0001-01-01");
    await d.ok("config", "unset", "e1", "snapshots.expiry");
  });

  test("snapshots.schedule.stopped: scheduled snapshots of stopped instances only when set", async () => {
    await d.ok("init", "busybox", "s-on", "-c", "snapshots.schedule=* * * * *", "-c", "snapshots.schedule.stopped=true");
    await d.ok("init", "busybox", "s-off", "-c", "snapshots.schedule=* * * * *");
    const snaps = async (n: string) => (await d.api("GET", `/1.0/instances/${n}/snapshots`)).body.metadata as string[];
    const deadline = Date.now() + 15_000;
    while ((await snaps("s-on")).length === 0 && Date.now() < deadline) await Bun.sleep(200);
    expect((await snaps("s-on")).length).toBeGreaterThan(0);
    // The same timer ticks passed over s-off, which is stopped.
    expect(await snaps("s-off")).toEqual([]);
    for (const n of ["s-on", "s-off"]) await d.ok("delete", n);
  });

  test("security.protection.delete refuses the delete", async () => {
    await d.ok("init", "busybox", "e2", "-c", "security.protection.delete=true");
    const r = await d.lxd("delete", "e2");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Instance is protected");
    expect((await d.lxc("delete", "e2")).stderr).toContain("Instance is protected");
    expect(await power("e2")).toBe("Stopped");
    await d.ok("config", "unset", "e2", "security.protection.delete");
    await d.ok("delete", "e2");
  });

  test("linux.kernel_modules are loaded before the start", async () => {
    await d.ok("init", "busybox", "e3", "-c", "linux.kernel_modules=lxd_no_such_module_x");
    const r = await d.lxd("start", "e3");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Failed to load kernel module "lxd_no_such_module_x"');
    expect(await power("e3")).toBe("Stopped");
    await d.ok("delete", "e3");
  });

  test("a body of the wrong shape gets 400 and changes nothing; PUT replaces config and devices", async () => {
    const before = await instance("e1");
    for (const body of [{ config: "notamap" }, { devices: [] }, { config: { "user.x": 5 } }, { profiles: "default" }, { ephemeral: "yes" }]) {
      const r = await d.api("PUT", "/1.0/instances/e1", body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
    }
    expect((await instance("e1")).config).toEqual(before.config);
    await d.ok("config", "set", "e1", "user.a=1");
    await d.ok("config", "device", "add", "e1", "tmp", "disk", "source=/tmp", "path=/mnt/tmp");
    const put = await d.api("PUT", "/1.0/instances/e1", {});
    expect(put.status).toBe(202);
    expect((await d.wait(put)).body.metadata.status).toBe("Success");
    const after = await instance("e1");
    expect(Object.keys(after.config).filter((k) => !k.startsWith("volatile."))).toEqual([]);
    expect(after.devices).toEqual({});
    // Volatile keys stay, as in LXD (the uuid names this instance's host-side parts).
    expect(after.config["volatile.uuid"]).toBe(before.config["volatile.uuid"]);
    expect(after.profiles).toEqual(["default"]);
  });

  test("boot.autostart starts instances at daemon start, by priority, with delays", async () => {
    await d.ok("init", "busybox", "a-late", "-c", "boot.autostart=true", "-c", "boot.autostart.priority=1");
    await d.ok("init", "busybox", "a-first", "-c", "boot.autostart=true", "-c", "boot.autostart.priority=9", "-c", "boot.autostart.delay=2");
    await d.ok("init", "busybox", "a-never");
    await d.restart();
    for (const name of ["a-first", "a-late"]) {
      const deadline = Date.now() + 60_000;
      while ((await power(name)) !== "Running" && Date.now() < deadline) await Bun.sleep(200);
      expect(await power(name)).toBe("Running");
    }
    expect(await power("a-never")).toBe("Stopped");
    const used = async (n: string) => Date.parse((await instance(n)).last_used_at);
    // Started in priority order, the second only after the first one's delay.
    expect(await used("a-late")).toBeGreaterThanOrEqual((await used("a-first")) + 2000);
  });

  test("lxd shutdown stops by boot.stop.priority with each boot.host_shutdown_timeout", async () => {
    await d.ok("config", "set", "a-first", "boot.stop.priority=5");
    await d.ok("config", "set", "a-late", "boot.host_shutdown_timeout=7");
    const r = await d.lxdWith({ timeoutMs: 120_000 }, "shutdown");
    expect(r.code, r.stderr).toBe(0);
    const lines = d.log().split("\n").filter((l) => l.includes("Stopping instances"));
    const order = lines.map((l) => /priority=(-?\d+)/.exec(l)?.[1]);
    expect(order).toEqual(["5", "0"]);
    expect(lines[0]).toContain("a-first");
    expect(lines[1]).toMatch(/a-late:7\b/);
    expect(lines[1]).toMatch(/e1:30\b/);
  });
});
