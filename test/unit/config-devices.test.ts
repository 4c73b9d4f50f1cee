// Devices, profile expansion and names.
import { describe, expect, test } from "bun:test";
import { splitSnapshotName, validateDevices, validateInstanceName, validateProfileName } from "../../src/instance/config.ts";
import { validateSnapshotName } from "../../src/config/schedule.ts";
import { expandConfig, expandDevices, rootDisk } from "../../src/config/expand.ts";

describe("devices", () => {
  test("valid devices of every type", () => {
    expect(validateDevices({
      root: { type: "disk", path: "/", pool: "default", size: "10GiB" },
      data: { type: "disk", path: "/mnt", source: "/srv/data", readonly: "true" },
      eth0: { type: "nic", name: "eth0", nictype: "bridged", parent: "lxdbr0", hwaddr: "00:16:3e:aa:bb:cc", mtu: "1500", "ipv4.address": "10.0.0.5" },
      eth1: { type: "nic", network: "lxdbr0" },
      fuse: { type: "unix-char", path: "/dev/fuse", mode: "0666", uid: "0" },
      sda: { type: "unix-block", source: "/dev/sda", major: "8", minor: "0" },
      web: { type: "proxy", listen: "tcp:0.0.0.0:80", connect: "tcp:127.0.0.1:8080", bind: "host" },
      sock: { type: "proxy", listen: "unix:/run/a.sock", connect: "unix:@abstract" },
      masked: { type: "none" },
    })).toBeUndefined();
  });

  test("problems name the device", () => {
    const cases: [Record<string, Record<string, string>>, RegExp][] = [
      [{ d: { path: "/x" } }, /"d": Missing device type/],
      [{ d: { type: "gpu" } }, /Unsupported device type "gpu"/],
      [{ d: { type: "disk", path: "/mnt", source: "/a", bogus: "1" } }, /"d": Invalid device option "bogus"/],
      [{ root: { type: "disk", path: "/" } }, /Root disk entry must have a "pool"/],
      [{ root: { type: "disk", path: "/", pool: "p", source: "/x" } }, /may not have a "source"/],
      [{ d: { type: "disk", source: "/a" } }, /missing the required "path"/],
      [{ d: { type: "disk", path: "/a", readonly: "sure" } }, /boolean "sure"/],
      [{ e: { type: "nic" } }, /"nictype" or "network"/],
      [{ e: { type: "nic", nictype: "bridged", hwaddr: "nope" } }, /MAC address/],
      [{ e: { type: "nic", nictype: "wormhole" } }, /one of/],
      [{ e: { type: "nic", network: "br", "ipv4.address": "10.0.0.300" } }, /IPv4/],
      [{ u: { type: "unix-char" } }, /"source" or "path"/],
      [{ u: { type: "unix-char", path: "/dev/x", mode: "rw" } }, /file mode/],
      [{ p: { type: "proxy", listen: "tcp:0.0.0.0:80" } }, /"listen" and "connect"/],
      [{ p: { type: "proxy", listen: "tcp:0.0.0.0", connect: "tcp:1.2.3.4:80" } }, /missing port/],
      [{ n: { type: "none", path: "/x" } }, /Invalid device option "path"/],
      [{ "a/b": { type: "none" } }, /Invalid device name/],
      [{ r1: { type: "disk", path: "/", pool: "a" }, r2: { type: "disk", path: "/", pool: "b" } }, /More than one root disk/],
    ];
    for (const [devices, match] of cases) expect(validateDevices(devices)).toMatch(match);
  });
});

describe("expansion", () => {
  test("profiles in order, then the instance's own keys", () => {
    expect(expandConfig(
      [{ "limits.memory": "1GiB", "user.a": "p1" }, { "user.a": "p2", "user.b": "p2" }],
      { "user.b": "local" },
    )).toEqual({ "limits.memory": "1GiB", "user.a": "p2", "user.b": "local" });
  });

  test("a device of the same name replaces the earlier one whole", () => {
    const p1 = { root: { type: "disk", path: "/", pool: "default", size: "5GiB" }, eth0: { type: "nic", network: "br0" } };
    const p2 = { root: { type: "disk", path: "/", pool: "fast" } };
    const out = expandDevices([p1, p2], { eth0: { type: "none" } });
    expect(out).toEqual({ root: { type: "disk", path: "/", pool: "fast" }, eth0: { type: "none" } });
    out.root.pool = "changed";
    expect(p2.root.pool).toBe("fast");
    expect(rootDisk(out)?.[0]).toBe("root");
    expect(rootDisk({ eth0: { type: "none" } })).toBeUndefined();
  });
});

describe("names", () => {
  test("instance names are hostnames", () => {
    for (const n of ["c1", "a", "web-01", "X".repeat(63), "Ubuntu"]) expect(validateInstanceName(n)).toBeUndefined();
    const cases: [string, RegExp][] = [
      ["", /1-63/], ["x".repeat(64), /1-63/], ["-bad", /start with "-"/], ["1abc", /digit/],
      ["bad-", /end with "-"/], ["a_b", /alphanumeric/], ["sp ace", /alphanumeric/], ["a.b", /alphanumeric/],
      ["a/b", /"\/"/],
    ];
    for (const [n, match] of cases) expect(validateInstanceName(n)).toMatch(match);
  });

  test("snapshot names", () => {
    expect(validateSnapshotName("snap0")).toBeUndefined();
    expect(validateSnapshotName("before-upgrade")).toBeUndefined();
    expect(validateSnapshotName("before upgrade")).toMatch(/white space/);
    expect(validateSnapshotName("a/b")).toMatch(/"\/"/);
    expect(validateSnapshotName("..")).toMatch(/reserved/);
    expect(validateSnapshotName("")).toMatch(/empty/);
    expect(splitSnapshotName("c1/snap0")).toEqual(["c1", "snap0"]);
    expect(splitSnapshotName("c1")).toEqual(["c1", undefined]);
  });

  test("profile names", () => {
    for (const n of ["default", "web_servers", "x.y", "2cpu"]) expect(validateProfileName(n)).toBeUndefined();
    expect(validateProfileName("")).toMatch(/No name/);
    expect(validateProfileName("a/b")).toMatch(/slashes/);
    expect(validateProfileName("..")).toMatch(/Invalid/);
    expect(validateProfileName("a b")).toMatch(/spaces/);
  });
});
