// The replicated database behind the same synchronous interface bun:sqlite has, so the drizzle schema
// and every query module run unchanged on a cluster. Each statement is one blocking round trip to
// the dqlite leader on the caller's thread (sync-client.ts): the daemon's event loop waits for the
// database exactly as it does for bun:sqlite's disk I/O.
import { appendFileSync } from "node:fs";
import type { SqliteClient, SqliteStatement } from "../../db/index.ts";
import type { ExecResult, QueryResult, Relay } from "./client.ts";
import { SyncDqliteClient } from "./sync-client.ts";
import type { SqlValue } from "./wire.ts";

export interface SyncDqliteOptions {
  /** The local relay socket that reaches a node (lxd-dqlite's; see connection.ts). */
  relay: Relay;
  /** The database every statement runs against. */
  database?: string;
  /** How long one statement may wait, leader changes included. */
  timeoutMs?: number;
}

/** `LXD_DQLITE_TRACE=PREFIX`: every statement, its duration and its caller appended to PREFIX.PID
 *  (how the statements of a launch or a list were counted; src/cluster/README.md). */
const TRACE = process.env.LXD_DQLITE_TRACE ? `${process.env.LXD_DQLITE_TRACE}.${process.pid}` : undefined;

/** The callers above the database layers (function names; a minified build has short ones). */
function caller(): string {
  const frames = (new Error().stack ?? "").split("\n").slice(1).map((l) => /at (?:async )?([\w$.<>]+)/.exec(l)?.[1] ?? "?");
  const inner = /^(caller|traced|select|execute|executeOnce|rows|run|values|all|get|execute|_\w+|\w+Query|map|<anonymous>|\?)$/i;
  return frames.filter((f) => !inner.test(f) && !/^(SQLite|BunSQLite|Session|Prepared|SQLiteSelect|SQLiteInsert|SQLiteUpdate|Query)/.test(f)).slice(0, 4).join(" < ");
}

/** Runs `fn` (one statement), tracing it with its duration, caller and error if any. */
function traced<T>(kind: string, sql: string, fn: () => T): T {
  const t0 = performance.now();
  let failed = "";
  try {
    return fn();
  } catch (e) {
    failed = ` ! ${(e as Error).message}`;
    throw e;
  } finally {
    appendFileSync(TRACE!, `${Date.now()} ${(performance.now() - t0).toFixed(2)} ${kind} ${sql.replace(/\s+/g, " ").slice(0, 160)} | ${caller()}${failed}\n`);
  }
}

/** An INSERT with a RETURNING clause: the insert itself, its table, the returned columns. */
const INSERT_RETURNING = /^(\s*insert\s+(?:or\s+\w+\s+)?into\s+("[^"]+"|`[^`]+`|\w+)[\s\S]*?)\sreturning\s+([\s\S]+)$/i;

export class SyncDqlite implements SqliteClient {
  private readonly client: SyncDqliteClient;
  /** Waited on (never notified) to pause between retries. */
  private readonly pauseCell = new SharedArrayBuffer(4);
  /** How long a statement may wait (lowered when the daemon stops: a cluster without quorum
   *  must not hold its shutdown). */
  timeoutMs: number;

  constructor(addresses: string[], opts: SyncDqliteOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.client = new SyncDqliteClient([...addresses], opts.relay, opts.database ?? "lxd", () => this.timeoutMs);
  }

  private execute(sql: string, params: SqlValue[]): ExecResult {
    return TRACE ? traced("exec", sql, () => this.executeOnce(sql, params)) : this.executeOnce(sql, params);
  }

  private executeOnce(sql: string, params: SqlValue[]): ExecResult {
    // Another member's transaction holds the write lock on the leader (SQLITE_BUSY): the statement
    // did nothing, so it waits and runs again, as bun:sqlite's busy timeout makes a writer wait.
    const deadline = Date.now() + this.timeoutMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        return this.client.exec(sql, params);
      } catch (err) {
        if (!/database is locked|SQLITE_BUSY/i.test((err as Error).message) || Date.now() + pause > deadline) throw err;
        Atomics.wait(new Int32Array(this.pauseCell), 0, 0, pause);
      }
    }
  }

  private select(sql: string, params: SqlValue[]): QueryResult {
    return TRACE ? traced("query", sql, () => this.client.query(sql, params)) : this.client.query(sql, params);
  }

  exec(sql: string): void {
    this.execute(sql, []);
  }

  run(sql: string, ...params: SqlValue[]): { changes: number; lastInsertRowid: number } {
    const r = this.execute(sql, params);
    return { changes: r.rowsAffected, lastInsertRowid: r.lastInsertId };
  }

  prepare(sql: string): SqliteStatement {
    // Whether a statement yields rows decides which request carries it; SQLite's own test
    // (a result column count) is not asked over the wire, so read statements are recognised.
    const reads = /^\s*(select|with|pragma|values|explain)\b/i.test(sql);
    const insertReturning = INSERT_RETURNING.exec(sql);
    if (!reads && !insertReturning && /\sreturning\s/i.test(sql)) {
      throw new Error("the cluster database returns rows only from INSERT ... RETURNING");
    }
    const rows = (params: SqlValue[]): QueryResult => {
      if (reads) return this.select(sql, params);
      if (!insertReturning) {
        this.execute(sql, params);
        return { columns: [], rows: [] };
      }
      // dqlite replicates only what EXEC carries (a write sent as QUERY is rolled back, and
      // libdqlite 1.11 then aborts), so the insert goes alone and its row is read back by rowid.
      const [, insert, table, columns] = insertReturning;
      const r = this.execute(insert, params);
      return r.rowsAffected ? this.select(`SELECT ${columns} FROM ${table} WHERE rowid = ?`, [r.lastInsertId]) : { columns: [], rows: [] };
    };
    return {
      run: (...params) => {
        if (!reads) return this.run(sql, ...params);
        const r = this.select(sql, params);
        return { changes: r.rows.length, lastInsertRowid: 0 };
      },
      values: (...params) => rows(params).rows,
      all: (...params) => {
        const r = rows(params);
        return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
      },
      get: (...params) => {
        const r = rows(params);
        return r.rows.length ? Object.fromEntries(r.columns.map((c, i) => [c, r.rows[0][i]])) : null;
      },
    };
  }

  query(sql: string): SqliteStatement {
    return this.prepare(sql);
  }

  /** bun:sqlite's shape: a function to call, with deferred/immediate/exclusive variants. */
  transaction<T>(fn: () => T) {
    const inMode = (mode: string) => () => {
      this.exec(`BEGIN ${mode}`);
      try {
        const result = fn();
        this.exec("COMMIT");
        return result;
      } catch (e) {
        this.exec("ROLLBACK");
        throw e;
      }
    };
    return Object.assign(inMode("DEFERRED"), { deferred: inMode("DEFERRED"), immediate: inMode("IMMEDIATE"), exclusive: inMode("EXCLUSIVE") });
  }

  close(): void {
    this.client.close();
  }
}
