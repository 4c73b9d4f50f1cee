// Following an operation's `download_progress` while waiting for it: a bar with the speed on a
// terminal, one plain line per 10% otherwise (so logs show a download happened and how fast).
import type { LxdClient } from "../client/client.ts";
import { LxdError } from "../client/errors.ts";
import type { Operation } from "../api/operation.ts";
import { Progress } from "./progress.ts";

const BAR = 20;

/** "metadata: 45% (12.30MB/s)" -> "Retrieving image: [#########           ] metadata: 45% (12.30MB/s)" */
export function progressLine(label: string, text: string, bar: boolean): string {
  const percent = Number(/(\d+)%/.exec(text)?.[1] ?? "NaN");
  if (!bar || !Number.isFinite(percent)) return `${label}: ${text}`;
  const filled = Math.round((percent * BAR) / 100);
  return `${label}: [${"#".repeat(filled)}${" ".repeat(BAR - filled)}] ${text}`;
}

/** Waits for the operation, showing its download progress; throws its error if it failed. */
export async function waitWithProgress(client: LxdClient, op: Operation | string, out: NodeJS.WriteStream, label = "Retrieving image"): Promise<Operation> {
  const id = typeof op === "string" ? op.replace(/^\/1\.0\/operations\//, "") : op.id;
  const tty = Boolean(out.isTTY);
  const bar = new Progress(out);
  let lastDecile = -1;
  try {
    for (;;) {
      const current = await client.get<Operation>(`/1.0/operations/${encodeURIComponent(id)}/wait?timeout=0.5`);
      const text = current.metadata?.download_progress;
      if (typeof text === "string" && text) {
        if (tty) bar.update(progressLine(label, text, true));
        else {
          const decile = Math.floor(Number(/(\d+)%/.exec(text)?.[1] ?? 0) / 10);
          if (decile !== lastDecile) out.write(`${progressLine(label, text, false)}\n`);
          lastDecile = decile;
        }
      }
      if (["Success", "Failure", "Cancelled"].includes(current.status)) {
        if (current.status !== "Success") throw new LxdError(current.err || `Operation ${id} ${current.status.toLowerCase()}`, current.status_code);
        return current;
      }
    }
  } finally {
    bar.done();
  }
}
