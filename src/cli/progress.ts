import type { LxdClient } from "../client/client.ts";
import type { Operation } from "../api/operation.ts";

// Progress of long operations. On a terminal: one self-overwriting status line (like lxc's
// "Retrieving image: 42%"), with a bar when the status carries a percentage. Otherwise plain
// lines for logs, only once work has gone on for a while and then every few seconds, so quick
// commands print just their result.
const PLAIN_AFTER_MS = 2000;
const PLAIN_EVERY_MS = 5000;

export interface ProgressOptions {
  /** Put before every status, e.g. "Retrieving image". */
  label?: string;
  /** Plain output: a line for every 10% step (downloads: logs show one happened, and how fast)
   *  instead of a line every few seconds once work has gone on for a while. */
  deciles?: boolean;
}

export class Progress {
  private last = "";
  private readonly started = performance.now();
  private nextPlain = PLAIN_AFTER_MS;
  private lastDecile = -1;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly quiet = false,
    private readonly opts: ProgressOptions = {},
  ) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(status: string): void {
    const text = this.opts.label ? `${this.opts.label}: ${status}` : status;
    if (this.quiet || text === this.last) return;
    if (!this.tty && this.opts.deciles) {
      const decile = Math.floor(Number(/(\d+)%/.exec(text)?.[1] ?? 0) / 10);
      if (decile !== this.lastDecile) this.out.write(`${text}\n`);
      this.lastDecile = decile;
      return;
    }
    if (!this.tty) {
      const elapsed = performance.now() - this.started;
      if (elapsed < this.nextPlain) return;
      this.nextPlain = elapsed + PLAIN_EVERY_MS;
      this.out.write(`${text}\n`);
      return;
    }
    const line = withBar(text);
    const pad = " ".repeat(Math.max(0, this.last.length - line.length));
    this.out.write(`\r${line}${pad}`);
    this.last = line;
  }

  /** Clears the line, optionally leaving a final message in its place. */
  done(message = ""): void {
    if (this.tty && this.last) this.out.write(`\r${" ".repeat(this.last.length)}\r`);
    this.last = "";
    if (message) this.out.write(`${message}\n`);
  }
}

/** "Label: 42% (3.1MB/s)" becomes "Label: [========>           ]  42% (3.1MB/s)". */
export function withBar(text: string, width = 24): string {
  const m = /^(.*?): (\d{1,3})%(.*)$/.exec(text);
  if (!m) return text;
  const pct = Math.min(100, Number(m[2]));
  const filled = Math.round((pct / 100) * width);
  const bar = `${"=".repeat(Math.max(0, filled - 1))}${filled ? (pct === 100 ? "=" : ">") : ""}${" ".repeat(width - filled)}`;
  return `${m[1]}: [${bar}] ${String(pct).padStart(3)}%${m[3]}`;
}

/** The progress string of an operation's metadata (LXD keeps one `*_progress` key per stage). */
export function operationProgress(metadata: Record<string, unknown> | null | undefined): string | undefined {
  for (const [k, v] of Object.entries(metadata ?? {})) if (k.endsWith("_progress") && typeof v === "string") return v;
  return undefined;
}

/** Waits for an operation, showing its progress metadata (`key`, or any `*_progress`), passed through
 *  `label`, as it changes; throws the operation's error if it failed. */
export async function waitWithProgress(
  client: LxdClient,
  op: Operation | string,
  progress: Progress,
  opts: { key?: string; label?: (text: string) => string } = {},
): Promise<Operation> {
  try {
    for (;;) {
      // LXD takes whole seconds here.
      const current = await client.waitOperation(op, 1);
      const text = opts.key ? current.metadata?.[opts.key] : operationProgress(current.metadata);
      if (typeof text === "string" && text) progress.update(opts.label ? opts.label(text) : text);
      if (current.status !== "Running" && current.status !== "Pending") return current;
    }
  } finally {
    progress.done();
  }
}

/** An image download as lxc shows it: "Retrieving image: metadata: 45% (12.30MB/s)". */
export const waitForDownload = (client: LxdClient, op: Operation | string, out: NodeJS.WriteStream, label = "Retrieving image") =>
  waitWithProgress(client, op, new Progress(out, false, { label, deciles: true }), { key: "download_progress" });
