// dqlite's traffic between members is TLS with the cluster certificate only (lxd-dqlite's relay):
// a node answers dqlite's protocol over TLS to a holder of the cluster certificate, and to nothing
// else: not to plain TCP, not to TLS with another certificate or none. What crosses the network
// carries no SQL in clear (bytes read on a forwarder placed between a relay and a node). And two
// real daemons form a cluster whose Raft ports answer only that way.
import type { Socket } from "bun";
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { DqliteClient } from "../../src/cluster/dqlite/client.ts";
import { DqliteConnection } from "../../src/cluster/dqlite/connection.ts";
import { PROTOCOL_VERSION, Req, Res, Writer } from "../../src/cluster/dqlite/wire.ts";
import { startDqliteNode, type DqliteNode } from "../../src/kernel/dqlite.ts";
import { writeCertificate } from "../helpers/cluster-cert.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";

const haveLib = ["/usr/lib/x86_64-linux-gnu/libdqlite.so.0", "/usr/lib/aarch64-linux-gnu/libdqlite.so.0"].some(existsSync);

let dir: string;
let cluster: { cert: string; key: string };
let other: { cert: string; key: string };
const nodes: DqliteNode[] = [];
let leaderAddress: string;
const MARKER = "marker-7f3a9c-secret-text";

beforeAll(async () => {
  dir = mkdtempSync("/tmp/lxd-test-dqlite-tls-");
  process.env.LXD_DIR = dir;
  cluster = await writeCertificate(dir);
  other = await writeCertificate(dir, "other");
  if (!haveLib) return;
  leaderAddress = `127.0.0.1:${freePort()}`;
  nodes.push(await startDqliteNode({ id: 1n, address: leaderAddress, dir: join(dir, "n1"), ...cluster, latencyMs: 10 }));
  const client = new DqliteClient([leaderAddress], { relay: () => nodes[0]!.relay });
  await client.exec("CREATE TABLE t (s TEXT)");
  client.close();
});

afterAll(async () => {
  for (const node of nodes) await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** dqlite's handshake and a LEADER request, as a client sends them first. */
function leaderRequest(): Uint8Array {
  const version = new Uint8Array(8);
  new DataView(version.buffer).setBigUint64(0, PROTOCOL_VERSION, true);
  return Buffer.concat([version, new Writer().uint64(0).message(Req.leader)]);
}

/** Everything a connection received until it closed (or 3 s passed), and whether it errored. */
interface Outcome { bytes: Buffer; error?: string }

function plainExchange(address: string, send: Uint8Array): Promise<Outcome> {
  const [hostname, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    const done = (error?: string) => resolve({ bytes: Buffer.concat(chunks), error });
    const timer = setTimeout(() => done("timeout"), 3000);
    Bun.connect({
      hostname, port,
      socket: {
        open: (s) => void s.write(send),
        data: (_s, d) => void chunks.push(Buffer.from(d)),
        close: () => { clearTimeout(timer); done(); },
        error: (_s, e) => { clearTimeout(timer); done(e.message); },
      },
    }).catch((e) => { clearTimeout(timer); done(String(e)); });
  });
}

function tlsExchange(address: string, identity: { cert: string; key: string } | undefined, send: Uint8Array): Promise<Outcome> {
  const at = address.lastIndexOf(":");
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    let settled = false;
    const done = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), error });
    };
    const timer = setTimeout(() => done("timeout"), 3000);
    const socket = tlsConnect({
      host: address.slice(0, at), port: Number(address.slice(at + 1)), rejectUnauthorized: false,
      ...(identity ? { cert: readFileSync(identity.cert), key: readFileSync(identity.key) } : {}),
    }, () => socket.write(send));
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      // One SERVER answer is 8 bytes of header and a body: enough to judge.
      if (Buffer.concat(chunks).length >= 16) done();
    });
    socket.on("error", (e) => done(e.message));
    socket.on("close", () => done());
  });
}

/** The message type of a dqlite answer in `bytes`, if they hold one. */
const answerType = (bytes: Buffer): number | undefined => (bytes.length >= 8 ? bytes[4] : undefined);

describe.skipIf(!haveLib)("dqlite behind TLS with the cluster certificate", () => {
  test("a TLS client with the cluster certificate gets dqlite's answer", async () => {
    const r = await tlsExchange(leaderAddress, cluster, leaderRequest());
    expect(r.error).toBeUndefined();
    expect(answerType(r.bytes)).toBe(Res.server);
  });

  test("plain TCP to the Raft port gets no dqlite answer", async () => {
    const r = await plainExchange(leaderAddress, leaderRequest());
    expect(r.error).not.toBe("timeout");
    // At most a TLS alert record (content type 21), never a dqlite message.
    expect(r.bytes.length === 0 || r.bytes[0] === 21).toBe(true);
  });

  test("TLS with another certificate, or none, is refused", async () => {
    for (const identity of [other, undefined]) {
      const r = await tlsExchange(leaderAddress, identity, leaderRequest());
      expect(answerType(r.bytes)).toBeUndefined();
      expect(r.error).not.toBe("timeout");
    }
  });

  test("a node with another certificate cannot reach the cluster through its relay", async () => {
    const stranger = await startDqliteNode({ id: 9n, address: `127.0.0.1:${freePort()}`, dir: join(dir, "n9"), ...other });
    nodes.push(stranger);
    const err = await DqliteClient.leaderOf(() => stranger.relay, leaderAddress).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`cannot reach dqlite node ${leaderAddress}`);
  });

  test("SQL between a relay and a remote node crosses the wire encrypted", async () => {
    // A second process with the cluster certificate dials the node through a forwarder that
    // keeps every byte it carries.
    const relayNode = await startDqliteNode({ id: 2n, address: `127.0.0.1:${freePort()}`, dir: join(dir, "n2"), ...cluster });
    nodes.push(relayNode);
    const [host, port] = [leaderAddress.slice(0, leaderAddress.lastIndexOf(":")), Number(leaderAddress.slice(leaderAddress.lastIndexOf(":") + 1))];
    const carried: Buffer[] = [];
    const upstreams = new Map<Socket, Promise<Socket>>();
    const forwarder = Bun.listen({
      hostname: "127.0.0.1", port: 0,
      socket: {
        open(down) {
          upstreams.set(down, Bun.connect({
            hostname: host, port,
            socket: {
              data: (_up, d) => {
                carried.push(Buffer.from(d));
                down.write(d);
              },
              close: () => void down.end(),
            },
          }));
        },
        async data(down, d) {
          carried.push(Buffer.from(d));
          (await upstreams.get(down)!).write(d);
        },
        async close(down) {
          (await upstreams.get(down))?.end();
        },
      },
    });
    try {
      const conn = await DqliteConnection.open(() => relayNode.relay, `127.0.0.1:${forwarder.port}`);
      const db = await conn.request(new Writer().text("lxd").uint64(0).text(""), Req.open, (m) => Number(m.body.uint64()));
      const inserted = await conn.request(new Writer().uint64(db).text("INSERT INTO t (s) VALUES (?)").params([MARKER]), Req.execSql, (m) => m.type);
      expect(inserted).toBe(Res.result);
      const read = await conn.request(new Writer().uint64(db).text(`SELECT s FROM t WHERE s = '${MARKER}'`).params([]), Req.querySql, (m) => m.type);
      expect(read).toBe(Res.rows);
      conn.close();
    } finally {
      forwarder.stop(true);
    }
    const wire = Buffer.concat(carried);
    expect(wire.length).toBeGreaterThan(1000);
    expect(wire.includes(MARKER)).toBe(false);
    expect(wire.includes("INSERT INTO")).toBe(false);
  });
});

describe.skipIf(!haveLib)("two daemons", () => {
  const daemons: TestDaemon[] = [];
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
  });

  /** The Raft address a member's node listens on (its own facts, database/local.db). */
  const raftAddress = (d: TestDaemon) => {
    const db = new Database(join(d.dir, "database", "local.db"), { readonly: true });
    try {
      return (db.query("SELECT value FROM config WHERE key = 'raft_address'").get() as { value: string }).value;
    } finally {
      db.close();
    }
  };

  test("a cluster's members talk to each other's nodes over TLS only", async () => {
    for (let i = 0; i < 2; i++) daemons.push(await startDaemon());
    const [m1, m2] = daemons as [TestDaemon, TestDaemon];
    const m2Address = `127.0.0.1:${freePort()}`;
    await m1.ok("config", "set", "core.https_address", `127.0.0.1:${freePort()}`);
    await m1.ok("cluster", "enable", "m1");
    const token = (await m1.ok("cluster", "add", "m2")).trim().split("\n").at(-1)!;
    const r = await m2.lxdWith({ stdin: `cluster:\n  enabled: true\n  server_name: m2\n  server_address: ${m2Address}\n  cluster_token: ${token}\n` }, "init", "--preseed");
    expect(r.code, r.stderr).toBe(0);
    // m2's daemon writes through its own node's relay, over TLS to the leader's node on m1.
    await m2.ok("profile", "create", "written-on-m2");
    expect(await m1.ok("profile", "list")).toContain("written-on-m2");
    const identity = { cert: join(m1.dir, "cluster.crt"), key: join(m1.dir, "cluster.key") };
    for (const d of [m1, m2]) {
      const raft = raftAddress(d);
      expect(answerType((await tlsExchange(raft, identity, leaderRequest())).bytes)).toBe(Res.server);
      const plain = await plainExchange(raft, leaderRequest());
      expect(plain.bytes.length === 0 || plain.bytes[0] === 21).toBe(true);
      expect(answerType((await tlsExchange(raft, other, leaderRequest())).bytes)).toBeUndefined();
    }
  }, 120_000);
});
