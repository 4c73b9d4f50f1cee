// An instance's console (buffered output, attach, clear) and its log files (lxc.log is the
// monitor's log here): what the REST handlers serve, kept away from the kernel layer they use.
import { readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ApiError } from "../api/error.ts";
import { attachConsole, clearConsoleLog, consoleLog, type ConsoleAttachment } from "../kernel/console.ts";
import { containerDir } from "../paths.ts";

export type { ConsoleAttachment } from "../kernel/console.ts";

/** Log files by the name LXD gives them, and the file in the instance's directory holding each. */
const LOG_FILES: Record<string, string> = { "lxc.log": "monitor.log", "console.log": "console.log" };
/** Exec output kept by record-output (daemon/instance-exec.ts): served and deletable under its own name. */
const EXEC_OUTPUT = /^exec_[0-9a-f]+\.(stdout|stderr)$/;
const logFileOf = (lxdName: string): string | undefined => LOG_FILES[lxdName] ?? (EXEC_OUTPUT.test(lxdName) ? lxdName : undefined);

/** What the console needs from the instances (the instance manager provides it). */
export interface ConsoleHost {
  get(name: string): unknown;
  isRunning(name: string): boolean;
}

export class InstanceConsole {
  constructor(private readonly instances: ConsoleHost) {}

  /** The console's buffered output (the last 128 KiB; of the last run when stopped). */
  log(name: string): Promise<Uint8Array> {
    this.instances.get(name);
    return consoleLog(containerDir(name));
  }

  async clear(name: string): Promise<void> {
    this.instances.get(name);
    await clearConsoleLog(containerDir(name));
  }

  /** Refuses what cannot be attached before an operation is made for it. */
  checkAttach(name: string, type = "console"): void {
    this.instances.get(name);
    if (type !== "console") throw new ApiError(400, `Console type "${type}" is not supported by containers (only "console")`);
    if (!this.instances.isRunning(name)) throw new ApiError(400, "Instance is not running");
  }

  async attach(name: string, size: { cols: number; rows: number }, onOutput: (data: Uint8Array) => void): Promise<ConsoleAttachment> {
    try {
      return await attachConsole(containerDir(name), size, onOutput);
    } catch (err) {
      throw new Error(`Failed to attach to the console of "${name}": ${(err as Error).message}`);
    }
  }

  /** The LXD names of the log files the instance has. */
  async logFiles(name: string): Promise<string[]> {
    this.instances.get(name);
    const dir = containerDir(name);
    const present = await Promise.all(Object.entries(LOG_FILES).map(([lxdName, file]) => Bun.file(join(dir, file)).exists().then((ok) => (ok ? lxdName : ""))));
    const outputs = (await readdir(dir).catch(() => [] as string[])).filter((f) => EXEC_OUTPUT.test(f)).sort();
    return [...present.filter(Boolean), ...outputs];
  }

  /** As LXD, only recorded exec output may be deleted. */
  async deleteLogFile(name: string, lxdName: string): Promise<void> {
    this.instances.get(name);
    if (!EXEC_OUTPUT.test(lxdName)) throw new ApiError(400, `Only exec output files can be deleted, not "${lxdName}"`);
    await unlink(join(containerDir(name), lxdName)).catch(() => { throw new ApiError(404, `Log file "${lxdName}" not found`); });
  }

  async logFile(name: string, lxdName: string): Promise<Uint8Array> {
    this.instances.get(name);
    const file = logFileOf(lxdName);
    if (!file) throw new ApiError(404, `Log file "${lxdName}" not found`);
    const body = await readFile(join(containerDir(name), file)).catch(() => undefined);
    if (!body) throw new ApiError(404, `Log file "${lxdName}" not found (the instance has not run yet)`);
    return new Uint8Array(body);
  }
}
