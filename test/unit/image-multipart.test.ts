// Streaming multipart: parts land in files intact whatever the chunking (boundaries split across
// chunks, CRLFs inside the data), and malformed bodies fail with a reason.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { boundaryOf, multipartBody, receiveMultipart } from "../../src/image/multipart.ts";

const dir = mkdtempSync(join(tmpdir(), "lxd-multipart-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const meta = new Uint8Array(5000).map((_, i) => (i % 7 === 0 ? 13 : i % 11 === 0 ? 10 : i % 251));
const rootfs = new TextEncoder().encode("\r\n--almost-the-boundary\r\n".repeat(300));

test("round trip through multipartBody at any chunk size", async () => {
  const body = new Uint8Array(await new Response(multipartBody("BOUND-ary", [
    { name: "metadata", filename: "meta.tar", file: new Blob([meta]) },
    { name: "rootfs", filename: "r.squashfs", file: new Blob([rootfs]) },
  ])).arrayBuffer());
  for (const size of [1, 7, 64, 4096, body.length]) {
    const parts = await receiveMultipart(chunked(body, size), "BOUND-ary", dir, `s${size}-`, ["metadata", "rootfs"]);
    expect(parts.map((p) => [p.name, p.filename, p.size])).toEqual([["metadata", "meta.tar", meta.length], ["rootfs", "r.squashfs", rootfs.length]]);
    expect(new Uint8Array(readFileSync(parts[0]!.path))).toEqual(meta);
    expect(new Uint8Array(readFileSync(parts[1]!.path))).toEqual(rootfs);
  }
});

test("boundaries and bad bodies", async () => {
  expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe("a b");
  expect(boundaryOf("multipart/form-data; boundary=xyz; charset=utf-8")).toBe("xyz");
  expect(() => boundaryOf("multipart/form-data")).toThrow(/without a boundary/);
  const enc = (s: string) => chunked(new TextEncoder().encode(s), 3);
  await expect(receiveMultipart(enc("--b\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\nabc"), "b", dir, "t1-", ["metadata"])).rejects.toThrow(/ended early/);
  await expect(receiveMultipart(enc("--b\r\nContent-Disposition: form-data; name=\"evil\"\r\n\r\nabc\r\n--b--"), "b", dir, "t2-", ["metadata"])).rejects.toThrow(/unexpected multipart part "evil"/);
});
