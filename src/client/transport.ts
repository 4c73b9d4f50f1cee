// How requests reach a daemon: the local unix socket here; the HTTPS transport with client
// certificates (LXD remotes, tls.ts) plugs in behind the same interface.
import { existsSync } from "node:fs";
import { LxdError } from "./errors.ts";

export interface Transport {
  /** Sends an HTTP request for an API path such as "/1.0/instances?recursion=1". */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Opens a websocket on an API path; resolves once the handshake succeeded. */
  websocket(path: string): Promise<WebSocket>;
  /** Where the daemon is, for error messages. */
  readonly target: string;
}

/** Resolves with `ws` once its handshake succeeded (binary frames as ArrayBuffers). */
export function opened(ws: WebSocket, path: string): Promise<WebSocket> {
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.onopen = () => {
      ws.onopen = ws.onerror = null;
      resolve(ws);
    };
    ws.onerror = (ev) => {
      ws.onopen = ws.onerror = null;
      const detail = (ev as ErrorEvent).message || "connection failed";
      reject(new LxdError(`Failed to connect websocket ${path}: ${detail}`));
    };
  });
}

export class UnixTransport implements Transport {
  constructor(readonly socket: string) {}

  get target(): string {
    return this.socket;
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`http://unix.socket${path}`, { ...init, unix: this.socket } as RequestInit);
    } catch (err) {
      throw this.connectError(err);
    }
  }

  websocket(path: string): Promise<WebSocket> {
    if (!existsSync(this.socket)) return Promise.reject(this.connectError(undefined));
    return opened(new WebSocket(`ws+unix://${this.socket}:${path}`), path);
  }

  /** Turns low-level socket failures into the message users expect from LXD's client. */
  private connectError(err: unknown): Error {
    const code = (err as { code?: string } | undefined)?.code;
    if (err === undefined || code === "ENOENT" || code === "ECONNREFUSED" || code === "FailedToOpenSocket") {
      return new LxdError(`LXD daemon isn't running (no socket at ${this.socket})`);
    }
    return new LxdError(`Failed to reach LXD at ${this.socket}: ${(err as Error).message ?? String(err)}`);
  }
}
