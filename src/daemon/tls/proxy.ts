// The HTTPS listener. Bun.serve cannot show a request's TLS client certificate, Bun.listen can:
// so TLS ends here and each connection is relayed to the daemon's own unix socket, with the
// peer's certificate written into every request head (PEER_HEADER). The app behind the socket is
// the very same one local clients use, and its authorization hook decides per request: a request
// without the header came from the unix socket (trusted), one with it came through here. The
// header carries the certificate's fingerprint; the certificate itself stays in this process
// (peerCertificate) while a connection presenting it is open.
//
// Request heads are parsed strictly (framing by Content-Length or chunked, no bare CR/LF, no
// ambiguous lengths) so a client can never smuggle a second request past the header; after a
// websocket upgrade succeeds, the connection is relayed as raw bytes.
import { constants } from "node:crypto";
import type { Socket, TCPSocketListener } from "bun";
import { fingerprintOf } from "../../tls/x509.ts";
import { log } from "../../log.ts";

/** Carries the TLS client certificate's fingerprint (or "-" for none) from this relay to the app. */
export const PEER_HEADER = "x-lxd-peer-certificate";

/** DER certificates of connected TLS clients by fingerprint, with how many connections use each. */
const peers = new Map<string, { der: Uint8Array; connections: number }>();

/** The certificate of a connected client, by the fingerprint its requests carry. */
export const peerCertificate = (fingerprint: string): Uint8Array | undefined => peers.get(fingerprint)?.der;

const MAX_HEAD = 64 * 1024;
/** A client has this long to finish sending a request head once it started one. */
const HEAD_TIMEOUT_MS = 30_000;
/** Upper bound on simultaneous TLS connections, so a flood cannot exhaust the daemon. */
const MAX_CONNECTIONS = 1024;
/** A connection must complete its TLS handshake this fast, or it is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a connection may sit after its handshake before the first request head starts
 *  (LXD_HTTPS_IDLE_TIMEOUT_MS overrides it, for tests). */
const FIRST_HEAD_TIMEOUT_MS = 30_000;
/** A keep-alive connection may sit idle between an answer and the next request this many times
 *  as long (120 s by default). Never counted while a request waits for its answer (a long
 *  /wait) nor once the connection carries a websocket. */
const KEEPALIVE_IDLE_FACTOR = 4;
/** After a refused websocket upgrade the connection is closed once the answer went out. */
const REFUSED_UPGRADE_CLOSE_MS = 250;

const CRLF = Uint8Array.of(13, 10);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

function indexOf(buf: Uint8Array, pattern: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= buf.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (buf[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export interface ParsedHead {
  /** The head to forward: the peer header replaced by ours, ending with the blank line. */
  head: Uint8Array;
  contentLength: number;
  chunked: boolean;
  upgrade: boolean;
}

/** Validates one request head (bytes up to, not including, the blank line) and rewrites it. */
export function rewriteHead(raw: Uint8Array, peer: string): ParsedHead {
  const text = Buffer.from(raw).toString("latin1");
  const lines = text.split("\r\n");
  if (lines.some((l) => /[\r\n\0]/.test(l))) throw new HttpError(400, "Malformed request head: bare CR or LF");
  if (!/^[A-Z]+ [!-~]+ HTTP\/1\.[01]$/.test(lines[0])) throw new HttpError(400, "Malformed request line");
  const kept = [lines[0]];
  const lengths = new Set<string>();
  let transferEncoding: string | undefined;
  let upgradeHeader = false;
  let connectionUpgrade = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new HttpError(400, "Malformed request header");
    const value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === PEER_HEADER) continue;
    if (lower === "content-length") lengths.add(value);
    else if (lower === "transfer-encoding") {
      if (transferEncoding !== undefined) throw new HttpError(400, "Repeated Transfer-Encoding header");
      transferEncoding = value.toLowerCase();
    } else if (lower === "upgrade") upgradeHeader = true;
    else if (lower === "connection") connectionUpgrade ||= value.toLowerCase().split(",").some((t) => t.trim() === "upgrade");
    kept.push(line);
  }
  if (lengths.size > 1) throw new HttpError(400, "Conflicting Content-Length headers");
  const [length] = lengths;
  if (length !== undefined && !/^\d{1,15}$/.test(length)) throw new HttpError(400, "Invalid Content-Length");
  if (transferEncoding !== undefined) {
    if (length !== undefined) throw new HttpError(400, "Both Content-Length and Transfer-Encoding given");
    if (transferEncoding !== "chunked") throw new HttpError(501, `Transfer-Encoding "${transferEncoding}" is not supported`);
  }
  kept.push(`${PEER_HEADER}: ${peer}`, "", "");
  return {
    head: new Uint8Array(Buffer.from(kept.join("\r\n"), "latin1")),
    contentLength: length === undefined ? 0 : Number(length),
    chunked: transferEncoding === "chunked",
    upgrade: upgradeHeader && connectionUpgrade,
  };
}

/** Writes to a socket, queueing what it does not take yet; `onBackedUp(true)` while queued. */
class Outbox {
  private queue: Uint8Array[] = [];
  socket?: Socket<unknown>;
  constructor(private readonly onBackedUp: (full: boolean) => void) {}

  write(bytes: Uint8Array) {
    if (!bytes.length) return;
    if (!this.socket || this.queue.length) {
      this.queue.push(bytes.slice());
      this.onBackedUp(true);
      return;
    }
    const n = Math.max(0, this.socket.write(bytes));
    if (n < bytes.length) {
      this.queue.push(bytes.slice(n));
      this.onBackedUp(true);
    }
  }

  flush() {
    while (this.socket && this.queue.length) {
      const next = this.queue[0];
      const n = Math.max(0, this.socket.write(next));
      if (n < next.length) {
        this.queue[0] = next.subarray(n);
        return;
      }
      this.queue.shift();
    }
    if (this.socket) this.onBackedUp(false);
  }

  get empty() { return this.queue.length === 0; }
}

type State = "head" | "body" | "chunk-size" | "chunk-data" | "trailer" | "held" | "raw" | "closing";

/** One client connection and its relay to the unix socket. */
class Relay {
  private buf: Uint8Array = new Uint8Array(0);
  private state: State = "head";
  private remaining = 0;
  private upgradePending = false;
  private answerPrefix = "";
  private headTimer?: ReturnType<typeof setTimeout>;
  private closeTimer?: ReturnType<typeof setTimeout>;
  private idleTimer?: ReturnType<typeof setTimeout>;
  /** A whole request went upstream and no answer byte came back yet. */
  private awaitingResponse = false;
  private requests = 0;
  private connecting = false;
  private peer = "-";
  private ended = false;
  readonly toUpstream: Outbox;
  readonly toClient: Outbox;
  upstream?: Socket<unknown>;

  constructor(
    readonly client: Socket<Relay>,
    private readonly unixPath: string,
    private readonly firstHeadTimeoutMs: number,
    private readonly onEnd: () => void,
  ) {
    this.toUpstream = new Outbox((full) => (full ? client.pause() : client.resume()));
    this.toClient = new Outbox((full) => (full ? this.upstream?.pause() : this.upstream?.resume()));
    this.toClient.socket = client as Socket<unknown>;
    this.headTimer = setTimeout(() => this.close(), HANDSHAKE_TIMEOUT_MS);
  }

  /** TLS is up: note the client's certificate and wait for a request. */
  ready() {
    clearTimeout(this.headTimer);
    this.headTimer = undefined;
    if (this.ended) return;
    const version = this.client.getTLSVersion();
    if (version !== "TLSv1.2" && version !== "TLSv1.3") return this.close();
    const raw = (this.client.getPeerCertificate() as { raw?: Uint8Array } | undefined)?.raw;
    if (raw?.length) {
      this.peer = fingerprintOf(raw);
      const entry = peers.get(this.peer) ?? { der: new Uint8Array(raw), connections: 0 };
      entry.connections++;
      peers.set(this.peer, entry);
    }
    this.armIdle();
  }

  /** Closes a connection that sits with nothing to do: before its first request head, or
   *  between keep-alive requests. Not while a head, a body or an answer is on its way, nor
   *  once the connection carries a websocket. */
  private armIdle() {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.ended || this.state !== "head" || this.buf.length || this.awaitingResponse) return;
    const ms = this.requests ? this.firstHeadTimeoutMs * KEEPALIVE_IDLE_FACTOR : this.firstHeadTimeoutMs;
    this.idleTimer = setTimeout(() => this.close(), ms);
  }

  /** The unix socket is reached only once a request arrives, so idle TLS connections (a
   *  flood among them) cost the daemon's API server nothing. */
  private async connectUpstream() {
    if (this.connecting) return;
    this.connecting = true;
    try {
      this.upstream = await Bun.connect({
        unix: this.unixPath,
        socket: {
          data: (_s, data) => this.fromUpstream(data),
          drain: () => this.toUpstream.flush(),
          close: () => this.close(),
          error: () => this.close(),
        },
      });
    } catch (err) {
      log.error("HTTPS relay could not reach the daemon socket", { err });
      return this.close();
    }
    if (this.ended) return this.upstream.end();
    this.toUpstream.socket = this.upstream;
    this.toUpstream.flush();
  }

  fromClient(chunk: Uint8Array) {
    if (this.state === "raw") return this.toUpstream.write(chunk);
    if (this.state === "closing") return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.buf = this.buf.length ? concat(this.buf, chunk) : chunk;
    try {
      this.parse();
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(400, (err as Error).message);
      this.refuse(e.status, e.message);
      return;
    }
    // Data handed to us by the socket may be reused: keep our own copy of what is left.
    this.buf = this.buf.slice();
    this.armIdle();
  }

  private take(n: number) {
    const part = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return part;
  }

  private parse() {
    while (this.buf.length) {
      switch (this.state) {
        case "head": {
          const end = indexOf(this.buf, Uint8Array.of(13, 10, 13, 10));
          if (end < 0) {
            if (this.buf.length > MAX_HEAD) throw new HttpError(431, "Request head too large");
            this.headTimer ??= setTimeout(() => this.refuse(408, "Timed out reading the request head"), HEAD_TIMEOUT_MS);
            return;
          }
          clearTimeout(this.headTimer);
          this.headTimer = undefined;
          if (end > MAX_HEAD) throw new HttpError(431, "Request head too large");
          const parsed = rewriteHead(this.take(end), this.peer);
          this.take(4);
          void this.connectUpstream();
          this.toUpstream.write(parsed.head);
          this.upgradePending = parsed.upgrade;
          if (parsed.chunked) this.state = "chunk-size";
          else if (parsed.contentLength > 0) {
            this.remaining = parsed.contentLength;
            this.state = "body";
          } else this.afterRequest();
          break;
        }
        case "body":
        case "chunk-data": {
          const part = this.take(Math.min(this.remaining, this.buf.length));
          this.toUpstream.write(part);
          this.remaining -= part.length;
          if (this.remaining === 0) {
            if (this.state === "body") this.afterRequest();
            else this.state = "chunk-size";
          }
          break;
        }
        case "chunk-size":
        case "trailer": {
          const eol = indexOf(this.buf, CRLF);
          if (eol < 0) {
            if (this.buf.length > 4096) throw new HttpError(400, "Malformed chunked body");
            return;
          }
          const line = Buffer.from(this.buf.subarray(0, eol)).toString("latin1");
          if (/[\r\n]/.test(line)) throw new HttpError(400, "Malformed chunked body");
          this.toUpstream.write(this.take(eol + 2));
          if (this.state === "trailer") {
            if (line === "") this.afterRequest();
            break;
          }
          const m = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line);
          if (!m) throw new HttpError(400, "Malformed chunk size");
          const size = parseInt(m[1], 16);
          if (size === 0) this.state = "trailer";
          else {
            this.remaining = size + 2;
            this.state = "chunk-data";
          }
          break;
        }
        case "raw":
          this.toUpstream.write(this.take(this.buf.length));
          return;
        case "held":
        case "closing":
          return;
      }
    }
  }

  /** A request went through whole. An upgrade request holds everything after it until the
   *  daemon answered: raw bytes follow a 101, anything else ends the connection. */
  private afterRequest() {
    this.requests++;
    this.awaitingResponse = true;
    this.state = this.upgradePending ? "held" : "head";
    this.answerPrefix = "";
  }

  fromUpstream(data: Uint8Array) {
    this.toClient.write(data);
    this.awaitingResponse = false;
    this.armIdle();
    if (this.state === "closing") {
      clearTimeout(this.closeTimer);
      this.closeTimer = setTimeout(() => this.close(), REFUSED_UPGRADE_CLOSE_MS);
      return;
    }
    if (this.state !== "held") return;
    this.answerPrefix += Buffer.from(data.subarray(0, 13 - this.answerPrefix.length)).toString("latin1");
    if (this.answerPrefix.length < 13) return;
    if (/^HTTP\/1\.1 101 $/.test(this.answerPrefix)) {
      this.state = "raw";
      this.toUpstream.write(this.take(this.buf.length));
    } else {
      this.state = "closing";
      this.buf = new Uint8Array(0);
      this.closeTimer = setTimeout(() => this.close(), REFUSED_UPGRADE_CLOSE_MS);
    }
  }

  /** Answers a request this relay cannot pass on, then closes. */
  private refuse(status: number, message: string) {
    if (this.state === "closing") return;
    this.state = "closing";
    this.buf = new Uint8Array(0);
    const body = JSON.stringify({ type: "error", error: message, error_code: status, metadata: {} });
    this.client.write(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    this.client.end();
    this.close();
  }

  close() {
    if (this.ended) return;
    this.ended = true;
    const entry = peers.get(this.peer);
    if (entry && --entry.connections === 0) peers.delete(this.peer);
    clearTimeout(this.headTimer);
    clearTimeout(this.closeTimer);
    clearTimeout(this.idleTimer);
    this.upstream?.end();
    if (this.toClient.empty) this.client.end();
    else setTimeout(() => this.client.end(), 1000);
    this.onEnd();
  }
}

export interface HttpsListener {
  readonly hostname: string;
  readonly port: number;
  /** Stops listening; connections still open are cut unless `keepConnections` (they end on their own). */
  stop(keepConnections?: boolean): void;
}

export interface HttpsListenOptions {
  hostname: string;
  port: number;
  cert: string;
  key: string;
  /** The daemon's unix socket, where requests are relayed. */
  unixSocket: string;
}

export function listenHttps(opts: HttpsListenOptions): HttpsListener {
  const firstHeadTimeoutMs = Number(process.env.LXD_HTTPS_IDLE_TIMEOUT_MS) || FIRST_HEAD_TIMEOUT_MS;
  let open = 0;
  const relays = new Set<Relay>();
  const listener: TCPSocketListener<Relay> = Bun.listen<Relay>({
    hostname: opts.hostname,
    port: opts.port,
    tls: {
      cert: opts.cert,
      key: opts.key,
      requestCert: true,
      // Client certificates are self-signed: the trust store decides, per request.
      rejectUnauthorized: false,
      secureOptions: constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1,
    } as Parameters<typeof Bun.listen>[0]["tls"],
    socket: {
      open(socket) {
        if (open >= MAX_CONNECTIONS) {
          socket.end();
          return;
        }
        open++;
        // Request/response traffic: small writes must go out at once, not wait for Nagle.
        socket.setNoDelay(true);
        const relay = new Relay(socket, opts.unixSocket, firstHeadTimeoutMs, () => {
          relays.delete(relay);
          open--;
        });
        relays.add(relay);
        socket.data = relay;
      },
      // Client certificates are checked per request, so a failed verification is no reason to
      // hang up; ready() drops connections that did not negotiate TLS 1.2 or newer.
      handshake(socket) {
        socket.data?.ready();
      },
      data(socket, data) { socket.data?.fromClient(data); },
      drain(socket) { socket.data?.toClient.flush(); },
      close(socket) { socket.data?.close(); },
      error(socket) { socket.data?.close(); },
    },
  });
  return {
    hostname: listener.hostname,
    port: listener.port,
    stop(keepConnections = false) {
      listener.stop(!keepConnections);
      if (!keepConnections) for (const r of relays) r.close();
    },
  };
}
