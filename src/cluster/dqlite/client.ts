// A dqlite client in TypeScript: finds the leader among known nodes, runs SQL on one replicated
// database there, and changes the Raft membership (add, assign a role, remove, hand leadership over).
import { DqliteConnection, DqliteConnectionError, DqliteError, type Message, type Relay, leaderLost, retryDelay } from "./connection.ts";
import { Req, Res, Role, type RoleName, type SqlValue, Writer } from "./wire.ts";

export { DqliteConnectionError, DqliteError, type Relay } from "./connection.ts";

export interface NodeInfo {
  id: bigint;
  address: string;
  role: RoleName;
}

export interface ExecResult {
  lastInsertId: number;
  rowsAffected: number;
}

export interface QueryResult {
  columns: string[];
  rows: SqlValue[][];
}

export interface ClientOptions {
  /** The local relay socket that reaches a node (lxd-dqlite's; see connection.ts). */
  relay: Relay;
  /** The database file every statement runs against. */
  database?: string;
  /** How long one call may look for a leader before it fails. */
  timeoutMs?: number;
}


const ROLE_NAMES = Object.fromEntries(Object.entries(Role).map(([k, v]) => [v, k])) as Record<number, RoleName>;

export class DqliteClient {
  private conn?: DqliteConnection;
  private db?: number;
  private readonly database: string;
  private readonly timeoutMs: number;
  private readonly relay: Relay;

  /** `addresses`: any nodes of the cluster (HOST:PORT); the leader is found from them. */
  constructor(
    private addresses: string[],
    opts: ClientOptions,
  ) {
    this.relay = opts.relay;
    this.database = opts.database ?? "lxd";
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** Replaces the nodes a leader is looked for among (after a membership change). */
  setAddresses(addresses: string[]) {
    this.addresses = [...addresses];
  }

  close() {
    this.conn?.close();
    this.conn = undefined;
  }

  /**
   * Runs a statement on the leader. A connection that breaks while the statement is in flight is
   * reported (DqliteConnectionError): whether it committed is unknown, so it is never resent.
   */
  exec(sql: string, params: readonly SqlValue[] = []): Promise<ExecResult> {
    return this.onLeader(false, async (conn, db) =>
      conn.request(new Writer().uint64(db).text(sql).params(params), Req.execSql, (m) => {
        expect(m, Res.result);
        return { lastInsertId: Number(m.body.uint64()), rowsAffected: Number(m.body.uint64()) };
      }));
  }

  /** Runs a query on the leader (reads are linearizable there); retried on a new leader if cut. */
  query(sql: string, params: readonly SqlValue[] = []): Promise<QueryResult> {
    return this.onLeader(true, (conn, db) =>
      conn.request(new Writer().uint64(db).text(sql).params(params), Req.querySql, async (first, next) => {
        const columns: string[] = [];
        const rows: SqlValue[][] = [];
        for (let m = first; ; m = await next()) {
          expect(m, Res.rows);
          if (m.body.rows(columns, rows)) return { columns, rows };
        }
      }));
  }

  /** The Raft configuration: every node with its address and role. */
  cluster(): Promise<NodeInfo[]> {
    return this.onLeader(true, (conn) =>
      conn.request(new Writer().uint64(1), Req.cluster, (m) => {
        expect(m, Res.servers);
        const n = Number(m.body.uint64());
        return Array.from({ length: n }, () => ({ id: m.body.uint64(), address: m.body.text(), role: ROLE_NAMES[Number(m.body.uint64())] ?? "spare" }));
      }));
  }

  /** The leader's id and address as `address` sees it (id 0 while there is none). */
  static async leaderOf(relay: Relay, address: string): Promise<{ id: bigint; address: string }> {
    const conn = await DqliteConnection.open(relay, address);
    try {
      return await askLeader(conn);
    } finally {
      conn.close();
    }
  }

  /** Adds a node (as a spare); `assign` then gives it a role. */
  add(id: bigint, address: string): Promise<void> {
    return this.membership(new Writer().uint64(id).text(address), Req.add);
  }

  assign(id: bigint, role: RoleName): Promise<void> {
    return this.membership(new Writer().uint64(id).uint64(Role[role]), Req.assign);
  }

  remove(id: bigint): Promise<void> {
    return this.membership(new Writer().uint64(id), Req.remove);
  }

  /** Hands leadership to `id` (0: let the leader pick), as a member leaving gracefully does. */
  transfer(id: bigint): Promise<void> {
    return this.membership(new Writer().uint64(id), Req.transfer);
  }

  private membership(w: Writer, type: number): Promise<void> {
    return this.onLeader(false, (conn) => conn.request(w, type, (m) => expect(m, Res.empty)));
  }

  /**
   * Runs `fn` on a connection to the leader with the database open. A node that says it is not
   * the leader did nothing, so the call moves on to the leader; a broken connection is retried only
   * when `idempotent`.
   */
  private async onLeader<T>(idempotent: boolean, fn: (conn: DqliteConnection, db: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      let sent = false;
      try {
        const { conn, db } = await this.leaderConnection(deadline);
        sent = true;
        return await fn(conn, db);
      } catch (e) {
        if (!leaderLost(e)) throw e;
        this.close();
        const delay = retryDelay(e, attempt, sent, idempotent, deadline);
        if (delay === undefined) throw e;
        await Bun.sleep(delay);
      }
    }
  }

  private async leaderConnection(deadline: number): Promise<{ conn: DqliteConnection; db: number }> {
    if (this.conn && !this.conn.closed && this.db !== undefined) return { conn: this.conn, db: this.db };
    let last: Error = new DqliteConnectionError("no dqlite node address is known");
    while (Date.now() < deadline) {
      for (const address of this.addresses) {
        try {
          const leader = await DqliteClient.leaderOf(this.relay, address);
          if (!leader.address) continue;
          const conn = await DqliteConnection.open(this.relay, leader.address);
          // A node that lost leadership since may still name itself: only the leader opens.
          const db = await conn.request(new Writer().text(this.database).uint64(0).text(""), Req.open, (m) => {
            expect(m, Res.db);
            return Number(m.body.uint64() & 0xffffffffn);
          }).catch((e) => {
            conn.close();
            throw e;
          });
          this.conn = conn;
          this.db = db;
          return { conn, db };
        } catch (e) {
          last = e as Error;
        }
      }
      await Bun.sleep(50);
    }
    throw new DqliteConnectionError(`no dqlite leader among ${this.addresses.join(", ")}: ${last.message}`);
  }
}

async function askLeader(conn: DqliteConnection): Promise<{ id: bigint; address: string }> {
  return conn.request(new Writer().uint64(0), Req.leader, (m) => {
    expect(m, Res.server);
    return { id: m.body.uint64(), address: m.body.text() };
  });
}

function expect(m: Message, type: number) {
  if (m.type !== type) throw new DqliteError(0, `dqlite answered message type ${m.type} where ${type} was expected`);
}
