// The daemon's own schema, migrations and query modules on the replicated database: the same calls
// on bun:sqlite and on a real dqlite node (through SyncDqlite) give the same answers, transactions
// included, so callers cannot tell which one they have.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SyncDqlite } from "../../src/cluster/dqlite/sync.ts";
import { databaseOver, embeddedMigrations, openDatabase, seedDefaults, type OpenDb } from "../../src/db/index.ts";
import { eq } from "drizzle-orm";
import * as members from "../../src/db/cluster-members.ts";
import { listInstances } from "../../src/db/instances.ts";
import * as profiles from "../../src/db/profiles.ts";
import { images, instances } from "../../src/db/schema.ts";
import { getServerConfig, patchServerConfig, replaceServerConfig } from "../../src/db/server-config.ts";
import * as pools from "../../src/db/storage-pools.ts";
import { startDqliteNode, type DqliteNode } from "../../src/kernel/dqlite.ts";
import { freePort } from "../helpers/net.ts";
import { writeCertificate } from "../helpers/cluster-cert.ts";

const haveLib = ["/usr/lib/x86_64-linux-gnu/libdqlite.so.0", "/usr/lib/aarch64-linux-gnu/libdqlite.so.0"].some(existsSync);

let dir: string;
let node: DqliteNode | undefined;
let address: string;
const relay = () => node!.relay;

beforeAll(async () => {
  dir = mkdtempSync("/tmp/lxd-test-dqlite-db-");
  process.env.LXD_DIR = dir;
  if (!haveLib) return;
  address = `127.0.0.1:${freePort()}`;
  node = await startDqliteNode({ id: 1n, address, dir: join(dir, "dqlite"), ...(await writeCertificate(dir)) });
});

afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A day in the life of the database through the query modules; returns what a caller saw. */
function scenario(db: OpenDb): unknown[] {
  const seen: unknown[] = [];
  seedDefaults(db);
  seedDefaults(db);
  profiles.createProfile(db, "web", { description: "Web", config: { "limits.cpu": "2" }, devices: {} });
  const addInstance = (name: string, list: string[], devices: Record<string, Record<string, string>> = {}) =>
    db.insert(instances).values({ name, architecture: "x86_64", createdAt: "t", lastUsedAt: "t", profiles: list, devices }).run();
  addInstance("c2", ["default", "web"]);
  addInstance("c1", ["default"], { root: { type: "disk", path: "/", pool: "fast" } });
  db.insert(images).values({ fingerprint: "fp1", size: 2 ** 40, architecture: "x86_64", createdAt: "", uploadedAt: "", lastUsedAt: "", expiresAt: "", profiles: ["web"] }).run();
  seen.push(profiles.listProfiles(db).map((p) => profiles.profileToApi(db, p)));
  profiles.renameProfile(db, "web", "www");
  seen.push(db.select().from(instances).all().map((i) => [i.name, i.profiles]));
  seen.push(db.select().from(images).get());
  pools.createPool(db, { name: "fast", driver: "dir", description: "SSD", config: { source: "/ssd" } });
  seen.push(pools.poolToApi(db, pools.getPool(db, "fast")!));
  replaceServerConfig(db, { "core.https_address": ":8443", "images.auto_update_interval": "6" });
  patchServerConfig(db, { "core.https_address": "", "images.auto_update_interval": "12" });
  seen.push(getServerConfig(db));
  // What placement and forwarding ask: members with their instance counts, an instance's member.
  for (const [id, name] of [[1, "m1"], [2, "m2"], [3, "m3"]] as const) {
    members.insertMember(db, { id, name, address: `10.0.0.${id}:8443`, raftAddress: `10.0.0.${id}:9000`, architecture: "x86_64", heartbeat: id, config: { k: name } });
  }
  db.update(instances).set({ location: "m2" }).run();
  db.update(instances).set({ location: "m1" }).where(eq(instances.name, "c1")).run();
  seen.push(members.membersWithCounts(db), members.memberOfInstance(db, "c2"), members.memberOfInstance(db, "nope") ?? null);
  seen.push(listInstances(db, "m2").map((i) => i.name), listInstances(db).map((i) => i.location));
  // A failed transaction leaves nothing; a failed nested one only undoes itself.
  expect(() =>
    db.transaction((tx) => {
      tx.insert(instances).values({ name: "ghost", architecture: "x86_64", createdAt: "t", lastUsedAt: "t", profiles: [], devices: {} }).run();
      throw new Error("changed my mind");
    })).toThrow("changed my mind");
  db.transaction((tx) => {
    tx.delete(instances).where(undefined).run();
    expect(() => tx.transaction(() => {
      pools.deletePool(tx as unknown as OpenDb, "fast");
      throw new Error("not this one");
    })).toThrow("not this one");
  });
  seen.push(db.select().from(instances).all().length, pools.listPools(db).map((p) => p.name));
  return seen;
}

test.skipIf(!haveLib)("the schema and query modules answer the same on bun:sqlite and on dqlite", () => {
  const local = openDatabase(join(dir, "local.db"));
  const replicated = databaseOver(new SyncDqlite([address], { relay }), `dqlite node ${address}`);
  try {
    const expected = scenario(local);
    expect(scenario(replicated)).toEqual(expected);
    expect(expected[expected.length - 1]).toEqual(["fast"]);
    const [counts, home, none, atM2, locations] = expected.slice(5, 10) as [{ name: string; instances: number; config: unknown }[], { name: string }, null, string[], string[]];
    expect(counts.map((m) => [m.name, m.instances])).toEqual([["m1", 1], ["m2", 1], ["m3", 0]]);
    expect(counts[0].config).toEqual({ k: "m1" });
    expect([home.name, none]).toEqual(["m2", null]);
    expect([atM2, locations]).toEqual([["c2"], ["m1", "m2"]]);
    // Migrations were recorded exactly as on a standalone daemon: a second open applies none.
    const applied = replicated.$client.query(`SELECT count(*) AS n FROM "__drizzle_migrations"`).get() as { n: number };
    expect(applied.n).toBe(embeddedMigrations().length);
  } finally {
    local.$client.close();
    replicated.$client.close();
  }
  const again = databaseOver(new SyncDqlite([address], { relay }), `dqlite node ${address}`);
  expect(profiles.getProfile(again, "www")?.description).toBe("Web");
  again.$client.close();
});

test.skipIf(!haveLib)("a database that does not answer fails the call with one sentence", async () => {
  const client = new SyncDqlite([address], { relay, timeoutMs: 1500 });
  await node!.stop();
  node = undefined;
  expect(() => client.exec("SELECT 1")).toThrow(/no dqlite leader|did not answer/);
  client.close();
});
