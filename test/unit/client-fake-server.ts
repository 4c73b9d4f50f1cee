// A tiny LXD-protocol server on a temporary unix socket for client tests: sync/async/error envelopes,
// operations with /wait, and an exec operation speaking the websocket stream conventions.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server, ServerWebSocket } from "bun";

export interface Recorded { method: string; path: string; headers: Headers; body: string }
type Route = (req: Request, url: URL, body: string) => Response | Promise<Response> | undefined;

interface OpState { id: string; done: Promise<void>; finish: (status: "Success" | "Failure", metadata?: Record<string, unknown>, err?: string) => void; json: Record<string, unknown> }
interface WsData { op: string; key: string }

export const sync = (metadata: unknown, headers: Record<string, string> = {}) =>
  Response.json({ type: "sync", status: "Success", status_code: 200, operation: "", error_code: 0, error: "", metadata }, { headers });
export const error = (code: number, message: string) =>
  Response.json({ type: "error", error: message, error_code: code, metadata: {} }, { status: code });

/** What the fake exec does with the websockets once all are connected. */
export type ExecScript = (io: {
  interactive: boolean;
  command: string[];
  stdin: () => Promise<Uint8Array>;
  out: (data: string) => void;
  err: (data: string) => void;
  control: string[];
}) => Promise<number>;

export class FakeLxd {
  readonly dir = mkdtempSync(join(tmpdir(), "lxd-client-test-"));
  readonly socket = join(this.dir, "unix.socket");
  readonly requests: Recorded[] = [];
  readonly routes: Route[] = [];
  private readonly ops = new Map<string, OpState>();
  private readonly sockets = new Map<string, Map<string, ServerWebSocket<WsData>>>();
  private readonly stdinBuffers = new Map<string, { chunks: Uint8Array[]; eof: () => void; done: Promise<void> }>();
  private readonly controlLog = new Map<string, string[]>();
  private server: Server<WsData>;
  private seq = 0;
  execScript: ExecScript = async ({ out }) => { out("ok\n"); return 0; };

  constructor() {
    this.server = Bun.serve<WsData>({
      unix: this.socket,
      fetch: async (req, server) => {
        const url = new URL(req.url);
        const wsMatch = url.pathname.match(/^\/1\.0\/operations\/([^/]+)\/websocket$/);
        if (wsMatch) return this.upgrade(req, server, wsMatch[1]!, url.searchParams.get("secret") ?? "");
        if (url.pathname === "/1.0/events") {
          this.requests.push({ method: "GET", path: url.pathname + url.search, headers: req.headers, body: "" });
          return server.upgrade(req, { data: { op: "", key: "events" } }) ? undefined : error(400, "upgrade failed");
        }
        const body = req.method === "GET" ? "" : await req.text();
        this.requests.push({ method: req.method, path: url.pathname + url.search, headers: req.headers, body });
        for (const route of this.routes) {
          const res = await route(req, url, body);
          if (res) return res;
        }
        return this.builtin(req, url, body) ?? error(404, "not found");
      },
      websocket: {
        open: (ws) => this.onOpen(ws),
        message: (ws, msg) => this.onMessage(ws, msg),
        close: (ws) => this.onClose(ws),
      },
    });
  }

  stop(): void {
    this.server.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Creates an operation; returns the 202 response and a handle to finish it. */
  operation(cls: string, metadata: Record<string, unknown> = {}): { res: Response; op: OpState } {
    const id = `op-${++this.seq}`;
    let finish!: OpState["finish"];
    const json: Record<string, unknown> = {
      id, class: cls, description: "Testing", created_at: new Date().toISOString(), updated_at: new Date().toISOString(),
      status: "Running", status_code: 103, resources: {}, metadata, may_cancel: false, err: "",
    };
    const done = new Promise<void>((resolve) => {
      finish = (status, extra = {}, err = "") => {
        Object.assign(json, { status, status_code: status === "Success" ? 200 : 400, err, metadata: { ...(json.metadata as object), ...extra } });
        resolve();
      };
    });
    const op = { id, done, finish, json };
    this.ops.set(id, op);
    const res = Response.json({ type: "async", status: "Operation created", status_code: 100, operation: `/1.0/operations/${id}`, metadata: json },
      { status: 202, headers: { Location: `/1.0/operations/${id}` } });
    return { res, op };
  }

  private builtin(req: Request, url: URL, body: string): Response | Promise<Response> | undefined {
    const wait = url.pathname.match(/^\/1\.0\/operations\/([^/]+)\/wait$/);
    if (wait) {
      const op = this.ops.get(wait[1]!);
      if (!op) return error(404, "Operation not found");
      // As LXD: the operation once it ended, or as it stands after `timeout` seconds.
      const seconds = Number(url.searchParams.get("timeout") ?? -1);
      const expired = seconds < 0 ? new Promise<void>(() => {}) : Bun.sleep(seconds * 1000);
      return Promise.race([op.done, expired]).then(() => sync(op.json));
    }
    const exec = url.pathname.match(/^\/1\.0\/instances\/([^/]+)\/exec$/);
    if (exec && req.method === "POST") return this.startExec(JSON.parse(body));
    return undefined;
  }

  private startExec(req: { command: string[]; interactive: boolean }): Response {
    const keys = req.interactive ? ["0", "control"] : ["0", "1", "2", "control"];
    const fds = Object.fromEntries(keys.map((k) => [k, `secret-${k}-${this.seq + 1}`]));
    const { res, op } = this.operation("websocket", { command: req.command, fds, interactive: req.interactive });
    this.sockets.set(op.id, new Map());
    this.controlLog.set(op.id, []);
    let eof!: () => void;
    const stdinDone = new Promise<void>((r) => (eof = r));
    this.stdinBuffers.set(op.id, { chunks: [], eof, done: stdinDone });
    (op as OpState & { keys?: string[]; fds?: Record<string, string>; req?: typeof req }).keys = keys;
    Object.assign(op, { fds, req });
    return res;
  }

  private upgrade(req: Request, server: Server<WsData>, opId: string, secret: string): Response | undefined {
    const op = this.ops.get(opId) as (OpState & { fds?: Record<string, string> }) | undefined;
    const key = op?.fds && Object.entries(op.fds).find(([, s]) => s === secret)?.[0];
    if (!key) return error(403, "Invalid secret");
    if (server.upgrade(req, { data: { op: opId, key } })) return undefined;
    return error(400, "upgrade failed");
  }

  /** Events sent to every /1.0/events subscriber when it connects. */
  events: unknown[] = [];

  private onOpen(ws: ServerWebSocket<WsData>): void {
    if (ws.data.key === "events") {
      for (const e of this.events) ws.send(JSON.stringify(e));
      return;
    }
    const socks = this.sockets.get(ws.data.op)!;
    socks.set(ws.data.key, ws);
    const op = this.ops.get(ws.data.op) as OpState & { keys: string[]; req: { command: string[]; interactive: boolean } };
    if (socks.size === op.keys.length) void this.runExec(op);
  }

  private onMessage(ws: ServerWebSocket<WsData>, msg: string | Buffer): void {
    if (ws.data.key === "events") return;
    if (ws.data.key === "control") {
      this.controlLog.get(ws.data.op)!.push(String(msg));
      return;
    }
    const buf = this.stdinBuffers.get(ws.data.op)!;
    if (typeof msg === "string" && msg.length === 0) buf.eof();
    else buf.chunks.push(typeof msg === "string" ? new TextEncoder().encode(msg) : new Uint8Array(msg));
  }

  private onClose(ws: ServerWebSocket<WsData>): void {
    if (ws.data.key === "events") return;
    if (ws.data.key === "control") this.controlLog.get(ws.data.op)?.push("<closed>");
  }

  private async runExec(op: OpState & { req: { command: string[]; interactive: boolean } }): Promise<void> {
    const socks = this.sockets.get(op.id)!;
    const buf = this.stdinBuffers.get(op.id)!;
    const outSock = op.req.interactive ? socks.get("0")! : socks.get("1")!;
    const errSock = op.req.interactive ? socks.get("0")! : socks.get("2")!;
    const code = await this.execScript({
      interactive: op.req.interactive,
      command: op.req.command,
      stdin: async () => {
        await buf.done;
        return new Uint8Array(Buffer.concat(buf.chunks));
      },
      out: (d) => outSock.send(new TextEncoder().encode(d)),
      err: (d) => errSock.send(new TextEncoder().encode(d)),
      control: this.controlLog.get(op.id)!,
    });
    for (const [key, ws] of socks) if (key !== "control") ws.close(1000);
    op.finish("Success", { return: code });
  }
}
