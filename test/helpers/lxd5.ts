// A real LXD (Debian's `lxd` package, 5.0.2) for interoperability tests: its own temporary
// LXD_DIR (never /var/lib/lxd), a dir pool, HTTPS on a loopback port and no network at all (so
// no bridge, firewall or DHCP of its own). stop() shuts it down, unmounts what it mounted under
// its directory and removes its state.
import { existsSync, mkdtempSync, readFileSync, rmSync, chmodSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./migration.ts";
import { run, type RunResult } from "./run.ts";

export const LXD5_BINARY = "/usr/bin/lxd";

/** Why the interop test cannot run here, or undefined. */
export async function lxd5Missing(): Promise<string | undefined> {
  if (!existsSync(LXD5_BINARY)) return `${LXD5_BINARY} is missing (apt-get install lxd)`;
  const v = await run([LXD5_BINARY, "--version"], { timeoutMs: 10_000 });
  if (v.code !== 0) return `${LXD5_BINARY} --version failed: ${v.stderr.trim()}`;
  if (!existsSync("/usr/bin/rsync")) return "rsync is missing (apt-get install rsync)";
  return undefined;
}

export class Lxd5 {
  readonly dir = mkdtempSync("/tmp/lxd5-test-");
  address = "";
  private proc?: Subprocess;

  constructor() {
    chmodSync(this.dir, 0o711);
  }

  private env = () => ({ LXD_DIR: this.dir, HOME: this.dir, LXD_CONF: join(this.dir, ".lxc-conf") });

  /** LXD's own client against this daemon's unix socket. */
  lxc(...args: string[]): Promise<RunResult> {
    return run(["/usr/bin/lxc", ...args], { env: this.env(), timeoutMs: 120_000 });
  }

  async ok(...args: string[]): Promise<string> {
    const r = await this.lxc(...args);
    if (r.code !== 0) throw new Error(`lxc ${args.join(" ")} (LXD 5) failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  async start(): Promise<void> {
    this.proc = Bun.spawn([LXD5_BINARY, "--logfile", join(this.dir, "lxd.log")], {
      env: { ...process.env, ...this.env() }, stdin: "ignore", stdout: "ignore", stderr: "ignore",
    });
    const ready = await run([LXD5_BINARY, "waitready", "--timeout", "60"], { env: this.env(), timeoutMs: 70_000 });
    if (ready.code !== 0) throw new Error(`LXD 5 did not start: ${ready.stderr}\n${this.log()}`);
    this.address = `127.0.0.1:${freePort()}`;
    const preseed = [
      "config:", `  core.https_address: ${this.address}`,
      "storage_pools:", "- name: default", "  driver: dir",
      "profiles:", "- name: default", "  devices:", "    root:", "      path: /", "      pool: default", "      type: disk", "",
    ].join("\n");
    const init = await run([LXD5_BINARY, "init", "--preseed"], { env: this.env(), stdin: preseed, timeoutMs: 60_000 });
    if (init.code !== 0) throw new Error(`LXD 5 init failed: ${init.stderr}`);
  }

  /** A join token for a client named `name`. */
  async token(name: string): Promise<string> {
    return (await this.ok("config", "trust", "add", "--name", name)).trim().split("\n").at(-1)!.trim();
  }

  log(): string {
    const f = join(this.dir, "lxd.log");
    return existsSync(f) ? readFileSync(f, "utf8") : "";
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      await run([LXD5_BINARY, "shutdown", "--timeout", "30"], { env: this.env(), timeoutMs: 40_000 });
      if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
    // What LXD mounted under its directory (shmounts, devlxd, …), deepest first.
    const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m.startsWith(`${this.dir}/`)).sort((x, y) => y.length - x.length);
    for (const m of mounts) await run(["umount", "-l", m], { timeoutMs: 10_000 });
    // Loop devices of its btrfs pools' image files.
    const loops = (await run(["losetup", "-a"], { timeoutMs: 10_000 })).stdout.split("\n")
      .filter((l) => l.includes(`(${this.dir}/`)).map((l) => l.split(":")[0]!);
    for (const dev of loops) await run(["losetup", "-d", dev], { timeoutMs: 10_000 });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
