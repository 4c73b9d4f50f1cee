import { expect, test } from "bun:test";
import { matchesFilter, parseFilter } from "../../src/api/filter.ts";

const c1 = { name: "c1", status: "Running", config: { "image.os": "busybox", "user.a": "x y" }, ephemeral: false };

test("empty filter matches everything", () => {
  expect(parseFilter("")).toBeUndefined();
  expect(matchesFilter(c1, parseFilter(""))).toBe(true);
});

test("eq, ne, not, and/or, map keys with dots, quoted values", () => {
  const m = (f: string) => matchesFilter(c1, parseFilter(f));
  expect(m("name eq c1")).toBe(true);
  expect(m("status eq running")).toBe(true);
  expect(m("name ne c1")).toBe(false);
  expect(m("not name eq c1")).toBe(false);
  expect(m("config.image.os eq busybox")).toBe(true);
  expect(m(`config.user.a eq "x y"`)).toBe(true);
  expect(m("name eq c2 or status eq running")).toBe(true);
  expect(m("name eq c2 and status eq running")).toBe(false);
  expect(m("name eq c2 and status eq running or ephemeral eq false")).toBe(true);
  expect(m("config.missing eq x")).toBe(false);
});

test("malformed filters are errors", () => {
  expect(() => parseFilter("name c1")).toThrow(/FIELD eq\|ne VALUE/);
  expect(() => parseFilter("name eq c1 xor status eq x")).toThrow(/and/);
});
