// The dqlite client against real dqlite nodes (Debian's libdqlite0) on loopback: a cluster formed
// from one bootstrap node, replicated writes, the leader SIGKILLed and a new one taking over with
// nothing committed lost, a restarted node catching up, a node removed, and a host without the
// library told so in one line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DqliteClient, DqliteConnectionError, DqliteError } from "../../src/cluster/dqlite/client.ts";
import { dqlitePath } from "../../src/kernel/native.ts";
import { startDqliteNode, type DqliteNode } from "../../src/kernel/dqlite.ts";
import { run } from "../helpers/run.ts";
import { until } from "../helpers/until.ts";
import { freePort } from "../helpers/net.ts";
import { writeCertificate } from "../helpers/cluster-cert.ts";

const LIB = "/usr/lib/x86_64-linux-gnu/libdqlite.so.0";
const haveLib = existsSync(LIB) || existsSync("/usr/lib/aarch64-linux-gnu/libdqlite.so.0");

let dir: string;
const nodes = new Map<bigint, DqliteNode>();
const addresses = new Map<bigint, string>();
let client: DqliteClient;
let tls: { cert: string; key: string };

async function start(id: bigint) {
  if (!addresses.has(id)) addresses.set(id, `127.0.0.1:${freePort()}`);
  nodes.set(id, await startDqliteNode({ id, address: addresses.get(id)!, dir: join(dir, `node${id}`), ...tls, latencyMs: 10 }));
}

/** Clients go through the relay of the first running node, which dials the others over TLS. */
const relay = () => [...nodes.values()][0]!.relay;

/** The leader's id, as the first running node knows it. */
async function leaderId(): Promise<bigint> {
  return (await DqliteClient.leaderOf(relay, addresses.get([...nodes.keys()][0])!)).id;
}

async function kill(id: bigint) {
  const node = nodes.get(id)!;
  process.kill(node.pid, "SIGKILL");
  await node.exited;
  nodes.delete(id);
}

beforeAll(async () => {
  dir = mkdtempSync("/tmp/lxd-test-dqlite-");
  // The node runner is installed under LXD_DIR/bin like every native helper.
  process.env.LXD_DIR = dir;
  tls = await writeCertificate(dir);
});

afterAll(async () => {
  client?.close();
  for (const node of nodes.values()) await node.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveLib)("a dqlite cluster of three", () => {
  test("node 1 bootstraps alone and takes SQL with every value type", async () => {
    await start(1n);
    client = new DqliteClient([addresses.get(1n)!], { relay });
    await client.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, f REAL, s TEXT, b BLOB, n TEXT, flag BOOLEAN)");
    const r = await client.exec("INSERT INTO t (i, f, s, b, n, flag) VALUES (?, ?, ?, ?, ?, ?)", [
      -(2n ** 40n), 1.5, "héllo ✓", new Uint8Array([0, 1, 255]), null, true,
    ]);
    expect(r).toEqual({ lastInsertId: 1, rowsAffected: 1 });
    const q = await client.query("SELECT i, f, s, b, n, flag FROM t WHERE id = ?", [1]);
    expect(q.columns).toEqual(["i", "f", "s", "b", "n", "flag"]);
    expect(q.rows).toEqual([[-(2 ** 40), 1.5, "héllo ✓", new Uint8Array([0, 1, 255]), null, 1]]);
  });

  test("a result larger than one batch arrives whole", async () => {
    await client.exec("CREATE TABLE big (k INTEGER, v TEXT)");
    await client.exec(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000) INSERT INTO big SELECT x, printf('value-%05d', x) FROM c",
    );
    const q = await client.query("SELECT k, v FROM big ORDER BY k");
    expect(q.rows.length).toBe(5000);
    expect(q.rows[4999]).toEqual([5000, "value-05000"]);
  });

  test("SQL errors come back as the node's message and change nothing", async () => {
    const err = await client.query("SELECT * FROM nosuch").catch((e) => e);
    expect(err).toBeInstanceOf(DqliteError);
    expect(err.message).toContain("no such table");
    expect((await client.query("SELECT count(*) FROM t")).rows).toEqual([[1]]);
  });

  test("two more nodes join as voters", async () => {
    await start(2n);
    await start(3n);
    for (const id of [2n, 3n]) {
      await client.add(id, addresses.get(id)!);
      await client.assign(id, "voter");
    }
    client.setAddresses([...addresses.values()]);
    const members = await client.cluster();
    expect(members.map((m) => [m.id, m.role])).toEqual([[1n, "voter"], [2n, "voter"], [3n, "voter"]]);
  });

  test("the leader is SIGKILLed: another takes over and no committed write is lost", async () => {
    for (let i = 0; i < 20; i++) await client.exec("INSERT INTO t (i) VALUES (?)", [i]);
    const leader = await leaderId();
    await kill(leader);
    const t0 = performance.now();
    // The write in flight when the leader died may or may not have committed; the next one must.
    for (;;) {
      try {
        await client.exec("INSERT INTO t (i) VALUES (?)", [1000]);
        break;
      } catch (e) {
        if (!(e instanceof DqliteConnectionError)) throw e;
      }
    }
    console.log(`dqlite failover to the next committed write: ${Math.round(performance.now() - t0)} ms`);
    expect((await client.query("SELECT count(*) FROM t WHERE i BETWEEN 0 AND 999")).rows).toEqual([[20]]);
    expect(await leaderId()).not.toBe(leader);
    // The killed node comes back and catches up with what was written without it.
    await start(leader);
    await client.exec("INSERT INTO t (i) VALUES (?)", [2000]);
    // A transfer is refused until the node has caught up enough to lead.
    await until(() => client.transfer(leader).then(() => true, () => false), "leadership handed to the restarted node");
    await until(async () => (await DqliteClient.leaderOf(relay, addresses.get(leader)!)).id === leader, "leadership back on the restarted node");
    expect((await client.query("SELECT count(*) FROM t WHERE i >= 1000")).rows).toEqual([[2]]);
  });

  test("a node is removed from the configuration", async () => {
    const members = await client.cluster();
    const leader = await leaderId();
    const other = members.find((m) => m.id !== leader)!.id;
    await client.remove(other);
    expect((await client.cluster()).map((m) => m.id)).not.toContain(other);
    await nodes.get(other)!.stop();
    nodes.delete(other);
    await client.exec("INSERT INTO t (i) VALUES (?)", [3000]);
  });
});

test.skipIf(!haveLib)("without libdqlite the node runner says so in one line", async () => {
  const runner = dqlitePath();
  // A private mount namespace hides the library; the host's stays as it is.
  const r = await run(["unshare", "-m", "sh", "-c", `mount --bind /dev/null "$(readlink -f ${LIB})" && exec "$0" --id 1 --address 127.0.0.1:1 --dir /tmp/nonexistent --cert x --key x --relay x`, runner]);
  expect(r.code).toBe(3);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toContain("libdqlite.so.0 is not usable (Debian: apt-get install libdqlite0)");
});
