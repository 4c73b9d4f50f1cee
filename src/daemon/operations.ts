// Background operations: what async endpoints return (HTTP 202). Each one runs its task, reports
// every state change as an `operation` event, and stays listed for a while after it ends.
import { currentClient, operationsRunning } from "./limits.ts";
import { createHash, timingSafeEqual } from "node:crypto";
import { ElysiaCustomStatusResponse } from "elysia";
import type { EventHub } from "../events/hub.ts";
import { ApiError } from "../api/error.ts";
import type { Operation as ApiOperation, OperationClass, OperationStatus } from "../api/operation.ts";

export const STATUS_CODES: Record<OperationStatus, number> = {
  Pending: 105, Running: 103, Cancelling: 104, Success: 200, Failure: 400, Cancelled: 401,
};
const FINAL: ReadonlySet<OperationStatus> = new Set(["Success", "Failure", "Cancelled"]);

/** One accepted websocket of a websocket-class operation. Binary frames carry data (stdio bytes),
 *  text frames JSON control messages. Messages that arrive before `onMessage` is set are kept. */
export interface ServerWebSocketLike {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onMessage(cb: (data: string | Uint8Array) => void): void;
  /** Called once the socket is closed (immediately if it already is). */
  onClose(cb: () => void): void;
  /** Bytes queued for sending. */
  bufferedAmount(): number;
  /** Resolves once the outgoing buffer is small again: await it between large sends. */
  drained(): Promise<void>;
}

export interface OperationSpec {
  class: OperationClass;
  description: string;
  /** e.g. {instances: ["/1.0/instances/c1"]} */
  resources?: Record<string, string[]>;
  metadata?: Record<string, unknown>;
  /** The work. Its result is merged into metadata; a throw fails the operation with its message.
   *  Without run (tokens), the operation stays Running until cancelled. */
  run?: (op: Operation) => Promise<Record<string, unknown> | void>;
  /** Present => may_cancel. Should make run() end soon; the operation is Cancelled once it returns. */
  cancel?: (op: Operation) => void | Promise<void>;
  /** Websocket class: a client connected with one of metadata.fds' secrets (already verified). */
  connect?: (op: Operation, secret: string, ws: ServerWebSocketLike) => void;
  /** Websocket class whose secrets are not metadata.fds (migration: single-use, metadata maps
   *  channel -> secret): the channel a secret opens, undefined when it opens none (403). */
  secretKey?: (secret: string) => string | undefined;
  project?: string;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Returned by a handler, it becomes HTTP 202 with the async envelope. Being an Elysia status
 *  response (202, its JSON) lets routes declare `response: AsyncResponse` and type-check. */
export class Operation extends ElysiaCustomStatusResponse<202, ApiOperation, 202> {
  readonly id = crypto.randomUUID();
  readonly createdAt = new Date();
  updatedAt = this.createdAt;
  status: OperationStatus = "Pending";
  metadata: Record<string, unknown> | null;
  err = "";
  /** Resolves (never rejects) once the operation reached a final status. */
  readonly done: Promise<void>;
  private finish!: () => void;

  constructor(readonly spec: OperationSpec, private readonly emit: (op: Operation) => void, private readonly location: () => string = () => "none") {
    super(202, undefined as unknown as ApiOperation);
    Object.defineProperty(this, "response", { get: () => this.toJSON() });
    this.metadata = spec.metadata ? { ...spec.metadata } : null;
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  get class(): OperationClass { return this.spec.class; }
  get description(): string { return this.spec.description; }
  /** The project named, else the one its resources' URLs name (`?project=`), else default. */
  get project(): string {
    if (this.spec.project) return this.spec.project;
    const named = Object.values(this.spec.resources ?? {}).flat().map((u) => /[?&]project=([^&]+)/.exec(u)?.[1]).find(Boolean);
    return named ? decodeURIComponent(named) : "default";
  }
  get statusCode(): number { return STATUS_CODES[this.status]; }
  get isFinal(): boolean { return FINAL.has(this.status); }
  get mayCancel(): boolean {
    return !this.isFinal && (this.spec.class === "token" || this.spec.cancel !== undefined);
  }

  toJSON(): ApiOperation {
    return {
      id: this.id,
      class: this.spec.class,
      description: this.spec.description,
      created_at: this.createdAt.toISOString(),
      updated_at: this.updatedAt.toISOString(),
      status: this.status,
      status_code: this.statusCode,
      resources: this.spec.resources ?? null,
      metadata: this.metadata ? { ...this.metadata } : null,
      may_cancel: this.mayCancel,
      err: this.err,
      location: this.location(),
    };
  }

  /** Merges keys into metadata (undefined deletes a key) and announces it, e.g. progress. */
  updateMetadata(patch: Record<string, unknown>): void {
    if (this.isFinal) return;
    const next = { ...(this.metadata ?? {}) };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    this.metadata = next;
    this.touch();
  }

  /** Waits up to `timeoutSec` (-1: forever); true if the operation is done. */
  async wait(timeoutSec: number): Promise<boolean> {
    if (this.isFinal) return true;
    if (timeoutSec < 0) {
      await this.done;
      return true;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutSec * 1000)));
    try {
      return await Promise.race([this.done.then(() => true), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  async cancel(): Promise<void> {
    if (this.status !== "Running" && this.status !== "Pending") {
      throw new ApiError(400, "Only running operations can be cancelled");
    }
    if (!this.mayCancel) throw new ApiError(400, "This operation can't be cancelled");
    const before = this.status;
    this.setStatus("Cancelling");
    try {
      await this.spec.cancel?.(this);
    } catch (err) {
      this.setStatus(before);
      this.deferred?.();
      throw new ApiError(400, `Failed to cancel operation ${this.id}: ${(err as Error).message}`);
    }
    this.end("Cancelled");
  }

  /** The fds key a secret belongs to; 403 for any other secret (compared in constant time). */
  websocketKey(secret: string): string {
    if (this.spec.class !== "websocket") throw new ApiError(400, "Only websocket operations can be connected");
    if (this.status !== "Running") throw new ApiError(400, "Only running operations can be connected");
    if (this.spec.secretKey) {
      const key = this.spec.secretKey(secret);
      if (key === undefined) throw new ApiError(403, "Invalid websocket secret");
      return key;
    }
    const fds = (this.metadata?.fds ?? {}) as Record<string, unknown>;
    const given = digest(secret);
    let found: string | undefined;
    // Check every entry so the time taken does not depend on which one matched.
    for (const [key, value] of Object.entries(fds)) {
      if (typeof value === "string" && timingSafeEqual(digest(value), given) && found === undefined) found = key;
    }
    if (found === undefined) throw new ApiError(403, "Invalid websocket secret");
    return found;
  }

  /** Hands an accepted websocket to the operation's `connect`. */
  connectWebsocket(secret: string, ws: ServerWebSocketLike): void {
    this.websocketKey(secret);
    if (!this.spec.connect) throw new ApiError(400, `Operation ${this.id} accepts no websockets`);
    this.spec.connect(this, secret, ws);
  }

  /** Called by the manager right after registration. */
  start(): void {
    this.setStatus("Running");
    const run = this.spec.run;
    if (!run) return;
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => run(this))
        .then(
          (result) => this.settle(() => {
            if (result) this.metadata = { ...(this.metadata ?? {}), ...result };
            this.end("Success");
          }),
          (err: unknown) => this.settle(() => {
            this.err = err instanceof Error ? err.message : String(err);
            this.end("Failure");
          }),
        );
    });
  }

  /** Applies run()'s outcome, unless a cancel is in progress: that decides, and applies the
   *  outcome only if the cancel fails. */
  private settle(apply: () => void) {
    if (this.isFinal) return;
    if (this.status === "Cancelling") this.deferred = apply;
    else apply();
  }
  private deferred?: () => void;

  private touch() {
    this.updatedAt = new Date();
    this.emit(this);
  }

  private setStatus(status: OperationStatus) {
    this.status = status;
    this.touch();
  }

  private end(status: OperationStatus) {
    this.setStatus(status);
    this.finish();
  }
}

export interface OperationManagerOptions {
  /** How long a finished operation stays listed (LXD: 5 s). */
  retainMs?: number;
}

export class OperationManager {
  private ops = new Map<string, Operation>();
  private readonly retainMs: number;
  /** The cluster member operations run on ("none" standalone, as LXD). */
  location: () => string = () => "none";

  constructor(private readonly events: EventHub, opts: OperationManagerOptions = {}) {
    this.retainMs = opts.retainMs ?? 5000;
  }

  /** Registers the operation and starts it: the returned object is Running. */
  create(spec: OperationSpec): Operation {
    // Counted against the client whose request starts it (none for the daemon's own work).
    const release = operationsRunning.claim(currentClient());
    const op = new Operation(spec, (o) => this.events.send("operation", o.toJSON(), o.project), () => this.location());
    this.ops.set(op.id, op);
    this.events.send("operation", op.toJSON(), op.project);
    op.start();
    op.done.then(() => {
      release();
      const timer = setTimeout(() => this.ops.delete(op.id), this.retainMs);
      timer.unref?.();
    });
    return op;
  }

  get(id: string): Operation | undefined {
    return this.ops.get(id);
  }

  /** Like get, but 404 when unknown. */
  find(id: string): Operation {
    const op = this.ops.get(id);
    if (!op) throw new ApiError(404, `Operation "${id}" not found`);
    return op;
  }

  list(): Operation[] {
    return [...this.ops.values()];
  }
}
