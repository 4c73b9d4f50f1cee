// Base class of every command: lazily built client, and errors printed as "Error: <message>" on stderr
// with exit code 1 (never a stack trace), like LXD's client.
import { Command } from "clipanion";
import { LxdClient } from "../client/client.ts";
import { defaultTransport } from "../client/config.ts";

export abstract class LxdCommand extends Command {
  private lazyClient?: LxdClient;

  protected get client(): LxdClient {
    // The remote named by a REMOTE: prefix on the command line, else the default remote.
    return (this.lazyClient ??= new LxdClient(defaultTransport()));
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
