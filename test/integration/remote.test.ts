// Remote access over HTTPS on loopback: the server's certificate, the listener following
// core.https_address, the trust store and join tokens, our client's remotes, and LXD's own `lxc`
// client joining with a token and driving containers over TLS. Two state directories: the
// daemon's LXD_DIR and the client's LXD_CONF.
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { freePort } from "../helpers/net.ts";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { generateCertificate } from "../../src/tls/x509.ts";

let d: TestDaemon;
let port: number;
/** The daemon's wait for a first request head after a handshake (LXD_HTTPS_IDLE_TIMEOUT_MS),
 *  and between keep-alive requests (4 times as long). */
const IDLE_MS = 2000;
const KEEPALIVE_IDLE_MS = 4 * IDLE_MS;
const confs: string[] = [];

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
  d = await startInitializedDaemon({ env: { LXD_HTTPS_IDLE_TIMEOUT_MS: String(IDLE_MS) } });
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

/** Opens `count` loopback connections that send nothing (plain TCP, or TLS through the
 *  handshake) and notes when each opened, finished its handshake and was closed by the server. */
function flood(count: number, tls: boolean) {
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const conns = Array.from({ length: count }, () => ({ opened: -1, handshaken: -1, closed: -1 }));
  const sockets: Socket<unknown>[] = [];
  const ready = Promise.all(conns.map((c) => new Promise<void>((resolve) => {
    Bun.connect({
      hostname: "127.0.0.1", port, ...(tls ? { tls: { rejectUnauthorized: false } } : {}),
      socket: {
        open(s) {
          c.opened = now();
          sockets.push(s);
          if (!tls) resolve();
        },
        handshake(_s, success) {
          if (success) c.handshaken = now();
          resolve();
        },
        data() {},
        close() {
          c.closed = now();
          resolve();
        },
        connectError() {
          c.closed = now();
          resolve();
        },
      },
    }).catch(() => resolve());
  })));
  return { conns, ready, now, end: () => { for (const s of sockets) s.end(); } };
}

/** How long `GET /1.0` over the unix socket takes. */
async function unixLatency(): Promise<number> {
  const t = performance.now();
  const r = await d.api("GET", "/1.0");
  expect(r.status).toBe(200);
  return performance.now() - t;
}

test("a flood of silent TCP connections is capped at 1024 and cut after the 10 s handshake timeout; the unix socket keeps answering", async () => {
  const f = flood(1500, false);
  try {
    await f.ready;
    await Bun.sleep(1500);
    const latencies = [await unixLatency(), await unixLatency(), await unixLatency()];
    // A liveness bound, not a speed figure: a starved socket would wait for the flood's 10 s timeouts.
    expect(Math.max(...latencies)).toBeLessThan(5000);
    // Beyond the cap the server hangs up at once; the rest wait for the handshake timeout.
    const early = f.conns.filter((c) => c.closed >= 0).length;
    expect(early).toBeGreaterThanOrEqual(1500 - 1024);
    expect(early).toBeLessThan(1500 - 1024 + 16); // a few pooled keep-alive connections of earlier tests count too
    while (f.conns.some((c) => c.closed < 0) && f.now() < 20_000) await Bun.sleep(200);
    const survivors = f.conns.filter((c) => c.closed - c.opened > 5000);
    expect(f.conns.filter((c) => c.closed < 0).length).toBe(0);
    expect(survivors.length).toBeGreaterThan(900);
    for (const c of survivors) {
      expect(c.closed - c.opened).toBeGreaterThan(9000);
      expect(c.closed - c.opened).toBeLessThan(14_000);
    }
  } finally {
    f.end();
  }
  // Every slot came back: a new client gets through.
  expect((await https("/1.0")).status).toBe(200);
}, 60_000);

test("a flood of TLS connections that handshake and say nothing: the unix socket keeps answering, each is cut after the idle timeout", async () => {
  const f = flood(1500, true);
  try {
    // Measured while the handshakes are still pouring in.
    const latencies: number[] = [];
    while (f.conns.filter((c) => c.handshaken >= 0 || c.closed >= 0).length < 1500 && f.now() < 20_000) {
      latencies.push(await unixLatency());
      await Bun.sleep(100);
    }
    await f.ready;
    expect(latencies.length).toBeGreaterThan(0);
    // A liveness bound, not a speed figure: a starved socket would wait for the flood's 10 s timeouts.
    expect(Math.max(...latencies)).toBeLessThan(5000);
    const handshaken = f.conns.filter((c) => c.handshaken >= 0);
    expect(handshaken.length).toBeGreaterThan(900);
    expect(handshaken.length).toBeLessThanOrEqual(1024);
    while (f.conns.some((c) => c.closed < 0) && f.now() < 30_000) await Bun.sleep(200);
    expect(f.conns.filter((c) => c.closed < 0).length).toBe(0);
    for (const c of handshaken) {
      expect(c.closed - c.handshaken).toBeGreaterThan(IDLE_MS - 500);
      expect(c.closed - c.handshaken).toBeLessThan(IDLE_MS + 4000);
    }
  } finally {
    f.end();
  }
  expect((await https("/1.0")).status).toBe(200);
}, 60_000);

/** A TLS connection presenting `identity`, sending raw requests and collecting the answers. */
async function tlsConnection(identity: { certificate: string; key: string }) {
  let out = "";
  let closedAt = -1;
  const t0 = performance.now();
  const socket = await new Promise<Socket<unknown>>((resolve, reject) => {
    Bun.connect({
      hostname: "127.0.0.1", port, tls: { rejectUnauthorized: false, cert: identity.certificate, key: identity.key },
      socket: {
        handshake(s) { resolve(s); },
        data(_s, data) { out += Buffer.from(data).toString("latin1"); },
        close() {
          closedAt = performance.now() - t0;
          reject(new Error("closed before the handshake"));
        },
        connectError(_s, e) { reject(e); },
      },
    }).catch(reject);
  });
  return {
    send: (request: string) => socket.write(request),
    /** Waits for the n-th answer's head (answers are small JSON documents, read whole). */
    async answers(n: number, timeoutMs: number): Promise<string[]> {
      const deadline = performance.now() + timeoutMs;
      while ((out.match(/HTTP\/1\.1 \d+/g)?.length ?? 0) < n && closedAt < 0 && performance.now() < deadline) await Bun.sleep(20);
      await Bun.sleep(100);
      return out.match(/HTTP\/1\.1 \d+/g) ?? [];
    },
    closedAt: () => closedAt,
    end: () => socket.end(),
  };
}

test("idle timeout: a silent connection is closed after the handshake; keep-alive gaps, long waits and websockets are not", async () => {
  const me = await generateCertificate({ client: true, commonName: "idler" });
  const dir = newConf();
  await Bun.write(join(dir, "idler.crt"), me.certificate);
  expect((await d.lxd("config", "trust", "add-certificate", join(dir, "idler.crt"), "--name", "idler")).code).toBe(0);

  const ws = new WebSocket(`wss://127.0.0.1:${port}/1.0/events?type=operation`, { tls: { rejectUnauthorized: false, cert: me.certificate, key: me.key } } as unknown as string[]);
  const events: string[] = [];
  let wsClosed = false;
  ws.onmessage = (ev) => events.push(String(ev.data));
  ws.onclose = () => { wsClosed = true; };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("events websocket failed"));
  });

  const silent = await tlsConnection(me);
  await Bun.sleep(IDLE_MS + 1500);
  expect(silent.closedAt()).toBeGreaterThan(IDLE_MS - 500);
  expect(silent.closedAt()).toBeLessThan(IDLE_MS + 1500);

  // A join token is an operation that stays running: waiting on it is a long, silent request.
  const op = await d.api("POST", "/1.0/certificates", { name: "pending", type: "client", token: true });
  expect(op.status).toBe(202);
  const c = await tlsConnection(me);
  try {
    c.send("GET /1.0 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await c.answers(1, 5000)).toEqual(["HTTP/1.1 200"]);
    await Bun.sleep(IDLE_MS + 1000); // between keep-alive requests: longer than the first-head wait
    // A wait longer than even the keep-alive idle timeout: the connection is busy, not idle.
    const waitSec = Math.ceil(KEEPALIVE_IDLE_MS / 1000) + 2;
    c.send(`GET ${op.body.operation}/wait?timeout=${waitSec} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const afterWait = await c.answers(2, waitSec * 1000 + 5000);
    expect(afterWait).toHaveLength(2);
    expect(afterWait[1]).not.toBe("HTTP/1.1 408");
    c.send("GET /1.0 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect((await c.answers(3, 5000))[2]).toBe("HTTP/1.1 200");
    expect(c.closedAt()).toBe(-1);
    // Idle after an answer for longer than the keep-alive timeout: closed.
    const answered = performance.now();
    while (c.closedAt() < 0 && performance.now() - answered < KEEPALIVE_IDLE_MS + 3000) await Bun.sleep(100);
    expect(c.closedAt()).toBeGreaterThan(0);
    expect(performance.now() - answered).toBeGreaterThan(KEEPALIVE_IDLE_MS - 1000);
  } finally {
    c.end();
    await d.api("DELETE", op.body.operation as string);
  }

  // The events websocket lived through all of the above, silent for longer than either timeout
  // (the long wait), and still carries events.
  expect(wsClosed).toBe(false);
  const seen = events.length;
  const later = await d.api("POST", "/1.0/certificates", { name: "later", type: "client", token: true });
  const deadline = performance.now() + 5000;
  while (events.length === seen && performance.now() < deadline) await Bun.sleep(50);
  expect(events.length).toBeGreaterThan(seen);
  ws.close();
  await d.api("DELETE", later.body.operation as string);
}, 60_000);

test("our client: remote add with a token, list/launch/exec/file push+pull/delete over HTTPS, replay refused", async () => {
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
  // Files in and out through the remote prefix.
  const local = join(conf, "pushed.txt");
  await Bun.write(local, "over https\n".repeat(1000));
  const push = await client(conf, "file", "push", local, "srv:r1/root/f");
  expect(push.code, push.stderr).toBe(0);
  const inside = await client(conf, "exec", "srv:r1", "--", "wc", "-c", "/root/f");
  expect(inside.stdout.trim()).toStartWith("11000");
  const pull = await client(conf, "file", "pull", "srv:r1/root/f", join(conf, "pulled.txt"));
  expect(pull.code, pull.stderr).toBe(0);
  expect(readFileSync(join(conf, "pulled.txt"), "utf8")).toBe(readFileSync(local, "utf8"));
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
  expect(late.code, late.stdout + late.stderr).toBe(1);
  expect(late.stderr).toContain("expired");
  expect((await d.lxd("config", "unset", "core.remote_token_expiry")).code).toBe(0);

  // add-certificate: trust a certificate file directly.
  const other = newConf();
  const pin = await client(other, "remote", "add", "pinned", `127.0.0.1:${port}`, "--accept-certificate");
  expect(pin.code).toBe(1); // not trusted yet; the client made its certificate on the way
  const filed = await d.lxd("config", "trust", "add-certificate", join(other, "client.crt"), "--name", "filed");
  expect(filed.code, filed.stderr + filed.stdout + pin.stderr).toBe(0);
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
