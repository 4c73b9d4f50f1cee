// Pure storage logic: custom volume names (the crash-safe suffixes are reserved) and the disk
// mounts in the monitor's launch config.
import { describe, expect, test } from "bun:test";
import { launchConfig, type LaunchSpec } from "../../src/kernel/monitor.ts";
import { validateVolumeName } from "../../src/storage/volumes.ts";

describe("custom volume names", () => {
  test("plain names pass; slashes, dots first, spaces and reserved suffixes fail", () => {
    for (const ok of ["data", "v1", "my_vol.2", "A-b"]) expect(validateVolumeName(ok)).toBeUndefined();
    for (const bad of ["", "a/b", ".hidden", "-x", "with space", "v.tmp-1", "v.old-2", "x".repeat(256)]) {
      expect(validateVolumeName(bad)).toBeString();
    }
  });
});

describe("launch mounts", () => {
  const spec: LaunchSpec = {
    name: "c1", hostname: "c1", rundir: "/run/c1", rootfs: { kind: "bind", path: "/p/rootfs" },
    uidMap: [{ nsid: 0, hostid: 100000, range: 65536 }], gidMap: [{ nsid: 0, hostid: 100000, range: 65536 }],
    cgroupProcs: [], cgroup2: false, env: [], init: ["/sbin/init"],
  };

  test("one tab-separated line per disk, read-only or not", () => {
    const text = launchConfig({ ...spec, mounts: [
      { source: "/srv/a b", path: "/data", readonly: true },
      { source: "/srv/c", path: "/mnt/c", readonly: false },
    ] });
    expect(text).toContain("mount ro\t/srv/a b\t/data\n");
    expect(text).toContain("mount rw\t/srv/c\t/mnt/c\n");
  });

  test("a tab or newline in a path is refused", () => {
    expect(() => launchConfig({ ...spec, mounts: [{ source: "/srv/a\tb", path: "/d", readonly: false }] })).toThrow("tab");
    expect(() => launchConfig({ ...spec, mounts: [{ source: "/srv/a", path: "/d\nx", readonly: false }] })).toThrow("newline");
  });
});
