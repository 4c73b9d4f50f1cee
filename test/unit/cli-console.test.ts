// The console's detach sequence (ctrl-a q), found across reads and never forwarded.
import { expect, test } from "bun:test";
import { detachFilter } from "../../src/cli/console.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("ctrl-a q detaches; what came before it in the same read is forwarded", () => {
  const f = detachFilter();
  const r = f(bytes("ls\r\x01qrest"));
  expect(r.detach).toBe(true);
  expect(text(r.forward)).toBe("ls\r");
});

test("the sequence split across reads still detaches", () => {
  const f = detachFilter();
  const a = f(bytes("x\x01"));
  expect(a).toEqual({ forward: bytes("x"), detach: false });
  expect(f(bytes("q")).detach).toBe(true);
});

test("ctrl-a followed by anything else is forwarded as typed", () => {
  const f = detachFilter();
  expect(text(f(bytes("\x01a\x01")).forward)).toBe("\x01a");
  // A second ctrl-a: the first is forwarded, the second may still start the sequence.
  const r = f(bytes("\x01q"));
  expect(text(r.forward)).toBe("\x01");
  expect(r.detach).toBe(true);
});
