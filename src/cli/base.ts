// Base class of every command: lazily built client, and errors printed as "Error: <message>" on stderr
// with exit code 1 (never a stack trace), like LXD's client.
import { Command } from "clipanion";
import { fstatSync, readlinkSync } from "node:fs";
import { LxdClient } from "../client/client.ts";
import { defaultTransport, remoteTransport } from "../client/config.ts";

export abstract class LxdCommand extends Command {
  private lazyClient?: LxdClient;
  /** Set by commands that parse their own REMOTE: prefixes (copy, move) before using `client`. */
  protected lazyRemote?: string;

  protected get client(): LxdClient {
    // The remote named by a REMOTE: prefix on the command line, else the default remote.
    return (this.lazyClient ??= new LxdClient(this.lazyRemote ? remoteTransport(this.lazyRemote) : defaultTransport()));
  }

  /** The command body; a returned number becomes the exit code. */
  protected abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (err) {
      this.context.stderr.write(`Error: ${errorMessage(err)}\n`);
      return 1;
    }
  }

  protected print(text: string): void {
    this.context.stdout.write(text.endsWith("\n") || text === "" ? text : `${text}\n`);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Applies `fn` to each name; like lxc, one failure is reported plainly, several are listed then summarized. */
export async function forEachName(
  names: string[],
  verb: string,
  stderr: NodeJS.WritableStream,
  fn: (name: string) => Promise<void>,
): Promise<void> {
  const failures: [string, unknown][] = [];
  for (const name of names) {
    try {
      await fn(name);
    } catch (err) {
      failures.push([name, err]);
    }
  }
  if (failures.length === 1 && names.length === 1) throw failures[0]![1];
  if (failures.length) {
    for (const [name, err] of failures) stderr.write(`error: ${name}: ${errorMessage(err)}\n`);
    throw new Error(`Some instances failed to ${verb}`);
  }
}

/** Parses "key=value" arguments (values may contain "="). */
export function parseKeyValues(pairs: string[], what = "key=value pair"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`Bad ${what}: ${pair}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** The arguments of a `set` command: `KEY VALUE`, or one or more `KEY=VALUE` (as lxc takes them). */
export function parseSetArgs(args: string[]): Record<string, string> {
  return args.length === 2 && !args[0]!.includes("=") ? { [args[0]!]: args[1]! } : parseKeyValues(args);
}

/** Removes `key` from a config being edited, with lxc's message when it is not set. */
export function unsetKey(config: Record<string, string>, key: string): void {
  if (!(key in config)) throw new Error(`Can't unset key '${key}', it's not currently set`);
  delete config[key];
}

/** Whether `fd` is a terminal, without creating process.stdin/stdout/stderr (their lazy creation costs
 *  each CLI call ~20 ms in Bun): a character device that the kernel names as a terminal
 *  (/dev/pts/N, /dev/ttyX of any driver, /dev/console). */
export function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
    return /^\/dev\/(pts\/\d+|tty[^/]*|console)$/.test(readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return false;
  }
}

/** An output whose pending writes can be awaited before process.exit() (which would drop them). */
export interface CliOutput {
  write(chunk: string | Uint8Array): boolean;
  readonly isTTY: boolean;
  /** Resolves once everything written so far is out; a reader that went away (EPIPE) is not an error. */
  flushed(): Promise<void>;
}

/** What commands see as `this.context.stdout`/`stderr`: writes go through a Bun FileSink on the fd;
 *  anything else (columns, rows, events) falls back to the Node stream, created only when asked for. */
export function fdOutput(fd: 1 | 2, node: () => NodeJS.WriteStream): CliOutput & NodeJS.WriteStream {
  let sink: ReturnType<typeof Bun.stdout.writer> | undefined;
  // A reader that went away (`lxd list | head -1`, EPIPE) is not an error worth a trace: drop the rest.
  let closed = false;
  const broken = () => {
    closed = true;
  };
  const own: CliOutput = {
    write(chunk) {
      if (closed) return true;
      try {
        const written = (sink ??= (fd === 1 ? Bun.stdout : Bun.stderr).writer()).write(chunk);
        if (written instanceof Promise) written.catch(broken);
      } catch {
        broken();
      }
      return true;
    },
    get isTTY() {
      return isTerminal(fd);
    },
    async flushed() {
      if (closed || !sink) return;
      try {
        await sink.flush();
      } catch {
        broken();
      }
    },
  };
  return lazyFallback(own, node) as CliOutput & NodeJS.WriteStream;
}

/** The context's stdin: whether it is a terminal is answered without creating process.stdin. */
export const processStdin = lazyFallback<NodeJS.ReadStream>({ get isTTY() { return isTerminal(0); } }, () => process.stdin);

/** `own`'s properties first, the rest from the object `fallback` returns (called on first use only). */
export function lazyFallback<T extends object>(own: Partial<T>, fallback: () => T): T {
  return new Proxy(own as T, {
    get(target, prop) {
      if (prop in target) return Reflect.get(target, prop);
      const real = fallback();
      const value = Reflect.get(real, prop, real);
      return typeof value === "function" ? value.bind(real) : value;
    },
  });
}
