// Safe extraction of untrusted image tarballs: no writes outside the destination whatever the
// tarball says, ownership/modes/mtimes kept, device nodes skipped, failures leave nothing behind.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { TarWriter, type TarWriteEntry } from "../../src/image/tar.ts";
import { unpackImage } from "../../src/image/unpack.ts";

let dir: string;
let outside: string;
beforeEach(() => {
  dir = mkdtempSync("/tmp/lxd-unpack-test-");
  outside = join(dir, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "passwd"), "original\n");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const META = "architecture: x86_64\ncreation_date: 1700000000\n";

async function image(entries: [TarWriteEntry, string?][], compress = true): Promise<string> {
  const chunks: Uint8Array[] = [];
  const w = new TarWriter((c) => { chunks.push(c); });
  await w.add({ path: "metadata.yaml", type: "file", mode: 0o644, mtime: 1700000000 }, new TextEncoder().encode(META));
  for (const [e, data] of entries) await w.add(e, data === undefined ? undefined : new TextEncoder().encode(data));
  await w.finish();
  const raw = Buffer.concat(chunks);
  const file = join(dir, `image-${Math.random().toString(36).slice(2)}.tar${compress ? ".gz" : ""}`);
  writeFileSync(file, compress ? gzipSync(raw) : raw);
  return file;
}

const f = (path: string, extra: Partial<TarWriteEntry> = {}): TarWriteEntry => ({ path, type: "file", mode: 0o644, mtime: 1600000000, ...extra });

async function unpack(file: string) {
  const logs: string[] = [];
  const dest = join(dir, "dest");
  const stats = await unpackImage(file, dest, { log: (m) => logs.push(m) });
  return { dest, stats, logs };
}

describe("paths stay inside the destination", () => {
  test("'..' paths are skipped; a leading '/' is dropped (as tar and LXD do)", async () => {
    const file = await image([
      [f("rootfs/../../outside/passwd"), "pwned"],
      [f("/rootfs/abs-ok"), "stripped"],
      [f("/tmp/abs-evil"), "pwned"],
      [f("/rootfs/../../outside3"), "pwned"],
      [f("rootfs/../outside2"), "pwned"],
      [f("rootfs/ok"), "fine"],
    ]);
    const { dest, stats, logs } = await unpack(file);
    expect(readFileSync(join(outside, "passwd"), "utf8")).toBe("original\n");
    expect(existsSync("/tmp/abs-evil")).toBe(false);
    expect(existsSync(join(dir, "outside2"))).toBe(false);
    expect(existsSync(join(dir, "outside3"))).toBe(false);
    expect(readFileSync(join(dest, "rootfs/ok"), "utf8")).toBe("fine");
    expect(readFileSync(join(dest, "rootfs/abs-ok"), "utf8")).toBe("stripped");
    expect(stats.skipped).toBe(4);
    expect(logs.join("\n")).toContain("'..' component");
  });

  test("a symlinked parent is never written through", async () => {
    const file = await image([
      [{ path: "rootfs/x", type: "symlink", mode: 0o777, mtime: 1, linkpath: outside }],
      [f("rootfs/x/passwd"), "pwned"],
      [{ path: "rootfs/rel", type: "symlink", mode: 0o777, mtime: 1, linkpath: "../../outside" }],
      [f("rootfs/rel/passwd"), "pwned"],
      [{ path: "rootfs/rel/sub", type: "directory", mode: 0o755, mtime: 1 }],
    ]);
    const { dest, stats } = await unpack(file);
    expect(readFileSync(join(outside, "passwd"), "utf8")).toBe("original\n");
    expect(readdirSync(outside)).toEqual(["passwd"]);
    expect(readlinkSync(join(dest, "rootfs/x"))).toBe(outside); // the symlink itself is kept
    expect(stats.skipped).toBe(3);
  });

  test("a symlink replacing a file, then a file written at that path, replaces the link", async () => {
    const file = await image([
      [{ path: "rootfs/passwd", type: "symlink", mode: 0o777, mtime: 1, linkpath: join(outside, "passwd") }],
      [f("rootfs/passwd"), "inside"],
    ]);
    const { dest } = await unpack(file);
    expect(readFileSync(join(outside, "passwd"), "utf8")).toBe("original\n");
    expect(lstatSync(join(dest, "rootfs/passwd")).isFile()).toBe(true);
    expect(readFileSync(join(dest, "rootfs/passwd"), "utf8")).toBe("inside");
  });

  test("hardlinks only to files inside the image", async () => {
    const file = await image([
      [f("rootfs/a"), "A"],
      [{ path: "rootfs/b", type: "hardlink", mode: 0o644, mtime: 1, linkpath: "rootfs/a" }],
      [{ path: "rootfs/evil1", type: "hardlink", mode: 0o644, mtime: 1, linkpath: join(outside, "passwd") }],
      [{ path: "rootfs/evil2", type: "hardlink", mode: 0o644, mtime: 1, linkpath: "rootfs/../../outside/passwd" }],
      [{ path: "rootfs/l", type: "symlink", mode: 0o777, mtime: 1, linkpath: outside }],
      [{ path: "rootfs/evil3", type: "hardlink", mode: 0o644, mtime: 1, linkpath: "rootfs/l/passwd" }],
    ]);
    const { dest, stats } = await unpack(file);
    expect(statSync(join(dest, "rootfs/b")).ino).toBe(statSync(join(dest, "rootfs/a")).ino);
    for (const e of ["evil1", "evil2", "evil3"]) expect(existsSync(join(dest, "rootfs", e))).toBe(false);
    expect(statSync(join(outside, "passwd")).nlink).toBe(1);
    expect(stats.skipped).toBe(3);
  });

  test("device nodes and fifos are skipped and logged", async () => {
    const file = await image([
      [{ path: "rootfs/dev/null", type: "chardev", mode: 0o666, mtime: 1, devmajor: 1, devminor: 3 }],
      [{ path: "rootfs/dev/sda", type: "blockdev", mode: 0o660, mtime: 1, devmajor: 8, devminor: 0 }],
      [{ path: "rootfs/fifo", type: "fifo", mode: 0o644, mtime: 1 }],
    ]);
    const { dest, stats, logs } = await unpack(file);
    expect(existsSync(join(dest, "rootfs/dev/null"))).toBe(false);
    expect(existsSync(join(dest, "rootfs/fifo"))).toBe(false);
    expect(stats.skipped).toBe(3);
    expect(logs.length).toBe(3);
  });

  test("entries outside metadata.yaml, templates/ and rootfs/ are skipped", async () => {
    const { dest, stats } = await unpack(await image([[f("other"), "x"], [f("templates/hostname.tpl"), "{{ container.name }}"]]));
    expect(existsSync(join(dest, "other"))).toBe(false);
    expect(readFileSync(join(dest, "templates/hostname.tpl"), "utf8")).toBe("{{ container.name }}");
    expect(stats.skipped).toBe(1);
  });
});

describe("attributes", () => {
  test("uid/gid (not shifted), setuid mode, mtimes, read-only dirs, symlink owner", async () => {
    const file = await image([
      [{ path: "rootfs/ro", type: "directory", mode: 0o555, mtime: 1500000000, uid: 0, gid: 0 }],
      [f("rootfs/ro/file", { uid: 1000, gid: 1001, mode: 0o640 }), "data"],
      [f("rootfs/su", { mode: 0o4755 }), "elf"],
      [f("rootfs/sg", { mode: 0o2755, gid: 50 }), "elf"],
      [{ path: "rootfs/tmp", type: "directory", mode: 0o1777, mtime: 1 }],
      [{ path: "rootfs/link", type: "symlink", mode: 0o777, mtime: 1400000000, linkpath: "su", uid: 7, gid: 8 }],
    ]);
    const { dest } = await unpack(file);
    const st = statSync(join(dest, "rootfs/ro/file"));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1001, 0o640]);
    expect(statSync(join(dest, "rootfs/su")).mode & 0o7777).toBe(0o4755);
    const sg = statSync(join(dest, "rootfs/sg"));
    expect([sg.mode & 0o7777, sg.gid]).toEqual([0o2755, 50]);
    const ro = statSync(join(dest, "rootfs/ro"));
    expect([ro.mode & 0o7777, Math.floor(ro.mtimeMs / 1000)]).toEqual([0o555, 1500000000]);
    expect(statSync(join(dest, "rootfs/tmp")).mode & 0o7777).toBe(0o1777);
    expect(Math.floor(st.mtimeMs / 1000)).toBe(1600000000);
    const l = lstatSync(join(dest, "rootfs/link"));
    expect([l.uid, l.gid, Math.floor(l.mtimeMs / 1000)]).toEqual([7, 8, 1400000000]);
  });

  test("uncompressed tarballs work too", async () => {
    const { dest } = await unpack(await image([[f("rootfs/a"), "A"]], false));
    expect(readFileSync(join(dest, "rootfs/a"), "utf8")).toBe("A");
    expect(readFileSync(join(dest, "metadata.yaml"), "utf8")).toBe(META);
  });
});

describe("failures leave nothing behind", () => {
  test("truncated gzip: clear error, no destination, no temp dir", async () => {
    const file = await image([[f("rootfs/big"), "x".repeat(200000)], [f("rootfs/after"), "y"]]);
    const data = readFileSync(file);
    writeFileSync(file, data.subarray(0, Math.floor(data.length / 2)));
    await expect(unpack(file)).rejects.toThrow(/unpacking image .* failed: .*(truncated|corrupt|unexpected end)/i);
    expect(readdirSync(dir).filter((n) => n.startsWith("dest"))).toEqual([]);
  });

  test("truncated plain tar: clear error, nothing left", async () => {
    const file = await image([[f("rootfs/big"), "x".repeat(20000)]], false);
    const data = readFileSync(file);
    writeFileSync(file, data.subarray(0, 5000));
    await expect(unpack(file)).rejects.toThrow(/truncated/);
    expect(readdirSync(dir).filter((n) => n.startsWith("dest"))).toEqual([]);
  });

  test("refuses an existing destination", async () => {
    mkdirSync(join(dir, "dest"));
    await expect(unpack(await image([]))).rejects.toThrow(/already exists/);
  });

  test("xz images go through the host tool", async () => {
    const tar = await image([[f("rootfs/a"), "A"]], false);
    const p = Bun.spawnSync(["xz", "-k", tar]);
    if (p.exitCode !== 0) return; // no xz on this host
    const { dest } = await unpack(`${tar}.xz`);
    expect(readFileSync(join(dest, "rootfs/a"), "utf8")).toBe("A");
  });
});
