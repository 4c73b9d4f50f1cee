// Running a command inside a running container with `lxd-helper exec`. Without a pty the command
// writes straight into the pipes Bun created (no relay); with one, the helper relays the pty.
// fd 3 is the control channel: "resize C R" / "signal N" in, "exit N" / "error MSG" out; fd 4 is
// a pidfd of the container's init (the helper joins its namespaces through it).
import { closeSync, writeSync } from "node:fs";
import { helperPath, pidfdForHelper } from "./native.ts";
import { seccompHex } from "./seccomp.ts";

export interface ExecOptions {
  /** A pidfd of the container's init (the caller keeps it; the helper gets a copy). */
  pidfd: number;
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

async function readControl(fd: number): Promise<string> {
  let text = "";
  try {
    for await (const chunk of Bun.file(fd).stream()) text += new TextDecoder().decode(chunk);
  } catch {
    // The helper died: its exit status tells the rest.
  }
  return text;
}

/** FileSink calls may return a promise that rejects once the helper has exited. */
const ignore = (r: unknown) => {
  if (r instanceof Promise) r.catch(() => {});
};

export function startExec(opts: ExecOptions): ExecSession {
  const proc = Bun.spawn([helperPath(), ...helperArgs(opts)], {
    stdio: ["pipe", "pipe", "pipe", "socket-fd", pidfdForHelper(opts.pidfd)],
  });
  const ctl = proc.stdio[3] as number;
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
  const helperErr = opts.pty ? new Response(proc.stderr).text() : Promise.resolve("");

  const control = readControl(ctl);
  const exit = (async () => {
    // "exit N" may arrive just after the process is reaped: wait for the channel's end too.
    const [text, status] = await Promise.all([control, proc.exited]);
    ctlOpen = false;
    closeSync(ctl);
    const error = /^error (.*)$/m.exec(text)?.[1] ?? (status === 255 ? (await helperErr).trim() : "");
    if (error) throw new Error(`exec ${opts.command[0]}: ${error}`);
    const code = /^exit (\d+)$/m.exec(text)?.[1];
    if (code !== undefined) return Number(code);
    if (proc.signalCode) throw new Error(`exec ${opts.command[0]}: lxd-helper killed by ${proc.signalCode}`);
    return status;
  })();

  return {
    stdin(data) {
      if (!stdinOpen) return;
      try {
        proc.stdin.write(data);
        ignore(proc.stdin.flush());
      } catch {
        stdinOpen = false;
      }
    },
    closeStdin() {
      if (!stdinOpen) return;
      stdinOpen = false;
      try {
        ignore(proc.stdin.end());
      } catch {
        // Already closed by the helper's exit.
      }
    },
    stdout: proc.stdout,
    stderr: opts.pty ? undefined : proc.stderr,
    resize: (cols, rows) => send(`resize ${cols | 0} ${rows | 0}\n`),
    signal: (n) => send(`signal ${n | 0}\n`),
    exit,
    trace: control.then((text) => {
      const line = /^trace (.*)$/m.exec(text)?.[1];
      return line ? Object.fromEntries(line.split(" ").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)])) : undefined;
    }),
  };
}
