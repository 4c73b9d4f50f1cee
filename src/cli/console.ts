// `console NAME`: attaches to an instance's console over LXD's websocket pair ("0" data, "control"),
// detaching on ctrl-a q; `--show-log` prints the console's buffered output instead.
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import type { Operation } from "../api/operation.ts";
import { recvStream, type WsConn } from "../client/websocket.ts";
import { LxdCommand, processStdin } from "./base.ts";

const CTRL_A = 0x01;
/** With piped input: after its end, detach once the console has been quiet this long (or after MAX). */
const QUIET_MS = 500;
const QUIET_MAX_MS = 10_000;

/** A filter over typed bytes that finds ctrl-a q (also split across reads): what to forward, and
 *  whether to detach. Ctrl-a followed by anything else is forwarded as typed. */
export function detachFilter(): (chunk: Uint8Array) => { forward: Uint8Array; detach: boolean } {
  let pendingCtrlA = false;
  return (chunk) => {
    const out: number[] = [];
    for (const byte of chunk) {
      if (pendingCtrlA) {
        pendingCtrlA = false;
        if (byte === 0x71 /* q */) return { forward: new Uint8Array(out), detach: true };
        out.push(CTRL_A);
        if (byte === CTRL_A) {
          pendingCtrlA = true;
          continue;
        }
        out.push(byte);
      } else if (byte === CTRL_A) {
        pendingCtrlA = true;
      } else {
        out.push(byte);
      }
    }
    return { forward: new Uint8Array(out), detach: false };
  };
}

interface ConsoleIO {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Reads typed input until ctrl-a q or its end; `onInput` gets what to forward. Resolves with
 *  "detach" or "eof"; the returned stop() undoes raw mode. */
function readInput(io: ConsoleIO, onInput: (data: Uint8Array) => void): { done: Promise<"detach" | "eof">; stop: () => void } {
  const filter = detachFilter();
  let finish!: (why: "detach" | "eof") => void;
  const done = new Promise<"detach" | "eof">((r) => (finish = r));
  const take = (chunk: Uint8Array) => {
    const { forward, detach } = filter(chunk);
    if (forward.length) onInput(forward);
    if (detach) finish("detach");
  };
  const stdin = io.stdin;
  if (stdin !== processStdin || stdin.isTTY) {
    const onData = (chunk: Buffer | string) => take(typeof chunk === "string" ? new TextEncoder().encode(chunk) : new Uint8Array(chunk));
    const onEnd = () => finish("eof");
    const raw = Boolean(stdin.isTTY);
    if (raw) stdin.setRawMode(true);
    stdin.on("data", onData);
    stdin.once("end", onEnd);
    stdin.resume();
    return {
      done, stop: () => {
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        stdin.pause();
        if (raw) stdin.setRawMode(false);
      },
    };
  }
  // Piped input through Bun's reader (no Node stdin needed).
  const reader = Bun.stdin.stream().getReader();
  void (async () => {
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      take(value);
    }
    finish("eof");
  })().catch(() => finish("eof"));
  return { done, stop: () => void reader.cancel().catch(() => {}) };
}

/** Attaches to the console until ctrl-a q, the end of piped input (once output is quiet), or the
 *  console closing (the instance stopped). */
export async function runConsole(client: LxdClient, name: string, io: ConsoleIO): Promise<void> {
  const tty = Boolean(io.stdout.isTTY);
  const size = { width: tty ? io.stdout.columns : 80, height: tty ? io.stdout.rows : 24 };
  const reply = await client.post<Operation>(`/1.0/instances/${encodeURIComponent(name)}/console`, { ...size, type: "console" });
  const op = reply.metadata;
  const fds = (op.metadata?.fds ?? {}) as Record<string, string>;
  if (!fds["0"] || !fds.control) throw new Error("The server did not offer console websockets");
  const [control, data] = await Promise.all([client.operationWebsocket(op.id, fds.control), client.operationWebsocket(op.id, fds["0"])]);
  const sockets: WsConn[] = [data, control];
  let lastOutput = Date.now();
  const output = recvStream(data, (chunk) => {
    lastOutput = Date.now();
    io.stdout.write(chunk);
  });
  if (io.stdin.isTTY) io.stderr.write("To detach from the console, press: <ctrl>+a q\r\n");
  const input = readInput(io, (bytes) => data.send(bytes));
  const resize = () => control.sendJSON({
    command: "window-resize", args: { width: String(io.stdout.columns ?? 80), height: String(io.stdout.rows ?? 24) },
  });
  if (tty) process.on("SIGWINCH", resize);
  try {
    const why = await Promise.race([input.done, output.then(() => "closed" as const)]);
    if (why === "eof") {
      const started = Date.now();
      while (Date.now() - lastOutput < QUIET_MS && Date.now() - started < QUIET_MAX_MS) await Bun.sleep(100);
    }
  } finally {
    input.stop();
    if (tty) process.off("SIGWINCH", resize);
    for (const s of sockets) s.close();
  }
  await client.waitOperation(op.id, 10).catch(() => {});
}

export class ConsoleCommand extends LxdCommand {
  static override paths = [["console"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Attach to instance consoles",
    details: "Connects to the console of a running container (its /dev/console, where init and the shell or getty it starts talk). Detach with ctrl-a q. With piped input, the command detaches once the input ended and the console has gone quiet.",
    examples: [
      ["Attach to c1's console", "$0 console c1"],
      ["Print what c1 wrote on its console (the last 128 KiB)", "$0 console c1 --show-log"],
    ],
  });

  name = Option.String({ name: "instance" });
  showLog = Option.Boolean("--show-log", false, { description: "Retrieve the container's console log" });
  type = Option.String("-t,--type", "console", { description: "Type of connection to establish: 'console' (containers have no 'vga')" });

  protected async run(): Promise<void> {
    if (this.showLog) {
      this.context.stdout.write(await this.client.getBytes(`/1.0/instances/${encodeURIComponent(this.name)}/console`));
      return;
    }
    if (this.type !== "console") throw new Error(`Unsupported console type "${this.type}" (containers only have "console")`);
    await runConsole(this.client, this.name, {
      stdin: this.context.stdin as NodeJS.ReadStream,
      stdout: this.context.stdout as NodeJS.WriteStream,
      stderr: this.context.stderr as NodeJS.WriteStream,
    });
  }
}
