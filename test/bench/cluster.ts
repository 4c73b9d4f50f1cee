// The cluster database: a committed write on a three-node dqlite cluster (loopback) beside the same
// write on bun:sqlite, a read by the daemon's own client (SyncDqlite) on a member that is not the
// leader (its relay, TLS to the leader's), and leader failover — SIGKILL of the leader until the
// next committed write — with the latency setting members use and with dqlite's default.
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DqliteClient, DqliteConnectionError } from "../../src/cluster/dqlite/client.ts";
import { SyncDqlite } from "../../src/cluster/dqlite/sync.ts";
import { startDqliteNode, type DqliteNode } from "../../src/kernel/dqlite.ts";
import { timed } from "./timing.ts";
import { writeCertificate } from "../helpers/cluster-cert.ts";
import { freePort } from "../helpers/net.ts";

export interface ClusterRow { key: string; what: string; times: number[]; floor: number[] }

/**
 * Three voters formed from node 1; returns them with a client that knows all three. Clients go
 * through node 3's relay (node 1 leads until it is killed), as a member's daemon uses its own.
 */
async function formCluster(dir: string, latencyMs?: number) {
  const nodes = new Map<bigint, { node: DqliteNode; address: string }>();
  mkdirSync(dir, { recursive: true });
  const tls = await writeCertificate(dir);
  for (const id of [1n, 2n, 3n]) {
    const address = `127.0.0.1:${freePort()}`;
    nodes.set(id, { node: await startDqliteNode({ id, address, dir: join(dir, `n${id}`), ...tls, latencyMs }), address });
  }
  const relay = () => nodes.get(3n)!.node.relay;
  const client = new DqliteClient([nodes.get(1n)!.address], { relay, timeoutMs: 30_000 });
  for (const id of [2n, 3n]) {
    await client.add(id, nodes.get(id)!.address);
    await client.assign(id, "voter");
  }
  client.setAddresses([...nodes.values()].map((n) => n.address));
  await client.exec("CREATE TABLE t (x INTEGER)");
  return { nodes, client, relay };
}

/** Milliseconds from SIGKILL of the leader to the next write that commits. */
async function failover(dir: string, latencyMs?: number): Promise<number> {
  const { nodes, client, relay } = await formCluster(dir, latencyMs);
  try {
    const leader = (await DqliteClient.leaderOf(relay, nodes.get(1n)!.address)).id;
    process.kill(nodes.get(leader)!.node.pid, "SIGKILL");
    const t0 = performance.now();
    for (;;) {
      try {
        await client.exec("INSERT INTO t VALUES (1)");
        return performance.now() - t0;
      } catch (e) {
        if (!(e instanceof DqliteConnectionError)) throw e;
      }
    }
  } finally {
    client.close();
    for (const { node } of nodes.values()) await node.stop().catch(() => {});
  }
}

export async function clusterTimings(runs: number): Promise<ClusterRow[]> {
  const dir = mkdtempSync("/tmp/lxd-bench-cluster-");
  const saved = process.env.LXD_DIR;
  process.env.LXD_DIR = dir; // the node runner is installed under LXD_DIR/bin
  try {
    const { nodes, client, relay } = await formCluster(join(dir, "writes"), 10);
    const local = new Database(join(dir, "local.db"));
    local.run("PRAGMA journal_mode = WAL");
    local.run("CREATE TABLE t (x INTEGER)");
    const write: number[] = [], floor: number[] = [];
    for (let i = 0; i < runs * 20; i++) {
      write.push(await timed(() => client.exec("INSERT INTO t VALUES (?)", [i])));
      floor.push(await timed(async () => local.run("INSERT INTO t VALUES (?)", [i])));
    }
    const sync = new SyncDqlite([nodes.get(3n)!.address], { relay });
    sync.query("SELECT x FROM t LIMIT 1").all();
    const read: number[] = [], readFloor: number[] = [];
    for (let i = 0; i < runs * 50; i++) {
      read.push(await timed(async () => sync.query("SELECT x FROM t WHERE rowid = ?").all(i + 1)));
      readFloor.push(await timed(async () => local.query("SELECT x FROM t WHERE rowid = ?").all(i + 1)));
    }
    sync.close();
    client.close();
    local.close();
    for (const { node } of nodes.values()) await node.stop();
    const tuned: number[] = [], stock: number[] = [];
    for (let i = 0; i < runs; i++) {
      tuned.push(await failover(join(dir, `tuned${i}`), 10));
      stock.push(await failover(join(dir, `stock${i}`)));
    }
    return [
      { key: "dqlite-write", what: "committed INSERT, 3 voters on loopback (floor: bun:sqlite WAL)", times: write, floor },
      { key: "dqlite-read-remote", what: "read by SyncDqlite on a member, leader on another (relay + TLS; floor: bun:sqlite)", times: read, floor: readFloor },
      { key: "dqlite-failover", what: "leader SIGKILL -> next committed write, latency 10 ms", times: tuned, floor: [] },
      { key: "dqlite-failover-default", what: "the same with dqlite's default latency", times: stock, floor: [] },
    ];
  } finally {
    if (saved === undefined) delete process.env.LXD_DIR;
    else process.env.LXD_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}
