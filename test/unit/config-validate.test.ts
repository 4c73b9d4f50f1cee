// Instance/profile config keys and values, as LXD validates them.
import { describe, expect, test } from "bun:test";
import { describeKey, parseCpuLimit, parseMemory, validateInstanceConfig } from "../../src/instance/config.ts";
import { isTrue, parseSize } from "../../src/config/values.ts";

const ok = (config: Record<string, string>, profile = false) => expect(validateInstanceConfig(config, { profile })).toBeUndefined();
const bad = (config: Record<string, string>, match: RegExp, profile = false) =>
  expect(validateInstanceConfig(config, { profile })).toMatch(match);

describe("keys", () => {
  test("unknown keys are refused with LXD's wording", () => {
    expect(validateInstanceConfig({ foo: "1" })).toBe("Unknown configuration key: foo");
    bad({ "limits.bogus": "1" }, /Unknown configuration key: limits\.bogus/);
    bad({ "user.": "x" }, /Unknown configuration key/);
  });

  test("free-form namespaces", () => {
    ok({ "user.anything.at.all": "x", "environment.HTTP_PROXY": "http://p", "image.os": "busybox" });
  });

  test("volatile and image keys: instances only", () => {
    ok({ "volatile.base_image": "abc", "volatile.eth0.hwaddr": "00:16:3e:00:00:01", "volatile.last_state.power": "RUNNING" });
    bad({ "volatile.whatever": "x" }, /Unknown configuration key/);
    bad({ "volatile.base_image": "abc" }, /Volatile keys can only be set on instances/, true);
    bad({ "image.os": "x" }, /Image keys can only be set on instances/, true);
    ok({ "limits.memory": "1GiB", "user.a": "b" }, true);
  });

  test("an empty value unsets and is always accepted", () => {
    ok({ "limits.memory": "", "security.privileged": "" });
  });

  test("describeKey documents keys", () => {
    expect(describeKey("limits.memory")?.live).toBe(true);
    expect(describeKey("security.privileged")?.description).toMatch(/namespace/);
    expect(describeKey("nope")).toBeUndefined();
  });
});

describe("values", () => {
  test("booleans accept LXD's spellings", () => {
    for (const v of ["true", "false", "1", "0", "yes", "no", "on", "off", "TRUE", "Off"]) ok({ "security.nesting": v });
    bad({ "security.privileged": "maybe" }, /Invalid value for "security\.privileged": Invalid value for a boolean "maybe"/);
    expect(isTrue("Yes")).toBe(true);
    expect(isTrue("off")).toBe(false);
    expect(isTrue(undefined)).toBe(false);
  });

  test("integers and ranges", () => {
    ok({ "limits.processes": "500", "boot.stop.priority": "-1", "security.idmap.size": "65536" });
    bad({ "limits.processes": "lots" }, /integer "lots"/);
    bad({ "security.idmap.base": "-5" }, /unsigned/);
  });

  test("limits.cpu, limits.memory", () => {
    ok({ "limits.cpu": "2" });
    ok({ "limits.cpu": "0-1,3" });
    bad({ "limits.cpu": "0" }, /at least 1/);
    bad({ "limits.cpu": "two" }, /Invalid CPU limit/);
    bad({ "limits.cpu": "3-1" }, /Invalid CPU limit/);
    for (const v of ["256MiB", "1GB", "50%", "1073741824", "512kB"]) ok({ "limits.memory": v });
    for (const v of ["lots", "1.5GB", "256mb", "150%", "-1GB"]) bad({ "limits.memory": v }, /memory limit/);
  });

  test("keys this daemon has no mechanism for accept only what holds anyway", () => {
    ok({ "limits.memory.enforce": "hard", "limits.memory.swap": "true", "security.devlxd": "false", "security.syscalls.intercept.mknod": "false" });
    bad({ "limits.memory.enforce": "soft" }, /not supported by this daemon/);
    bad({ "limits.memory.swap": "false" }, /not supported by this daemon/);
    bad({ "security.devlxd": "true" }, /not supported by this daemon/);
    for (const key of ["raw.apparmor", "raw.seccomp", "limits.cpu.allowance", "limits.cpu.priority", "limits.disk.priority"]) {
      bad({ [key]: "x" }, /not supported by this daemon/);
    }
    // raw.lxc: the keys this runtime honours; LXD's forbidden ones with its messages; others refused.
    ok({ "raw.lxc": "# comment\nlxc.environment = A=b\nlxc.init.cmd = /bin/sh -c true" });
    bad({ "raw.lxc": "lxc.ephemeral = 1" }, /Setting lxc.ephemeral is not allowed/);
    bad({ "raw.lxc": "lxc.prlimit.nofile = 10" }, /limits.kernel/);
    bad({ "raw.lxc": "lxc.mount.entry = a b none bind 0 0" }, /"lxc.mount.entry" is not supported/);
    bad({ "raw.lxc": "x" }, /expected "key = value"/);
    // An empty value unsets: always fine.
    ok({ "raw.lxc": "" });
  });

  test("syscall lists, raw.idmap, snapshots", () => {
    ok({ "security.syscalls.deny": "kexec_load open_by_handle_at\nmount,umount2" });
    bad({ "security.syscalls.deny": "rm -rf" }, /Unknown syscall "rm"/);
    ok({ "raw.idmap": "both 1000 1000\nuid 2000-2009 3000-3009" });
    bad({ "raw.idmap": "both 1000" }, /raw\.idmap line/);
    bad({ "raw.idmap": "uid 1-10 1-5" }, /differ in size/);
    ok({ "snapshots.schedule": "@daily, 0 6 * * 1-5", "snapshots.expiry": "1d 2w 3M", "snapshots.pattern": "snap%d" });
    bad({ "snapshots.schedule": "every day" }, /schedule/);
    bad({ "snapshots.expiry": "1 day" }, /expiry/);
  });
});

describe("sizes", () => {
  test("parseSize: LXD units", () => {
    expect(parseSize("10")).toBe(10);
    expect(parseSize("10B")).toBe(10);
    expect(parseSize("1kB")).toBe(1000);
    expect(parseSize("1KiB")).toBe(1024);
    expect(parseSize("256MiB")).toBe(256 * 2 ** 20);
    expect(parseSize("2GB")).toBe(2e9);
    expect(parseSize("1TiB")).toBe(2 ** 40);
    expect(parseSize("1.5GB")).toBeUndefined();
    expect(parseSize("GB")).toBeUndefined();
    expect(parseSize("1 GB")).toBeUndefined();
  });

  test("parseMemory: sizes and percentages of the host", () => {
    expect(parseMemory("128MiB", 0)).toBe(128 * 1024 * 1024);
    expect(parseMemory("50%", 8 * 2 ** 30)).toBe(4 * 2 ** 30);
    expect(parseMemory("33%", 1000)).toBe(330);
    expect(() => parseMemory("lots", 0)).toThrow(/Invalid memory limit "lots"/);
    expect(() => parseMemory("101%", 100)).toThrow(/more than 100%/);
  });

  test("parseCpuLimit: counts and sets", () => {
    expect(parseCpuLimit("4")).toEqual({ count: 4 });
    expect(parseCpuLimit("0-1,3")).toEqual({ count: 3, cpus: [0, 1, 3] });
    expect(parseCpuLimit("1-1")).toEqual({ count: 1, cpus: [1] });
    expect(parseCpuLimit("0,0-1")).toEqual({ count: 2, cpus: [0, 1] });
  });
});
