// CRIU, the host program behind stateful snapshots, stateful stop and live migration. It is a host
// dependency found at daemon start: LXD_CRIU names it (e.g. the wrapper appliance/criu.sh makes
// around Debian trixie's CRIU 4.1.1), else `criu` on PATH; `criu check` must pass, since Debian 12's
// criu 3.17 runs but fails on current kernels.
import { existsSync } from "node:fs";

export interface CriuStatus {
  /** The program checked (absent when none was found). */
  path?: string;
  /** "4.1.1" from `criu --version`. */
  version?: string;
  /** `criu check` passed. */
  available: boolean;
  /** Why not, when unavailable: one clause. */
  reason?: string;
}

let current: CriuStatus = { available: false, reason: "CRIU has not been checked yet" };

/** The CRIU the daemon uses: LXD_CRIU, else `criu` on PATH. */
export function criuPath(): string | undefined {
  return process.env.LXD_CRIU || Bun.which("criu") || undefined;
}

async function runCriu(path: string, args: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn([path, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: `${out}\n${err}` };
}

/** The last message CRIU printed that says what failed (its errors start with "Error"). */
function lastError(out: string): string {
  const lines = out.split("\n").map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /^Error\b/.test(l));
  return (errors.at(-1) ?? lines.at(-1) ?? "no output").replace(/^Error \([^)]*\):\s*/, "");
}

/** Runs `criu --version` and `criu check` and remembers the outcome (see criuStatus). */
export async function probeCriu(): Promise<CriuStatus> {
  const path = criuPath();
  if (!path) {
    current = { available: false, reason: "criu was not found (set LXD_CRIU to its path or put it on PATH)" };
    return current;
  }
  if (!existsSync(path)) {
    current = { available: false, reason: `LXD_CRIU names ${path}, which does not exist` };
    return current;
  }
  try {
    const version = /Version:\s*(\S+)/.exec((await runCriu(path, ["--version"])).out)?.[1];
    const check = await runCriu(path, ["check"]);
    current = check.code === 0
      ? { path, version, available: true }
      : { path, version, available: false, reason: `"${path} check" failed: ${lastError(check.out)}` };
  } catch (e) {
    current = { available: false, path, reason: `${path} could not run: ${(e as Error).message}` };
  }
  return current;
}

/** What the last probe found. */
export const criuStatus = (): CriuStatus => current;

/** The one sentence a stateful request gets when CRIU cannot serve it (undefined when it can). */
export function criuUnavailable(what: string, status = current): string | undefined {
  if (status.available) return undefined;
  return `${what} needs CRIU 4 or later, which is not available on this server: ${status.reason}`;
}
