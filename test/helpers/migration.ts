// Two or more daemons that reach each other over HTTPS on loopback, for migration tests: each
// listens on its own port, and a client configuration (LXD_CONF) has every daemon as a remote
// (a..z) joined with a token, for our CLI and for Debian's `lxc`.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { run, startInitializedDaemon, type RunResult, type StartOptions, type TestDaemon } from "./daemon.ts";
import { freePort } from "./net.ts";

export async function listenHttps(d: TestDaemon): Promise<string> {
  const address = `127.0.0.1:${freePort()}`;
  await d.ok("config", "set", "core.https_address", address);
  return address;
}

/** A client home whose remotes name the daemons; `lxd(…)` and `lxc(…)` run against it. */
export class Clients {
  readonly conf = mkdtempSync("/tmp/lxd-migration-conf-");
  readonly lxcHome = mkdtempSync("/tmp/lxd-migration-lxc-");

  /** Our client; LXD_DIR points at nothing so that every daemon is reached over HTTPS. */
  lxd(...args: string[]): Promise<RunResult> {
    return run([process.env.LXD_TEST_BINARY ?? join(import.meta.dir, "../../dist/lxd"), ...args], {
      env: { LXD_CONF: this.conf, LXD_DIR: "/nonexistent" }, timeoutMs: 180_000,
    });
  }

  lxc(...args: string[]): Promise<RunResult> {
    return run(["/usr/bin/lxc", ...args], {
      env: { HOME: this.lxcHome, LXD_CONF: join(this.lxcHome, ".config/lxc"), LXD_DIR: "/nonexistent" }, timeoutMs: 180_000,
    });
  }

  async ok(r: Promise<RunResult>, what: string): Promise<string> {
    const res = await r;
    if (res.code !== 0) throw new Error(`${what} failed (${res.code}): ${res.stderr}${res.stdout}`);
    return res.stdout;
  }

  /** Adds daemon `d` (listening on HTTPS) as remote `name` for both clients. */
  async addRemote(name: string, d: TestDaemon): Promise<void> {
    for (const client of ["lxd", "lxc"] as const) {
      const issued = await d.ok("config", "trust", "add", "--name", `${client}-${name}`);
      const token = issued.trim().split("\n").at(-1)!;
      await this.ok(this[client]("remote", "add", name, token), `${client} remote add ${name}`);
    }
  }

  cleanup(): void {
    rmSync(this.conf, { recursive: true, force: true });
    rmSync(this.lxcHome, { recursive: true, force: true });
  }
}

/** Two initialized daemons on HTTPS, remotes "a" and "b" of one client home. */
export interface Pair { a: TestDaemon; b: TestDaemon; addrA: string; addrB: string; clients: Clients }

export async function startPair(opts: StartOptions = {}): Promise<Pair> {
  const [a, b] = await Promise.all([startInitializedDaemon(opts), startInitializedDaemon(opts)]);
  const [addrA, addrB] = await Promise.all([listenHttps(a), listenHttps(b)]);
  const clients = new Clients();
  await clients.addRemote("a", a);
  await clients.addRemote("b", b);
  return { a, b, addrA, addrB, clients };
}

export async function stopPair(pair: Partial<Pair>): Promise<void> {
  const results = await Promise.allSettled([pair.a?.stop(), pair.b?.stop()]);
  pair.clients?.cleanup();
  for (const r of results) if (r.status === "rejected") throw r.reason;
}
