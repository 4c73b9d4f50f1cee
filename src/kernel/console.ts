// A running container's console, through its monitor's console.sock (see native/console.c,
// "the console, as the monitor serves it"): the buffered output, clearing it, and attaching.
// A stopped container's last output is the console.log its monitor left behind.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Largest data frame the monitor accepts (bigger writes are split). */
const FRAME = 4096;

const socketOf = (rundir: string) => join(rundir, "console.sock");

/** Sends one command line and collects everything the monitor answers until it hangs up. */
function request(rundir: string, line: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    Bun.connect({
      unix: socketOf(rundir),
      socket: {
        open(sock) { sock.write(`${line}\n`); },
        data(_sock, data) { chunks.push(new Uint8Array(data)); },
        close() { resolve(Buffer.concat(chunks)); },
        connectError(_sock, err) { reject(err); },
        error(_sock, err) { reject(err); },
      },
    }).catch(reject);
  });
}

const notRunning = (err: unknown) => (err as { code?: string }).code === "ENOENT" || (err as { code?: string }).code === "ECONNREFUSED";

/** The console output the monitor buffered (last 128 KiB), or the last run's when it is gone. */
export async function consoleLog(rundir: string): Promise<Uint8Array> {
  try {
    return await request(rundir, "log");
  } catch (err) {
    if (!notRunning(err)) throw new Error(`console log: ${(err as Error).message}`);
    return readFile(join(rundir, "console.log")).then((b) => new Uint8Array(b), () => new Uint8Array());
  }
}

/** Empties the buffered console output (and the last run's log). */
export async function clearConsoleLog(rundir: string): Promise<void> {
  await writeFile(join(rundir, "console.log"), "").catch(() => {});
  try {
    const answer = new TextDecoder().decode(await request(rundir, "clear"));
    if (answer !== "ok\n") throw new Error(answer.trim() || "no answer from the monitor");
  } catch (err) {
    if (!notRunning(err)) throw new Error(`console clear: ${(err as Error).message}`);
  }
}

export interface ConsoleAttachment {
  write(data: Uint8Array): void;
  resize(cols: number, rows: number): void;
  close(): void;
  /** Resolves when the console is gone: detached, or the container stopped. */
  closed: Promise<void>;
}

const frame = (type: "d" | "r", payload: Uint8Array) => {
  const out = new Uint8Array(3 + payload.length);
  out[0] = type.charCodeAt(0);
  out[1] = payload.length >> 8;
  out[2] = payload.length & 0xff;
  out.set(payload, 3);
  return out;
};

/** Attaches to the console: `onOutput` gets what the container writes from now on. */
export function attachConsole(rundir: string, size: { cols: number; rows: number }, onOutput: (data: Uint8Array) => void): Promise<ConsoleAttachment> {
  return new Promise((resolve, reject) => {
    let finish!: () => void;
    const closed = new Promise<void>((r) => (finish = r));
    // Bun's socket write may take only part of the data when the kernel buffer is full.
    let pending: Uint8Array[] = [];
    let sock: Bun.Socket | undefined;
    const flush = () => {
      while (sock && pending.length) {
        const head = pending[0];
        const n = sock.write(head);
        if (n < head.length) {
          pending[0] = head.subarray(Math.max(n, 0));
          return;
        }
        pending.shift();
      }
    };
    const send = (data: Uint8Array) => {
      pending.push(data);
      flush();
    };
    Bun.connect({
      unix: socketOf(rundir),
      socket: {
        open(s) {
          sock = s;
          send(new TextEncoder().encode(`attach ${size.cols | 0} ${size.rows | 0}\n`));
          resolve({
            write(data) {
              for (let i = 0; i < data.length; i += FRAME) send(frame("d", data.subarray(i, i + FRAME)));
            },
            resize(cols, rows) { send(frame("r", new TextEncoder().encode(`${cols | 0} ${rows | 0}`))); },
            close() {
              pending = [];
              s.end();
            },
            closed,
          });
        },
        drain() { flush(); },
        data(_s, data) { onOutput(new Uint8Array(data)); },
        close() { finish(); },
        connectError(_s, err) {
          // A monitor from before consoles existed has no console.sock: a restart gives it one.
          reject(notRunning(err) ? new Error("no console socket (the instance stopped, or was started by an older lxd: restart it)") : err);
          finish();
        },
        error() {},
      },
    }).catch(reject);
  });
}
