import { describe, expect, test } from "bun:test";
import { planIdmap } from "../../src/instance/runtime.ts";
import type { FileReader } from "../../src/kernel/idmap.ts";

const read: FileReader = (path) => (path === "/etc/subuid" || path === "/etc/subgid" ? "root:1000000:1000000" : null);
const recorded = (base: number, size = 65536) =>
  ({ "volatile.idmap.next": JSON.stringify([{ Isuid: true, Isgid: false, Hostid: base, Nsid: 0, Maprange: size }]) });

describe("planIdmap", () => {
  test("default: the shared block, base 0, recorded as LXD shows it", () => {
    const p = planIdmap({}, [], read);
    expect(p.uid).toEqual([{ nsid: 0, hostid: 1000000, range: 65536 }]);
    expect(p.root).toEqual({ uid: 1000000, gid: 1000000 });
    expect(p.volatile["volatile.idmap.base"]).toBe("0");
    expect(JSON.parse(p.volatile["volatile.idmap.next"])).toHaveLength(2);
    expect(p.volatile["volatile.idmap.current"]).toBe(p.volatile["volatile.last_state.idmap"]);
  });

  test("privileged: no maps, root is host root", () => {
    const p = planIdmap({ "security.privileged": "true", "security.idmap.isolated": "true" }, [], read);
    expect(p).toEqual({
      uid: [], gid: [], root: { uid: 0, gid: 0 },
      volatile: { "volatile.idmap.base": "0", "volatile.idmap.current": "[]", "volatile.idmap.next": "[]", "volatile.last_state.idmap": "[]" },
    });
  });

  test("isolated: first free range above the shared block and the others; keeps its own while free", () => {
    const iso = { "security.idmap.isolated": "true" };
    expect(planIdmap(iso, [recorded(1000000)], read).root.uid).toBe(1065536);
    expect(planIdmap(iso, [recorded(1065536)], read).root.uid).toBe(1131072);
    expect(planIdmap(iso, [recorded(1131072)], read).root.uid).toBe(1065536);
    const own = { ...iso, "volatile.idmap.base": "1300000" };
    expect(planIdmap(own, [recorded(1065536)], read).root.uid).toBe(1300000);
    expect(planIdmap(own, [recorded(1299999, 2)], read).root.uid).toBe(1065536);
    const p = planIdmap({ ...iso, "security.idmap.size": "100000" }, [], read);
    expect(p.uid).toEqual([{ nsid: 0, hostid: 1065536, range: 100000 }]);
    expect(p.volatile["volatile.idmap.base"]).toBe("1065536");
  });

  test("isolated: explicit base; no room left is a clear error", () => {
    expect(planIdmap({ "security.idmap.isolated": "true", "security.idmap.base": "5000000" }, [], read).root).toEqual({ uid: 5000000, gid: 5000000 });
    expect(() => planIdmap({ "security.idmap.isolated": "true", "security.idmap.size": "2000000" }, [], read))
      .toThrow(/no free range of 2000000 ids/);
  });

  test("raw.idmap entries are mapped in", () => {
    const p = planIdmap({ "raw.idmap": "both 1000 1000" }, [], read);
    expect(p.uid).toContainEqual({ nsid: 1000, hostid: 1000, range: 1 });
    expect(p.gid).toContainEqual({ nsid: 1000, hostid: 1000, range: 1 });
  });
});
