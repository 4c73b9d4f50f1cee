// /1.0/operations: list, show, cancel, wait for, and connect to background operations.
import { isTrue } from "../config/values.ts";
import { currentClient, websocketsOpen } from "./limits.ts";
import type { ClusterLinks } from "./context.ts";
import type { Server, ServerWebSocket } from "bun";
import { Elysia, t } from "elysia";
import {
  Operation as OperationSchema, OperationId, OperationList, OperationListQuery, OperationWaitQuery, OperationWebsocketQuery,
} from "../api/operation.ts";
import { SyncEnvelope, recursionLevel } from "../api/envelope.ts";
import { log } from "../log.ts";
import type { Operation, OperationManager, ServerWebSocketLike } from "./operations.ts";
import { sync } from "./response.ts";
import { ApiError } from "../api/error.ts";

export interface OperationsContext { ops: OperationManager; clusterLinks?: ClusterLinks }

/** Bytes queued on a websocket above which `drained()` makes senders wait. */
const HIGH_WATER = 4 * 1024 * 1024;

/** What Elysia's Bun websocket handler calls for sockets we upgrade ourselves (it dispatches to
 *  ws.data.open/message/drain/close). Raw frames pass through untouched. */
export interface WsHandlers {
  open?(ws: ServerWebSocket<WsHandlers>): void;
  message?(ws: ServerWebSocket<WsHandlers>, data: string | Buffer): void;
  drain?(ws: ServerWebSocket<WsHandlers>): void;
  close?(ws: ServerWebSocket<WsHandlers>, code: number, reason: string): void;
}

/** Adapts a Bun server websocket to ServerWebSocketLike; returns the handlers that feed it. */
export function adaptWebSocket(onOpen: (ws: ServerWebSocketLike) => void, onClosed?: () => void): WsHandlers {
  let raw: ServerWebSocket<WsHandlers> | undefined;
  let messageCb: ((data: string | Uint8Array) => void) | undefined;
  const early: (string | Uint8Array)[] = [];
  const closeCbs: (() => void)[] = [];
  let closed = false;
  let drainWaiters: (() => void)[] = [];
  const wakeDrain = () => { const w = drainWaiters; drainWaiters = []; for (const f of w) f(); };

  const like: ServerWebSocketLike = {
    send(data) {
      if (closed || !raw) return;
      if (typeof data === "string") raw.sendText(data);
      else raw.sendBinary(data);
    },
    close(code = 1000, reason) {
      if (!closed) raw?.close(code, reason);
    },
    onMessage(cb) {
      messageCb = cb;
      for (const m of early.splice(0)) cb(m);
    },
    onClose(cb) {
      if (closed) cb();
      else closeCbs.push(cb);
    },
    bufferedAmount: () => (closed || !raw ? 0 : raw.getBufferedAmount()),
    drained() {
      if (closed || !raw || raw.getBufferedAmount() < HIGH_WATER) return Promise.resolve();
      return new Promise((resolve) => drainWaiters.push(resolve));
    },
  };
  return {
    open(ws) {
      raw = ws;
      onOpen(like);
    },
    message(_ws, data) {
      const m = typeof data === "string" ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (messageCb) messageCb(m);
      else early.push(m);
    },
    drain(ws) {
      if (ws.getBufferedAmount() < HIGH_WATER) wakeDrain();
    },
    close() {
      closed = true;
      wakeDrain();
      for (const cb of closeCbs.splice(0)) cb();
      onClosed?.();
    },
  };
}

/** Upgrades the request to a websocket served by `onOpen`, counted against the client's
 *  websocket cap until it closes. Bun answers the upgrade itself: the handler returns undefined. */
export function upgradeWebSocket(server: unknown, request: Request, onOpen: (ws: ServerWebSocketLike) => void): undefined {
  const release = websocketsOpen.claim(currentClient());
  if (!(server as Server<WsHandlers> | null)?.upgrade(request, { data: adaptWebSocket(onOpen, release) })) {
    release();
    throw new ApiError(400, "Websocket upgrade failed");
  }
  return undefined;
}

/** Carries every message between a client's websocket and one to another member, frame types
 *  kept (an empty text message is a stream's end), until either side closes. */
export function relayWebSocket(ws: ServerWebSocketLike, peer: WebSocket): void {
  const early: (string | Uint8Array)[] = [];
  peer.onopen = () => { for (const m of early.splice(0)) peer.send(m); };
  ws.onMessage((m) => (peer.readyState === WebSocket.OPEN ? peer.send(m) : early.push(m)));
  peer.onmessage = (e) => ws.send(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
  peer.onclose = (e) => ws.close(e.code >= 1000 && e.code < 5000 && e.code !== 1005 && e.code !== 1006 ? e.code : 1000, e.reason);
  peer.onerror = () => ws.close(1011, "Cluster member connection failed");
  ws.onClose(() => peer.close());
}

const isUpgrade = (request: Request) => request.headers.get("upgrade")?.toLowerCase() === "websocket";

function grouped<T>(ops: Operation[], render: (op: Operation) => T): Record<string, T[]> {
  const out: Record<string, T[]> = {};
  for (const op of ops) (out[op.status.toLowerCase()] ??= []).push(render(op));
  return out;
}

const parseTimeout = (value: string | undefined): number => {
  if (value === undefined || value === "") return -1;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new ApiError(400, `Invalid timeout "${value}": expected seconds, -1 for no limit`);
  return n;
};

export const operationsRoutes = (ctx: OperationsContext) =>
  new Elysia({ name: "operations" })
    .get("/1.0/operations", ({ query }) => {
      const ops = ctx.ops.list().filter((op) => isTrue(query["all-projects"]) || op.project === (query.project || "default"));
      if (recursionLevel(query) > 0) return sync(grouped(ops, (op) => op.toJSON()));
      return sync(grouped(ops, (op) => `/1.0/operations/${op.id}`));
    }, {
      query: OperationListQuery,
      response: OperationList,
      detail: { summary: "List operations, grouped by status", tags: ["operations"] },
    })

    .get("/1.0/operations/:id", ({ params }) => sync(ctx.ops.find(params.id).toJSON()), {
      params: OperationId,
      response: OperationSchema,
      detail: { summary: "Show an operation", tags: ["operations"] },
    })

    .delete("/1.0/operations/:id", async ({ params }) => {
      await ctx.ops.find(params.id).cancel();
      return sync({});
    }, {
      params: OperationId,
      response: t.Object({}),
      detail: { summary: "Cancel an operation (only if may_cancel)", tags: ["operations"] },
    })

    .get("/1.0/operations/:id/wait", async ({ params, query }) => {
      const op = ctx.ops.find(params.id);
      await op.wait(parseTimeout(query.timeout));
      // As LXD: the operation itself, whatever its outcome (Failure carries `err`).
      return sync(op.toJSON());
    }, {
      params: OperationId,
      query: OperationWaitQuery,
      response: OperationSchema,
      detail: { summary: "Wait for an operation to end (or for `timeout` seconds), then show it", tags: ["operations"] },
    })

    .get("/1.0/operations/:id/websocket", async ({ params, query, request, server }) => {
      if (!ctx.ops.get(params.id) && isUpgrade(request) && ctx.clusterLinks) {
        // Started on another member (the request that made it was forwarded there).
        const peer = await ctx.clusterLinks.operationSocket(request, params.id, `/1.0/operations/${params.id}/websocket?secret=${encodeURIComponent(query.secret ?? "")}`);
        if (peer) return upgradeWebSocket(server, request, (ws) => relayWebSocket(ws, peer));
      }
      const op = ctx.ops.find(params.id);
      if (!isUpgrade(request)) return sync(op.toJSON());
      const secret = query.secret ?? "";
      op.websocketKey(secret);
      return upgradeWebSocket(server, request, (ws) => {
        try {
          op.connectWebsocket(secret, ws);
        } catch (err) {
          log.warn("Websocket connection refused", { operation: op.id, err });
          ws.close(1011, (err as Error).message);
        }
      });
    }, {
      params: OperationId,
      query: OperationWebsocketQuery,
      detail: {
        summary: "Connect to a websocket operation (upgrade with one of metadata.fds' secrets); without upgrade, show it",
        tags: ["operations"],
        responses: {
          101: { description: "Websocket: binary frames carry data, text frames JSON control messages" },
          200: { description: "Without upgrade: the operation", content: { "application/json": { schema: JSON.parse(JSON.stringify(SyncEnvelope(OperationSchema))) } } },
        },
      },
    });
