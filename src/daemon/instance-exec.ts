// POST /1.0/instances/{name}/exec with LXD's websocket protocol.
// Interactive: fds "0" (pty, both ways) + "control". Non-interactive: "0" stdin, "1" stdout,
// "2" stderr + "control". Control carries JSON {command: "window-resize"|"signal"}. The exit code
// ends up in the operation's metadata.return.
import { Elysia } from "elysia";
import { AsyncResponse } from "../api/envelope.ts";
import { randomBytes } from "node:crypto";
import { InstanceExecPost, InstanceName } from "../api/instance.ts";
import type { ExecSession } from "../kernel/exec.ts";
import type { DaemonContext } from "./context.ts";
import type { ServerWebSocketLike } from "./operations.ts";
import { ApiError } from "../api/error.ts";

/** After the command exits, output still in flight is forwarded until the stream is idle this long. */
const DRAIN_IDLE_MS = 30;
/** How long the client has to connect its websockets before the operation fails. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Copies a stream into a websocket; once `exited` resolves, stops at EOF or when the stream goes idle
 *  (a background child may keep the pipe open forever). */
async function pump(stream: ReadableStream<Uint8Array>, ws: ServerWebSocketLike | undefined, exited: Promise<unknown>) {
  const reader = stream.getReader();
  let done = false;
  exited.then(() => (done = true));
  try {
    for (;;) {
      const next = reader.read();
      const chunk = done
        ? await Promise.race([next, Bun.sleep(DRAIN_IDLE_MS).then(() => null)])
        : await Promise.race([next, exited.then(() => Promise.race([next, Bun.sleep(DRAIN_IDLE_MS).then(() => null)]))]);
      if (!chunk || chunk.done) break;
      if (chunk.value.length) ws?.send(chunk.value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function onControl(session: ExecSession, data: string | Uint8Array) {
  try {
    const msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
    if (msg.command === "window-resize") {
      session.resize(Number(msg.args?.width) || 80, Number(msg.args?.height) || 24);
    } else if (msg.command === "signal" && Number.isInteger(msg.signal)) {
      session.signal(msg.signal);
    }
  } catch {
    // Ignore malformed control messages, as LXD does.
  }
}

export const instanceExecRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "instance-exec" })
    .post("/1.0/instances/:name/exec", ({ params, body }) => {
      const { name } = params;
      ctx.instances.get(name);
      if (!ctx.instances.isRunning(name)) throw new ApiError(400, "Instance is not running");
      if (body["record-output"]) throw new ApiError(400, "Recording exec output is not supported yet");
      const interactive = body.interactive ?? false;
      const waitForWs = body["wait-for-websocket"] ?? false;
      const keys = waitForWs ? (interactive ? ["0", "control"] : ["0", "1", "2", "control"]) : [];
      const fds: Record<string, string> = Object.fromEntries(keys.map((k) => [k, randomBytes(32).toString("hex")]));
      const sockets = new Map<string, ServerWebSocketLike>();
      let allConnected!: () => void;
      const connected = new Promise<void>((resolve) => (allConnected = resolve));
      if (!keys.length) allConnected();
      let session: ExecSession | undefined;

      return ctx.ops.create({
        class: "websocket",
        description: "Executing command",
        resources: { instances: [`/1.0/instances/${name}`], containers: [`/1.0/containers/${name}`] },
        metadata: { command: body.command, environment: body.environment ?? {}, fds, interactive },
        connect: (_op, secret, ws) => {
          const key = keys.find((k) => fds[k] === secret);
          if (!key || sockets.has(key)) return ws.close(1008);
          sockets.set(key, ws);
          if (sockets.size === keys.length) allConnected();
        },
        run: async () => {
          const timeout = Bun.sleep(CONNECT_TIMEOUT_MS).then(() => { throw new Error("Timed out waiting for websockets to connect"); });
          await Promise.race([connected, timeout]);
          session = ctx.instances.exec(name, {
            command: body.command, env: body.environment ?? {}, cwd: body.cwd || undefined,
            uid: body.user, gid: body.group,
            pty: interactive ? { cols: body.width || 80, rows: body.height || 24 } : undefined,
          });
          const s = session;
          const stdin = sockets.get("0");
          stdin?.onMessage((data) => {
            // LXD's clients mark stdin EOF with an empty message or by closing the socket.
            if (data.length === 0) {
              if (!interactive) s.closeStdin();
            } else s.stdin(typeof data === "string" ? new TextEncoder().encode(data) : data);
          });
          stdin?.onClose(() => { if (!interactive) s.closeStdin(); });
          const control = sockets.get("control");
          control?.onMessage((data) => onControl(s, data));
          let finished = false;
          // A client that drops the control socket mid-command (Ctrl-C on its side) ends the command.
          control?.onClose(() => { if (!finished) s.signal(9); });

          const exited = s.exit.then(() => (finished = true), () => (finished = true));
          const outputs = [pump(s.stdout, interactive ? stdin : sockets.get("1"), exited)];
          if (s.stderr) outputs.push(pump(s.stderr, sockets.get("2"), exited));
          // One await for all: a helper that fails (bad cwd) or is killed (OOM, stop --force)
          // fails this operation; an unobserved rejection would take the whole daemon down.
          const [code] = await Promise.all([s.exit, ...outputs]);
          for (const ws of sockets.values()) ws.close(1000);
          return { return: code };
        },
        cancel: () => session?.signal(9),
      });
    }, {
      params: InstanceName, body: InstanceExecPost,
      response: AsyncResponse,
      detail: { summary: "Run a command in an instance (websocket operation)", tags: ["instances"] },
    });
