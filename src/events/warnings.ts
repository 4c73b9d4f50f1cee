// Warnings about conditions the daemon notices (LXD's `warnings` extension): one entry per type,
// counted each time it is seen again; users acknowledge or delete them. Kept in memory: the
// checks run again at every start, so a condition that still holds is reported again.
import { randomUUID } from "node:crypto";
import type { Warning } from "../api/warning.ts";

export type WarningSeverity = "low" | "moderate" | "high";

export class Warnings {
  private readonly byUuid = new Map<string, Warning>();

  /** Records (or counts again) a warning of `type`; returns it. */
  raise(type: string, message: string, severity: WarningSeverity = "low", entityUrl = ""): Warning {
    const now = new Date().toISOString();
    const existing = [...this.byUuid.values()].find((w) => w.type === type && w.entity_url === entityUrl);
    if (existing) {
      Object.assign(existing, { count: existing.count + 1, last_seen_at: now, last_message: message });
      return existing;
    }
    const w: Warning = {
      status: "new", uuid: randomUUID(), location: "none", project: "", type, count: 1,
      first_seen_at: now, last_seen_at: now, last_message: message, severity, entity_url: entityUrl,
    };
    this.byUuid.set(w.uuid, w);
    return w;
  }

  /** Marks a warning resolved: it goes away, as LXD prunes resolved warnings. */
  resolve(type: string): void {
    for (const [uuid, w] of this.byUuid) if (w.type === type) this.byUuid.delete(uuid);
  }

  list(): Warning[] {
    return [...this.byUuid.values()].sort((a, b) => a.first_seen_at.localeCompare(b.first_seen_at));
  }

  get(uuid: string): Warning | undefined {
    return this.byUuid.get(uuid);
  }

  setStatus(uuid: string, status: "new" | "acknowledged"): boolean {
    const w = this.byUuid.get(uuid);
    if (w) w.status = status;
    return Boolean(w);
  }

  delete(uuid: string): boolean {
    return this.byUuid.delete(uuid);
  }
}
