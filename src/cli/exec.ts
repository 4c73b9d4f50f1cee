// `exec NAME -- CMD...`: runs a command in an instance over LXD's exec websockets and exits with the
// command's exit code.
//
// Stream convention (LXD's shared/ws): data is sent as binary messages; the end of a direction is an
// empty text message (a "barrier"); a reader stops at a barrier or a close frame. Interactive mode has
// one bidirectional pty socket "0"; non-interactive has "0" (stdin), "1" (stdout), "2" (stderr). The
// "control" socket carries window-resize and signal messages and stays open until the command is done
// (closing it early asks the daemon to kill the command).
import { Command, Option } from "clipanion";
import { constants } from "node:os";
import type { InstanceExecPost } from "../api/instance.ts";
import type { LxdClient } from "../client/client.ts";
import type { Operation } from "../api/operation.ts";
import { recvStream, type WsConn } from "../client/websocket.ts";
import { LxdCommand, processStdin } from "./base.ts";

/** Signals forwarded to the command, as lxc does (SIGWINCH becomes a window-resize instead). */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCONT"];
/** After the operation ends, output still in flight gets this long to arrive. */
const OUTPUT_GRACE_MS = 2000;

export type ExecMode = "auto" | "interactive" | "non-interactive";

/** lxc's rule: interactive when forced, or (auto) when stdin AND stdout are terminals. */
export function resolveInteractive(opts: { mode: ExecMode; force?: boolean; noForce?: boolean; disableStdin?: boolean; stdinTTY: boolean; stdoutTTY: boolean }): boolean {
  if (opts.force && opts.noForce) throw new Error("You can't pass -t and -T at the same time");
  if (opts.mode !== "auto" && (opts.force || opts.noForce)) throw new Error("You can't pass -t or -T at the same time as --mode");
  if (opts.disableStdin) return false;
  if (opts.mode === "interactive" || opts.force) return true;
  if (opts.mode === "non-interactive" || opts.noForce) return false;
  return opts.stdinTTY && opts.stdoutTTY;
}

/** Environment for the request: the caller's TERM (if any) plus --env K=V (entries without "=" are ignored, like lxc). */
export function execEnvironment(envArgs: string[], term: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (term !== undefined) env.TERM = term;
  for (const arg of envArgs) {
    const eq = arg.indexOf("=");
    if (eq > 0) env[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
  return env;
}

/** The exit status carried by a finished exec operation. */
export function exitCodeOf(op: Operation): number {
  const ret = op.metadata?.return;
  return typeof ret === "number" ? ret : 0;
}

interface ExecIO {
  /** A Node stream, or the process's stdin as a web stream when no terminal needs raw mode. */
  stdin: NodeJS.ReadStream | ReadableStream<Uint8Array>;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  disableStdin: boolean;
}

/** Runs an exec request end to end: connects the streams, forwards signals, returns the exit code. */
export async function runExec(client: LxdClient, name: string, req: InstanceExecPost, io: ExecIO): Promise<number> {
  const op = await client.execInstance(name, req);
  const fds = (op.metadata?.fds ?? {}) as Record<string, string>;
  const connect = (key: string) => (fds[key] ? client.operationWebsocket(op.id, fds[key]!) : Promise.resolve(undefined));

  // All handshakes at once: the daemon starts the command when the last socket is connected.
  const [control, stdin, stdout, stderr] = await Promise.all(["control", "0", "1", "2"].map(connect));
  const sockets: WsConn[] = [];
  const cleanups: (() => void)[] = [];
  try {
    const streams: Promise<void>[] = [];
    const write = (out: NodeJS.WriteStream) => (chunk: Uint8Array) => void out.write(chunk);
    if (req.interactive) {
      const pty = stdin;
      if (pty) {
        sockets.push(pty);
        cleanups.push(pumpStdin(io, pty, true));
        streams.push(recvStream(pty, write(io.stdout)));
      }
    } else {
      for (const s of [stdin, stdout, stderr]) if (s) sockets.push(s);
      if (stdin) cleanups.push(pumpStdin(io, stdin, false));
      if (stdout) streams.push(recvStream(stdout, write(io.stdout)));
      if (stderr) streams.push(recvStream(stderr, write(io.stderr)));
    }
    if (control) cleanups.push(forwardSignals(control, Boolean(req.interactive), io.stdout));

    const outputs = Promise.all(streams);
    const finished = client.waitOperation(op).then(
      (done) => ({ done }),
      (error: unknown) => ({ error }),
    );
    await Promise.race([outputs, finished.then(() => Promise.race([outputs, Bun.sleep(OUTPUT_GRACE_MS)]))]);
    const result = await finished;
    if ("error" in result) throw result.error;
    return exitCodeOf(result.done);
  } finally {
    for (const cleanup of cleanups) cleanup();
    for (const s of sockets) s.close();
    control?.close();
  }
}

/** Streams local stdin into a socket, the barrier marking its EOF; `raw` puts a TTY in raw mode (the
 *  remote pty does the line editing). Returns the undo function. */
function pumpStdin(io: ExecIO, conn: WsConn, raw: boolean): () => void {
  if (io.disableStdin) {
    conn.sendBarrier();
    return () => {};
  }
  if (io.stdin instanceof ReadableStream) return pumpReadable(io.stdin, conn);
  const stdin = io.stdin;
  const onData = (chunk: Buffer | string) =>
    conn.send(typeof chunk === "string" ? new TextEncoder().encode(chunk) : new Uint8Array(chunk));
  const onEnd = () => conn.sendBarrier();
  const rawMode = raw && Boolean(stdin.isTTY);
  if (rawMode) stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.once("end", onEnd);
  stdin.resume();
  return () => {
    stdin.off("data", onData);
    stdin.off("end", onEnd);
    stdin.pause();
    if (rawMode) stdin.setRawMode(false);
  };
}

/** The process's own stdin through Bun's reader (creating process.stdin costs a CLI call ~20 ms). */
function pumpReadable(stdin: ReadableStream<Uint8Array>, conn: WsConn): () => void {
  const reader = stdin.getReader();
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      conn.send(value);
    }
    conn.sendBarrier();
  })().catch(() => {}); // cancelled by the undo, or stdin was closed under us: nothing more to send
  return () => void reader.cancel().catch(() => {});
}

/** Forwards signals (and, interactive, terminal resizes) over the control socket; returns the undo. */
function forwardSignals(control: WsConn, interactive: boolean, stdout: NodeJS.WriteStream): () => void {
  const handlers: [NodeJS.Signals, () => void][] = FORWARDED_SIGNALS.map((sig) => [
    sig,
    () => control.sendJSON({ command: "signal", signal: constants.signals[sig] }),
  ]);
  if (interactive && stdout.isTTY) {
    handlers.push(["SIGWINCH", () => control.sendJSON({
      command: "window-resize",
      args: { width: String(stdout.columns ?? 80), height: String(stdout.rows ?? 24) },
    })]);
  }
  for (const [sig, fn] of handlers) process.on(sig, fn);
  return () => {
    for (const [sig, fn] of handlers) process.off(sig, fn);
  };
}

export class ExecCommand extends LxdCommand {
  static override paths = [["exec"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Execute commands in instances",
    details: "The command is executed directly (no shell): use `sh -c \"...\"` for shell syntax. Mode defaults to non-interactive; interactive (a pty) is selected when both stdin and stdout are terminals. The exit code is the command's.",
    examples: [
      ["Run a shell command", "$0 exec c1 -- sh -c 'echo hello from $(hostname)'"],
      ["Interactive shell as uid 1000 in /tmp", "$0 exec c1 --user 1000 --group 1000 --cwd /tmp -t -- sh"],
      ["Pipe data through a command", "echo hi | $0 exec c1 -- cat"],
    ],
  });

  name = Option.String({ name: "instance" });
  command = Option.Rest({ required: 1 });
  env = Option.Array("--env", [], { description: "Environment variable to set (e.g. HOME=/home/foo)" });
  cwd = Option.String("--cwd", { description: "Directory to run the command in (default /root)" });
  user = Option.String("--user", "0", { description: "User ID to run the command as (default 0)" });
  group = Option.String("--group", "0", { description: "Group ID to run the command as (default 0)" });
  mode = Option.String("--mode", "auto", { description: "Override the terminal mode (auto, interactive or non-interactive)" });
  forceInteractive = Option.Boolean("-t,--force-interactive", false, { description: "Force pseudo-terminal allocation" });
  forceNonInteractive = Option.Boolean("-T,--force-noninteractive", false, { description: "Disable pseudo-terminal allocation" });
  disableStdin = Option.Boolean("-n,--disable-stdin", false, { description: "Disable stdin (reads from /dev/null)" });

  protected async run(): Promise<number> {
    if (!["auto", "interactive", "non-interactive"].includes(this.mode)) throw new Error(`Invalid --mode: ${this.mode}`);
    const uid = Number(this.user);
    const gid = Number(this.group);
    if (!Number.isInteger(uid) || uid < 0) throw new Error(`Invalid --user: ${this.user}`);
    if (!Number.isInteger(gid) || gid < 0) throw new Error(`Invalid --group: ${this.group}`);
    const stdin = this.context.stdin as NodeJS.ReadStream;
    const stdout = this.context.stdout as NodeJS.WriteStream;
    const interactive = resolveInteractive({
      mode: this.mode as ExecMode, force: this.forceInteractive, noForce: this.forceNonInteractive,
      disableStdin: this.disableStdin, stdinTTY: Boolean(stdin.isTTY), stdoutTTY: Boolean(stdout.isTTY),
    });
    const req: InstanceExecPost = {
      command: this.command,
      environment: execEnvironment(this.env, process.env.TERM),
      interactive,
      "wait-for-websocket": true,
      "record-output": false,
      width: stdout.isTTY ? stdout.columns : 0,
      height: stdout.isTTY ? stdout.rows : 0,
      user: uid,
      group: gid,
      cwd: this.cwd ?? "",
    };
    // The process's stdin is read through Bun, unless a terminal must be put in raw mode or it is not read.
    const viaBun = stdin === processStdin && !this.disableStdin && !(interactive && stdin.isTTY);
    return runExec(this.client, this.name, req, {
      stdin: viaBun ? Bun.stdin.stream() : stdin, stdout, stderr: this.context.stderr as NodeJS.WriteStream, disableStdin: this.disableStdin,
    });
  }
}
