// The replicated database behind the same synchronous interface bun:sqlite has, so the drizzle schema
// and every query module run unchanged on a cluster. Each call posts the statement to a worker
// thread that talks to the dqlite leader and blocks (Atomics.wait) until the answer is in a shared
// buffer: the daemon's event loop waits for the database exactly as it does for bun:sqlite's disk
// I/O, while the worker's own loop does the network.
import type { SqliteClient, SqliteStatement } from "../../db/index.ts";
import type { ExecResult, QueryResult } from "./client.ts";
import { decodeReply, type SyncRequest } from "./sync-protocol.ts";
import type { SqlValue } from "./wire.ts";

export interface SyncDqliteOptions {
  /** The database every statement runs against. */
  database?: string;
  /** How long one statement may wait, leader changes included. */
  timeoutMs?: number;
}

const INITIAL_BUFFER = 1 << 20;
/** An INSERT with a RETURNING clause: the insert itself, its table, the returned columns. */
const INSERT_RETURNING = /^(\s*insert\s+(?:or\s+\w+\s+)?into\s+("[^"]+"|`[^`]+`|\w+)[\s\S]*?)\sreturning\s+([\s\S]+)$/i;

/** The worker's module: next to this one from source; in the compiled binary, the entry point
 *  appliance/build.ts adds (chunks live at the root of its embedded file system, entries by path). */
function workerUrl(): string {
  if (import.meta.url.includes("/$bunfs/")) return "/$bunfs/root/cluster/dqlite/sync-worker.js";
  return new URL("./sync-worker.ts", import.meta.url).href;
}

export class SyncDqlite implements SqliteClient {
  private readonly worker: Worker;
  private buffer = new SharedArrayBuffer(8 + INITIAL_BUFFER);
  private seq = 0;
  /** Waited on (never notified) to pause between retries. */
  private readonly pauseCell = new SharedArrayBuffer(4);
  /** How long a statement may wait (lowered when the daemon stops: a cluster without quorum
   *  must not hold its shutdown). */
  timeoutMs: number;

  constructor(addresses: string[], opts: SyncDqliteOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.worker = new Worker(workerUrl());
    this.worker.unref();
    this.call({ op: "connect", addresses, database: opts.database ?? "lxd", timeoutMs: this.timeoutMs });
  }

  private call(req: SyncRequest): unknown {
    let reply = this.post({ req });
    if (reply.length > this.buffer.byteLength - 8) {
      this.buffer = new SharedArrayBuffer(8 + reply.length);
      reply = this.post({});
    }
    const decoded = decodeReply(reply);
    if (!decoded.ok) throw new Error(decoded.error);
    return decoded.value;
  }

  /** Posts one message and blocks until the worker has answered this very one. */
  private post(msg: { req?: SyncRequest }): Uint8Array {
    const header = new Int32Array(this.buffer, 0, 2);
    const seq = (this.seq = (this.seq % 0x7fffffff) + 1);
    const before = Atomics.load(header, 0);
    this.worker.postMessage({ ...msg, seq, buffer: this.buffer });
    const deadline = Date.now() + this.timeoutMs + 1000;
    // An answer to an earlier call that timed out may land first: wait past it.
    for (let seen = before; seen !== seq; seen = Atomics.load(header, 0)) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(header, 0, seen, left) === "timed-out") {
        throw new Error(`the cluster database did not answer within ${this.timeoutMs} ms`);
      }
    }
    const length = header[1];
    return length > this.buffer.byteLength - 8 ? new Uint8Array(length) : new Uint8Array(this.buffer, 8, length).slice();
  }

  private execute(sql: string, params: SqlValue[]): ExecResult {
    // Another member's transaction holds the write lock on the leader (SQLITE_BUSY): the statement
    // did nothing, so it waits and runs again, as bun:sqlite's busy timeout makes a writer wait.
    const deadline = Date.now() + this.timeoutMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        return this.call({ op: "exec", sql, params }) as ExecResult;
      } catch (err) {
        if (!/database is locked|SQLITE_BUSY/i.test((err as Error).message) || Date.now() + pause > deadline) throw err;
        Atomics.wait(new Int32Array(this.pauseCell), 0, 0, pause);
      }
    }
  }

  private select(sql: string, params: SqlValue[]): QueryResult {
    return this.call({ op: "query", sql, params }) as QueryResult;
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
    try {
      this.call({ op: "close" });
    } finally {
      this.worker.terminate();
    }
  }
}
