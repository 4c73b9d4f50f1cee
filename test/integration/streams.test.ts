// Images between servers: one daemon publishes its public images as a simplestreams tree (over
// its HTTPS listener, and exported to a directory a plain web server hosts) and through its API;
// a second daemon on loopback launches from and copies those images, caches them, refreshes
// them, and refuses bad downloads (wrong sha256, truncated, unreachable, stalled, another
// architecture) without leaving anything behind.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { busyboxImage, lxdBinary, run, startDaemon, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";

let srv: TestDaemon;
let cli: TestDaemon;
let port: number;
let fp: string;
let conf: string;
let exportDir: string;
let web: Server<undefined>;
/** Requests the static web server got, by path. */
const hits: string[] = [];
/** Extra routes of the static web server (bad trees for the error tests). */
const extra = new Map<string, () => Response>();
const dirs: string[] = [];

const STALL_MS = 2000;
const hostArch = process.arch === "arm64" ? "arm64" : "amd64";
const lxdArch = process.arch === "arm64" ? "aarch64" : "x86_64";

const tmp = (prefix: string) => {
  const d = mkdtempSync(`/tmp/lxd-streams-${prefix}-`);
  dirs.push(d);
  return d;
};

/** Our client against the second daemon, with its own LXD_CONF. */
const client = (...args: string[]) => cli.lxdWith({ env: { LXD_CONF: conf }, timeoutMs: 90_000 }, ...args);

/** Files left in the second daemon's image store besides finished images. */
const strays = () => readdirSync(join(cli.dir, "images")).filter((f) => !/^[0-9a-f]{64}(\.rootfs)?$/.test(f));

beforeAll(async () => {
  srv = await startInitializedDaemon();
  fp = (await srv.api("GET", "/1.0/images/aliases/busybox")).body.metadata.target;
  port = freePort();
  expect((await srv.lxd("config", "set", "core.https_address", `127.0.0.1:${port}`)).code).toBe(0);
  cli = await startDaemon({ env: { LXD_DOWNLOAD_STALL_MS: String(STALL_MS) } });
  await cli.ok("init", "--auto");
  conf = tmp("conf");
  exportDir = tmp("web");
  web = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      hits.push(path);
      const special = extra.get(path);
      if (special) return special();
      const file = Bun.file(join(exportDir, path));
      return file.size > 0 ? new Response(file) : new Response("not found", { status: 404 });
    },
  });
}, 180_000);

afterAll(async () => {
  web?.stop(true);
  await Promise.all([srv?.stop(), cli?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const https = (path: string, method = "GET") =>
  fetch(`https://127.0.0.1:${port}${path}`, { method, tls: { rejectUnauthorized: false } } as RequestInit);

test("the server publishes public images only, as simplestreams and through the API, without a client certificate", async () => {
  let products = await (await https("/streams/v1/images.json")).json() as any;
  expect(Object.keys(products.products)).toEqual([]);
  expect((await https(`/images/${fp}/lxd_combined.tar.gz`)).status).toBe(404);
  expect((await https(`/1.0/images/${fp}`)).status).toBe(404);
  expect((await (await https("/1.0/images")).json() as any).metadata).toEqual([]);

  expect((await srv.api("PATCH", `/1.0/images/${fp}`, { public: true })).status).toBe(200);
  const index = await (await https("/streams/v1/index.json")).json() as any;
  expect(index.format).toBe("index:1.0");
  expect(index.index.images.path).toBe("streams/v1/images.json");
  products = await (await https("/streams/v1/images.json")).json() as any;
  expect(products.format).toBe("products:1.0");
  const [product] = Object.values(products.products) as any[];
  expect(product.aliases).toBe("busybox");
  expect(product.arch).toBe(hostArch);
  const [version] = Object.values(product.versions) as any[];
  const item = version.items["lxd_combined.tar.gz"];
  const tarball = await Bun.file(await busyboxImage()).bytes();
  expect(item).toMatchObject({ ftype: "lxd_combined.tar.gz", sha256: fp, size: tarball.length, path: `images/${fp}/lxd_combined.tar.gz` });
  const file = new Uint8Array(await (await https(`/${item.path}`)).arrayBuffer());
  expect(new Bun.CryptoHasher("sha256").update(file).digest("hex")).toBe(fp);
  // The API view for untrusted clients: the public image and its alias, nothing to change.
  expect((await https("/1.0/images/aliases/busybox")).status).toBe(200);
  expect((await (await https("/1.0/images")).json() as any).metadata).toEqual([`/1.0/images/${fp}`]);
  expect((await https(`/1.0/images/${fp}`, "DELETE")).status).toBe(403);
});

test("image export-streams writes a static tree that a plain web server hosts; image list reads it", async () => {
  const r = await srv.lxdWith({ env: { LXD_CONF: tmp("srvconf") } }, "image", "export-streams", exportDir);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain("Exported 1 image(s)");
  const fileSha = new Bun.CryptoHasher("sha256").update(await Bun.file(join(exportDir, "images", fp, "lxd_combined.tar.gz")).bytes()).digest("hex");
  expect(fileSha).toBe(fp);

  const add = await client("remote", "add", "st", `http://127.0.0.1:${web.port}`, "--protocol", "simplestreams", "--public");
  expect(add.code, add.stderr).toBe(0);
  const list = await client("image", "list", "st:", "--format", "csv", "-c", "lFa");
  expect(list.code, list.stderr).toBe(0);
  expect(list.stdout.trim()).toBe(`busybox,${fp},${lxdArch}`);
  const remotes = await client("remote", "list", "--format", "csv");
  expect(remotes.stdout).toContain(`st,http://127.0.0.1:${web.port},simplestreams,tls,YES,NO`);
  // The daemon's own HTTPS listener serves the same tree; its self-signed certificate is pinned.
  const unpinned = await client("remote", "add", "s2", `https://127.0.0.1:${port}`, "--protocol", "simplestreams", "--public");
  expect(unpinned.code).toBe(1);
  expect(unpinned.stderr).toMatch(/^Error: https:\/\/127\.0\.0\.1:\d+ is not a usable simplestreams server: Failed to fetch .*certificate/i);
  const pinned = await client("remote", "add", "s2", `https://127.0.0.1:${port}`, "--protocol", "simplestreams", "--public", "--accept-certificate");
  expect(pinned.code, pinned.stderr).toBe(0);
  expect((await client("image", "list", "s2:", "--format", "csv", "-c", "lF")).stdout.trim()).toBe(`busybox,${fp}`);
  const bad = await client("remote", "add", "nothing", `http://127.0.0.1:${freePort()}`, "--protocol", "simplestreams", "--public");
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^Error: http:\/\/127\.0\.0\.1:\d+ is not a usable simplestreams server: Failed to fetch/);
});

test("launch from a simplestreams remote downloads with progress and caches; the second launch uses the cache", async () => {
  hits.length = 0;
  const first = await client("launch", "st:busybox", "c1");
  expect(first.code, first.stderr).toBe(0);
  expect(first.stdout).toContain("Creating c1");
  expect(first.stdout).toMatch(/Retrieving image: metadata: 100% \([\d.]+[kMG]?B\/s\)/);
  expect(hits.filter((h) => h.startsWith("/images/"))).toEqual([`/images/${fp}/lxd_combined.tar.gz`]);
  const image = (await cli.api("GET", `/1.0/images/${fp}`)).body.metadata;
  expect(image).toMatchObject({ cached: true, auto_update: true, public: false, aliases: [] });
  expect(image.update_source).toEqual({ alias: "busybox", certificate: "", protocol: "simplestreams", server: `http://127.0.0.1:${web.port}`, image_type: "container" });
  expect((await cli.api("GET", "/1.0/instances/c1")).body.metadata.status).toBe("Running");

  hits.length = 0;
  const second = await client("launch", "st:busybox", "c2");
  expect(second.code, second.stderr).toBe(0);
  expect(second.stdout).not.toContain("Retrieving image");
  expect(hits.filter((h) => h.startsWith("/images/"))).toEqual([]);
  expect((await cli.api("GET", "/1.0/instances/c2")).body.metadata.config["volatile.base_image"]).toBe(fp);
  const taken = await client("launch", "st:busybox", "c2");
  expect(taken.stderr.trim()).toBe('Error: Instance "c2" already exists');
  await cli.ok("delete", "--force", "c1", "c2");
  await cli.ok("image", "delete", fp);

  // Two launches at once download the image once.
  hits.length = 0;
  const both = await Promise.all([client("launch", "st:busybox", "c3"), client("launch", "st:busybox", "c4")]);
  for (const r of both) expect(r.code, r.stderr).toBe(0);
  expect(hits.filter((h) => h.startsWith("/images/"))).toEqual([`/images/${fp}/lxd_combined.tar.gz`]);
  await cli.ok("delete", "--force", "c3", "c4");
  await cli.ok("image", "delete", fp);
  expect(strays()).toEqual([]);
}, 120_000);

test("image copy from an lxd remote (public, HTTPS, pinned certificate) with --alias and --auto-update; refresh follows the alias", async () => {
  const add = await client("remote", "add", "pub", `127.0.0.1:${port}`, "--public", "--accept-certificate");
  expect(add.code, add.stderr).toBe(0);
  const listed = await client("image", "list", "pub:", "--format", "csv", "-c", "lf");
  expect(listed.stdout.trim()).toBe(`busybox,${fp.slice(0, 12)}`);
  const copy = await client("image", "copy", "pub:busybox", "local:", "--alias", "bb", "--auto-update");
  expect(copy.code, copy.stderr).toBe(0);
  expect(copy.stdout).toContain("Image copied successfully!");
  const image = (await cli.api("GET", `/1.0/images/${fp}`)).body.metadata;
  expect(image).toMatchObject({ cached: false, auto_update: true, aliases: [{ name: "bb", description: "" }] });
  expect(image.update_source).toMatchObject({ alias: "busybox", protocol: "lxd", server: `https://127.0.0.1:${port}` });
  expect(image.update_source.certificate).toContain("BEGIN CERTIFICATE");

  // Nothing new on the server: refresh says so.
  const same = await client("image", "refresh", "bb");
  expect(same.stdout).toContain("already up to date");

  // The server's alias moves to a new image; refresh downloads it and moves the local alias.
  const plain = join(tmp("img"), "busybox.tar");
  const built = await run([lxdBinary(), "image", "build", "busybox", "--compression", "none", "-o", plain], { env: { LXD_DIR: join(tmp("build"), "lxd") }, timeoutMs: 120_000 });
  expect(built.code, built.stderr).toBe(0);
  await srv.ok("image", "import", plain, "--alias", "busybox-next", "--public");
  const next = (await srv.api("GET", "/1.0/images/aliases/busybox-next")).body.metadata.target;
  await srv.ok("image", "alias", "delete", "busybox");
  await srv.ok("image", "alias", "create", "busybox", next);
  const refreshed = await client("image", "refresh", "bb");
  expect(refreshed.code, refreshed.stderr).toBe(0);
  expect(refreshed.stdout).toContain(`refreshed (${next.slice(0, 12)})`);
  expect((await cli.api("GET", "/1.0/images/aliases/bb")).body.metadata.target).toBe(next);
  expect((await cli.api("GET", `/1.0/images/${fp}`)).status).toBe(404);
  expect((await cli.api("GET", `/1.0/images/${next}`)).body.metadata).toMatchObject({ auto_update: true, cached: false });
  expect(strays()).toEqual([]);
}, 180_000);

/** Serves `/bad/<name>/streams/v1/*` with these products. */
function badTree(name: string, products: object) {
  extra.set(`/bad/${name}/streams/v1/index.json`, () => Response.json({ format: "index:1.0", index: { images: { datatype: "image-downloads", path: "streams/v1/images.json", format: "products:1.0", products: [] } } }));
  extra.set(`/bad/${name}/streams/v1/images.json`, () => Response.json({ content_id: "images", datatype: "image-downloads", format: "products:1.0", products }));
}

/** Copies the image "bad" from `/bad/<name>`; returns the failed operation's error, after
 *  checking that the image store is as it was. */
async function badCopy(name: string, products: object): Promise<string> {
  badTree(name, products);
  const before = (await cli.api("GET", "/1.0/images")).body.metadata;
  const r = await cli.api("POST", "/1.0/images", { source: { type: "image", mode: "pull", server: `http://127.0.0.1:${web.port}/bad/${name}`, protocol: "simplestreams", alias: "bad" } });
  expect(r.status).toBe(202);
  const op = (await cli.wait(r, 30)).body.metadata;
  expect(op.status, JSON.stringify(op)).toBe("Failure");
  expect((await cli.api("GET", "/1.0/images")).body.metadata).toEqual(before);
  expect(strays()).toEqual([]);
  return op.err;
}

const product = (arch: string, item: Record<string, unknown>) => ({
  "x:y:z": { aliases: "bad", arch, versions: { "20260101_0000": { items: { "lxd_combined.tar.gz": { ftype: "lxd_combined.tar.gz", ...item } } } } },
});

test("bad downloads are refused with a clear error and leave nothing behind", async () => {
  const tarball = await Bun.file(await busyboxImage()).bytes();
  const wrong = "0".repeat(64);
  extra.set("/bad/file", () => new Response(tarball));
  extra.set("/bad/short", () => new Response(tarball.slice(0, 1000)));
  extra.set("/bad/stall", () => new Response(new ReadableStream({
    start(c) { c.enqueue(tarball.slice(0, 1000)); }, // and then nothing, ever
  })));

  expect(await badCopy("sha", product(hostArch, { path: "../file", sha256: wrong, size: tarball.length })))
    .toMatch(new RegExp(`^Image fingerprint doesn't match: got ${fp}, expected ${wrong} \\(from http://127\\.0\\.0\\.1:\\d+/bad/sha/\\.\\./file\\)$`));
  expect(await badCopy("trunc", product(hostArch, { path: "../short", sha256: fp, size: tarball.length })))
    .toMatch(/was truncated: got 1000 of \d+ bytes$/);
  const started = Date.now();
  expect(await badCopy("stall", product(hostArch, { path: "../stall", sha256: fp, size: tarball.length })))
    .toMatch(/no data from the server for 2s \(timed out\)$/);
  expect(Date.now() - started).toBeLessThan(STALL_MS * 5);
  expect(await badCopy("arch", product("s390x", { path: "../file", sha256: fp, size: tarball.length })))
    .toBe(`The requested image "bad" isn't available for architecture ${lxdArch} (only for s390x) on http://127.0.0.1:${web.port}/bad/arch`);
  // A download can be cancelled: the operation ends Cancelled, the partial file is gone.
  const stalling = await cli.api("POST", "/1.0/images", { source: { type: "image", server: `http://127.0.0.1:${web.port}/bad/stall`, protocol: "simplestreams", alias: "bad" } });
  await Bun.sleep(300);
  expect((await cli.api("DELETE", stalling.body.operation)).status).toBe(200);
  expect((await cli.wait(stalling)).body.metadata.status).toBe("Cancelled");
  await Bun.sleep(100);
  expect(strays()).toEqual([]);

  const unreachable = `http://127.0.0.1:${freePort()}`;
  expect(await badCopy("none", {})).toBe(`The requested image "bad" couldn't be found on http://127.0.0.1:${web.port}/bad/none`);
  const r = await cli.api("POST", "/1.0/images", { source: { type: "image", server: unreachable, protocol: "simplestreams", alias: "x" } });
  expect((await cli.wait(r)).body.metadata.err).toMatch(/Failed to fetch http:\/\/127\.0\.0\.1:\d+\/streams\/v1\/index\.json/);

  // Through the CLI: one clean line, and no instance.
  expect((await client("remote", "add", "badsha", `http://127.0.0.1:${web.port}/bad/sha`, "--protocol", "simplestreams", "--public")).code).toBe(0);
  const launch = await client("launch", "badsha:bad", "c9");
  expect(launch.code).toBe(1);
  expect(launch.stderr.trim()).toMatch(/^Error: Image fingerprint doesn't match: got [0-9a-f]{64}, expected 0{64} \(from \S+\)$/);
  expect((await cli.api("GET", "/1.0/instances/c9")).status).toBe(404);
  expect((await client("image", "copy", "nowhere:x", "local:")).stderr).toContain("not on another remote");
  const badSource = await cli.api("POST", "/1.0/images", { source: { type: "url", url: "http://x" } });
  expect(badSource.body.error).toBe('Image source type "url" is not supported (image, or upload a tarball)');
  expect(strays()).toEqual([]);
}, 120_000);

test("split images (lxd.tar.xz + root.tar.xz) are checked file by file and together, then launch", async () => {
  const work = tmp("split");
  const sh = async (cmd: string) => {
    const r = await run(["sh", "-c", cmd], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
  };
  await sh(`mkdir x && tar -xzf ${await busyboxImage()} -C x && tar -cJf lxd.tar.xz -C x metadata.yaml && tar -cJf root.tar.xz --numeric-owner -C x/rootfs .`);
  const meta = await Bun.file(join(work, "lxd.tar.xz")).bytes();
  const rootfs = await Bun.file(join(work, "root.tar.xz")).bytes();
  const sha = (...parts: Uint8Array[]) => {
    const h = new Bun.CryptoHasher("sha256");
    for (const p of parts) h.update(p);
    return h.digest("hex");
  };
  const combined = sha(meta, rootfs);
  extra.set("/bad/meta", () => new Response(meta));
  extra.set("/bad/rootfs", () => new Response(rootfs));
  const products = (combinedSha: string, rootfsSha = sha(rootfs)) => ({
    "busybox:split:x": {
      aliases: "bad,bsplit", arch: hostArch, versions: { "20260102_0000": { items: {
        "lxd.tar.xz": { ftype: "lxd.tar.xz", path: "../meta", sha256: sha(meta), size: meta.length, combined_rootxz_sha256: combinedSha },
        "root.tar.xz": { ftype: "root.tar.xz", path: "../rootfs", sha256: rootfsSha, size: rootfs.length },
      } } },
    },
  });
  expect(await badCopy("splitfile", products(combined, "1".repeat(64))))
    .toMatch(/^sha256 of rootfs doesn't match: got [0-9a-f]{64}, expected 1{64} \(from \S+\/rootfs\)$/);
  badTree("split", products(combined));
  expect((await client("remote", "add", "split", `http://127.0.0.1:${web.port}/bad/split`, "--protocol", "simplestreams", "--public")).code).toBe(0);
  const launch = await client("launch", "split:bsplit", "c7");
  expect(launch.code, launch.stderr).toBe(0);
  expect(launch.stdout).toContain("Retrieving image: rootfs: 100%");
  expect((await cli.api("GET", `/1.0/images/${combined}`)).body.metadata).toMatchObject({ cached: true, size: meta.length + rootfs.length, architecture: lxdArch });
  expect(readdirSync(join(cli.dir, "images"))).toContain(`${combined}.rootfs`);
  const exec = await client("exec", "c7", "--", "sh", "-c", "echo ok; ls /bin/busybox");
  expect(exec.stdout.trim(), exec.stderr).toBe("ok\n/bin/busybox");
  await cli.ok("delete", "--force", "c7");
  expect(strays()).toEqual([]);
}, 120_000);

test("server keys for image downloads are validated", async () => {
  expect((await cli.lxd("config", "set", "images.auto_update_interval", "12")).code).toBe(0);
  expect((await cli.lxd("config", "set", "images.remote_cache_expiry", "3")).code).toBe(0);
  expect((await cli.lxd("config", "set", "images.auto_update_cached", "false")).code).toBe(0);
  const bad = await cli.lxd("config", "set", "images.auto_update_interval", "soon");
  expect(bad.stderr.trim()).toBe('Error: Invalid value for "images.auto_update_interval": expected a whole number');
  expect((await cli.api("GET", "/1.0")).body.metadata.config).toMatchObject({ "images.auto_update_interval": "12", "images.auto_update_cached": "false" });
});

test("LXD's lxc client: image copy and launch from a public lxd remote", async () => {
  const next = (await srv.api("GET", "/1.0/images/aliases/busybox")).body.metadata.target;
  await cli.ok("image", "delete", "bb");
  const add = await cli.lxc("remote", "add", "pub", `https://127.0.0.1:${port}`, "--public", "--accept-certificate");
  expect(add.code, add.stderr).toBe(0);
  const copy = await cli.lxc("image", "copy", "pub:busybox", "local:", "--alias", "x1");
  expect(copy.code, copy.stderr).toBe(0);
  expect((await cli.api("GET", "/1.0/images/aliases/x1")).body.metadata.target).toBe(next);
  const launch = await cli.lxc("launch", "pub:busybox-next", "c6");
  expect(launch.code, launch.stderr).toBe(0);
  expect((await cli.api("GET", "/1.0/instances/c6")).body.metadata.config["volatile.base_image"]).toBe(next);
  await cli.ok("delete", "--force", "c6");
}, 120_000);

test("auto_update images follow their source in the background", async () => {
  const bg = await startDaemon({ env: { LXD_IMAGE_REFRESH_MS: "500" } });
  try {
    const current = (await srv.api("GET", "/1.0/images/aliases/busybox")).body.metadata.target;
    const bgClient = (...args: string[]) => bg.lxdWith({ env: { LXD_CONF: conf } }, ...args);
    const copy = await bgClient("image", "copy", "pub:busybox", "local:", "--alias", "auto", "--auto-update");
    expect(copy.code, copy.stderr).toBe(0);
    // A project with its own images (features.images) is refreshed too.
    expect((await bgClient("project", "create", "p1")).code).toBe(0);
    const inP1 = await bgClient("image", "copy", "pub:busybox", "local:", "--alias", "auto", "--auto-update", "--target-project", "p1");
    expect(inP1.code, inP1.stderr).toBe(0);
    const other = current === fp ? (await srv.api("GET", "/1.0/images/aliases/busybox-next")).body.metadata.target : fp;
    await srv.ok("image", "alias", "delete", "busybox");
    await srv.ok("image", "alias", "create", "busybox", other);
    let target = current;
    for (let i = 0; i < 40 && target === current; i++) {
      await Bun.sleep(250);
      target = (await bg.api("GET", "/1.0/images/aliases/auto")).body.metadata.target;
    }
    expect(target).toBe(other);
    expect((await bg.api("GET", `/1.0/images/${current}`)).status).toBe(404);
    let inProject = current;
    for (let i = 0; i < 40 && inProject === current; i++) {
      inProject = (await bg.api("GET", "/1.0/images/aliases/auto?project=p1")).body.metadata.target;
      if (inProject === current) await Bun.sleep(250);
    }
    expect(inProject).toBe(other);
    expect((await bg.api("GET", `/1.0/images/${current}?project=p1`)).status).toBe(404);
  } finally {
    await bg.stop();
  }
}, 120_000);
