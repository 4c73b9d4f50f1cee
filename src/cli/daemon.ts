// Daemon-side roles of the binary: serve, waitready, shutdown, and the server half of `init --auto`.
import { Command, Option } from "clipanion";
import { LxdClient } from "../client/client.ts";
import { LxdError } from "../client/errors.ts";
import type { Profile, StoragePool } from "../client/types.ts";
import { LxdCommand } from "./base.ts";

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
    // Loaded on demand so client commands never pay for the daemon's modules.
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
      await Bun.sleep(100);
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
      await Bun.sleep(100);
    }
  }
}

export interface ServerInitOptions {
  storageBackend: string;
  networkAddress?: string;
  networkPort?: number;
}

/** `lxd init --auto`: a "default" storage pool and a root disk in the default profile; idempotent. */
export async function initServer(client: LxdClient, opts: ServerInitOptions): Promise<void> {
  const pools = await client.storagePools();
  if (!pools.some((p: StoragePool) => p.name === "default")) {
    await client.post("/1.0/storage-pools", { name: "default", driver: opts.storageBackend, description: "", config: {} });
  }
  const { profile, etag } = await client.profileWithEtag("default");
  const devices = profile.devices ?? {};
  const hasRoot = Object.values(devices).some((d) => d.type === "disk" && d.path === "/");
  if (!hasRoot) {
    const root = devices.root ? "root0" : "root";
    await client.patch("/1.0/profiles/default", { devices: { ...devices, [root]: { type: "disk", path: "/", pool: "default" } } } satisfies Partial<Profile>, { etag });
  }
  if (opts.networkAddress) {
    const address = opts.networkAddress.includes(":") && !opts.networkAddress.startsWith("[")
      ? `[${opts.networkAddress}]` : opts.networkAddress;
    await client.patch("/1.0", { config: { "core.https_address": `${address}:${opts.networkPort ?? 8443}` } });
  }
}
