// Running a command inside a running container with `lxd-helper exec`, as a request to the
// container's monitor (which forks a runner: no process spawn on this path) or, for monitors of
// older versions, as a new helper process. Without a pty the command writes straight into the
// pipes (no relay); with one, the runner relays the pty.
// fd 3 is the control channel: "resize C R" / "signal N" in, "exit N" / "error MSG" out; fd 4 is
// a pidfd of the container's init (the helper joins its namespaces through it).
import { closeSync, writeSync } from "node:fs";
import type { FileSink } from "bun";
import { dirname, join } from "node:path";
import { channel, monitorExec, monotonicMs, SyscallError } from "./ffi.ts";
import { helperPath, pidfdForHelper } from "./native.ts";
import { seccompHex } from "./seccomp.ts";

export interface ExecOptions {
  /** A pidfd of the container's init (the caller keeps it; the helper gets a copy). */
  pidfd: number;
  /** Where the container's monitor takes exec requests (exec.sock; no helper is spawned). */
  monitor?: string;
  command: string[];
  env: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  pty?: { cols: number; rows: number };
  seccomp?: Uint8Array;
  /** Ask the helper for its phase marks (ExecSession.trace). */
  trace?: boolean;
}

export interface ExecSession {
  stdin: (data: Uint8Array) => void;
  closeStdin(): void;
  /** The command's stdout, or the pty's output with a pty. */
  stdout: ReadableStream<Uint8Array>;
  /** The command's stderr (absent with a pty: it goes to the terminal). */
  stderr?: ReadableStream<Uint8Array>;
  resize(cols: number, rows: number): void;
  signal(n: number): void;
  /** The command's exit code (128+N when killed by signal N); rejects when it could not start. */
  exit: Promise<number>;
  /** With `trace`: the helper's phase marks (CLOCK_MONOTONIC ms: start, joined, exec, exit). */
  trace: Promise<Record<string, number> | undefined>;
}

/** Where the helper finds the pidfd. */
const PIDFD_FD = 4;

export function helperArgs(opts: ExecOptions): string[] {
  if (!opts.command.length) throw new Error("exec: empty command");
  const args = ["exec", "--pidfd", String(PIDFD_FD)];
  if (opts.cwd) args.push("--cwd", opts.cwd);
  if (opts.uid !== undefined) args.push("--uid", String(opts.uid));
  if (opts.gid !== undefined) args.push("--gid", String(opts.gid));
  for (const [k, v] of Object.entries(opts.env)) args.push("--env", `${k}=${v}`);
  if (opts.pty) args.push("--pty", `${Math.max(1, opts.pty.cols | 0)}x${Math.max(1, opts.pty.rows | 0)}`);
  if (opts.seccomp?.length) args.push("--seccomp", seccompHex(opts.seccomp));
  if (opts.trace) args.push("--trace");
  return [...args, "--", ...opts.command];
}

/** The control channel's text until EOF, with when its last line arrived (CLOCK_MONOTONIC ms). */
async function readControl(fd: number): Promise<{ text: string; lastLine: number }> {
  let text = "";
  let lastLine = 0;
  try {
    for await (const chunk of Bun.file(fd).stream()) {
      text += new TextDecoder().decode(chunk);
      lastLine = monotonicMs();
    }
  } catch {
    // The helper died: its exit status tells the rest.
  }
  return { text, lastLine };
}

/** FileSink calls may return a promise that rejects once the reader has gone. */
const ignore = (r: unknown) => {
  if (r instanceof Promise) r.catch(() => {});
};

/** The process side of an exec, however it was started. */
interface Launched {
  stdin: FileSink;
  /** Called after stdin's FileSink has ended (closes an fd the daemon owns). */
  stdinClosed(): void;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  /** The daemon's end of the control channel. */
  ctl: number;
  /** A spawned helper's status (undefined for a monitor's runner, which is not our child). */
  exited: Promise<{ status: number; signal: string | number | null } | undefined>;
}

/** A new lxd-helper process (monitors started by older versions do not run exec requests). */
function spawnHelper(args: string[], pidfd: number): Launched {
  const proc = Bun.spawn([helperPath(), ...args], { stdio: ["pipe", "pipe", "pipe", "socket-fd", pidfdForHelper(pidfd)] });
  return {
    stdin: proc.stdin, stdinClosed: () => {}, stdout: proc.stdout, stderr: proc.stderr, ctl: proc.stdio[3] as number,
    exited: proc.exited.then((status) => ({ status, signal: proc.signalCode })),
  };
}

/** A stream of what arrives on `fd` (a pipe end we own); the fd is closed when the stream ends. */
function fdStream(fd: number): ReadableStream<Uint8Array> {
  const reader = Bun.file(fd).stream().getReader();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          close();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      close();
    },
  }, { highWaterMark: 0 });
}

/** Hands the request to the container's monitor (lxd-helper's monitor.sock), which forks a runner:
 *  no process spawn here. The daemon makes the pipes and the control socketpair and keeps its ends. */
function monitorRunner(args: string[], monitorSock: string): Launched {
  const stdin = channel("pipe", 1);
  const stdout = channel("pipe", 0);
  const stderr = channel("pipe", 0);
  const ctl = channel("socketpair", 0);
  const theirs = [stdin[0], stdout[1], stderr[1], ctl[1]];
  try {
    try {
      monitorExec(monitorSock, args, theirs);
    } catch (err) {
      // No zygote (exec.sock): the monitor itself forks the runner.
      if (!(err instanceof SyscallError && ["ENOENT", "ECONNREFUSED"].includes(err.code))) throw err;
      monitorExec(join(dirname(monitorSock), "monitor.sock"), args, theirs);
    }
  } catch (err) {
    for (const fd of [...theirs, stdin[1], stdout[0], stderr[0], ctl[0]]) closeSync(fd);
    throw err;
  } finally {
    for (const fd of theirs) {
      try {
        closeSync(fd);
      } catch {
        // Closed above.
      }
    }
  }
  return {
    stdin: Bun.file(stdin[1]).writer(),
    stdinClosed: () => closeSync(stdin[1]),
    stdout: fdStream(stdout[0]),
    stderr: fdStream(stderr[0]),
    ctl: ctl[0],
    exited: Promise.resolve(undefined),
  };
}

export function startExec(opts: ExecOptions): ExecSession {
  const args = helperArgs(opts);
  const p = opts.monitor ? monitorRunner(args, opts.monitor) : spawnHelper(args, opts.pidfd);
  const ctl = p.ctl;
  let ctlOpen = true;
  let stdinOpen = true;
  const send = (line: string) => {
    if (!ctlOpen) return;
    try {
      writeSync(ctl, line);
    } catch {
      // The helper is gone; its exit is reported through `exit`.
    }
  };
  // With a pty the command's stderr is the terminal: the helper's own is only read for a message.
  const helperErr = opts.pty ? new Response(p.stderr).text() : Promise.resolve("");

  const control = readControl(ctl);
  const exit = (async () => {
    // "exit N" may arrive just after the process is reaped: wait for the channel's end too.
    const [{ text }, proc] = await Promise.all([control, p.exited]);
    ctlOpen = false;
    closeSync(ctl);
    const error = /^error (.*)$/m.exec(text)?.[1] ?? (proc?.status === 255 ? (await helperErr).trim() : "");
    if (error) throw new Error(`exec ${opts.command[0]}: ${error}`);
    const code = /^exit (\d+)$/m.exec(text)?.[1];
    if (code !== undefined) return Number(code);
    if (!proc) throw new Error(`exec ${opts.command[0]}: the command's runner ended without reporting`);
    if (proc.signal) throw new Error(`exec ${opts.command[0]}: lxd-helper killed by ${proc.signal}`);
    return proc.status;
  })();

  return {
    stdin(data) {
      if (!stdinOpen) return;
      try {
        p.stdin.write(data);
        ignore(p.stdin.flush());
      } catch {
        stdinOpen = false;
      }
    },
    closeStdin() {
      if (!stdinOpen) return;
      stdinOpen = false;
      try {
        const ended = p.stdin.end();
        if (ended instanceof Promise) ended.then(p.stdinClosed, p.stdinClosed);
        else p.stdinClosed();
      } catch {
        // Already closed by the helper's exit.
      }
    },
    stdout: p.stdout,
    stderr: opts.pty ? undefined : p.stderr,
    resize: (cols, rows) => send(`resize ${cols | 0} ${rows | 0}\n`),
    signal: (n) => send(`signal ${n | 0}\n`),
    exit,
    trace: control.then(({ text, lastLine }) => {
      const line = /^trace (.*)$/m.exec(text)?.[1];
      if (!line) return undefined;
      return { ...Object.fromEntries(line.split(" ").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)])), reported: lastLine, eof: monotonicMs() };
    }),
  };
}
