// Daemon-side roles of the binary: serve, waitready, shutdown, and the server half of `init --auto`.
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import { LxdError } from "../client/errors.ts";
import type { Network } from "../api/network.ts";
import type { Profile } from "../api/profile.ts";
import type { StoragePool } from "../api/storage.ts";
import { LxdCommand } from "./base.ts";
import { readStdinText } from "./config.ts";
import { renderTable } from "./format.ts";

export class ServeCommand extends LxdCommand {
  static override paths = [["serve"], ["daemon"]];
  static override usage = Command.Usage({
    category: "Daemon",
    description: "Run the LXD daemon",
    details: "Serves the REST API on `$LXD_DIR/unix.socket` (default /var/lib/lxd) until stopped by SIGTERM/SIGINT or `lxd shutdown`.",
    examples: [
      ["Run the daemon in the foreground", "$0 serve"],
      ["Run with debug logging into a file", "$0 serve --debug --logfile /var/log/lxd.log"],
    ],
  });

  logfile = Option.String("--logfile", { description: "Path to the log file" });
  debug = Option.Boolean("-d,--debug", false, { description: "Show all debug messages" });
  group = Option.String("--group", { description: "Group which owns the shared socket" });

  protected async run(): Promise<void> {
    // The executable starts with the JIT held back for short CLI runs (appliance/build.ts);
    // a long-running daemon wants its hot paths compiled.
    Bun.unsafe.setJITPolicy(1);
    // Loaded on demand (its own chunk) so client commands never pay for the daemon's modules.
    const { startDaemon } = await import("../daemon/daemon.ts");
    const opts = { logfile: this.logfile, debug: this.debug, group: this.group };
    await startDaemon(opts);
  }
}

/** Polls GET /1.0 until the daemon answers; throws after `timeoutSec` (0 = wait forever). */
export async function waitReady(client: LxdClient, timeoutSec: number): Promise<void> {
  const deadline = timeoutSec > 0 ? Date.now() + timeoutSec * 1000 : Infinity;
  for (;;) {
    try {
      await client.server();
      return;
    } catch {
      if (Date.now() >= deadline) throw new Error(`Daemon still not running after ${timeoutSec}s timeout`);
      // A refused connection costs next to nothing: ask often, a restart is then seen at once.
      await Bun.sleep(20);
    }
  }
}

export class WaitReadyCommand extends LxdCommand {
  static override paths = [["waitready"]];
  static override usage = Command.Usage({
    category: "Daemon",
    description: "Wait for the daemon to be ready to process requests",
    examples: [["Wait up to a minute for the daemon", "$0 waitready --timeout 60"]],
  });

  timeout = Option.String("-t,--timeout", "30", { description: "Number of seconds to wait before giving up (0: forever)" });

  protected async run(): Promise<void> {
    await waitReady(this.client, Number(this.timeout));
  }
}

export class ShutdownCommand extends LxdCommand {
  static override paths = [["shutdown"]];
  static override usage = Command.Usage({
    category: "Daemon",
    description: "Tell the daemon to shut down",
    details: "Containers keep running under their monitors and are picked up again by the next daemon.",
    examples: [["Stop the daemon and wait for it to exit", "$0 shutdown"]],
  });

  timeout = Option.String("-t,--timeout", "60", { description: "Number of seconds to wait for the daemon to exit (0: forever)" });

  protected async run(): Promise<void> {
    await this.client.server(); // fails with "daemon isn't running" when there is nothing to stop
    try {
      await this.client.put("/internal/shutdown", {});
    } catch (err) {
      // The daemon may drop the connection while going away; only API errors (code > 0) are failures.
      if (!(err instanceof LxdError) || err.code !== 0) throw err;
    }
    const timeout = Number(this.timeout);
    const deadline = timeout > 0 ? Date.now() + timeout * 1000 : Infinity;
    for (;;) {
      try {
        await this.client.server();
      } catch {
        return;
      }
      if (Date.now() >= deadline) throw new Error(`Daemon still running after ${timeout}s timeout`);
      // A refused connection costs next to nothing: ask often, a restart is then seen at once.
      await Bun.sleep(20);
    }
  }
}

export interface ServerInitOptions {
  storageBackend: string;
  networkAddress?: string;
  networkPort?: number;
  /** Where a non-fatal problem goes (a host that cannot run the default bridge); default stderr. */
  warn?: (message: string) => void;
}

/** The bridge `init --auto` creates and the default profile's nic joins. */
export const DEFAULT_BRIDGE = "lxdbr0";

/**
 * `lxd init --auto`: a "default" storage pool, a root disk in the default profile and, when the
 * server manages networks, a bridge `lxdbr0` (free private subnet, NAT) with an `eth0` nic on it in
 * the default profile. Idempotent: what exists already is left alone.
 */
export async function initServer(client: LxdClient, opts: ServerInitOptions): Promise<void> {
  const pools = await client.storagePools();
  if (!pools.some((p: StoragePool) => p.name === "default")) {
    await client.post("/1.0/storage-pools", { name: "default", driver: opts.storageBackend, description: "", config: {} });
  }
  const { profile, etag } = await client.profileWithEtag("default");
  const devices = { ...(profile.devices ?? {}) };
  const hasRoot = Object.values(devices).some((d) => d.type === "disk" && d.path === "/");
  if (!hasRoot) devices[devices.root ? "root0" : "root"] = { type: "disk", path: "/", pool: "default" };
  if (!Object.values(devices).some((d) => d.type === "nic") && (await defaultBridge(client, opts.warn))) {
    devices[devices.eth0 ? "eth1" : "eth0"] = { type: "nic", network: DEFAULT_BRIDGE, name: "eth0" };
  }
  if (Object.keys(devices).length !== Object.keys(profile.devices ?? {}).length) {
    await client.patch("/1.0/profiles/default", { devices } satisfies Partial<Profile>, { etag });
  }
  if (opts.networkAddress) {
    const address = opts.networkAddress.includes(":") && !opts.networkAddress.startsWith("[")
      ? `[${opts.networkAddress}]` : opts.networkAddress;
    await client.patch("/1.0", { config: { "core.https_address": `${address}:${opts.networkPort ?? 8443}` } });
  }
}

/** Makes sure lxdbr0 exists; false when the server has no network support or the host cannot make it. */
async function defaultBridge(client: LxdClient, warn: (m: string) => void = (m) => void process.stderr.write(`${m}\n`)): Promise<boolean> {
  const server = await client.server();
  if (!server.api_extensions?.includes("network")) return false;
  // The list also shows the host's own interfaces: only a managed lxdbr0 is ours to use.
  const nets = await client.get<Network[]>("/1.0/networks?recursion=1");
  if (nets.some((n) => n.name === DEFAULT_BRIDGE && n.managed)) return true;
  try {
    await client.post("/1.0/networks", { name: DEFAULT_BRIDGE, type: "bridge", description: "", config: { "ipv4.address": "auto", "ipv4.nat": "true", "ipv6.address": "none" } });
    return true;
  } catch (err) {
    warn(`Warning: no default network: ${(err as Error).message}`);
    return false;
  }
}

export class SqlCommand extends LxdCommand {
  static override paths = [["sql"]];
  static override usage = Command.Usage({
    category: "Daemon",
    description: "Run a SQL statement against the daemon's database",
    details: "DATABASE is `local` or `global` (one SQLite database here). QUERY `-` reads it from stdin. Changing rows under a running daemon can break it: this is a debugging tool, as in LXD.",
    examples: [["List instances as stored", "$0 sql global 'SELECT name, type FROM instances'"]],
  });

  database = Option.String({ name: "local|global" });
  query = Option.String({ name: "query" });

  protected async run(): Promise<void> {
    if (this.database !== "local" && this.database !== "global") throw new Error(`Invalid database type "${this.database}" (local or global)`);
    let query = this.query;
    if (query === "-") query = await readStdinText(this.context.stdin);
    const { results } = await this.client.post<{ results: { type: string; columns: string[]; rows: unknown[][]; rows_affected: number }[] }>(
      "/internal/sql", { database: this.database, query }).then((r) => r.metadata);
    for (const r of results) {
      if (r.type === "exec") this.print(`Rows affected: ${r.rows_affected}`);
      else this.context.stdout.write(renderTable("table", r.columns, r.rows.map((row) => row.map((v) => (v === null ? "" : String(v)))), r.rows));
    }
  }
}

export class ActivateIfNeededCommand extends LxdCommand {
  static override paths = [["activateifneeded"]];
  static override usage = Command.Usage({
    category: "Daemon",
    description: "Check whether the daemon should run (at boot) and if so, reach it to have it started",
    details: "The daemon is needed when core.https_address is set or an instance has boot.autostart=true (or was running without it). Its socket is then contacted, which starts a socket-activated daemon.",
    examples: [["At boot", "$0 activateifneeded"]],
  });

  protected async run(): Promise<number> {
    // Daemon-side code, loaded on demand as `serve` loads the daemon.
    const { activationReason } = await import("../daemon/activate.ts");
    const reason = activationReason();
    if (!reason) {
      this.print("No need to start the daemon now");
      return 0;
    }
    this.print(reason);
    await this.client.server();
    return 0;
  }
}
