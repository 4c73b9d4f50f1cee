// Private images between two of our daemons: an image secret (POST /1.0/images/{fp}/secret)
// lets an untrusted client see and download that one image once; `lxd image copy` and LXD's
// `lxc image copy` use it so the target daemon can pull a private image, with --copy-aliases.
import { mkdtempSync, rmSync } from "node:fs";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { freePort } from "../helpers/net.ts";
import { importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

let src: TestDaemon;
let dst: TestDaemon;
let port: number;
let fp: string;
const confs: string[] = [];

function newConf(): string {
  const dir = mkdtempSync("/tmp/lxd-imgsecret-conf-");
  confs.push(dir);
  return dir;
}

/** An untrusted HTTPS request to the source daemon. */
async function anon(path: string): Promise<Response> {
  return fetch(`https://127.0.0.1:${port}${path}`, { tls: { rejectUnauthorized: false } } as RequestInit);
}

beforeAll(async () => {
  src = await startDaemon();
  dst = await startDaemon();
  await src.ok("init", "--auto");
  await dst.ok("init", "--auto");
  fp = await importBusybox(src, "bb");
  await src.ok("image", "alias", "create", "bb2", fp);
  port = freePort();
  await src.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
  await src.ok("config", "set", "core.trust_password", "pw");
});

afterAll(async () => {
  await src?.stop();
  await dst?.stop();
  for (const dir of confs) rmSync(dir, { recursive: true, force: true });
});

test("a secret shows and downloads a private image once; nothing else", async () => {
  expect((await anon(`/1.0/images/${fp}`)).status).toBe(404);
  const made = await src.api("POST", `/1.0/images/${fp}/secret`);
  expect(made.status).toBe(202);
  expect(made.body.metadata.class).toBe("token");
  const secret = made.body.metadata.metadata.secret as string;
  expect(secret).toMatch(/^[0-9a-f]{64}$/);
  expect((await anon(`/1.0/images/${fp}?secret=wrong`)).status).toBe(404);
  const shown = await anon(`/1.0/images/${fp}?secret=${secret}`);
  expect(shown.status).toBe(200);
  expect(((await shown.json()) as any).metadata.fingerprint).toBe(fp);
  const file = await anon(`/1.0/images/${fp}/export?secret=${secret}`);
  expect(file.status).toBe(200);
  const bytes = new Uint8Array(await file.arrayBuffer());
  expect(new Bun.CryptoHasher("sha256").update(bytes).digest("hex")).toBe(fp);
  // Used up: the operation ended and the secret opens nothing any more.
  expect((await anon(`/1.0/images/${fp}/export?secret=${secret}`)).status).toBe(404);
  expect((await src.api("GET", made.body.operation as string)).body.metadata.status).toBe("Cancelled");
});

test("lxd image copy of a private image with --copy-aliases", async () => {
  const conf = newConf();
  const env = { LXD_CONF: conf };
  const add = await dst.lxdWith({ env }, "remote", "add", "a", `127.0.0.1:${port}`, "--accept-certificate", "--password", "pw");
  expect(add.code, add.stderr).toBe(0);
  const copy = await dst.lxdWith({ env, timeoutMs: 60_000 }, "image", "copy", "a:bb", "local:", "--copy-aliases");
  expect(copy.code, copy.stderr).toBe(0);
  const img = (await dst.api("GET", `/1.0/images/${fp}`)).body.metadata;
  expect(img.fingerprint).toBe(fp);
  expect(img.public).toBe(false);
  expect(img.aliases.map((a: { name: string }) => a.name).sort()).toEqual(["bb", "bb2"]);
  // No secret is left open on the source.
  const ops = (await src.api("GET", "/1.0/operations?recursion=1")).body.metadata;
  expect((ops.running ?? []).filter((o: { class: string }) => o.class === "token")).toEqual([]);
  await dst.ok("image", "delete", fp);
});

test("lxc image copy of a private image between our daemons", async () => {
  const conf = newConf();
  const lxc = (...args: string[]) => dst.lxcWith({ env: { LXD_CONF: conf, HOME: conf }, timeoutMs: 60_000 }, ...args);
  const add = await lxc("remote", "add", "a", `127.0.0.1:${port}`, "--accept-certificate", "--password", "pw");
  expect(add.code, add.stderr).toBe(0);
  const copy = await lxc("image", "copy", "a:bb", "local:", "--copy-aliases");
  expect(copy.code, copy.stderr).toBe(0);
  const img = (await dst.api("GET", `/1.0/images/${fp}`)).body.metadata;
  expect(img.aliases.map((a: { name: string }) => a.name).sort()).toEqual(["bb", "bb2"]);
  await dst.ok("launch", "bb", "c1");
  expect((await dst.ok("exec", "c1", "--", "echo", "hi")).trim()).toBe("hi");
  await dst.ok("delete", "-f", "c1");
});
