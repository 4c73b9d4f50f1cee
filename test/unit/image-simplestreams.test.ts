// The simplestreams format: what the server writes is what the client reads back, LXD's split
// and unified items, alias and architecture choice, and the progress text.
import { describe, expect, test } from "bun:test";
import { speedText } from "../../src/image/download.ts";
import { buildStreams, findImage, lxdArch, parseProducts, productsPath, streamArch, type StreamImage } from "../../src/image/simplestreams.ts";

const fp = (c: string) => c.repeat(64);

describe("buildStreams / parseProducts", () => {
  const built = buildStreams([
    { fingerprint: fp("a"), architecture: "x86_64", aliases: ["busybox", "bb"], properties: { os: "busybox", release: "1.35", description: "BusyBox" }, createdAt: "2026-05-07T20:33:10Z", files: [{ size: 1000 }] },
    { fingerprint: fp("b"), architecture: "aarch64", aliases: ["split"], properties: {}, createdAt: "2026-05-08T01:02:03Z", files: [{ size: 10, sha256: fp("c") }, { size: 20, sha256: fp("d") }], rootfsKind: "squashfs" },
  ], new Date("2026-11-27T00:00:00Z"));

  test("index points at the products file and lists every product", () => {
    expect(productsPath(built.index)).toBe("streams/v1/images.json");
    expect(built.index.index.images.products).toEqual(Object.keys(built.products.products));
  });

  test("unified and split images round-trip with their fingerprints, aliases and architectures", () => {
    const images = parseProducts(JSON.parse(JSON.stringify(built.products)));
    expect(images.map((i) => [i.fingerprint, i.architecture, i.aliases, i.version, i.files.map((f) => f.ftype)])).toEqual([
      [fp("a"), "x86_64", ["busybox", "bb"], "20260507_2033", ["lxd_combined.tar.gz"]],
      [fp("b"), "aarch64", ["split"], "20260508_0102", ["lxd.tar.xz", "squashfs"]],
    ]);
    expect(images[0].files[0]).toMatchObject({ path: `images/${fp("a")}/lxd_combined.tar.gz`, sha256: fp("a"), size: 1000 });
    expect(images[1].files.map((f) => f.sha256)).toEqual([fp("c"), fp("d")]);
    expect(images[1].size).toBe(30);
  });

  test("documents of another format are refused; unusable items are skipped", () => {
    expect(() => parseProducts({ format: "index:1.0" })).toThrow("not a simplestreams products:1.0 document");
    expect(() => productsPath({ format: "index:1.0", index: { x: { datatype: "image-downloads", path: "../../etc/passwd" } } })).toThrow("unsafe products path");
    const vmOnly = { format: "products:1.0", products: { p: { arch: "amd64", versions: { v: { items: { "disk1.img": { ftype: "disk1.img", path: "x", sha256: fp("e"), size: 1 } } } } } } };
    expect(parseProducts(vmOnly)).toEqual([]);
  });
});

describe("findImage", () => {
  const img = (fingerprint: string, architecture: string, version: string, aliases = ["alpine"]): StreamImage =>
    ({ fingerprint, architecture, version, aliases, product: "p", files: [], properties: {}, size: 0 });
  const images = [img(fp("1"), "x86_64", "20260101"), img(fp("2"), "x86_64", "20260301"), img(fp("3"), "aarch64", "20260401"), img(fp("4"), "s390x", "1", ["z"])];

  test("an alias picks the newest version for the architecture", () => {
    expect(findImage(images, "alpine", "x86_64").fingerprint).toBe(fp("2"));
    expect(findImage(images, "alpine", "aarch64").fingerprint).toBe(fp("3"));
  });

  test("a fingerprint or unique prefix", () => {
    expect(findImage(images, fp("1").slice(0, 12), "x86_64").fingerprint).toBe(fp("1"));
  });

  test("missing, and only for other architectures", () => {
    expect(() => findImage(images, "debian", "x86_64")).toThrow('The requested image "debian" couldn\'t be found');
    expect(() => findImage(images, "z", "x86_64")).toThrow('The requested image "z" isn\'t available for architecture x86_64 (only for s390x)');
  });
});

test("architecture names both ways", () => {
  expect(lxdArch("amd64")).toBe("x86_64");
  expect(lxdArch("arm64")).toBe("aarch64");
  expect(streamArch("x86_64")).toBe("amd64");
  expect(streamArch("mips")).toBe("mips");
});

test("progress text as LXD writes it", () => {
  expect(speedText(12_300_000)).toBe("12.30MB/s");
  expect(speedText(999)).toBe("999B/s");
});

test("an image argument's REMOTE: prefix names where the image comes from, not the target daemon", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { saveConfig, selectRemote, selectedRemoteName } = await import("../../src/client/config.ts");
  const dir = mkdtempSync("/tmp/lxd-unit-conf-");
  try {
    saveConfig({ "default-remote": "local", remotes: { local: { addr: "unix://" }, images: { addr: "https://x", protocol: "simplestreams" }, other: { addr: "https://y" } }, aliases: {} }, dir);
    expect(selectRemote(["launch", "-c", "a=b", "images:alpine", "c1"], dir)).toEqual(["launch", "-c", "a=b", "images:alpine", "c1"]);
    expect(selectedRemoteName(dir)).toBe("local");
    expect(selectRemote(["launch", "images:alpine", "other:c1"], dir)).toEqual(["launch", "images:alpine", "c1"]);
    expect(selectedRemoteName(dir)).toBe("other");
    expect(selectRemote(["image", "copy", "images:alpine", "local:", "--alias", "a"], dir)).toEqual(["image", "copy", "images:alpine", "--alias", "a"]);
    expect(selectedRemoteName(dir)).toBe("local");
    expect(selectRemote(["image", "list", "images:"], dir)).toEqual(["image", "list"]);
    expect(selectedRemoteName(dir)).toBe("images");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
