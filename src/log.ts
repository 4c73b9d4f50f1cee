// The daemon's leveled logger: logfmt lines (like LXD's) to stderr or a logfile, and each record
// also goes out as a `logging` event so `lxc monitor --type=logging` shows it.
import { appendFileSync, copyFileSync, renameSync, statSync, truncateSync } from "node:fs";
import type { EventHub } from "./events/hub.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** Level names as LXD (logrus) spells them in log lines and logging events. */
const LXD_NAME: Record<LogLevel, string> = { debug: "debug", info: "info", warn: "warning", error: "error" };

export type LogContext = Record<string, unknown>;

interface LogConfig { logfile?: string; debug: boolean; events?: EventHub; quiet: boolean; maxBytes: number; size: number }
let config: LogConfig = { debug: false, quiet: false, maxBytes: 0, size: 0 };

/** Largest a log file grows before it is rotated (LXD_LOG_MAX_BYTES overrides, for tests). */
export const logMaxBytes = (): number => Number(process.env.LXD_LOG_MAX_BYTES) || 50 * 1024 * 1024;

/** Keeps a log file from filling the disk: past `maxBytes` its content moves to FILE.1 (the one
 *  before is dropped). `writer: "others"` is for files another process holds open in append
 *  mode (monitors, dnsmasq): copied, then truncated in place, so their next write lands at the
 *  start of the emptied file. Returns whether it rotated. */
export function rotateLog(file: string, maxBytes: number, writer: "self" | "others"): boolean {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  try {
    if (writer === "self") renameSync(file, `${file}.1`);
    else {
      copyFileSync(file, `${file}.1`);
      truncateSync(file, 0);
    }
    return true;
  } catch {
    return false;
  }
}

/** `debug` enables debug records; `quiet` silences the stream (events are still sent); `logfile`
 *  appends there instead of stderr, rotated at logMaxBytes(). */
export function configureLog(opts: { logfile?: string; debug?: boolean; events?: EventHub; quiet?: boolean }): void {
  let size = 0;
  try {
    if (opts.logfile) size = statSync(opts.logfile).size;
  } catch {
    // Not there yet.
  }
  config = { logfile: opts.logfile, debug: opts.debug ?? false, events: opts.events, quiet: opts.quiet ?? false, maxBytes: logMaxBytes(), size };
}

const stringify = (v: unknown): string => {
  if (typeof v === "string") return v;
  if (v instanceof Error) return v.message;
  return v === undefined ? "" : JSON.stringify(v) ?? String(v);
};

const quote = (s: string) => (/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s));

function write(level: LogLevel, message: string, ctx: LogContext = {}) {
  const logged = !config.quiet && RANK[level] >= RANK[config.debug ? "debug" : "info"];
  // As in LXD, logging listeners get every level (`lxc monitor --loglevel debug`) whatever --debug says.
  const sent = config.events?.wants("logging") ?? false;
  if (!logged && !sent) return;
  const context = Object.fromEntries(Object.entries(ctx).map(([k, v]) => [k, stringify(v)]));
  if (logged) {
    const fields = Object.entries(context).map(([k, v]) => ` ${k}=${quote(v)}`).join("");
    const line = `time="${new Date().toISOString()}" level=${LXD_NAME[level]} msg=${JSON.stringify(message)}${fields}\n`;
    try {
      if (config.logfile) {
        if (config.size + line.length > config.maxBytes && rotateLog(config.logfile, 0, "self")) config.size = 0;
        appendFileSync(config.logfile, line);
        config.size += line.length;
      } else process.stderr.write(line);
    } catch {
      // Logging must never take the daemon down (full disk, closed stderr).
    }
  }
  if (sent) config.events!.send("logging", { message, level: LXD_NAME[level], context }, null);
}

/** Lets callers skip building expensive debug context (nobody would see it). */
export const debugEnabled = (): boolean => config.debug || (config.events?.wants("logging") ?? false);

export const log = {
  debug: (message: string, ctx?: LogContext) => write("debug", message, ctx),
  info: (message: string, ctx?: LogContext) => write("info", message, ctx),
  warn: (message: string, ctx?: LogContext) => write("warn", message, ctx),
  error: (message: string, ctx?: LogContext) => write("error", message, ctx),
};
