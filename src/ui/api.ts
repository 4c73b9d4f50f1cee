// The console's only way to the daemon: LXD's REST API 1.0 and its websockets on this origin,
// like any other client. The browser's TLS client certificate is the credential; nothing is
// stored here.
import type { Event } from "../api/event.ts";
import type { Operation } from "../api/operation.ts";
import type { Server } from "../api/server.ts";

export type { Operation, Server };
export type LxdEvent = Event;

/** An error envelope (or a failed operation), with the daemon's own message. */
export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

interface Envelope { type: "sync" | "async" | "error"; metadata: unknown; error?: string; error_code?: number }

/**
 * A request; reads are retried when the connection itself failed: Chromium aborts requests in
 * flight whenever the host's addresses change (ERR_NETWORK_CHANGED), which on a hypervisor
 * happens each time a bridge or an instance's interface comes up.
 */
async function send(method: string, path: string, body: unknown, attempt = 0): Promise<Response> {
  try {
    return await fetch(path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (method !== "GET" || attempt >= 3) throw err;
    await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    return send(method, path, body, attempt + 1);
  }
}

/** One API call. Sync answers give their metadata; async ones the operation (see `run`). */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  let env: Envelope;
  try {
    env = await res.json() as Envelope;
  } catch {
    throw new ApiError(`${method} ${path}: HTTP ${res.status}`, res.status);
  }
  if (env.type === "error") throw new ApiError(env.error || `HTTP ${res.status}`, env.error_code ?? res.status);
  return env.metadata as T;
}

const early = new Map<string, Promise<unknown>>();

/** Starts a GET now, before the page that needs it is rendered (the first page's data is
 *  fetched alongside GET /1.0 instead of after it). */
export function prefetch(path: string) {
  const p = api("GET", path);
  p.catch(() => {}); // an untrusted browser gets 403 here; the login page follows anyway
  early.set(path, p);
}

/** A GET, answered by a prefetch of the same path if one is waiting (used once; a failed one,
 *  e.g. made before the browser was trusted, is asked again). */
export function get<T>(path: string): Promise<T> {
  const p = early.get(path) as Promise<T> | undefined;
  early.delete(path);
  return p ? p.catch(() => api<T>("GET", path)) : api<T>("GET", path);
}

/** Waits for an operation to end; throws its error if it failed. */
export async function wait(op: Operation): Promise<Operation> {
  const done = await api<Operation>("GET", `/1.0/operations/${op.id}/wait?timeout=-1`);
  if (done.status !== "Success") throw new ApiError(done.err || `Operation ${done.status.toLowerCase()}`, 400);
  return done;
}

/** A call that may start an operation: waits for it, so the caller sees the end result. */
export async function run(method: string, path: string, body?: unknown): Promise<void> {
  const out = await api<unknown>(method, path, body);
  if (out && typeof out === "object" && "id" in out && "class" in out && "status" in out) await wait(out as Operation);
}

export const wsUrl = (path: string) => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;

/** The websocket of one channel of a websocket-class operation. */
export const operationSocket = (op: Operation, secret: string) =>
  new WebSocket(wsUrl(`/1.0/operations/${op.id}/websocket?secret=${encodeURIComponent(secret)}`));

type Listener = (e: LxdEvent) => void;

/**
 * The event stream every page shares: one websocket on /1.0/events, reopened after a drop (the
 * page then refetches, as it may have missed events). Pages subscribe; nothing polls for state.
 */
class EventStream {
  private ws?: WebSocket;
  private listeners = new Set<Listener>();
  private reconnects = new Set<() => void>();
  private retry = 500;

  subscribe(fn: Listener, onReconnect?: () => void): () => void {
    this.listeners.add(fn);
    if (onReconnect) this.reconnects.add(onReconnect);
    this.open();
    return () => {
      this.listeners.delete(fn);
      if (onReconnect) this.reconnects.delete(onReconnect);
    };
  }

  private open(reconnect = false) {
    if (this.ws) return;
    const ws = new WebSocket(wsUrl("/1.0/events?type=lifecycle,operation"));
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      if (reconnect) for (const fn of this.reconnects) fn();
    };
    ws.onmessage = (m) => {
      let e: LxdEvent;
      try {
        e = JSON.parse(String(m.data)) as LxdEvent;
      } catch {
        return;
      }
      for (const fn of this.listeners) fn(e);
    };
    ws.onclose = () => {
      this.ws = undefined;
      setTimeout(() => this.open(true), this.retry);
      this.retry = Math.min(this.retry * 2, 10_000);
    };
  }

  close() {
    this.ws?.close();
  }
}

export const events = new EventStream();

/** "/1.0/instances/c1/snapshots/s0" -> ["instances", "c1", "snapshots", "s0"] */
export const sourceParts = (source: string) => source.replace(/^\/1\.0\//, "").split("/").map(decodeURIComponent);
