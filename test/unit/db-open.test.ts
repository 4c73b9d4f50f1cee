// Opening the database: directory creation, embedded migrations, restarts, pragmas and seeding.
import { afterEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { applyMigrations, embeddedMigrations, openDatabase, seedDefaults } from "../../src/db/index.ts";
import { journal } from "../../src/db/migrations/index.ts";
import { getProfile } from "../../src/db/profiles.ts";
import { config, instances } from "../../src/db/schema.ts";

const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "lxd-db-"));
  dirs.push(dir);
  return join(dir, "database", "lxd.db");
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("creates the directory (0700) and applies every migration once", () => {
  const path = tempDb();
  const db = openDatabase(path);
  expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
  const rows = db.$client.query("SELECT hash, created_at FROM __drizzle_migrations").all() as { hash: string; created_at: number }[];
  expect(rows.length).toBe(journal.entries.length);
  expect(rows.map((r) => Number(r.created_at))).toEqual(journal.entries.map((e) => e.when));
  expect(rows[0].hash).toMatch(/^[0-9a-f]{64}$/);
  const tables = (db.$client.query("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((t) => t.name);
  for (const t of ["instances", "images", "image_aliases", "profiles", "storage_pools", "config"]) expect(tables).toContain(t);
  db.$client.close();
});

test("pragmas: WAL, foreign keys on, busy timeout", () => {
  const db = openDatabase(tempDb());
  const pragma = (name: string) => Object.values(db.$client.query(`PRAGMA ${name}`).get() as object)[0];
  expect(pragma("journal_mode")).toBe("wal");
  expect(pragma("foreign_keys")).toBe(1);
  expect(pragma("busy_timeout")).toBe(5000);
  db.$client.close();
});

test("restart keeps data and runs no migration twice", () => {
  const path = tempDb();
  const db = openDatabase(path);
  seedDefaults(db);
  db.insert(config).values({ key: "core.https_address", value: ":8443" }).run();
  db.insert(instances).values({ name: "c1", architecture: "x86_64", createdAt: "now", lastUsedAt: "never", profiles: ["default"] }).run();
  db.$client.close();

  const again = openDatabase(path);
  expect(applyMigrations(again.$client)).toBe(0);
  const count = again.$client.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number };
  expect(count.n).toBe(journal.entries.length);
  expect(again.select().from(config).all()).toEqual([{ key: "core.https_address", value: ":8443" }]);
  expect(again.select().from(instances).get()?.profiles).toEqual(["default"]);
  again.$client.close();
});

test("seedDefaults creates the default profile once and never overwrites it", () => {
  const db = openDatabase(tempDb());
  seedDefaults(db);
  expect(getProfile(db, "default")).toEqual({ name: "default", project: "default", description: "Default LXD profile", config: {}, devices: {} });
  db.$client.run(`UPDATE profiles SET description = 'mine' WHERE name = 'default'`);
  seedDefaults(db);
  expect(getProfile(db, "default")?.description).toBe("mine");
  db.$client.close();
});

test("a failing migration rolls back and leaves no record", () => {
  const client = new Database(":memory:");
  client.run(`CREATE TABLE config (key text)`); // collides with the first migration
  expect(() => applyMigrations(client)).toThrow();
  const n = client.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number };
  expect(n.n).toBe(0);
  const tables = client.query("SELECT name FROM sqlite_master WHERE name = 'instances'").all();
  expect(tables.length).toBe(0);
});

test("image aliases cascade when their image is deleted", () => {
  const db = openDatabase(tempDb());
  db.$client.run(`INSERT INTO images (fingerprint, size, architecture, created_at, uploaded_at, last_used_at, expires_at) VALUES ('abc', 1, 'x86_64', '', '', '', '')`);
  db.$client.run(`INSERT INTO image_aliases (name, fingerprint) VALUES ('a', 'abc')`);
  db.$client.run(`DELETE FROM images`);
  expect(db.$client.query("SELECT * FROM image_aliases").all()).toEqual([]);
  db.$client.close();
});

test("a later migration applies on top of an existing database, once", () => {
  const path = tempDb();
  openDatabase(path).$client.close();
  const client = new Database(path);
  const next = [...embeddedMigrations(), { tag: "9999_next", when: Date.now() * 2, sql: "ALTER TABLE config ADD `note` text;--> statement-breakpoint\nCREATE INDEX config_note ON config (note);" }];
  expect(applyMigrations(client, next)).toBe(1);
  expect(applyMigrations(client, next)).toBe(0);
  expect((client.query("PRAGMA table_info(config)").all() as { name: string }[]).map((c) => c.name)).toContain("note");
  client.close();
});

test("interchangeable with drizzle's own migrator (same table, hashes and timestamps)", () => {
  const folder = join(import.meta.dir, "../../src/db/migrations");
  const ours = openDatabase(tempDb());
  migrate(ours, { migrationsFolder: folder }); // sees nothing pending
  const path = tempDb();
  mkdirSync(join(path, ".."));
  const theirs = drizzle({ client: new Database(path, { create: true }) });
  migrate(theirs, { migrationsFolder: folder });
  expect(applyMigrations(theirs.$client)).toBe(0);
  const q = "SELECT hash, created_at FROM __drizzle_migrations";
  expect(ours.$client.query(q).all()).toEqual(theirs.$client.query(q).all());
  ours.$client.close();
  theirs.$client.close();
});

test("the embedded migrations match the files drizzle-kit wrote (run `npm run db:generate` if not)", async () => {
  const folder = join(import.meta.dir, "../../src/db/migrations");
  for (const m of embeddedMigrations()) expect(m.sql).toBe(await Bun.file(join(folder, `${m.tag}.sql`)).text());
  const files = [...new Bun.Glob("*.sql").scanSync(folder)].sort();
  expect(files).toEqual(embeddedMigrations().map((m) => `${m.tag}.sql`));
});
