// A real LXD 5.0.2 daemon (Debian's `lxd` package) for interoperability tests: its own temporary
// LXD_DIR, a dir pool, no network, never /var/lib/lxd. Instances made there should carry the
// tag in their name: their cgroups (lxc.payload.NAME) are then removed by the same cleanup as a
// test daemon's, which also kills its processes, unmounts its tmpfs mounts and deletes the dir.
import { chmodSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { cleanupLeftovers, type Leftovers } from "./cleanup.ts";
import { freePort } from "./net.ts";
import { register, unregister } from "./reaper.ts";
import { run, type RunResult } from "./run.ts";

const DAEMON = "/usr/bin/lxd";
const LXC = "/usr/bin/lxc";

/** Why a real LXD cannot run here, or undefined when it can. */
export async function realLxdMissing(): Promise<string | undefined> {
  if (!existsSync(DAEMON)) return `${DAEMON} is missing (apt-get install lxd)`;
  if (!existsSync(LXC)) return `${LXC} is missing (apt-get install lxd-client)`;
  const v = await run([DAEMON, "--version"], { timeoutMs: 10_000 });
  if (v.code !== 0 || !/^\d+\.\d+/.test(v.stdout.trim())) return `${DAEMON} is not LXD (--version said "${v.stdout.trim()}")`;
  return undefined;
}

export class RealLxd {
  readonly tag = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => "abcdefghijklmnopqrstuvwxyz"[b % 26]).join("");
  readonly dir = mkdtempSync(`/tmp/lxd-real-${this.tag}-`);
  private readonly conf = `${this.dir}.client`;
  private proc?: ReturnType<typeof Bun.spawn>;

  private leftovers(): Leftovers {
    return { dir: this.dir, tag: this.tag, extraDirs: [this.conf] };
  }

  /** Starts the daemon and gives it a dir pool named "default" in the default profile. */
  async start(): Promise<void> {
    chmodSync(this.dir, 0o711);
    mkdirSync(this.conf, { mode: 0o700 });
    register(this.leftovers());
    this.proc = Bun.spawn([DAEMON, "--group", "root", "--logfile", join(this.dir, "lxd.log")], {
      env: { ...process.env, LXD_DIR: this.dir, LXD_TEST_TAG: this.tag }, stdin: "ignore", stdout: "ignore", stderr: "ignore",
    });
    const ready = await run([DAEMON, "waitready", "--timeout", "60"], { env: { LXD_DIR: this.dir }, timeoutMs: 70_000 });
    if (ready.code !== 0) throw new Error(`LXD did not start: ${ready.stderr}`);
    const preseed = "storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n";
    const init = await run([DAEMON, "init", "--preseed"], { env: { LXD_DIR: this.dir }, stdin: preseed });
    if (init.code !== 0) throw new Error(`lxd init --preseed failed: ${init.stderr}`);
  }

  /** The environment that points a client (LXD's or ours) at this daemon, with its own config dir. */
  env(): Record<string, string> {
    return { LXD_DIR: this.dir, LXD_CONF: this.conf, HOME: this.conf };
  }

  /** LXD's own client against this daemon. */
  lxc(...args: string[]): Promise<RunResult> {
    return run([LXC, ...args], { env: this.env(), timeoutMs: 120_000 });
  }

  async ok(...args: string[]): Promise<string> {
    const r = await this.lxc(...args);
    if (r.code !== 0) throw new Error(`lxc ${args.join(" ")} (real LXD) failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Serves HTTPS on a free loopback port; returns a join token (it names the address) for `client`. */
  async listen(client: string): Promise<string> {
    await this.ok("config", "set", "core.https_address", `127.0.0.1:${freePort()}`);
    return (await this.ok("config", "trust", "add", "--name", client)).trim().split("\n").at(-1)!.trim();
  }

  /** Stops its instances and the daemon, then removes every trace. */
  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      await run([DAEMON, "shutdown", "--timeout", "30"], { env: { LXD_DIR: this.dir }, timeoutMs: 40_000 });
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
    const problems = cleanupLeftovers(this.leftovers());
    if (problems.length) throw new Error(`cleanup of the real LXD in ${this.dir} incomplete:\n- ${problems.join("\n- ")}`);
    unregister(this.tag);
  }
}
