// `snapshot NAME [SNAP]` and `restore NAME SNAP`: instance snapshots (deleting one is
// `delete NAME/SNAP`, renaming one `move NAME/OLD NAME/NEW`).
import { Command, Option } from "clipanion";
import { LxdCommand } from "./base.ts";

const enc = encodeURIComponent;

/** "c1/snap0" -> ["c1", "snap0"]; "c1" -> ["c1", undefined]. */
export function splitSnapshot(ref: string): [string, string | undefined] {
  const slash = ref.indexOf("/");
  return slash < 0 ? [ref, undefined] : [ref.slice(0, slash), ref.slice(slash + 1)];
}

export const snapshotPath = (instance: string, snapshot: string) =>
  `/1.0/instances/${enc(instance)}/snapshots/${enc(snapshot)}`;

export class SnapshotCommand extends LxdCommand {
  static override paths = [["snapshot"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Create instance snapshots",
    details: "Without a snapshot name the server picks the next one from snapshots.pattern (snap0, snap1, ...).",
    examples: [
      ["Snapshot c1 as snap0, snap1...", "$0 snapshot c1"],
      ["Snapshot c1 as before-upgrade, never expiring", "$0 snapshot c1 before-upgrade --no-expiry"],
    ],
  });

  instance = Option.String({ name: "instance" });
  snapshot = Option.String({ name: "snapshot", required: false });
  noExpiry = Option.Boolean("--no-expiry", false, { description: "Ignore any configured snapshot expiry" });
  reuse = Option.Boolean("--reuse", false, { description: "If the snapshot name already exists, delete and create a new one" });
  stateful = Option.Boolean("--stateful", false, { description: "Whether or not to snapshot the instance's running state" });

  protected async run(): Promise<void> {
    if (this.reuse && this.snapshot) {
      try {
        await this.client.run("DELETE", snapshotPath(this.instance, this.snapshot));
      } catch {
        // Nothing to reuse.
      }
    }
    const body: Record<string, unknown> = { name: this.snapshot ?? "", stateful: this.stateful };
    if (this.noExpiry) body.expires_at = "0001-01-01T00:00:00Z";
    await this.client.run("POST", `/1.0/instances/${enc(this.instance)}/snapshots`, body);
  }
}

export class RestoreCommand extends LxdCommand {
  static override paths = [["restore"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Restore instances from snapshots",
    details: "A running instance is stopped, restored and started again.",
    examples: [["Restore c1 to its snapshot snap0", "$0 restore c1 snap0"]],
  });

  instance = Option.String({ name: "instance" });
  snapshot = Option.String({ name: "snapshot" });
  stateful = Option.Boolean("--stateful", false, { description: "Whether or not to restore the instance's running state from snapshot (if available)" });

  protected async run(): Promise<void> {
    const snap = this.snapshot.includes("/") ? this.snapshot : `${this.instance}/${this.snapshot}`;
    await this.client.run("PUT", `/1.0/instances/${enc(this.instance)}`, { restore: snap, stateful: this.stateful });
  }
}
