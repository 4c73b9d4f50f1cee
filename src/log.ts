// The daemon's leveled logger: logfmt lines (like LXD's) to stderr or a logfile, and each record
// also goes out as a `logging` event so `lxc monitor --type=logging` shows it.
import { appendFileSync } from "node:fs";
import type { EventHub } from "./events/hub.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** Level names as LXD (logrus) spells them in log lines and logging events. */
const LXD_NAME: Record<LogLevel, string> = { debug: "debug", info: "info", warn: "warning", error: "error" };

export type LogContext = Record<string, unknown>;

interface LogConfig { logfile?: string; debug: boolean; events?: EventHub; quiet: boolean }
let config: LogConfig = { debug: false, quiet: false };

/** `debug` enables debug records; `quiet` silences the stream (events are still sent); `logfile`
 *  appends there instead of stderr. */
export function configureLog(opts: { logfile?: string; debug?: boolean; events?: EventHub; quiet?: boolean }): void {
  config = { logfile: opts.logfile, debug: opts.debug ?? false, events: opts.events, quiet: opts.quiet ?? false };
}

const stringify = (v: unknown): string => {
  if (typeof v === "string") return v;
  if (v instanceof Error) return v.message;
  return v === undefined ? "" : JSON.stringify(v) ?? String(v);
};

const quote = (s: string) => (/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s));

function write(level: LogLevel, message: string, ctx: LogContext = {}) {
  if (RANK[level] < RANK[config.debug ? "debug" : "info"]) return;
  const context = Object.fromEntries(Object.entries(ctx).map(([k, v]) => [k, stringify(v)]));
  if (!config.quiet) {
    const fields = Object.entries(context).map(([k, v]) => ` ${k}=${quote(v)}`).join("");
    const line = `time="${new Date().toISOString()}" level=${LXD_NAME[level]} msg=${JSON.stringify(message)}${fields}\n`;
    try {
      if (config.logfile) appendFileSync(config.logfile, line);
      else process.stderr.write(line);
    } catch {
      // Logging must never take the daemon down (full disk, closed stderr).
    }
  }
  config.events?.send("logging", { message, level: LXD_NAME[level], context }, null);
}

/** Lets callers skip building expensive debug context. */
export const debugEnabled = (): boolean => config.debug;

export const log = {
  debug: (message: string, ctx?: LogContext) => write("debug", message, ctx),
  info: (message: string, ctx?: LogContext) => write("info", message, ctx),
  warn: (message: string, ctx?: LogContext) => write("warn", message, ctx),
  error: (message: string, ctx?: LogContext) => write("error", message, ctx),
};
