import { describe, expect, test } from "bun:test";
import {
  buildIdmap, defaultIdmap, firstFree, hostRanges, idmapJson, idmapJsonHostRanges, parseRawIdmap, parseSubid, type FileReader,
} from "../../src/kernel/idmap.ts";

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
  test("uid entries then gid entries, never merged, as LXD 5.0 stores volatile.idmap", () => {
    const e = [{ nsid: 0, hostid: 1000000, range: 65536 }];
    expect(JSON.parse(idmapJson(e, e))).toEqual([
      { Isuid: true, Isgid: false, Hostid: 1000000, Nsid: 0, Maprange: 65536 },
      { Isuid: false, Isgid: true, Hostid: 1000000, Nsid: 0, Maprange: 65536 },
    ]);
    expect(idmapJsonHostRanges(idmapJson(e, [{ nsid: 0, hostid: 7, range: 1 }]))).toEqual([{ start: 1000000, size: 65536 }]);
    expect(idmapJsonHostRanges("junk")).toEqual([]);
    expect(idmapJsonHostRanges(undefined)).toEqual([]);
  });
});

describe("raw.idmap", () => {
  test("parses both, uid and gid lines with single ids or ranges", () => {
    expect(parseRawIdmap("both 1000 1000\n uid 1000-1002 2000-2002 \n\ngid 5 6")).toEqual([
      { uid: true, gid: true, hostid: 1000, nsid: 1000, range: 1 },
      { uid: true, gid: false, hostid: 1000, nsid: 2000, range: 3 },
      { uid: false, gid: true, hostid: 5, nsid: 6, range: 1 },
    ]);
    expect(() => parseRawIdmap("both 1000")).toThrow(/invalid raw.idmap line "both 1000"/);
    expect(() => parseRawIdmap("uid 1-3 5-6")).toThrow(/differ in size/);
    expect(() => parseRawIdmap("uid 3-1 5-3")).toThrow(/differ in size/);
  });

  test("punches raw entries into the base range", () => {
    const m = buildIdmap({ uid: 1000000, gid: 2000000 }, 65536, parseRawIdmap("both 1000 1000\nuid 5000-5001 0-1"));
    expect(m.uid).toEqual([
      { nsid: 0, hostid: 5000, range: 2 },
      { nsid: 2, hostid: 1000002, range: 998 },
      { nsid: 1000, hostid: 1000, range: 1 },
      { nsid: 1001, hostid: 1001001, range: 64535 },
    ]);
    expect(m.gid).toEqual([
      { nsid: 0, hostid: 2000000, range: 1000 },
      { nsid: 1000, hostid: 1000, range: 1 },
      { nsid: 1001, hostid: 2001001, range: 64535 },
    ]);
  });

  test("refuses host ids mapped twice and container ids mapped twice", () => {
    expect(() => buildIdmap({ uid: 1000000, gid: 1000000 }, 65536, parseRawIdmap("both 1000 1000\nuid 1000 5000")))
      .toThrow(/host uids 1000-1000 are already mapped/);
    expect(() => buildIdmap({ uid: 1000000, gid: 1000000 }, 65536, parseRawIdmap("uid 1000010 5")))
      .toThrow(/host uids 1000010-1000010 are already mapped/);
    expect(() => buildIdmap({ uid: 1000000, gid: 1000000 }, 65536, parseRawIdmap("gid 1 5\ngid 2 5")))
      .toThrow(/container gids 5-5 are mapped twice/);
  });
});

describe("firstFree", () => {
  test("first gap of the size, in any order of taken ranges", () => {
    const taken = [{ start: 300, size: 100 }, { start: 100, size: 100 }];
    expect(firstFree(100, 1000, 100, taken)).toBe(200);
    expect(firstFree(100, 1000, 101, taken)).toBe(400);
    expect(firstFree(100, 299, 100, taken)).toBeUndefined();
    expect(firstFree(0, 1000, 100, [])).toBe(0);
  });
});
