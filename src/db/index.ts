// Opens the daemon's SQLite database and brings its schema up to date with the migrations
// embedded in the binary. Migrations are recorded exactly as drizzle's migrator records them
// (`__drizzle_migrations`: sha256 of the SQL file + the journal's `when`), so either can run next.
// To change the schema: edit schema.ts, run `npm run db:generate` (drizzle-kit writes the next
// migrations/NNNN_*.sql + meta/, then embed-migrations.ts rewrites migrations/index.ts), commit all of it.
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { dbPath } from "../paths.ts";
import { journal, migrationSql } from "./migrations/index.ts";
import * as schema from "./schema.ts";

/** What query functions take (the same type as DaemonContext's `db`). */
export type Db = BunSQLiteDatabase<typeof schema>;
/** What openDatabase returns: also exposes the connection as `$client` (close it on shutdown). */
export type OpenDb = Db & { $client: SqliteClient };

type Param = string | number | bigint | boolean | Uint8Array | null;

export interface SqliteStatement {
  run(...params: Param[]): { changes: number; lastInsertRowid: number | bigint };
  all(...params: Param[]): unknown[];
  get(...params: Param[]): unknown;
  values(...params: Param[]): unknown[][];
}

/**
 * The part of bun:sqlite's Database that drizzle and the migrations use: a standalone daemon passes
 * bun:sqlite itself, a cluster member the replicated database (src/cluster/dqlite/sync.ts).
 */
export interface SqliteClient {
  exec(sql: string): void;
  run(sql: string): unknown;
  prepare(sql: string): SqliteStatement;
  query(sql: string): SqliteStatement;
  transaction<T>(fn: () => T): () => T;
  close(): void;
}

/**
 * The connection behind a daemon's one drizzle handle, which can be replaced while the daemon runs:
 * `lxd cluster enable` and a join move the database into dqlite under managers that already hold
 * the handle (drizzle prepares each statement on the client at the time it runs).
 */
export class SwitchableClient implements SqliteClient {
  constructor(private inner: SqliteClient) {}

  /** Makes `next` the connection every later statement uses; returns the previous one (still open). */
  switchTo(next: SqliteClient): SqliteClient {
    const prev = this.inner;
    this.inner = next;
    return prev;
  }

  get current(): SqliteClient {
    return this.inner;
  }

  exec(sql: string): void {
    this.inner.exec(sql);
  }
  run(sql: string): unknown {
    return this.inner.run(sql);
  }
  prepare(sql: string): SqliteStatement {
    return this.inner.prepare(sql);
  }
  query(sql: string): SqliteStatement {
    return this.inner.query(sql);
  }
  transaction<T>(fn: () => T): () => T {
    return this.inner.transaction(fn);
  }
  close(): void {
    this.inner.close();
  }
}

/** Milliseconds a writer waits for another connection's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

export function openDatabase(path: string = dbPath()): OpenDb {
  return databaseOver(new SwitchableClient(openSqlite(path)), path);
}

/** A bun:sqlite file set up as the daemon uses it (WAL, busy timeout), without the schema. */
export function openSqlite(path: string): Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const client = new Database(path, { create: true });
  client.run("PRAGMA journal_mode = WAL");
  client.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // WAL makes NORMAL durable against crashes of the process; only power loss may drop the last commits.
  client.run("PRAGMA synchronous = NORMAL");
  return client;
}

/** An empty database at `path` (any old file there removed) with the schema applied. */
export function freshDatabase(path: string): Database {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) rmSync(file, { force: true });
  const client = openSqlite(path);
  applyMigrations(client);
  client.run("PRAGMA foreign_keys = ON");
  return client;
}

/**
 * Copies every row of `from` into `to` (both at the same schema version), table by table with
 * foreign keys off: how a standalone server's state becomes the cluster's global database.
 */
export function copyRows(from: SqliteClient, to: SqliteClient): void {
  const tables = from.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__drizzle_migrations'`)
    .all() as { name: string }[];
  to.run("PRAGMA foreign_keys = OFF");
  try {
    to.transaction(() => {
      for (const { name } of tables) {
        to.run(`DELETE FROM "${name}"`);
        const rows = from.query(`SELECT * FROM "${name}"`).all() as Record<string, Param>[];
        for (const row of rows) {
          const cols = Object.keys(row);
          to.prepare(`INSERT INTO "${name}" (${cols.map((c) => `"${c}"`).join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)
            .run(...cols.map((c) => row[c]));
        }
      }
    })();
  } finally {
    to.run("PRAGMA foreign_keys = ON");
  }
}

/** The schema brought up to date on `client`, behind drizzle; `where` names it in errors. */
export function databaseOver(client: SqliteClient, where: string): OpenDb {
  try {
    applyMigrations(client);
  } catch (err) {
    client.close();
    throw new Error(`Failed to migrate database ${where}: ${(err as Error).message}`);
  }
  client.run("PRAGMA foreign_keys = ON");
  // drizzle's bun-sqlite driver calls only what SqliteClient declares.
  return drizzle({ client: client as unknown as Database, schema }) as unknown as OpenDb;
}

export interface Migration {
  tag: string;
  /** drizzle-kit's journal timestamp: migrations newer than the last recorded one are pending. */
  when: number;
  sql: string;
}

/** The migrations compiled into this binary, in journal order. */
export function embeddedMigrations(): Migration[] {
  return journal.entries.map((e) => {
    const sql = migrationSql[e.tag];
    if (sql === undefined) throw new Error(`migration ${e.tag} is in the journal but not embedded (run src/db/embed-migrations.ts)`);
    return { tag: e.tag, when: e.when, sql };
  });
}

/** Applies the migrations not yet recorded, each in its own transaction; returns how many ran. Safe on every start. */
export function applyMigrations(client: SqliteClient, migrations: Migration[] = embeddedMigrations()): number {
  client.run(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
    id SERIAL PRIMARY KEY,
    hash text NOT NULL,
    created_at numeric
  )`);
  const last = client
    .query(`SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1`)
    .get() as { created_at: number } | null;
  const pending = migrations.filter((m) => !last || Number(last.created_at) < m.when);
  // drizzle-kit rebuilds tables (copy, drop, rename) for many ALTERs; with foreign keys enforced a
  // DROP would cascade into child rows, and the PRAGMA is a no-op inside a transaction. So keys are
  // off while migrating and checked explicitly before each commit.
  client.run("PRAGMA foreign_keys = OFF");
  for (const m of pending) {
    const hash = createHash("sha256").update(m.sql).digest("hex");
    client.transaction(() => {
      for (const stmt of m.sql.split("--> statement-breakpoint")) {
        if (stmt.trim()) client.run(stmt);
      }
      const broken = client.query("PRAGMA foreign_key_check").all();
      if (broken.length) throw new Error(`migration ${m.tag} leaves ${broken.length} foreign key violation(s)`);
      client.query(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)`).run(hash, m.when);
    })();
  }
  return pending.length;
}

/** The `default` project's config in LXD 5.0 (every feature on), which older databases get too. */
export const DEFAULT_PROJECT_CONFIG: Record<string, string> = {
  "features.images": "true",
  "features.networks": "true",
  "features.profiles": "true",
  "features.storage.volumes": "true",
};

/** Rows every fresh daemon has: the `default` project and profile (LXD's wording), the profile empty until `lxd init` fills it. */
export function seedDefaults(db: Db): void {
  db.insert(schema.projects)
    .values({ name: "default", description: "Default LXD project", config: DEFAULT_PROJECT_CONFIG })
    .onConflictDoNothing()
    .run();
  db.insert(schema.profiles)
    .values({ name: "default", description: "Default LXD profile", config: {}, devices: {} })
    .onConflictDoNothing()
    .run();
}
