// `lxd activateifneeded`: whether the stored state asks for a running daemon (as LXD checks at
// boot): an HTTPS address to listen on, or instances to start (boot.autostart, or running when
// the host went down). Reads the database file directly, read-only: the daemon may not run.
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { dbPath } from "../paths.ts";

export function activationReason(path = dbPath()): string | undefined {
  if (!existsSync(path)) return undefined;
  const db = new Database(path, { readonly: true });
  try {
    const https = db.query("SELECT value FROM config WHERE key = 'core.https_address'").get() as { value: string } | null;
    if (https?.value) return "Daemon has core.https_address set, activating...";
    for (const row of db.query("SELECT name, config FROM instances").all() as { name: string; config: string }[]) {
      const config = JSON.parse(row.config) as Record<string, string>;
      const autostart = config["boot.autostart"];
      if (["true", "1", "yes", "on"].includes((autostart ?? "").toLowerCase())) return `Instance "${row.name}" has boot.autostart set, activating...`;
      if (autostart === undefined && config["volatile.last_state.power"] === "RUNNING") return `Instance "${row.name}" was running, activating...`;
    }
    return undefined;
  } finally {
    db.close();
  }
}
