// What one client may hold at once, so no client can starve the others or the daemon: requests
// in flight, operations running, websockets open. A client is a TLS certificate (as the HTTPS
// relay names it) or the unix socket, whose users are all local and trusted alike. The server
// records the client of each request (an AsyncLocalStorage set before routing), so operations
// and websockets started while handling it count against it.
import { AsyncLocalStorage } from "node:async_hooks";
import { ApiError } from "../api/error.ts";
import { PEER_HEADER } from "./tls/proxy.ts";

/** Caps per client; LXD_LIMIT_* override them (tests use small ones). */
export const LIMITS = {
  requests: Number(process.env.LXD_LIMIT_REQUESTS) || 512,
  operations: Number(process.env.LXD_LIMIT_OPERATIONS) || 256,
  websockets: Number(process.env.LXD_LIMIT_WEBSOCKETS) || 256,
};

const current = new AsyncLocalStorage<string>();

/** The client a request comes from. */
export const clientOf = (request: Request): string => {
  const peer = request.headers.get(PEER_HEADER);
  return peer === null ? "unix" : `tls:${peer}`;
};

/** The client whose request is being handled (undefined for the daemon's own background work). */
export const currentClient = (): string | undefined => current.getStore();

/** Makes `client` the current one for the rest of the request's handling. */
export const enterClient = (client: string): void => current.enterWith(client);

/** Counts what each client holds of one kind of resource. */
export class ClientCounter {
  private readonly held = new Map<string, number>();
  constructor(private readonly what: string, private readonly limit: () => number) {}

  /** Takes one for `client`, or throws 429 when it holds the limit already; returns the release. */
  claim(client: string | undefined): () => void {
    if (client === undefined) return () => {};
    const n = this.held.get(client) ?? 0;
    const limit = this.limit();
    if (n >= limit) throw new ApiError(429, `Too many ${this.what} for this client (limit ${limit})`);
    this.held.set(client, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(client) ?? 1) - 1;
      if (left > 0) this.held.set(client, left);
      else this.held.delete(client);
    };
  }
}

export const requestsInFlight = new ClientCounter("requests in flight", () => LIMITS.requests);
export const operationsRunning = new ClientCounter("operations running", () => LIMITS.operations);
export const websocketsOpen = new ClientCounter("websockets open", () => LIMITS.websockets);
