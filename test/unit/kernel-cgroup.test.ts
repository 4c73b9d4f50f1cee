import { describe, expect, test } from "bun:test";
import { describeLayout, detectLayout, parseCgroupMounts, parseProcCgroup } from "../../src/kernel/cgroup.ts";

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
