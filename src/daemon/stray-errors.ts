// What the daemon does with an error nobody caught: a promise rejected with no handler, or a
// throw out of a timer or event callback. Bun's default ends the process with a stack trace; a
// daemon that serves hundreds of containers must not go down for one stray failure. LXD (Go)
// never dies of an error value nobody read, and its HTTP server recovers a handler's panic and
// logs it; a JS throw unwinds cleanly, so the same applies here: one error line with where it
// came from, and the daemon keeps serving. A real startup failure is awaited by `lxd serve`,
// never stray, so it still exits with one sentence (LxdCommand.execute).
import { log } from "../log.ts";

/** The error's message and its innermost stack frame (where to look), as log fields. */
export function strayErrorFields(err: unknown): { err: string; where?: string } {
  if (!(err instanceof Error)) {
    try {
      return { err: String(err) };
    } catch {
      // An object without toString (Object.create(null)): the handler itself must not throw.
      return { err: Object.prototype.toString.call(err) };
    }
  }
  const frame = err.stack?.split("\n").find((line) => /^\s+at /.test(line))?.trim().replace(/^at /, "");
  return frame ? { err: err.message, where: frame } : { err: err.message };
}

/** Logs stray errors instead of letting them end the process (installed once, at daemon start). */
export function logStrayErrors(): void {
  process.on("unhandledRejection", (reason) => log.error("Unhandled promise rejection", strayErrorFields(reason)));
  process.on("uncaughtException", (err) => log.error("Uncaught exception", strayErrorFields(err)));
}
