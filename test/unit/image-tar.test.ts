// Tar reader/writer: round trips (incl. long names, big ids), interop with GNU tar both ways,
// corrupt and truncated input.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readAllBody, readTar, TarWriter, type TarHeader, type TarWriteEntry } from "../../src/image/tar.ts";

const enc = new TextEncoder();

async function build(entries: [TarWriteEntry, string?][]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const w = new TarWriter((c) => { chunks.push(c); });
  for (const [e, data] of entries) await w.add(e, data === undefined ? undefined : enc.encode(data));
  await w.finish();
  return Buffer.concat(chunks);
}

/** Splits a buffer into small uneven chunks so reads straddle chunk borders. */
async function* chunked(data: Uint8Array, size = 333): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readAll(data: Uint8Array | AsyncIterable<Uint8Array>) {
  const out: { h: TarHeader; data: string }[] = [];
  const src = data instanceof Uint8Array ? chunked(data) : data;
  for await (const { header, body } of readTar(src)) out.push({ h: header, data: new TextDecoder().decode(await readAllBody(body)) });
  return out;
}

const longDir = "rootfs/" + "d".repeat(120) + "/" + "e".repeat(90);
const longName = `${longDir}/${"f".repeat(150)}.txt`; // no ustar split possible: needs pax

describe("tar round trip", () => {
  test("files, dirs, symlinks, hardlinks, long names and large ids survive", async () => {
    const data = await build([
      [{ path: "metadata.yaml", type: "file", mode: 0o644, mtime: 1700000000 }, "architecture: x86_64\n"],
      [{ path: "rootfs", type: "directory", mode: 0o755, mtime: 1700000000 }],
      [{ path: "rootfs/bin/su", type: "file", mode: 0o4755, uid: 0, gid: 0, mtime: 1700000001 }, "x".repeat(1000)],
      [{ path: "rootfs/sh", type: "symlink", mode: 0o777, mtime: 1, linkpath: "/bin/busybox" }],
      [{ path: "rootfs/hl", type: "hardlink", mode: 0o644, mtime: 1, linkpath: "rootfs/bin/su" }],
      [{ path: longName, type: "file", mode: 0o600, uid: 100000000, gid: 3000000, mtime: 5 }, "long"],
      [{ path: "rootfs/ln", type: "symlink", mode: 0o777, mtime: 1, linkpath: "/" + "t".repeat(200) }],
    ]);
    const got = await readAll(data);
    expect(got.map((e) => e.h.path)).toEqual(["metadata.yaml", "rootfs", "rootfs/bin/su", "rootfs/sh", "rootfs/hl", longName, "rootfs/ln"]);
    expect(got[0]!.data).toBe("architecture: x86_64\n");
    expect(got[2]!.h).toMatchObject({ type: "file", mode: 0o4755, size: 1000, mtime: 1700000001 });
    expect(got[2]!.data.length).toBe(1000);
    expect(got[3]!.h).toMatchObject({ type: "symlink", linkpath: "/bin/busybox" });
    expect(got[4]!.h).toMatchObject({ type: "hardlink", linkpath: "rootfs/bin/su" });
    expect(got[5]!.h).toMatchObject({ uid: 100000000, gid: 3000000, mode: 0o600 });
    expect(got[5]!.data).toBe("long");
    expect(got[6]!.h.linkpath).toBe("/" + "t".repeat(200));
  });

  test("unread bodies are skipped", async () => {
    const data = await build([
      [{ path: "a", type: "file", mode: 0o644, mtime: 0 }, "A".repeat(5000)],
      [{ path: "b", type: "file", mode: 0o644, mtime: 0 }, "B"],
    ]);
    const names: string[] = [];
    let b = "";
    for await (const { header, body } of readTar(chunked(data, 700))) {
      names.push(header.path);
      if (header.path === "b") b = new TextDecoder().decode(await readAllBody(body));
    }
    expect(names).toEqual(["a", "b"]);
    expect(b).toBe("B");
  });

  test("GNU tar lists what the writer produced", async () => {
    const dir = mkdtempSync("/tmp/lxd-tar-test-");
    try {
      const data = await build([
        [{ path: longName, type: "file", mode: 0o644, mtime: 0, uname: "root", gname: "root" }, "hi"],
        [{ path: "short", type: "symlink", mode: 0o777, mtime: 0, linkpath: "/" + "t".repeat(200) }],
      ]);
      writeFileSync(join(dir, "x.tar"), data);
      const p = Bun.spawnSync(["tar", "-tvf", join(dir, "x.tar")]);
      expect(p.exitCode).toBe(0);
      const out = p.stdout.toString();
      expect(out).toContain(longName);
      expect(out).toContain("t".repeat(200));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const format of ["gnu", "pax", "ustar"]) {
    test(`reads GNU tar --format=${format} archives`, async () => {
      const dir = mkdtempSync("/tmp/lxd-tar-test-");
      try {
        const deep = format === "ustar" ? "a".repeat(90) + "/" + "b".repeat(90) : "a".repeat(90) + "/" + "b".repeat(200);
        mkdirSync(join(dir, "src", deep), { recursive: true });
        writeFileSync(join(dir, "src", deep, "file.txt"), "content");
        const p = Bun.spawnSync(["tar", `--format=${format}`, "-cf", join(dir, "x.tar"), "-C", join(dir, "src"), "."]);
        expect(p.exitCode).toBe(0);
        const got = await readAll(Bun.file(join(dir, "x.tar")).stream());
        const file = got.find((e) => e.h.path.endsWith("file.txt"));
        expect(file?.h.path).toBe(`./${deep}/file.txt`);
        expect(file?.data).toBe("content");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("corrupt input", () => {
  test("truncated inside a body", async () => {
    const data = await build([[{ path: "a", type: "file", mode: 0o644, mtime: 0 }, "A".repeat(5000)]]);
    await expect(readAll(data.subarray(0, 2048))).rejects.toThrow(/truncated/);
  });

  test("truncated inside a header", async () => {
    const data = await build([[{ path: "a", type: "file", mode: 0o644, mtime: 0 }, "A"]]);
    await expect(readAll(data.subarray(0, 100))).rejects.toThrow(/truncated/);
  });

  test("garbage is not a tar archive", async () => {
    await expect(readAll(enc.encode("hello world".repeat(100)))).rejects.toThrow(/checksum/);
  });
});

describe("tar writer: files streamed from disk", () => {
  test("a file is written in chunks with its size at open; later entries stay aligned", async () => {
    const dir = mkdtempSync("/tmp/lxd-tar-");
    try {
      const big = join(dir, "big");
      // Several of Bun's read chunks, not a multiple of the block size.
      const content = Buffer.alloc(3 * 1024 * 1024 + 77, "a");
      writeFileSync(big, content);
      const chunks: Uint8Array[] = [];
      const w = new TarWriter((c) => { chunks.push(c.slice()); });
      expect(await w.addFile({ path: "big", mode: 0o600, mtime: 1 }, big)).toBe(content.length);
      await w.add({ path: "after", type: "file", mode: 0o644, mtime: 1 }, enc.encode("tail"));
      await w.finish();
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(content.length);
      const out = await readAll(Buffer.concat(chunks));
      expect(out.map((e) => [e.h.path, e.data.length])).toEqual([["big", content.length], ["after", 4]]);
      expect(out[1].data).toBe("tail");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
