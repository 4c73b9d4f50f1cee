// What a migration between two daemons must never do: let a wrong, reused or late secret in,
// talk to a peer other than the pinned one, write outside the target volume, or — when it fails,
// is cancelled, or either daemon is SIGKILLed half-way — leave the source changed (or stopped) or
// anything on the target (row, volume, staging tree, mount).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestDaemon } from "../helpers/daemon.ts";
import { startPair, stopPair, type Clients, type Pair } from "../helpers/migration.ts";

let a: TestDaemon;
let b: TestDaemon;
let addrA = "";
let certA = "";
let clients: Clients;

let pair: Pair;

beforeAll(async () => {
  pair = await startPair();
  ({ a, b, addrA, clients } = pair);
  certA = (await a.api("GET", "/1.0")).body.metadata.environment.certificate;
});

afterAll(async () => {
  await stopPair(pair ?? {});
});

const sh = (d: TestDaemon, name: string, script: string) => d.ok("exec", name, "--", "sh", "-c", script);

/** The status line the HTTPS listener answers a websocket upgrade with. */
function upgradeStatus(path: string): Promise<string> {
  const [host, port] = addrA.split(":");
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => resolve(out.split("\r\n")[0] ?? ""), 3000);
    Bun.connect({
      hostname: host!, port: Number(port), tls: { rejectUnauthorized: false },
      socket: {
        open(s) {
          s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        },
        data(s, d) {
          out += Buffer.from(d).toString("latin1");
          if (out.includes("\r\n")) { clearTimeout(timer); s.end(); resolve(out.split("\r\n")[0]!); }
        },
        close() { clearTimeout(timer); resolve(out.split("\r\n")[0] ?? ""); },
        error(_s, e) { clearTimeout(timer); reject(e); },
      },
    }).catch(reject);
  });
}

/** Nothing of instance `name` on daemon `d`: no row, no volume or staging tree, no mount. */
function assertNothing(d: TestDaemon, name: string) {
  const pool = join(d.dir, "storage-pools", "default");
  const leftovers = [
    ...readdirSync(join(pool, "containers")).filter((e) => e.startsWith(name)),
    ...(existsSync(join(pool, "containers-snapshots")) ? readdirSync(join(pool, "containers-snapshots")).filter((e) => e.startsWith(name)) : []),
  ];
  expect(leftovers).toEqual([]);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(d.dir) && l.includes(name));
  expect(mounts).toEqual([]);
}

/** Starts a pull of `name` from a to b through the API and waits until bytes flow. */
async function pullStarted(name: string): Promise<{ src: string; dst: string }> {
  const src = await a.api("POST", `/1.0/instances/${name}`, { name, migration: true, live: false });
  expect(src.status).toBe(202);
  const op = src.body.metadata;
  const inst = (await a.api("GET", `/1.0/instances/${name}`)).body.metadata;
  const dst = await b.api("POST", "/1.0/instances", {
    name, config: inst.config, devices: inst.devices, profiles: inst.profiles,
    source: { type: "migration", mode: "pull", operation: `https://${addrA}/1.0/operations/${op.id}`, certificate: certA, secrets: op.metadata },
  });
  expect(dst.status).toBe(202);
  for (let i = 0; i < 200; i++) {
    const cur = (await b.api("GET", dst.body.operation)).body.metadata;
    if (String(cur.metadata?.fs_progress ?? "").match(/[1-9]/)) break;
    if (cur.status !== "Running") throw new Error(`the transfer ended early: ${cur.status} ${cur.err}`);
    await Bun.sleep(100);
  }
  return { src: src.body.operation, dst: dst.body.operation };
}

describe("secrets and peers", () => {
  test("a wrong or reused secret gets 403; the secrets die with the operation", async () => {
    await a.ok("init", "busybox", "s1");
    const src = await a.api("POST", "/1.0/instances/s1", { name: "s1", migration: true, live: false });
    const { id, metadata } = src.body.metadata;
    expect(await upgradeStatus(`/1.0/operations/${id}/websocket?secret=wrong`)).toBe("HTTP/1.1 403 Forbidden");
    // Without a secret, an untrusted client learns nothing about the operation.
    expect(await upgradeStatus(`/1.0/operations/${id}/websocket`)).toBe("HTTP/1.1 403 Forbidden");
    expect(await upgradeStatus(`/1.0/operations/${id}/websocket?secret=${metadata.control}`)).toBe("HTTP/1.1 101 Switching Protocols");
    expect(await upgradeStatus(`/1.0/operations/${id}/websocket?secret=${metadata.control}`)).toBe("HTTP/1.1 403 Forbidden");
    // The fs connection never comes: the operation fails after 10 s, and its secrets with it.
    const done = (await a.wait(src, 30)).body.metadata;
    expect(done.status).toBe("Failure");
    expect(done.err).toContain("Timed out waiting for migration connections");
    expect(await upgradeStatus(`/1.0/operations/${id}/websocket?secret=${metadata.fs}`)).not.toContain("101");
    expect((await a.api("GET", "/1.0/instances/s1")).body.metadata.status).toBe("Stopped");
  }, 60_000);

  test("the target talks only to the pinned certificate", async () => {
    const src = await a.api("POST", "/1.0/instances/s1", { name: "s1", migration: true, live: false });
    const op = src.body.metadata;
    const other = (await b.api("GET", "/1.0")).body.metadata.environment.certificate;
    const dst = await b.api("POST", "/1.0/instances", {
      name: "s1", source: { type: "migration", mode: "pull", operation: `https://${addrA}/1.0/operations/${op.id}`, certificate: other, secrets: op.metadata },
    });
    const done = (await b.wait(dst, 30)).body.metadata;
    expect(done.status).toBe("Failure");
    expect((await b.api("GET", "/1.0/instances/s1")).status).toBe(404);
    assertNothing(b, "s1");
    // Plain HTTP is not a way in either.
    const plain = await b.api("POST", "/1.0/instances", {
      name: "s1", source: { type: "migration", mode: "pull", operation: `http://${addrA}/1.0/operations/${op.id}`, certificate: certA, secrets: op.metadata },
    });
    expect((await b.wait(plain, 30)).body.metadata.err).toContain("HTTPS only");
    await a.api("DELETE", src.body.operation);
  }, 60_000);

  test("symlinks arrive as symlinks: nothing is written through them outside the volume", async () => {
    await a.ok("start", "s1");
    const tag = a.tag;
    await sh(a, "s1", `ln -s /tmp/escape-${tag} /root/abs && ln -s ../../../../../../../../tmp/escape-rel-${tag} /root/rel && mkdir -p /root/d && echo x > /root/d/f`);
    await a.ok("stop", "s1", "--force");
    await clients.ok(clients.lxd("copy", "a:s1", "b:s1"), "copy");
    expect(existsSync(`/tmp/escape-${tag}`)).toBe(false);
    expect(existsSync(`/tmp/escape-rel-${tag}`)).toBe(false);
    await b.ok("start", "s1");
    expect((await sh(b, "s1", "readlink /root/abs; readlink /root/rel; cat /root/d/f")).trim().split("\n"))
      .toEqual([`/tmp/escape-${tag}`, `../../../../../../../../tmp/escape-rel-${tag}`, "x"]);
    await b.ok("delete", "s1", "--force");
  });

});

describe("failures leave the source as it was and nothing on the target", () => {
  beforeAll(async () => {
    await a.ok("launch", "busybox", "big");
    await sh(a, "big", "head -c 24000000 /dev/urandom > /root/blob && sha256sum /root/blob > /root/sum");
    await a.ok("snapshot", "big", "s0");
    // 3 MB/s: the transfer lasts long enough to be interrupted.
    await a.ok("storage", "set", "default", "rsync.bwlimit", "3000");
  });

  test("a cancelled transfer", async () => {
    await a.ok("stop", "big", "--force");
    const { src, dst } = await pullStarted("big");
    expect((await b.api("DELETE", dst)).status).toBe(200);
    expect((await b.wait(dst, 30)).body.metadata.status).toBe("Cancelled");
    expect((await a.wait(src, 30)).body.metadata.status).toBe("Failure");
    expect((await b.api("GET", "/1.0/instances/big")).status).toBe(404);
    assertNothing(b, "big");
    assertNothing(a, "exports");
    await a.ok("start", "big");
    await sh(a, "big", "sha256sum -c /root/sum");
  }, 90_000);

  test("the target daemon SIGKILLed mid-transfer: the running source keeps running; the target restarts clean", async () => {
    // Running: copied statelessly, frozen while it is read; it must be thawed again.
    const copying = clients.lxd("copy", "a:big", "b:big", "--stateless");
    for (let i = 0; i < 200 && !readdirSync(join(b.dir, "storage-pools/default/containers")).some((e) => e.startsWith("big")); i++) await Bun.sleep(50);
    await Bun.sleep(1000);
    await b.kill("SIGKILL");
    const r = await copying;
    expect(r.code).toBe(1);
    await b.start();
    expect((await b.api("GET", "/1.0/instances/big")).status).toBe(404);
    assertNothing(b, "big");
    const state = (await a.api("GET", "/1.0/instances/big")).body.metadata;
    expect(state.status).toBe("Running");
    await sh(a, "big", "sha256sum -c /root/sum && echo still-writable > /root/w");
    assertNothing(a, "exports");
  }, 90_000);

  test("the source daemon SIGKILLed mid-transfer: the target fails clean; the source restarts intact", async () => {
    await a.ok("stop", "big", "--force");
    const { dst } = await pullStarted("big");
    await a.kill("SIGKILL");
    const done = (await b.wait(dst, 60)).body.metadata;
    expect(done.status).toBe("Failure");
    expect((await b.api("GET", "/1.0/instances/big")).status).toBe(404);
    assertNothing(b, "big");
    await a.start();
    // The export mount the killed daemon left is gone after its restart.
    const exportsDir = join(a.dir, "storage-pools/default/exports");
    expect(existsSync(exportsDir) ? readdirSync(exportsDir) : []).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8").includes(exportsDir)).toBe(false);
    await a.ok("start", "big");
    await sh(a, "big", "sha256sum -c /root/sum");
    expect((await a.api("GET", "/1.0/instances/big/snapshots")).body.metadata).toHaveLength(1);
  }, 90_000);
});
