// The busybox image builder: an LXD unified tarball, deterministic, root-owned, bootable layout.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildBusyboxImage, busyboxVersion } from "../../src/image/build-busybox.ts";
import { openDecompressed } from "../../src/image/compression.ts";
import { sha256Files } from "../../src/image/fingerprint.ts";
import { hostArchitecture, parseMetadata } from "../../src/image/metadata.ts";
import { readAllBody, readTar, type TarHeader } from "../../src/image/tar.ts";

const dir = mkdtempSync("/tmp/lxd-busybox-test-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function entries(file: string) {
  const out = new Map<string, { h: TarHeader; data?: string }>();
  for await (const { header, body } of readTar(await openDecompressed(file))) {
    const data = header.type === "file" && header.size < 10000 ? new TextDecoder().decode(await readAllBody(body)) : undefined;
    out.set(header.path, { h: header, data });
  }
  return out;
}

test("busybox image: metadata, init, applets, root-owned, deterministic", async () => {
  const a = join(dir, "a.tar.gz");
  const b = join(dir, "b.tar.gz");
  await buildBusyboxImage(a);
  await buildBusyboxImage(b);
  expect(await sha256Files(a)).toBe(await sha256Files(b));

  const e = await entries(a);
  const meta = parseMetadata(e.get("metadata.yaml")!.data!);
  const version = await busyboxVersion("/bin/busybox");
  expect(meta.architecture).toBe(hostArchitecture());
  expect(meta.properties).toMatchObject({ os: "busybox", release: version, architecture: hostArchitecture() });
  expect(meta.creation_date).toBeGreaterThan(0);

  expect(e.get("rootfs/bin/busybox")!.h).toMatchObject({ type: "file", mode: 0o755 });
  expect(e.get("rootfs/sbin/init")!.h).toMatchObject({ type: "symlink", linkpath: "/bin/busybox" });
  expect(e.get("rootfs/bin/sh")!.h.type).toBe("symlink");
  for (const d of ["dev", "proc", "sys", "tmp", "root", "etc", "run"]) expect(e.get(`rootfs/${d}`)?.h.type).toBe("directory");
  expect(e.get("rootfs/tmp")!.h.mode).toBe(0o1777);
  expect(e.get("rootfs/etc/inittab")!.data).toContain("::sysinit:/etc/init.d/rcS");
  expect(e.get("rootfs/etc/init.d/rcS")!.h.mode).toBe(0o755);
  expect(e.get("rootfs/etc/passwd")!.data).toMatch(/^root:x:0:0:/);
  for (const { h } of e.values()) {
    expect([h.uid, h.gid]).toEqual([0, 0]);
    expect(h.mtime).toBe(meta.creation_date);
  }
  // Parents always precede their children.
  const paths = [...e.keys()];
  for (const [i, p] of paths.entries()) {
    const parent = p.split("/").slice(0, -1).join("/");
    if (parent) expect(paths.indexOf(parent)).toBeLessThan(i);
  }
});

test.skipIf(!Bun.which("xz"))("xz output is reproducible too (skipped without the xz command)", async () => {
  const a = join(dir, "a.tar.xz");
  const b = join(dir, "b.tar.xz");
  await buildBusyboxImage(a, { compression: "xz" });
  await buildBusyboxImage(b, { compression: "xz" });
  expect(await sha256Files(a)).toBe(await sha256Files(b));
  expect((await entries(a)).has("rootfs/sbin/init")).toBe(true);
});
