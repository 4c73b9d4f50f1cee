// The dqlite client again, synchronous: blocking sockets on the caller's thread
// (src/kernel/blocking-socket.ts, to the local relay as connection.ts), so SyncDqlite answers each
// statement with one round trip to the leader and no thread hop on this side. Same rules as
// client.ts: find the leader among known nodes, move on from a node that says it is not the leader
// (it did nothing), never resend a write whose connection broke while it was in flight.
import { BlockingSocket } from "../../kernel/blocking-socket.ts";
import { DqliteConnectionError, DqliteError, type Message, type Relay, leaderLost, relayRefusal, relayRequest, retryDelay } from "./connection.ts";
import type { ExecResult, QueryResult } from "./client.ts";
import { PROTOCOL_VERSION, Reader, Req, Res, type SqlValue, Writer } from "./wire.ts";

/** How long one connection attempt to a node may take. */
const CONNECT_MS = 2000;

/** Sleeps the calling thread (the database is what it waits for anyway). */
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** One blocking connection to a node: the version handshake, then one request at a time. */
class SyncConnection {
  private inbox = new Uint8Array(0);
  private readonly chunk = new Uint8Array(64 * 1024);

  private constructor(private readonly socket: BlockingSocket, readonly address: string) {}

  static open(relay: Relay, address: string, timeoutMs: number): SyncConnection {
    let socket: BlockingSocket | undefined;
    try {
      socket = BlockingSocket.connectAbstract(relay(address), timeoutMs);
      socket.write(relayRequest(address));
      // The relay answers one line and nothing else before the node's first answer.
      let line = "";
      const buffer = new Uint8Array(512);
      while (!line.endsWith("\n")) line += new TextDecoder().decode(buffer.subarray(0, socket.read(buffer)));
      const refused = relayRefusal(line.slice(0, -1));
      if (refused) throw new Error(refused);
      const version = new Uint8Array(8);
      new DataView(version.buffer).setBigUint64(0, PROTOCOL_VERSION, true);
      socket.write(version);
      return new SyncConnection(socket, address);
    } catch (e) {
      socket?.close();
      throw new DqliteConnectionError(`cannot reach dqlite node ${address}: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.socket.close();
  }

  /** Sends a request and returns the first message of its answer (`next` reads the others). */
  request(w: Writer, type: number, schema = 0): Message {
    try {
      this.socket.write(w.message(type, schema));
    } catch (e) {
      throw new DqliteConnectionError(`dqlite node ${this.address}: ${(e as Error).message}`);
    }
    return this.next();
  }

  next(): Message {
    for (;;) {
      if (this.inbox.length >= 8) {
        const view = new DataView(this.inbox.buffer, this.inbox.byteOffset);
        const end = 8 + view.getUint32(0, true) * 8;
        if (this.inbox.length >= end) {
          const m = { type: this.inbox[4]!, body: new Reader(this.inbox.slice(8, end)) };
          this.inbox = this.inbox.slice(end);
          if (m.type === Res.failure) throw new DqliteError(Number(m.body.uint64()), m.body.text());
          return m;
        }
      }
      let n: number;
      try {
        n = this.socket.read(this.chunk);
      } catch (e) {
        throw new DqliteConnectionError(`dqlite node ${this.address}: ${(e as Error).message}`);
      }
      const joined = new Uint8Array(this.inbox.length + n);
      joined.set(this.inbox);
      joined.set(this.chunk.subarray(0, n), this.inbox.length);
      this.inbox = joined;
    }
  }
}

function expect(m: Message, type: number): void {
  if (m.type !== type) throw new DqliteError(0, `dqlite answered message type ${m.type} where ${type} was expected`);
}

export class SyncDqliteClient {
  private conn?: SyncConnection;
  private db?: number;

  constructor(
    private readonly addresses: string[],
    private readonly relay: Relay,
    private readonly database: string,
    readonly timeoutMs: () => number,
  ) {}

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  exec(sql: string, params: readonly SqlValue[]): ExecResult {
    return this.onLeader(false, (conn, db) => {
      const m = conn.request(new Writer().uint64(db).text(sql).params(params), Req.execSql);
      expect(m, Res.result);
      return { lastInsertId: Number(m.body.uint64()), rowsAffected: Number(m.body.uint64()) };
    });
  }

  query(sql: string, params: readonly SqlValue[]): QueryResult {
    return this.onLeader(true, (conn, db) => {
      const columns: string[] = [];
      const rows: SqlValue[][] = [];
      for (let m = conn.request(new Writer().uint64(db).text(sql).params(params), Req.querySql); ; m = conn.next()) {
        expect(m, Res.rows);
        if (m.body.rows(columns, rows)) return { columns, rows };
      }
    });
  }

  private onLeader<T>(idempotent: boolean, fn: (conn: SyncConnection, db: number) => T): T {
    const deadline = Date.now() + this.timeoutMs();
    for (let attempt = 0; ; attempt++) {
      let sent = false;
      try {
        const { conn, db } = this.leaderConnection(deadline);
        sent = true;
        return fn(conn, db);
      } catch (e) {
        if (!leaderLost(e)) throw e;
        this.close();
        const delay = retryDelay(e, attempt, sent, idempotent, deadline);
        if (delay === undefined) throw e;
        pause(delay);
      }
    }
  }

  private leaderConnection(deadline: number): { conn: SyncConnection; db: number } {
    if (this.conn && this.db !== undefined) return { conn: this.conn, db: this.db };
    let last: Error = new DqliteConnectionError("no dqlite node address is known");
    while (Date.now() < deadline) {
      for (const address of this.addresses) {
        let conn: SyncConnection | undefined;
        try {
          const asked = SyncConnection.open(this.relay, address, CONNECT_MS);
          let leader: string;
          try {
            const m = asked.request(new Writer().uint64(0), Req.leader);
            expect(m, Res.server);
            m.body.uint64();
            leader = m.body.text();
          } finally {
            asked.close();
          }
          if (!leader) continue;
          conn = SyncConnection.open(this.relay, leader, Math.max(CONNECT_MS, deadline - Date.now()));
          // A node that lost leadership since may still name itself: only the leader opens.
          const m = conn.request(new Writer().text(this.database).uint64(0).text(""), Req.open);
          expect(m, Res.db);
          this.conn = conn;
          this.db = Number(m.body.uint64() & 0xffffffffn);
          return { conn, db: this.db };
        } catch (e) {
          conn?.close();
          last = e as Error;
        }
      }
      pause(50);
    }
    throw new DqliteConnectionError(`no dqlite leader among ${this.addresses.join(", ")}: ${last.message}`);
  }
}
