// core.trust_password: stored hashed, shown only as set, kept across other config changes; a
// client whose certificate is unknown joins with it (`lxc remote add HOST --password`, and ours);
// a wrong password is refused with 403 and trusts nothing.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { freePort } from "../helpers/net.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
let port: number;
const confs: string[] = [];

function newConf(): string {
  const dir = mkdtempSync("/tmp/lxd-trustpw-conf-");
  confs.push(dir);
  return dir;
}

/** lxc with its own client config and no local socket. */
const lxc = (conf: string, ...args: string[]) =>
  d.lxcWith({ env: { LXD_CONF: conf, HOME: conf, LXD_DIR: "/nonexistent" }, timeoutMs: 60_000 }, ...args);
/** Our client, the same way. */
const ours = (conf: string, ...args: string[]) =>
  d.lxdWith({ env: { LXD_CONF: conf, LXD_DIR: "/nonexistent" }, timeoutMs: 60_000 }, ...args);
const trusted = async () => (await d.api("GET", "/1.0/certificates")).body.metadata as string[];

beforeAll(async () => {
  d = await startDaemon();
  port = freePort();
  await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
});

afterAll(async () => {
  await d?.stop();
  for (const dir of confs) rmSync(dir, { recursive: true, force: true });
});

test("the password is stored hashed and shown only as set", async () => {
  await d.ok("config", "set", "core.trust_password", "s3cret-pw");
  expect((await d.ok("config", "get", "core.trust_password")).trim()).toBe("true");
  expect((await d.api("GET", "/1.0")).body.metadata.config["core.trust_password"]).toBe("true");
  const lxcGet = await d.lxc("config", "get", "core.trust_password");
  expect(lxcGet.stdout.trim()).toBe("true");
  const stored = () => {
    const db = new Database(join(d.dir, "database", "lxd.db"), { readonly: true });
    try {
      return (db.query("SELECT value FROM config WHERE key = 'core.trust_password'").get() as { value: string }).value;
    } finally {
      db.close();
    }
  };
  const hash = stored();
  expect(hash).not.toContain("s3cret-pw");
  expect(hash).toMatch(/^[0-9a-f]{192}$/);
  expect(readFileSync(join(d.dir, "database", "lxd.db")).includes(Buffer.from("s3cret-pw"))).toBe(false);
  // Other changes (lxc sends the whole config back, with "true") keep the password.
  await d.ok("config", "set", "core.remote_token_expiry", "1H");
  const lxcSet = await d.lxc("config", "set", "core.remote_token_expiry", "2H");
  expect(lxcSet.code, lxcSet.stderr).toBe(0);
  expect(stored()).toBe(hash);
});

test("a wrong password gets 403 and adds no trust", async () => {
  const before = await trusted();
  const conf = newConf();
  const r = await lxc(conf, "remote", "add", "srv", `127.0.0.1:${port}`, "--accept-certificate", "--password", "wrong");
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("not authorized");
  const o = await ours(newConf(), "remote", "add", "srv", `127.0.0.1:${port}`, "--accept-certificate", "--password", "wrong");
  expect(o.code).not.toBe(0);
  expect(o.stderr).toContain("not authorized");
  expect(await trusted()).toEqual(before);
});

test("lxc remote add --password and ours join, then drive the server", async () => {
  const conf = newConf();
  const r = await lxc(conf, "remote", "add", "srv", `127.0.0.1:${port}`, "--accept-certificate", "--password", "s3cret-pw");
  expect(r.code, r.stderr).toBe(0);
  const info = await lxc(conf, "info", "srv:");
  expect(info.code, info.stderr).toBe(0);
  expect(info.stdout).toContain("auth: trusted");
  expect(await trusted()).toHaveLength(1);

  const mine = newConf();
  const o = await ours(mine, "remote", "add", "srv", `127.0.0.1:${port}`, "--accept-certificate", "--password", "s3cret-pw");
  expect(o.code, o.stderr).toBe(0);
  const list = await ours(mine, "list", "srv:");
  expect(list.code, list.stderr).toBe(0);
  expect(await trusted()).toHaveLength(2);
});

test("unsetting the password closes that door", async () => {
  await d.ok("config", "unset", "core.trust_password");
  expect((await d.api("GET", "/1.0")).body.metadata.config["core.trust_password"]).toBeUndefined();
  const r = await lxc(newConf(), "remote", "add", "srv", `127.0.0.1:${port}`, "--accept-certificate", "--password", "s3cret-pw");
  expect(r.code).not.toBe(0);
  expect(await trusted()).toHaveLength(2);
});
