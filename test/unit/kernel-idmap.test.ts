import { describe, expect, test } from "bun:test";
import { defaultIdmap, hostRanges, idmapJson, parseSubid, type FileReader } from "../../src/kernel/idmap.ts";

const files = (map: Record<string, string>): FileReader => (path) => map[path] ?? null;

describe("parseSubid", () => {
  test("picks root's ranges by name or uid, in order, skipping junk", () => {
    const text = "# comment\nalice:100000:65536\nroot:200000:65536\n0:300000:100000\nroot:bad:1\n\nroot:400000:0\n";
    expect(parseSubid(text)).toEqual([
      { start: 200000, size: 65536 },
      { start: 300000, size: 100000 },
    ]);
    expect(parseSubid(text, "alice", 1000)).toEqual([{ start: 100000, size: 65536 }]);
  });
});

describe("defaultIdmap", () => {
  test("no subuid/subgid: base 1000000", () => {
    expect(defaultIdmap(files({}))).toEqual({
      uid: [{ nsid: 0, hostid: 1000000, range: 65536 }],
      gid: [{ nsid: 0, hostid: 1000000, range: 65536 }],
    });
    expect(hostRanges(files({})).uid.size).toBe(1000000000);
  });

  test("root's first range of each file, 65536 ids of it", () => {
    const read = files({ "/etc/subuid": "root:100000:1000000000\nroot:5:70000\n", "/etc/subgid": "lxd:1:2\nroot:200000:65536\n" });
    expect(defaultIdmap(read)).toEqual({
      uid: [{ nsid: 0, hostid: 100000, range: 65536 }],
      gid: [{ nsid: 0, hostid: 200000, range: 65536 }],
    });
  });

  test("errors: range too small, no entry for root, only one file present", () => {
    expect(() => defaultIdmap(files({ "/etc/subuid": "root:100000:1000", "/etc/subgid": "root:100000:65536" })))
      .toThrow(/subuid grants root 1000 ids/);
    expect(() => defaultIdmap(files({ "/etc/subuid": "alice:1:65536", "/etc/subgid": "root:1:65536" })))
      .toThrow(/subuid has no range for root/);
    expect(() => defaultIdmap(files({ "/etc/subuid": "root:100000:65536" }))).toThrow(/subgid is missing/);
  });
});

describe("idmapJson", () => {
  test("identical uid and gid entries merge, as LXD stores volatile.idmap", () => {
    const e = [{ nsid: 0, hostid: 1000000, range: 65536 }];
    expect(JSON.parse(idmapJson(e, e))).toEqual([{ Isuid: true, Isgid: true, Hostid: 1000000, Nsid: 0, Maprange: 65536 }]);
    expect(JSON.parse(idmapJson(e, [{ nsid: 0, hostid: 2000000, range: 65536 }]))).toHaveLength(2);
  });
});
