// One connection to a dqlite node: the version handshake, then strictly one request at a time
// (a node answers a connection's requests in order, and a query's rows may span several messages).
// Nodes are reached through the relay socket of a local lxd-dqlite (src/kernel/dqlite.ts), which
// dials the node over TLS with the cluster certificate: nothing here speaks to the network itself.
import type { Socket } from "bun";
import { PROTOCOL_VERSION, Reader, Res, type Writer } from "./wire.ts";

/** The relay socket (abstract unix name) through which to reach the node at `address`. */
export type Relay = (address: string) => string;

/** What a client sends first on a relay socket: the node it wants. */
export const relayRequest = (address: string): Uint8Array => new TextEncoder().encode(`${address}\n`);

/** The relay's one-line answer: undefined when connected, else why not. */
export const relayRefusal = (line: string): string | undefined => (line === "ok" ? undefined : line || "the relay closed the connection");

/** A failure the node answered with (SQLite's or dqlite's code and message). */
export class DqliteError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The connection itself broke: nothing is known about a request in flight. */
export class DqliteConnectionError extends Error {}

export interface Message {
  type: number;
  body: Reader;
}

interface Waiter {
  resolve(m: Message): void;
  reject(e: Error): void;
}

export class DqliteConnection {
  private inbox = new Uint8Array(0);
  private readonly arrived: Message[] = [];
  private waiter?: Waiter;
  private closedWith?: Error;
  private queue: Promise<unknown> = Promise.resolve();
  /** The relay's answer line, until it came (nothing of dqlite arrives before it). */
  private greeting?: { address: string; line: string; done(): void };

  private constructor(private socket: Socket<undefined> | undefined) {}

  /** Connects to the node at `address` (HOST:PORT) through `relay` and sends the protocol version. */
  static async open(relay: Relay, address: string, timeoutMs = 2000): Promise<DqliteConnection> {
    const conn = new DqliteConnection(undefined);
    let greeted!: () => void;
    const greeting = new Promise<void>((resolve) => (greeted = resolve));
    conn.greeting = { address, line: "", done: greeted };
    const connecting = Bun.connect({
      unix: `\0${relay(address)}`,
      socket: {
        data: (_s, chunk) => conn.receive(chunk),
        close: () => conn.fail(new DqliteConnectionError(`the connection to dqlite node ${address} closed`)),
        error: (_s, e) => conn.fail(new DqliteConnectionError(`dqlite node ${address}: ${e.message}`)),
        connectError: (_s, e) => conn.fail(new DqliteConnectionError(`cannot reach dqlite node ${address}: ${e.message}`)),
      },
    });
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DqliteConnectionError(`dqlite node ${address} did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      conn.socket = await Promise.race([connecting, timeout]);
      conn.socket.write(relayRequest(address));
      await Promise.race([greeting, timeout]);
      if (conn.closedWith) throw conn.closedWith;
    } catch (e) {
      connecting.then((s) => s.end(), () => {});
      throw e instanceof DqliteConnectionError ? e : new DqliteConnectionError(`cannot reach dqlite node ${address}: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    const version = new Uint8Array(8);
    new DataView(version.buffer).setBigUint64(0, PROTOCOL_VERSION, true);
    conn.socket.write(version);
    return conn;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  close(): void {
    this.socket?.end();
    this.fail(new DqliteConnectionError("the dqlite connection was closed"));
  }

  /**
   * Sends one request and hands its first response message to `read`, which may ask for more
   * (`next`) until the answer is complete; requests on this connection never interleave.
   */
  request<T>(w: Writer, type: number, read: (first: Message, next: () => Promise<Message>) => T | Promise<T>, schema = 0): Promise<T> {
    const run = async () => {
      if (this.closedWith) throw this.closedWith;
      this.socket!.write(w.message(type, schema));
      return read(await this.next(), () => this.next());
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  private next(): Promise<Message> {
    const m = this.arrived.shift();
    if (m) return Promise.resolve(checked(m));
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve: (msg) => {
        try {
          resolve(checked(msg));
        } catch (e) {
          reject(e);
        }
      }, reject };
    });
  }

  private receive(chunk: Uint8Array) {
    if (this.greeting) {
      const g = this.greeting;
      g.line += new TextDecoder().decode(chunk);
      const nl = g.line.indexOf("\n");
      if (nl < 0) return;
      this.greeting = undefined;
      const refused = relayRefusal(g.line.slice(0, nl));
      if (refused) this.fail(new DqliteConnectionError(`cannot reach dqlite node ${g.address}: ${refused}`));
      g.done();
      return;
    }
    const joined = new Uint8Array(this.inbox.length + chunk.length);
    joined.set(this.inbox);
    joined.set(chunk, this.inbox.length);
    let at = 0;
    while (joined.length - at >= 8) {
      const words = new DataView(joined.buffer, at).getUint32(0, true);
      const end = at + 8 + words * 8;
      if (joined.length < end) break;
      const msg = { type: joined[at + 4], body: new Reader(joined.slice(at + 8, end)) };
      at = end;
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w.resolve(msg);
      else this.arrived.push(msg);
    }
    this.inbox = joined.slice(at);
  }

  private fail(e: Error) {
    this.closedWith ??= e;
    this.greeting?.done();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.closedWith);
  }
}

/** SQLITE_IOERR_NOT_LEADER: the node refused before doing anything, so asking the leader is safe. */
const NOT_LEADER = 10 | (40 << 8);

/** The node is not (or no longer) the leader, or the connection broke: ask the leader again, maybe.
 *  A "barrier error" is a leader that lost its term before it could run the statement: nothing ran. */
export const leaderLost = (e: unknown): boolean =>
  (e instanceof DqliteError && (e.code === NOT_LEADER || e.message === "barrier error")) || e instanceof DqliteConnectionError;

/**
 * After `leaderLost(e)`: how long to wait before asking the leader again, or undefined when `e`
 * must go to the caller (a write cut after it was sent may have committed; the deadline passed).
 */
export function retryDelay(e: unknown, attempt: number, sent: boolean, idempotent: boolean, deadline: number): number | undefined {
  if ((e instanceof DqliteConnectionError && sent && !idempotent) || Date.now() >= deadline) return undefined;
  return Math.min(20 * 2 ** attempt, 200);
}

/** A FAILURE response becomes a DqliteError. */
function checked(m: Message): Message {
  if (m.type !== Res.failure) return m;
  const code = Number(m.body.uint64());
  throw new DqliteError(code, m.body.text());
}
