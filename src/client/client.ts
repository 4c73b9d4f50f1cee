// LxdClient: the LXD REST API 1.0 over a Transport. Generic verbs return the envelope's metadata and
// throw LxdError for error envelopes; typed helpers cover the resources the CLI drives.
import { socketPath } from "../paths.ts";
import { LxdError } from "./errors.ts";
import { UnixTransport, type Transport } from "./transport.ts";
import type { Envelope } from "../api/envelope.ts";
import type { Event as LxdEvent } from "../api/event.ts";
import type { Image, ImageAliasesEntry } from "../api/image.ts";
import type {
  Instance, InstanceExecPost, InstanceFull, InstancePut, InstanceState, InstanceStatePut, InstancesPost,
} from "../api/instance.ts";
import type { Operation } from "../api/operation.ts";
import type { Profile } from "../api/profile.ts";
import type { Server } from "../api/server.ts";
import type { StoragePool } from "../api/storage.ts";
import { WsConn } from "./websocket.ts";

export interface RequestOptions {
  /** Sent as If-Match, so a concurrent change makes the daemon answer 412 instead of losing it. */
  etag?: string;
  headers?: Record<string, string>;
}

export interface Reply<T = unknown> {
  type: "sync" | "async";
  metadata: T;
  etag?: string;
  /** Operation path for async replies ("/1.0/operations/<id>"). */
  operation?: string;
}

const enc = encodeURIComponent;

export class LxdClient {
  private extensions?: Promise<Set<string>>;

  constructor(readonly transport: Transport = new UnixTransport(socketPath())) {}

  /** Sends one request and unwraps LXD's envelope. `body` is JSON unless it is a stream/blob/buffer. */
  async request<T = unknown>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.etag) headers["If-Match"] = opts.etag;
    let payload: RequestInit["body"];
    if (body instanceof ReadableStream || body instanceof Blob || body instanceof Uint8Array) {
      payload = body as RequestInit["body"];
      headers["Content-Type"] ??= "application/octet-stream";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    const res = await this.transport.fetch(path, { method, headers, body: payload });
    const text = await res.text();
    let env: Envelope;
    try {
      env = JSON.parse(text);
    } catch {
      throw new LxdError(`${method} ${path}: unexpected reply (HTTP ${res.status}): ${text.slice(0, 200)}`, res.status);
    }
    if (env.type === "error" || res.status >= 400) {
      throw new LxdError(env.error || `${method} ${path} failed with HTTP ${res.status}`, env.error_code || res.status);
    }
    return {
      type: env.type === "async" ? "async" : "sync",
      metadata: env.metadata as T,
      etag: res.headers.get("ETag") ?? undefined,
      operation: env.operation || res.headers.get("Location") || undefined,
    };
  }

  async get<T = unknown>(path: string): Promise<T> {
    return (await this.request<T>("GET", path)).metadata;
  }

  /** GET of a body sent as is, outside any envelope (log files, console output). */
  async getBytes(path: string): Promise<Uint8Array> {
    const res = await this.transport.fetch(path);
    const body = new Uint8Array(await res.arrayBuffer());
    if (res.ok) return body;
    let message = `GET ${path} failed with HTTP ${res.status}`;
    try {
      message = JSON.parse(new TextDecoder().decode(body)).error || message;
    } catch {
      // Not an envelope: keep the generic message.
    }
    throw new LxdError(message, res.status);
  }

  /** Streams a GET's raw body (an export) into `file`; returns the bytes written. */
  async download(path: string, file: string): Promise<number> {
    const res = await this.transport.fetch(path);
    if (!res.ok) {
      const text = await res.text();
      let message = `GET ${path} failed with HTTP ${res.status}`;
      try {
        message = JSON.parse(text).error || message;
      } catch {
        // Not an envelope: keep the generic message.
      }
      throw new LxdError(message, res.status);
    }
    return Bun.write(file, res);
  }

  async post<T = unknown>(path: string, body?: unknown, opts?: RequestOptions): Promise<Reply<T>> {
    return this.request<T>("POST", path, body, opts);
  }

  async put<T = unknown>(path: string, body: unknown, opts?: RequestOptions): Promise<Reply<T>> {
    return this.request<T>("PUT", path, body, opts);
  }

  async patch<T = unknown>(path: string, body: unknown, opts?: RequestOptions): Promise<Reply<T>> {
    return this.request<T>("PATCH", path, body, opts);
  }

  async delete<T = unknown>(path: string): Promise<Reply<T>> {
    return this.request<T>("DELETE", path);
  }

  /** Runs a request that may start an operation and waits for it; returns the final operation, if any. */
  async run(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<Operation | undefined> {
    const reply = await this.request<Operation>(method, path, body, opts);
    if (reply.type !== "async") return undefined;
    return this.waitOperation(reply.metadata);
  }

  // ---- operations ----

  /** Waits for an operation to end (timeout in seconds, -1 = forever) and returns it; throws the
   *  operation's error if it failed. After a timeout the still-running operation is returned. */
  async waitOperation(op: Operation | string, timeout = -1): Promise<Operation> {
    const id = typeof op === "string" ? op.replace(/^\/1\.0\/operations\//, "") : op.id;
    const current = await this.get<Operation>(`/1.0/operations/${enc(id)}/wait?timeout=${timeout}`);
    if (current.status_code >= 400 || current.status === "Failure" || current.status === "Cancelled") {
      throw new LxdError(current.err || `Operation ${id} ${current.status.toLowerCase()}`, current.status_code);
    }
    return current;
  }

  operations(): Promise<Record<string, Operation[]>> {
    return this.get("/1.0/operations?recursion=1");
  }

  operation(id: string): Promise<Operation> {
    return this.get(`/1.0/operations/${enc(id)}`);
  }

  /** Opens one of an operation's websockets (exec/console streams). */
  async operationWebsocket(id: string, secret: string): Promise<WsConn> {
    return this.websocket(`/1.0/operations/${enc(id)}/websocket?secret=${enc(secret)}`);
  }

  async websocket(path: string): Promise<WsConn> {
    return new WsConn(await this.transport.websocket(path));
  }

  // ---- server ----

  server(): Promise<Server> {
    return this.get("/1.0");
  }

  /** Whether the server announces an API extension (as lxc checks before relying on one). */
  async hasExtension(name: string): Promise<boolean> {
    this.extensions ??= this.server().then((s) => new Set(s.api_extensions ?? []));
    return (await this.extensions).has(name);
  }

  async serverWithEtag(): Promise<{ server: Server; etag?: string }> {
    const reply = await this.request<Server>("GET", "/1.0");
    return { server: reply.metadata, etag: reply.etag };
  }

  // ---- instances ----

  /** The current project's instances, or every project's (`allProjects`). */
  instances(allProjects = false): Promise<InstanceFull[]> {
    return this.get(`/1.0/instances?recursion=2${allProjects ? "&all-projects=true" : ""}`);
  }

  instance(name: string): Promise<Instance> {
    return this.get(`/1.0/instances/${enc(name)}`);
  }

  async instanceWithEtag(name: string): Promise<{ instance: Instance; etag?: string }> {
    const reply = await this.request<Instance>("GET", `/1.0/instances/${enc(name)}`);
    return { instance: reply.metadata, etag: reply.etag };
  }

  instanceState(name: string): Promise<InstanceState> {
    return this.get(`/1.0/instances/${enc(name)}/state`);
  }

  /** `target`: the cluster member to create it on. */
  createInstance(req: InstancesPost, target?: string): Promise<Operation | undefined> {
    return this.run("POST", `/1.0/instances${target ? `?target=${enc(target)}` : ""}`, req);
  }

  updateInstance(name: string, put: InstancePut, etag?: string): Promise<Operation | undefined> {
    return this.run("PUT", `/1.0/instances/${enc(name)}`, put, { etag });
  }

  setInstanceState(name: string, state: InstanceStatePut): Promise<Operation | undefined> {
    return this.run("PUT", `/1.0/instances/${enc(name)}/state`, state);
  }

  deleteInstance(name: string): Promise<Operation | undefined> {
    return this.run("DELETE", `/1.0/instances/${enc(name)}`);
  }

  /** Starts an exec operation; the caller connects the websockets listed in metadata.fds. */
  async execInstance(name: string, req: InstanceExecPost): Promise<Operation> {
    const reply = await this.post<Operation>(`/1.0/instances/${enc(name)}/exec`, req);
    if (reply.type !== "async") throw new LxdError(`Exec on ${name} did not start an operation`);
    return reply.metadata;
  }

  // ---- images ----

  images(): Promise<Image[]> {
    return this.get("/1.0/images?recursion=1");
  }

  image(fingerprint: string): Promise<Image> {
    return this.get(`/1.0/images/${enc(fingerprint)}`);
  }

  imageAlias(name: string): Promise<ImageAliasesEntry> {
    return this.get(`/1.0/images/aliases/${enc(name)}`);
  }

  imageAliases(): Promise<ImageAliasesEntry[]> {
    return this.get("/1.0/images/aliases?recursion=1");
  }

  /** Resolves an alias, a full fingerprint or a unique fingerprint prefix to the image. */
  async resolveImage(ref: string): Promise<Image> {
    try {
      const alias = await this.imageAlias(ref);
      return await this.image(alias.target);
    } catch (err) {
      if (!(err instanceof LxdError) || !err.notFound) throw err;
    }
    try {
      return await this.image(ref);
    } catch (err) {
      if (!(err instanceof LxdError) || !err.notFound) throw err;
    }
    // A fingerprint prefix, as lxc accepts (must be unambiguous).
    const matches = /^[0-9a-f]+$/.test(ref) ? (await this.images()).filter((i) => i.fingerprint.startsWith(ref)) : [];
    if (matches.length > 1) throw new LxdError(`More than one image matches the fingerprint prefix ${ref}`, 400);
    if (!matches.length) throw new LxdError(`Image not found: ${ref}`, 404);
    return matches[0]!;
  }

  /** Uploads a unified image tarball; returns the fingerprint the daemon computed. */
  /** Uploads a unified image, or a split one as a multipart body (`contentType` then names its
   *  boundary); `wait` replaces the plain wait for the operation (e.g. to show its progress). */
  async importImage(
    body: ReadableStream | Blob | Uint8Array,
    opts: { filename?: string; public?: boolean; contentType?: string; wait?: (op: Operation) => Promise<Operation> } = {},
  ): Promise<string> {
    const headers: Record<string, string> = { "Content-Type": opts.contentType ?? "application/octet-stream" };
    if (opts.filename) headers["X-LXD-filename"] = opts.filename;
    if (opts.public) headers["X-LXD-public"] = "true";
    const reply = await this.request<Operation>("POST", "/1.0/images", body, { headers });
    const op = opts.wait ? await opts.wait(reply.metadata) : await this.waitOperation(reply.metadata);
    const fingerprint = (op?.metadata?.fingerprint ?? (op?.metadata?.metadata as { fingerprint?: string })?.fingerprint) as string | undefined;
    if (!fingerprint) throw new LxdError("Image import finished without reporting a fingerprint");
    return fingerprint;
  }

  deleteImage(fingerprint: string): Promise<Operation | undefined> {
    return this.run("DELETE", `/1.0/images/${enc(fingerprint)}`);
  }

  async createImageAlias(name: string, target: string, description = ""): Promise<void> {
    await this.post("/1.0/images/aliases", { name, target, description });
  }

  async deleteImageAlias(name: string): Promise<void> {
    await this.delete(`/1.0/images/aliases/${enc(name)}`);
  }

  // ---- profiles ----

  profiles(): Promise<Profile[]> {
    return this.get("/1.0/profiles?recursion=1");
  }

  profile(name: string): Promise<Profile> {
    return this.get(`/1.0/profiles/${enc(name)}`);
  }

  async profileWithEtag(name: string): Promise<{ profile: Profile; etag?: string }> {
    const reply = await this.request<Profile>("GET", `/1.0/profiles/${enc(name)}`);
    return { profile: reply.metadata, etag: reply.etag };
  }

  // ---- storage ----

  storagePools(): Promise<StoragePool[]> {
    return this.get("/1.0/storage-pools?recursion=1");
  }

  storagePool(name: string): Promise<StoragePool> {
    return this.get(`/1.0/storage-pools/${enc(name)}`);
  }

  // ---- events ----

  /** Subscribes to /1.0/events; `onEvent` gets each parsed event until `close()` or the daemon goes away. */
  async events(types: string[], onEvent: (event: LxdEvent) => void): Promise<EventStream> {
    const query = types.length ? `?type=${enc(types.join(","))}` : "";
    const conn = await this.websocket(`/1.0/events${query}`);
    conn.onMessage((data) => {
      const text = typeof data === "string" ? data : new TextDecoder().decode(data);
      if (!text) return;
      try {
        onEvent(JSON.parse(text));
      } catch {
        // A malformed event is skipped rather than ending the stream.
      }
    });
    return { closed: conn.closed.then(() => undefined), close: () => conn.close() };
  }
}

export interface EventStream {
  closed: Promise<void>;
  close(): void;
}
