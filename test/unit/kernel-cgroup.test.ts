import { describe, expect, test } from "bun:test";
import { describeLayout, detectLayout, parseCgroupMounts, parseCpuList, parseProcCgroup, pinnedCpus } from "../../src/kernel/cgroup.ts";
import { lxcfsDir } from "../../src/kernel/lxcfs.ts";

const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

const UNIFIED = `25 22 0:23 / /proc rw - proc proc rw
28 22 0:26 /init.scope /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

describe("cgroup layout", () => {
  test("hybrid hosts count as v1; pure unified as v2", () => {
    expect(detectLayout(parseCgroupMounts(HYBRID))).toBe("v1");
    expect(detectLayout(parseCgroupMounts(UNIFIED))).toBe("v2");
    expect(() => detectLayout(parseCgroupMounts("25 22 0:23 / /proc rw - proc proc rw"))).toThrow(/no cgroup/);
    expect(describeLayout(parseCgroupMounts(HYBRID))).toBe("hybrid");
    expect(describeLayout(parseCgroupMounts(UNIFIED))).toBe("unified");
    expect(describeLayout(parseCgroupMounts(HYBRID.split("\n").slice(0, -1).join("\n")))).toBe("legacy");
  });

  test("mount roots, points and options", () => {
    const [v2] = parseCgroupMounts(UNIFIED);
    expect(v2).toEqual({ point: "/sys/fs/cgroup", root: "/init.scope", fstype: "cgroup2", options: ["rw", "nsdelegate", "memory_recursiveprot"] });
    expect(parseCgroupMounts(HYBRID).find((m) => m.options.includes("name=systemd"))?.point).toBe("/sys/fs/cgroup/systemd");
  });

  test("/proc/self/cgroup", () => {
    const own = parseProcCgroup("9:name=systemd:/\n4:memory:/process_api/e6\n2:cpu,cpuacct:/a\n0::/user.slice\n");
    expect(own.get("memory")).toBe("/process_api/e6");
    expect(own.get("cpu,cpuacct")).toBe("/a");
    expect(own.get("")).toBe("/user.slice");
    expect(own.get("name=systemd")).toBe("/");
  });
});

describe("CPU pinning for limits.cpu", () => {
  test("cpu lists expand", () => {
    expect(parseCpuList("0-2,5\n")).toEqual([0, 1, 2, 5]);
    expect(parseCpuList("")).toEqual([]);
  });

  test("a whole count pins the first CPUs, a set is used as given, no or full limits pin nothing", () => {
    expect(pinnedCpus([0, 1, 2, 3], 1)).toBe("0");
    expect(pinnedCpus([2, 3, 6], 2)).toBe("2,3");
    expect(pinnedCpus([0, 1], 1, "1")).toBe("1");
    expect(pinnedCpus([0, 1], 2)).toBeUndefined();
    expect(pinnedCpus([0, 1, 2], 1.5)).toBeUndefined();
    expect(pinnedCpus([0, 1], undefined)).toBeUndefined();
  });
});

describe("LXCFS detection", () => {
  const line = (point: string, fstype: string) => `99 30 0:50 / ${point} rw,nosuid - ${fstype} lxcfs rw,user_id=0`;
  test("only a fuse.lxcfs mount at the configured path counts", () => {
    const before = process.env.LXD_LXCFS_DIR;
    try {
      process.env.LXD_LXCFS_DIR = "/tmp/x y/lxcfs";
      expect(lxcfsDir(line("/tmp/x\\040y/lxcfs", "fuse.lxcfs"))).toBe("/tmp/x y/lxcfs");
      expect(lxcfsDir(line("/tmp/other", "fuse.lxcfs"))).toBeUndefined();
      expect(lxcfsDir(line("/tmp/x\\040y/lxcfs", "tmpfs"))).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env.LXD_LXCFS_DIR;
      else process.env.LXD_LXCFS_DIR = before;
    }
  });
});
