// One TCP connection to a dqlite node: the version handshake, then strictly one request at a time
// (a node answers a connection's requests in order, and a query's rows may span several messages).
import type { Socket } from "bun";
import { PROTOCOL_VERSION, Reader, Res, type Writer } from "./wire.ts";

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

  private constructor(private socket: Socket<undefined> | undefined) {}

  /** Connects to `address` (HOST:PORT) and sends the protocol version. */
  static async open(address: string, timeoutMs = 2000): Promise<DqliteConnection> {
    const at = address.lastIndexOf(":");
    const hostname = address.slice(0, at).replace(/^\[|\]$/g, "");
    const port = Number(address.slice(at + 1));
    const conn = new DqliteConnection(undefined);
    const connecting = Bun.connect({
      hostname,
      port,
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
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.closedWith);
  }
}

/** SQLITE_IOERR_NOT_LEADER: the node refused before doing anything, so asking the leader is safe. */
const NOT_LEADER = 10 | (40 << 8);

/** The node is not (or no longer) the leader, or the connection broke: ask the leader again, maybe. */
export const leaderLost = (e: unknown): boolean =>
  (e instanceof DqliteError && e.code === NOT_LEADER) || e instanceof DqliteConnectionError;

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
