// Debian's LXD 5.0.2 daemon (package `lxd`) on a private temporary LXD_DIR, for tests that point
// our client at the real thing. Never /var/lib/lxd; no managed network (its firewall table would
// be the host's); instance names should carry `tag` so their cgroups are found by the cleanup,
// which also removes the daemon's processes (LXD_DIR in their environment), mounts and directory.
import type { Subprocess } from "bun";
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync } from "node:fs";
import { join } from "node:path";
import { cleanupLeftovers, type Leftovers } from "./cleanup.ts";
import { register, unregister } from "./reaper.ts";
import { run, type RunOptions, type RunResult } from "./run.ts";

export const REAL_LXD = "/usr/bin/lxd";

/** Why the real daemon cannot run here, or undefined when it can. */
export function realLxdMissing(): string | undefined {
  if (!existsSync(REAL_LXD)) return `${REAL_LXD} is missing (apt-get install lxd)`;
  const version = Bun.spawnSync([REAL_LXD, "--version"]).stdout.toString().trim();
  if (!/^5\.0\./.test(version)) return `${REAL_LXD} is not LXD 5.0 (says "${version}")`;
  return undefined;
}

export class RealLxd {
  readonly dir: string;
  readonly tag: string;
  private proc?: Subprocess;
  private cleaned = false;

  constructor() {
    this.tag = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => "abcdefghijklmnopqrstuvwxyz"[b % 26]).join("");
    this.dir = mkdtempSync(`/tmp/lxd-real-${this.tag}-`);
    // Unprivileged container processes must traverse to their rootfs.
    chmodSync(this.dir, 0o711);
    mkdirSync(join(this.dir, "client"), { mode: 0o700 });
    register(this.leftovers());
  }

  private leftovers(): Leftovers {
    return { dir: this.dir, tag: this.tag };
  }

  /** Starts the daemon and gives it a `dir` pool named default and a root disk in the default profile. */
  async start(): Promise<void> {
    const out = openSync(join(this.dir, "daemon.out"), "a");
    try {
      this.proc = Bun.spawn([REAL_LXD, "--logfile", join(this.dir, "lxd.log")], {
        env: { ...process.env, LXD_DIR: this.dir, LXD_TEST_TAG: this.tag },
        stdin: "ignore", stdout: out, stderr: out,
      });
    } finally {
      closeSync(out);
    }
    const ready = await this.real("waitready", "--timeout", "60");
    if (ready.code !== 0) throw new Error(`LXD on ${this.dir} did not start: ${ready.stderr}`);
    const preseed = "storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root: {path: /, pool: default, type: disk}\n";
    const init = await this.real("init", "--preseed", { stdin: preseed });
    if (init.code !== 0) throw new Error(`lxd init --preseed on the real LXD failed: ${init.stderr}`);
  }

  /** The environment that points clients (ours and lxc) at this daemon, with their own config dirs. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    const client = join(this.dir, "client");
    return { LXD_DIR: this.dir, HOME: client, LXD_CONF: join(client, "conf"), ...extra };
  }

  /** Runs Debian's lxd binary (waitready, init, shutdown) against this daemon. */
  real(...args: (string | RunOptions)[]): Promise<RunResult> {
    const opts = (typeof args.at(-1) === "object" ? args.pop() : {}) as RunOptions;
    return run([REAL_LXD, ...(args as string[])], { ...opts, env: { ...this.env(), ...opts.env } });
  }

  /** Shuts the daemon down (its instances with it), then removes everything it left. */
  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      await this.real("shutdown", "--timeout", "30", { timeoutMs: 40_000 });
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
    this.cleanup();
  }

  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    const problems = cleanupLeftovers(this.leftovers());
    if (problems.length) throw new Error(`cleanup of the real LXD in ${this.dir} incomplete:\n- ${problems.join("\n- ")}`);
    unregister(this.tag);
  }
}
