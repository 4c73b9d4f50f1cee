// `recover`: after a database loss, finds instance volumes the server no longer knows and brings
// them back (LXD's interactive `lxd recover`, over /internal/recover/validate and /import).
import { Command } from "clipanion";
import type { StoragePool } from "../api/storage.ts";
import { asker } from "./ask.ts";
import { LxdCommand } from "./base.ts";

interface RecoverPool { name: string; driver: string; config: Record<string, string> }
import type { RecoverResult } from "../api/recover.ts";

export class RecoverCommand extends LxdCommand {
  static override paths = [["recover"]];
  static override usage = Command.Usage({
    category: "Server",
    description: "Recover missing instances after a database loss",
    details: "Scans the storage pools (those the server knows and others you name) for instance volumes it has no record of, " +
      "lists them, and on confirmation brings them back from the backup.yaml each volume keeps.",
  });

  protected async run(): Promise<void> {
    const out = (s: string) => this.context.stdout.write(s);
    const { ask, yes } = asker(out);
    const existing = await this.client.get<StoragePool[]>("/1.0/storage-pools?recursion=1");
    if (existing.length) {
      out("This LXD server currently has the following storage pools:\n");
      for (const p of existing) out(` - ${p.name} (backend="${p.driver}", source="${p.config.source ?? ""}")\n`);
    }
    const extra: RecoverPool[] = [];
    while (await yes("Would you like to recover another storage pool?", false)) {
      const name = await ask("Name of the storage pool: ");
      if (!name) continue;
      const driver = await ask("Name of the storage backend (dir, btrfs): ");
      const source = await ask("Source of the storage pool (block device, volume group, dataset, path, ... as applicable): ");
      const config: Record<string, string> = { source };
      for (;;) {
        const kv = await ask("Additional storage pool configuration property (KEY=VALUE, empty when done): ");
        if (!kv) break;
        const i = kv.indexOf("=");
        if (i <= 0) { out("Invalid KEY=VALUE, try again.\n"); continue; }
        config[kv.slice(0, i)] = kv.slice(i + 1);
      }
      extra.push({ name, driver, config });
    }
    out("The recovery process will be scanning the following storage pools:\n");
    for (const p of existing) out(` - EXISTING: "${p.name}" (backend="${p.driver}", source="${p.config.source ?? ""}")\n`);
    for (const p of extra) out(` - NEW: "${p.name}" (backend="${p.driver}", source="${p.config.source}")\n`);
    if (!(await yes("Would you like to continue with scanning for lost volumes?", true))) return;
    out("Scanning for unknown volumes...\n");
    const res = (await this.client.post<RecoverResult>("/internal/recover/validate", { pools: extra })).metadata;
    const found = res.UnknownVolumes ?? [];
    const errors = res.DependencyErrors ?? [];
    if (!found.length) {
      out("No unknown volumes found. Nothing to do.\n");
      return;
    }
    out("The following unknown volumes have been found:\n");
    for (const v of found) {
      const snaps = v.snapshotCount ? ` (includes ${v.snapshotCount} snapshots)` : "";
      out(` - ${v.type === "custom" ? "Volume" : "Container"} "${v.name}" on pool "${v.pool}" in project "${v.project}"${snaps}\n`);
    }
    if (errors.length) {
      out("You are currently missing the following:\n");
      for (const e of errors) out(` - ${e}\n`);
      throw new Error("Create the missing entries, then run `lxd recover` again");
    }
    if (!(await yes("Would you like those to be recovered?", false))) return;
    out("Starting recovery...\n");
    await this.client.post("/internal/recover/import", { pools: extra });
  }
}
