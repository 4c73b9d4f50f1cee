// Remote access over HTTPS on loopback: the server's certificate, the listener following
// core.https_address, the trust store and join tokens, our client's remotes, and LXD's own `lxc`
// client joining with a token and driving containers over TLS. Two state directories: the
// daemon's LXD_DIR and the client's LXD_CONF.
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { generateCertificate } from "../../src/daemon/tls/x509.ts";

let d: TestDaemon;
let port: number;
const confs: string[] = [];

/** A port nothing listens on right now (the kernel's pick, released at once). */
function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

/** A fresh client state directory (LXD_CONF). */
function newConf(): string {
  const dir = mkdtempSync("/tmp/lxd-remote-conf-");
  confs.push(dir);
  return dir;
}

/** Our client with its own LXD_CONF and no usable local socket, so it can only go over HTTPS. */
const client = (conf: string, ...args: string[]) =>
  d.lxdWith({ env: { LXD_CONF: conf, LXD_DIR: "/nonexistent" }, timeoutMs: 60_000 }, ...args);

async function token(name: string): Promise<string> {
  const r = await d.lxd("config", "trust", "add", "--name", name);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split("\n").at(-1)!;
}

async function https(path: string, tls: Record<string, unknown> = {}): Promise<{ status: number; body: { metadata: Record<string, unknown>; error: string } }> {
  const res = await fetch(`https://127.0.0.1:${port}${path}`, { tls: { rejectUnauthorized: false, ...tls } } as RequestInit);
  return { status: res.status, body: await res.json() as { metadata: Record<string, unknown>; error: string } };
}

beforeAll(async () => {
  d = await startInitializedDaemon();
  port = freePort();
  const set = await d.lxd("config", "set", "core.https_address", `127.0.0.1:${port}`);
  expect(set.code, set.stderr).toBe(0);
});

afterAll(async () => {
  await d?.stop();
  for (const dir of confs) rmSync(dir, { recursive: true, force: true });
});

test("server certificate: made on first start, key 0600, fingerprint in GET /1.0 and lxd info", async () => {
  const crt = join(d.dir, "server.crt");
  expect(statSync(join(d.dir, "server.key")).mode & 0o777).toBe(0o600);
  const x = new X509Certificate(readFileSync(crt, "utf8"));
  expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
  const fp = x.fingerprint256.replaceAll(":", "").toLowerCase();
  const env = (await d.api("GET", "/1.0")).body.metadata.environment;
  expect(env.certificate_fingerprint).toBe(fp);
  expect(env.certificate).toContain("BEGIN CERTIFICATE");
  expect(env.addresses).toEqual([`127.0.0.1:${port}`]);
  expect((await d.lxd("info")).stdout).toContain(fp);
});

test("untrusted clients see only the public view; everything else is 403", async () => {
  const pub = await https("/1.0");
  expect(pub.status).toBe(200);
  expect(pub.body.metadata.auth).toBe("untrusted");
  expect(pub.body.metadata.config).toEqual({});
  expect((await https("/")).status).toBe(200);

  const none = await https("/1.0/instances");
  expect(none.status).toBe(403);
  expect(none.body.error).toContain("No client certificate");

  const stranger = await generateCertificate({ client: true, commonName: "stranger" });
  const withCert = await https("/1.0/instances", { cert: stranger.certificate, key: stranger.key });
  expect(withCert.status).toBe(403);
  expect(withCert.body.error).toContain("not trusted");
  // Joining needs a token; a bogus one is refused.
  const res = await fetch(`https://127.0.0.1:${port}/1.0/certificates`, {
    method: "POST", body: JSON.stringify({ type: "client", password: "bogus" }),
    tls: { rejectUnauthorized: false, cert: stranger.certificate, key: stranger.key },
  } as RequestInit);
  expect(res.status).toBe(403);
  // A forged relay header from the network changes nothing.
  const forged = await fetch(`https://127.0.0.1:${port}/1.0/instances`, {
    headers: { "x-lxd-peer-certificate": Buffer.from(stranger.certificate).toString("base64") },
    tls: { rejectUnauthorized: false },
  } as RequestInit);
  expect(forged.status).toBe(403);
});

/** Sends raw bytes over TLS (no client certificate) and returns everything the server answered. */
function rawTls(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => resolve(out), 3000);
    Bun.connect({
      hostname: "127.0.0.1", port, tls: { rejectUnauthorized: false },
      socket: {
        open(s) { s.write(bytes); },
        data(_s, d) { out += Buffer.from(d).toString("latin1"); },
        close() { clearTimeout(timer); resolve(out); },
        error(_s, e) { clearTimeout(timer); reject(e); },
      },
    }).catch(reject);
  });
}

test("the relay cannot be tricked into passing an unauthenticated request", async () => {
  // Two pipelined requests: both are judged (403), neither reaches the instances handler.
  const piped = await rawTls("GET /1.0/instances HTTP/1.1\r\nHost: x\r\n\r\nGET /1.0/instances HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  expect(piped.match(/HTTP\/1\.1 403/g)?.length).toBe(2);
  expect(piped).not.toContain("HTTP/1.1 200");
  // A bare-LF head hiding a second request is refused whole.
  const hidden = await rawTls("GET / HTTP/1.1\nHost: x\n\nGET /1.0/instances HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(hidden).toStartWith("HTTP/1.1 400");
  expect(hidden).not.toContain("HTTP/1.1 200");
  // Ambiguous body framing (request smuggling) is refused.
  const smuggle = await rawTls("POST /1.0/certificates HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  expect(smuggle).toStartWith("HTTP/1.1 400");
  // A refused websocket upgrade ends the connection: nothing sent after it is forwarded.
  const upgrade = await rawTls("GET /1.0/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nGET /1.0/instances HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(upgrade.match(/HTTP\/1\.1 \d+/g)).toEqual(["HTTP/1.1 403"]);
});

test("our client: remote add with a token, list/launch/exec/delete over HTTPS, replay refused", async () => {
  const conf = newConf();
  const t = await token("ours");
  const add = await client(conf, "remote", "add", "srv", t);
  expect(add.code, add.stderr).toBe(0);
  expect(existsSync(join(conf, "client.crt"))).toBe(true);
  expect(statSync(join(conf, "client.key")).mode & 0o777).toBe(0o600);
  expect(existsSync(join(conf, "servercerts", "srv.crt"))).toBe(true);
  expect(readFileSync(join(conf, "config.yml"), "utf8")).toContain(`addr: https://127.0.0.1:${port}`);

  const launch = await client(conf, "launch", "busybox", "srv:r1");
  expect(launch.code, launch.stderr).toBe(0);
  const list = await client(conf, "list", "srv:", "--format", "csv", "-c", "ns");
  expect(list.code, list.stderr).toBe(0);
  expect(list.stdout).toContain("r1,RUNNING");
  const exec = await client(conf, "exec", "srv:r1", "--", "sh", "-c", "echo hello; exit 3");
  expect(exec.stdout.trim()).toBe("hello");
  expect(exec.code).toBe(3);
  const del = await client(conf, "delete", "srv:r1", "--force");
  expect(del.code, del.stderr).toBe(0);

  // The same token again, from another client: refused.
  const replay = await client(newConf(), "remote", "add", "again", t);
  expect(replay.code).toBe(1);
  expect(replay.stderr).toContain("already used");

  const remotes = await client(conf, "remote", "list", "--format", "csv");
  expect(remotes.stdout).toContain(`srv,https://127.0.0.1:${port}`);
  expect((await client(conf, "remote", "switch", "srv")).code).toBe(0);
  expect((await client(conf, "remote", "get-default")).stdout.trim()).toBe("srv");
  expect((await client(conf, "list", "--format", "csv")).code).toBe(0);
  expect((await client(conf, "remote", "rename", "srv", "main")).code).toBe(0);
  expect((await client(conf, "remote", "get-default")).stdout.trim()).toBe("main");
  expect(existsSync(join(conf, "servercerts", "main.crt"))).toBe(true);
  expect((await client(conf, "remote", "remove", "main")).stderr).toContain("default remote");
});

test("trust list/show/remove; a removed client is refused at once; tokens expire", async () => {
  const conf = newConf();
  expect((await client(conf, "remote", "add", "s", await token("temp"))).code).toBe(0);
  const list = await d.lxd("config", "trust", "list", "--format", "csv");
  const row = list.stdout.split("\n").find((l) => l.includes(",temp,"));
  expect(row).toBeDefined();
  const fp = row!.split(",")[3]!;
  expect((await d.lxd("config", "trust", "show", fp)).stdout).toContain("name: temp");
  expect((await client(conf, "list", "s:")).code).toBe(0);
  expect((await d.lxd("config", "trust", "remove", fp)).code).toBe(0);
  const refused = await client(conf, "list", "s:");
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("not trusted");

  expect((await d.lxd("config", "set", "core.remote_token_expiry", "1S")).code).toBe(0);
  const short = await token("late");
  await Bun.sleep(1500);
  const late = await client(newConf(), "remote", "add", "late", short);
  expect(late.code).toBe(1);
  expect(late.stderr).toContain("expired");
  expect((await d.lxd("config", "unset", "core.remote_token_expiry")).code).toBe(0);

  // add-certificate: trust a certificate file directly.
  const other = newConf();
  const pin = await client(other, "remote", "add", "pinned", `127.0.0.1:${port}`, "--accept-certificate");
  expect(pin.code).toBe(1); // not trusted yet; the client made its certificate on the way
  expect((await d.lxd("config", "trust", "add-certificate", join(other, "client.crt"), "--name", "filed")).code).toBe(0);
  const again = await client(other, "remote", "add", "pinned", `127.0.0.1:${port}`, "--accept-certificate");
  expect(again.code, again.stderr).toBe(0);
  expect((await client(other, "list", "pinned:")).code).toBe(0);
});

test("LXD's lxc client joins with a token and drives a container over HTTPS", async () => {
  const lxc = (...args: string[]) => d.lxcWith({ timeoutMs: 60_000 }, ...args);
  const add = await lxc("remote", "add", "test", await token("lxc"));
  expect(add.code, add.stderr).toBe(0);
  const list = await lxc("list", "test:");
  expect(list.code, list.stderr).toBe(0);
  const launch = await lxc("launch", "test:busybox", "test:c1");
  expect(launch.code, launch.stderr).toBe(0);
  const ls = await lxc("list", "test:", "--format", "csv", "-c", "ns");
  expect(ls.stdout.trim()).toContain("c1,RUNNING");
  expect((await lxc("exec", "test:c1", "--", "true")).code).toBe(0);
  const out = await lxc("exec", "test:c1", "--", "hostname");
  expect(out.stdout.trim()).toBe("c1");
  const del = await lxc("delete", "test:c1", "--force");
  expect(del.code, del.stderr).toBe(0);
  expect((await lxc("list", "test:", "--format", "csv")).stdout.trim()).toBe("");
});

test("the listener moves and stops with core.https_address, without a restart", async () => {
  const next = freePort();
  expect((await d.lxd("config", "set", "core.https_address", `127.0.0.1:${next}`)).code).toBe(0);
  const old = port;
  port = next;
  expect((await https("/1.0")).status).toBe(200);
  await expect(fetch(`https://127.0.0.1:${old}/1.0`, { tls: { rejectUnauthorized: false } } as RequestInit)).rejects.toThrow();
  expect((await d.lxd("config", "unset", "core.https_address")).code).toBe(0);
  await expect(fetch(`https://127.0.0.1:${next}/1.0`, { tls: { rejectUnauthorized: false } } as RequestInit)).rejects.toThrow();
  expect((await d.api("GET", "/1.0")).body.metadata.environment.addresses).toEqual([]);
  // The unix socket never stopped answering.
  expect((await d.lxd("list")).code).toBe(0);
});
