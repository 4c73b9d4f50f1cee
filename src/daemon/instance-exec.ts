// POST /1.0/instances/{name}/exec with LXD's websocket protocol.
// Interactive: fds "0" (pty, both ways) + "control". Non-interactive: "0" stdin, "1" stdout,
// "2" stderr + "control". Control carries JSON {command: "window-resize"|"signal"}. The exit code
// ends up in the operation's metadata.return. The command starts when the client connects its first
// websocket (Debian's lxc connects control, 0, 1 and 2 one after another: the command runs while
// the others connect) and its output waits in the pipes until the data sockets are all there;
// control is optional (pylxd never opens it) and may come later. Without
// websockets stdin is empty, and `record-output` keeps stdout and stderr as log files of the
// instance (exec_<id>.stdout/.stderr under /logs, named in the operation's metadata.output).
import { Elysia } from "elysia";
import { AsyncResponse } from "../api/envelope.ts";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { containerDir } from "../paths.ts";
import { InstanceExecPost, InstanceName } from "../api/instance.ts";
import type { ExecSession } from "../kernel/exec.ts";
import { monotonicMs } from "../kernel/ffi.ts";
import { debugEnabled, log } from "../log.ts";
import type { DaemonContext } from "./context.ts";
import type { ServerWebSocketLike } from "./operations.ts";
import { ApiError } from "../api/error.ts";
import { instanceUrl, containerUrl } from "../api/project-names.ts";

/** After the command exits, output still in flight is forwarded until the stream is idle this long. */
const DRAIN_IDLE_MS = 30;
/** How long the client has to connect its websockets before the operation fails. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Where output goes: a websocket, or a log file with record-output. Strings are protocol messages
 *  (the end-of-stream barrier), which a file does not keep. */
type Sink = { send(data: Uint8Array | string): unknown };

/** An `exec_<id>.stdout|stderr` file in the instance's log directory, served under /logs as LXD does. */
function recordFile(instance: string, name: string): Sink & { url: string; close(): void } {
  const fd = openSync(join(containerDir(instance), name), "w", 0o600);
  return {
    url: instanceUrl(instance, `/logs/${name}`),
    send: (data) => typeof data === "string" || writeSync(fd, data),
    close: () => closeSync(fd),
  };
}

/** Copies a stream into a websocket; once `exited` resolves, stops at EOF or when the stream goes idle
 *  (a background child may keep the pipe open forever). */
async function pump(stream: ReadableStream<Uint8Array>, ws: Sink | undefined, exited: Promise<unknown>) {
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
    // LXD's end-of-stream barrier (an empty text message): a client stops reading here instead of
    // waiting for the socket's close to complete.
    ws?.send("");
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** With --debug: when each phase of an exec ended, in ms since the request reached the handler,
 *  on the helper's clock (CLOCK_MONOTONIC), logged as one "Exec timing" line. */
class ExecTrace {
  private readonly t0 = monotonicMs();
  private readonly marks: Record<string, number> = {};
  mark(phase: string, at = monotonicMs()) {
    this.marks[phase] = Math.round((at - this.t0) * 100) / 100;
  }
  async log(name: string, session: ExecSession | undefined) {
    const helper = await session?.trace.catch(() => undefined);
    for (const [phase, at] of Object.entries(helper ?? {})) this.mark(`helper_${phase}`, at);
    const ordered = Object.entries(this.marks).sort((a, b) => a[1] - b[1]);
    log.debug("Exec timing", { instance: name, ...Object.fromEntries(ordered) });
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
      // A running instance is known in memory; only otherwise is the database asked (404 or 400).
      if (!ctx.instances.isRunning(name)) {
        ctx.instances.get(name);
        throw new ApiError(400, "Instance is not running");
      }
      const interactive = body.interactive ?? false;
      const waitForWs = body["wait-for-websocket"] ?? false;
      // Without websockets, LXD keeps the output only when asked to (record-output).
      const record = !waitForWs && (body["record-output"] ?? false);
      const keys = waitForWs ? (interactive ? ["0", "control"] : ["0", "1", "2", "control"]) : [];
      const fds: Record<string, string> = Object.fromEntries(keys.map((k) => [k, randomBytes(32).toString("hex")]));
      const sockets = new Map<string, ServerWebSocketLike>();
      let allConnected!: () => void;
      const connected = new Promise<void>((resolve) => (allConnected = resolve));
      let firstConnected!: () => void;
      const started = new Promise<void>((resolve) => (firstConnected = resolve));
      if (!keys.length) {
        allConnected();
        firstConnected();
      }
      let session: ExecSession | undefined;
      /** Set once the command runs: wires a stdin or control socket connected then or later. */
      let attach: ((key: string, ws: ServerWebSocketLike) => void) | undefined;
      const trace = debugEnabled() ? new ExecTrace() : undefined;

      const op = ctx.ops.create({
        class: "websocket",
        description: "Executing command",
        resources: { instances: [instanceUrl(name)], containers: [containerUrl(name)] },
        metadata: { command: body.command, environment: body.environment ?? {}, fds, interactive },
        connect: (_op, secret, ws) => {
          const key = keys.find((k) => fds[k] === secret);
          if (!key || sockets.has(key)) return ws.close(1008);
          sockets.set(key, ws);
          if (sockets.size === 1) {
            trace?.mark("first_websocket");
            firstConnected();
          }
          attach?.(key, ws);
          if (keys.every((k) => k === "control" || sockets.has(k))) {
            trace?.mark("websockets");
            allConnected();
          }
        },
        run: async () => {
          const timeout = Bun.sleep(CONNECT_TIMEOUT_MS).then(() => { throw new Error("Timed out waiting for websockets to connect"); });
          await Promise.race([started, timeout]);
          trace?.mark("spawn");
          session = ctx.instances.exec(name, {
            command: body.command, env: body.environment ?? {}, cwd: body.cwd || undefined,
            uid: body.user, gid: body.group,
            pty: interactive ? { cols: body.width || 80, rows: body.height || 24 } : undefined,
            trace: Boolean(trace),
          });
          trace?.mark("spawned");
          const s = session;
          if (!waitForWs) s.closeStdin(); // stdin is /dev/null, as in LXD
          const id = randomBytes(16).toString("hex");
          const files = record ? [recordFile(name, `exec_${id}.stdout`), recordFile(name, `exec_${id}.stderr`)] : [];
          let finished = false;
          attach = (key, ws) => {
            if (key === "control") {
              ws.onMessage((data) => onControl(s, data));
              // A client that drops the control socket mid-command (Ctrl-C on its side) ends the command.
              ws.onClose(() => { if (!finished) s.signal(9); });
            } else if (key === "0") {
              // Messages that came before are kept by the socket until this handler is set.
              ws.onMessage((data) => {
                // LXD's clients mark stdin EOF with an empty message or by closing the socket.
                if (data.length === 0) {
                  if (!interactive) s.closeStdin();
                } else s.stdin(typeof data === "string" ? new TextEncoder().encode(data) : data);
              });
              ws.onClose(() => { if (!interactive) s.closeStdin(); });
            }
          };
          for (const [key, ws] of sockets) attach(key, ws);

          const exited = s.exit.then(() => (finished = true), () => (finished = true));
          if (trace) void exited.then(() => trace.mark("exit"));
          try {
            await Promise.race([connected, timeout]);
          } catch (err) {
            // The client went away halfway: the command it started does not outlive the operation.
            s.signal(9);
            await exited;
            throw err;
          }
          const stdin = sockets.get("0");
          const outputs = [pump(s.stdout, interactive ? stdin : sockets.get("1") ?? files[0], exited)];
          if (s.stderr) outputs.push(pump(s.stderr, sockets.get("2") ?? files[1], exited));
          try {
            // One await for all: a helper that fails (bad cwd) or is killed (OOM, stop --force)
            // fails this operation; an unobserved rejection would take the whole daemon down.
            const [code] = await Promise.all([s.exit, ...outputs]);
            trace?.mark("drained");
            for (const ws of sockets.values()) ws.close(1000);
            if (trace) void trace.log(name, s);
            return record ? { return: code, output: { 1: files[0]!.url, 2: files[1]!.url } } : { return: code };
          } finally {
            for (const f of files) f.close();
          }
        },
        cancel: () => session?.signal(9),
      });
      trace?.mark("operation");
      return op;
    }, {
      params: InstanceName, body: InstanceExecPost,
      response: AsyncResponse,
      detail: { summary: "Run a command in an instance (websocket operation)", tags: ["instances"] },
    });
