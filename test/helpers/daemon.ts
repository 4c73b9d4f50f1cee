// The integration-test harness: a real `dist/lxd serve` on a private temporary LXD_DIR, in a
// cgroup of its own, with everything it leaves behind removed afterwards — by stop(), by
// cleanupDaemon() from afterAll, by an 'exit' hook in plain scripts (the benchmark), and by the
// reaper (reaper.ts) when a test run dies half-way.
import type { Subprocess } from "bun";
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDaemonCgroups, type DaemonCgroups } from "./cgroup.ts";
import { cleanupLeftovers, type Leftovers } from "./cleanup.ts";
import { register, unregister } from "./reaper.ts";
import { lxdBinary, run, type RunOptions, type RunResult } from "./run.ts";

import { importBusybox } from "./image.ts";
export { busyboxImage, importBusybox } from "./image.ts";
export { lxdBinary, run, type RunOptions, type RunResult } from "./run.ts";

export interface StartOptions {
  /** Extra environment for the daemon (LXD_DIR and LXD_TEST_TAG are always set). */
  env?: Record<string, string>;
  /** Extra arguments after `serve --debug --logfile ...`. */
  args?: string[];
  /** How long `waitready` may take; default 30 s. */
  readyTimeoutSec?: number;
  /** A command the daemon runs under (it ends by exec'ing its arguments), e.g. one that hides a library. */
  wrap?: string[];
}

export interface ApiResult {
  /** HTTP status. */
  status: number;
  /** The parsed JSON envelope (or the raw text when the body is not JSON). */
  body: any;
  headers: Headers;
}

const LXC = "/usr/bin/lxc";
const live = new Set<TestDaemon>();

// A daemon with a NAT network turns on IP forwarding, a host-wide setting: put it back as it was
// once the last test daemon is gone, so a test run leaves the host as it found it.
const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";
const ipForwardBefore = readFileSync(IP_FORWARD, "utf8").trim();
function restoreIpForward() {
  if (live.size === 0 && readFileSync(IP_FORWARD, "utf8").trim() !== ipForwardBefore) writeFileSync(IP_FORWARD, ipForwardBefore);
}

/** A short random tag, safe inside interface names (15 chars max) and cgroup names. */
function newTag(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => alphabet[b % alphabet.length]).join("");
}

export class TestDaemon {
  /** The daemon's LXD_DIR (mode 0711, under /tmp). */
  readonly dir: string;
  readonly socket: string;
  /** Also in the daemon's environment as LXD_TEST_TAG. */
  readonly tag: string;
  /** Home of the `lxc` client (its config: remotes, certificates). */
  readonly clientHome: string;
  private proc?: Subprocess;
  private cgroups?: DaemonCgroups;
  private cleaned = false;

  constructor(private readonly opts: StartOptions) {
    this.tag = newTag();
    this.dir = mkdtempSync(`/tmp/lxd-test-${this.tag}-`);
    // Container processes (unprivileged host uids) must be able to traverse to their rootfs.
    chmodSync(this.dir, 0o711);
    this.socket = join(this.dir, "unix.socket");
    this.clientHome = `${this.dir}.client`;
    mkdirSync(this.clientHome, { mode: 0o700 });
    live.add(this);
    register(this.leftovers());
  }

  private leftovers(): Leftovers {
    return { dir: this.dir, tag: this.tag, extraDirs: [this.clientHome] };
  }

  /** Changes the daemon's extra environment from its next start on (undefined removes a variable). */
  setEnv(env: Record<string, string | undefined>): void {
    const next: Record<string, string> = { ...this.opts.env };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    this.opts.env = next;
  }

  /** Waits until the daemon process has exited by itself (a fault test's crash point). */
  async exited(): Promise<number | null | undefined> {
    return this.proc?.exited;
  }

  /** Pids of the dnsmasq processes serving this daemon's networks. */
  dnsmasqPids(): number[] {
    return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return argv[0] === "dnsmasq" && argv.some((a) => a.includes(`${this.dir}/`));
      } catch {
        return false;
      }
    });
  }

  /** The daemon's pid, while it runs. */
  get pid(): number | undefined {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }

  /** The daemon's log file (--logfile). */
  get logFile(): string {
    return join(this.dir, "lxd.log");
  }

  /** Daemon log plus whatever it wrote to stdout/stderr (crashes before the log opens). */
  log(): string {
    const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8") : "");
    return `${read(this.logFile)}${read(join(this.dir, "daemon.out"))}`;
  }

  /** Starts `lxd serve` inside its cgroup and waits until it answers. */
  async start(): Promise<void> {
    if (this.pid) throw new Error(`daemon on ${this.dir} is already running (pid ${this.pid})`);
    this.cgroups ??= createDaemonCgroups(this.tag);
    const bin = lxdBinary();
    // The shell joins the cgroups, then becomes the daemon: it is in them from its first instruction.
    const script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"';
    const argv = ["sh", "-c", script, "sh", ...this.cgroups.procsFiles, "--", ...(this.opts.wrap ?? []),
      bin, "serve", "--debug", "--logfile", this.logFile, ...(this.opts.args ?? [])];
    const out = openSync(join(this.dir, "daemon.out"), "a");
    try {
      this.proc = Bun.spawn(argv, {
        env: { ...process.env, ...this.opts.env, LXD_DIR: this.dir, LXD_TEST_TAG: this.tag },
        stdin: "ignore",
        stdout: out,
        stderr: out,
      });
    } finally {
      closeSync(out);
    }
    const timeout = this.opts.readyTimeoutSec ?? 30;
    const ready = this.lxd("waitready", "--timeout", String(timeout));
    const outcome = await Promise.race([ready.then((r) => ({ ready: r })), this.proc.exited.then((code) => ({ exited: code }))]);
    if ("exited" in outcome) {
      throw new Error(`lxd serve on ${this.dir} exited (${outcome.exited}) before it was ready:\n${this.tail()}`);
    }
    if (outcome.ready.code !== 0) {
      throw new Error(`lxd waitready on ${this.dir} failed (${outcome.ready.code}): ${outcome.ready.stderr}\n${this.tail()}`);
    }
  }

  private tail(lines = 40): string {
    return this.log().trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Runs the compiled binary as a client of this daemon. */
  lxd(...args: string[]): Promise<RunResult> {
    return this.lxdWith({}, ...args);
  }

  /** Runs `lxd ARGS`, failing the test with the command's stderr unless it succeeds; returns stdout. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.lxd(...args);
    if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  lxdWith(opts: RunOptions, ...args: string[]): Promise<RunResult> {
    return run([lxdBinary(), ...args], { ...opts, env: { ...opts.env, LXD_DIR: this.dir } });
  }

  /** Runs LXD's own client (/usr/bin/lxc, Debian's lxd-client) against this daemon. */
  lxc(...args: string[]): Promise<RunResult> {
    return this.lxcWith({}, ...args);
  }

  /** Runs `lxc ARGS`, failing the test with the command's stderr unless it succeeds; returns stdout. */
  async lxcOk(...args: string[]): Promise<string> {
    const r = await this.lxc(...args);
    if (r.code !== 0) throw new Error(`lxc ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  lxcWith(opts: RunOptions, ...args: string[]): Promise<RunResult> {
    if (!existsSync(LXC)) throw new Error(`${LXC} is missing: apt-get install lxd-client`);
    const env = { ...opts.env, LXD_DIR: this.dir, HOME: this.clientHome, LXD_CONF: join(this.clientHome, ".config/lxc") };
    return run([LXC, ...args], { ...opts, env });
  }

  /** One REST call over the unix socket; `body` is sent as JSON unless it is a string/bytes. */
  async api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult> {
    const raw = typeof body === "string" || body instanceof Uint8Array;
    const res = await fetch(`http://lxd${path}`, {
      unix: this.socket,
      method,
      headers: body === undefined || raw ? headers : { "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : raw ? (body as string | Uint8Array) : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (file downloads, exports): keep the text.
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /** Waits for an async operation (its path or the 202 envelope) and returns the final operation. */
  async wait(op: string | ApiResult, timeoutSec = 60): Promise<ApiResult> {
    const path = typeof op === "string" ? op : (op.body.operation as string);
    return this.api("GET", `${path}/wait?timeout=${timeoutSec}`);
  }

  /** Sends `signal` to the daemon process only (monitors and containers live on) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!this.proc || !this.pid) return;
    this.proc.kill(signal);
    await this.proc.exited;
  }

  /** Stops the daemon (SIGTERM, then SIGKILL after 15 s) without touching its containers, and starts it again. */
  async restart(): Promise<void> {
    if (this.proc && this.pid) {
      const proc = this.proc;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      await proc.exited;
      clearTimeout(timer);
    }
    await this.start();
  }

  /**
   * `lxd shutdown` (which stops the containers cleanly), then removes every trace. Teardown must
   * not hang a suite: after 15 s the daemon is killed and cleanup does the rest. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.pid) {
      const proc = this.proc!;
      await this.lxdWith({ timeoutMs: 15_000 }, "shutdown");
      if (this.pid) proc.kill("SIGKILL");
      await proc.exited;
    }
    cleanupDaemon(this);
  }

  /** Synchronous teardown, also used by the exit hook. */
  cleanup(): string[] {
    if (this.cleaned) return [];
    this.cleaned = true;
    live.delete(this);
    if (this.pid) this.proc!.kill("SIGKILL");
    const problems = cleanupLeftovers(this.leftovers());
    restoreIpForward();
    // What could not be removed now stays recorded: the reaper retries after the run.
    if (problems.length === 0) unregister(this.tag);
    return problems;
  }
}

/** A started daemon after `lxd init --auto`, with the busybox test image imported as "busybox". */
export async function startInitializedDaemon(opts: StartOptions = {}): Promise<TestDaemon> {
  const d = await startDaemon(opts);
  await d.ok("init", "--auto");
  await importBusybox(d);
  return d;
}

/** Creates a temporary LXD_DIR, starts `dist/lxd serve` on it and waits until it is ready. */
export async function startDaemon(opts: StartOptions = {}): Promise<TestDaemon> {
  const d = new TestDaemon(opts);
  try {
    await d.start();
  } catch (e) {
    cleanupDaemon(d);
    throw e;
  }
  return d;
}

/**
 * Kills the daemon and everything it started, unmounts, removes its cgroups, interfaces, nft
 * tables and directories. Throws if something could not be removed (a leak the test should see).
 */
export function cleanupDaemon(d: TestDaemon): void {
  const problems = d.cleanup();
  if (problems.length) throw new Error(`cleanup of test daemon ${d.dir} incomplete:\n- ${problems.join("\n- ")}`);
}

/** Cleans up every daemon still alive; runs on exit (not fired by bun test) and on SIGINT/SIGTERM. */
export function cleanupAll(): void {
  for (const d of [...live]) {
    const problems = d.cleanup();
    if (problems.length) console.error(`[harness] cleanup of ${d.dir} incomplete:\n- ${problems.join("\n- ")}`);
  }
}

process.on("exit", cleanupAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    cleanupAll();
    process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
  });
}
