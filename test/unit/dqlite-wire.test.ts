// dqlite's wire format, byte by byte: padded text, parameter tuples, row batches with 4-bit types.
import { expect, test } from "bun:test";
import { Reader, Writer, type SqlValue } from "../../src/cluster/dqlite/wire.ts";

const words = (...w: bigint[]) => {
  const out = new Uint8Array(w.length * 8);
  const view = new DataView(out.buffer);
  w.forEach((v, i) => {
    view.setBigUint64(i * 8, v, true);
  });
  return out;
};

test("a message header counts body words; text is NUL-terminated and padded to a word", () => {
  const m = new Writer().uint64(7).text("abcdefgh").message(8, 0);
  expect(m.length).toBe(8 + 8 + 16);
  expect(new DataView(m.buffer).getUint32(0, true)).toBe(3);
  expect(m[4]).toBe(8);
  expect(Array.from(m.subarray(16, 25))).toEqual([97, 98, 99, 100, 101, 102, 103, 104, 0]);
  expect(new Reader(m.subarray(8)).uint64()).toBe(7n);
});

test("parameters: a count byte and a type byte each, padded, then one value per word (blobs by length)", () => {
  const body = new Writer().params([1, 2.5, "x", null, new Uint8Array([9, 9, 9]), false]).message(0).subarray(8);
  expect(Array.from(body.subarray(0, 8))).toEqual([6, 1, 2, 3, 5, 4, 1, 0]);
  const r = new Reader(body.subarray(8));
  expect(r.int64()).toBe(1n);
  expect(r.float()).toBe(2.5);
  expect(r.text()).toBe("x");
  expect(r.uint64()).toBe(0n);
  expect(r.blob()).toEqual(new Uint8Array([9, 9, 9]));
  expect(r.int64()).toBe(0n);
  expect(r.done).toBe(true);
  // Eight parameters need a second header word; a growing buffer keeps earlier type bytes.
  const eight = new Writer().params(Array.from({ length: 8 }, (_, i) => `value number ${i}`)).message(0).subarray(8);
  expect(Array.from(eight.subarray(0, 16))).toEqual([8, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0]);
  expect(() => new Writer().params(Array(256).fill(0))).toThrow("at most 255");
});

test("rows: names in every batch, 4-bit types low nibble first, PART then DONE", () => {
  const names = new Writer().uint64(3).text("a").text("b").text("c").message(0).subarray(8);
  // Row 1: integer, text, null (types 1, 3, 5); row 2: float, blob, integer.
  const part = new Uint8Array([
    ...names, 0x31, 0x05, 0, 0, 0, 0, 0, 0, ...words(42n), ...new Writer().text("hi").message(0).subarray(8), ...words(0n),
    ...words(0xeeeeeeeeeeeeeeeen),
  ]);
  const done = new Uint8Array([
    ...names, 0x42, 0x01, 0, 0, 0, 0, 0, 0, ...new Writer().float(0.25).blob(new Uint8Array([1])).int64(-1).message(0).subarray(8),
    ...words(0xffffffffffffffffn),
  ]);
  const columns: string[] = [];
  const rows: SqlValue[][] = [];
  expect(new Reader(part).rows(columns, rows)).toBe(false);
  expect(new Reader(done).rows(columns, rows)).toBe(true);
  expect(columns).toEqual(["a", "b", "c"]);
  expect(rows).toEqual([[42, "hi", null], [0.25, new Uint8Array([1]), -1]]);
});

test("a body that ends early is a protocol error, not a misread", () => {
  expect(() => new Reader(new Uint8Array(4)).uint64()).toThrow("ended early");
  expect(() => new Reader(new Uint8Array([97, 98])).text()).toThrow("not terminated");
});
