// Warnings about conditions the daemon notices (LXD's `warnings` extension): one row per condition
// (type, entity, project) in the database, so acknowledging or deleting one outlasts a restart.
// As LXD: a condition seen again counts up and updates last_seen_at and the message, keeping an
// acknowledgement (a resolved warning becomes new again); at start, what the checks did not see
// again is resolved; resolved warnings are pruned a day later.
import { randomUUID } from "node:crypto";
import { and, asc, eq, lt } from "drizzle-orm";
import type { Warning } from "../api/warning.ts";
import { ApiError } from "../api/error.ts";
import type { Db } from "../db/index.ts";
import { warnings } from "../db/schema.ts";

export type WarningSeverity = "low" | "moderate" | "high";
type Row = typeof warnings.$inferSelect;

/** How long a resolved warning is kept (LXD's prune task). */
const RESOLVED_KEPT_MS = 24 * 3600_000;

const toApi = (r: Row): Warning => ({
  status: r.status, uuid: r.uuid, location: "none", project: r.project, type: r.type, count: r.count,
  first_seen_at: r.firstSeenAt, last_seen_at: r.lastSeenAt, last_message: r.lastMessage, severity: r.severity,
  entity_url: r.entityUrl,
});

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

const url = (uuid: string) => `/1.0/warnings/${uuid}`;

export class Warnings {
  /** `events` gets the lifecycle events of changes made through the API (acknowledge, delete). */
  constructor(private readonly db: Db, private readonly events?: Events) {}

  /** Records (or counts again) a warning of `type`; returns it. */
  raise(type: string, message: string, severity: WarningSeverity = "low", entityUrl = "", project = ""): Warning {
    const now = new Date().toISOString();
    const where = and(eq(warnings.type, type), eq(warnings.entityUrl, entityUrl), eq(warnings.project, project));
    const existing = this.db.select().from(warnings).where(where).get();
    if (existing) {
      this.db.update(warnings).set({
        count: existing.count + 1, lastSeenAt: now, updatedAt: now, lastMessage: message, severity,
        status: existing.status === "resolved" ? "new" : existing.status,
      }).where(eq(warnings.uuid, existing.uuid)).run();
      return this.get(existing.uuid)!;
    }
    const row = this.db.insert(warnings).values({
      uuid: randomUUID(), type, entityUrl, project, severity, status: "new", count: 1,
      firstSeenAt: now, lastSeenAt: now, updatedAt: now, lastMessage: message,
    }).returning().get();
    return toApi(row);
  }

  /** The condition of `type` is gone. */
  resolve(type: string): void {
    const now = new Date().toISOString();
    this.db.update(warnings).set({ status: "resolved", updatedAt: now }).where(eq(warnings.type, type)).run();
  }

  /** Resolves what was not seen since `date` (the daemon's start: its checks raised the rest again). */
  resolveOlderThan(date: Date): void {
    this.db.update(warnings).set({ status: "resolved", updatedAt: new Date().toISOString() })
      .where(lt(warnings.lastSeenAt, date.toISOString())).run();
  }

  /** Deletes resolved warnings a day after they were resolved. */
  pruneResolved(now: Date): void {
    const before = new Date(now.getTime() - RESOLVED_KEPT_MS).toISOString();
    this.db.delete(warnings).where(and(eq(warnings.status, "resolved"), lt(warnings.updatedAt, before))).run();
  }

  list(): Warning[] {
    return this.db.select().from(warnings).orderBy(asc(warnings.firstSeenAt)).all().map(toApi);
  }

  get(uuid: string): Warning | undefined {
    const row = this.db.select().from(warnings).where(eq(warnings.uuid, uuid)).get();
    return row && toApi(row);
  }

  /** Like get() but 404 when missing. */
  mustGet(uuid: string): Warning {
    const w = this.get(uuid);
    if (!w) throw new ApiError(404, "Warning not found");
    return w;
  }

  setStatus(uuid: string, status: "new" | "acknowledged"): void {
    this.mustGet(uuid);
    this.db.update(warnings).set({ status, updatedAt: new Date().toISOString() }).where(eq(warnings.uuid, uuid)).run();
    if (status === "acknowledged") this.events?.send("lifecycle", { action: "warning-acknowledged", source: url(uuid), context: {} });
  }

  delete(uuid: string): void {
    this.mustGet(uuid);
    this.db.delete(warnings).where(eq(warnings.uuid, uuid)).run();
    this.events?.send("lifecycle", { action: "warning-deleted", source: url(uuid), context: {} });
  }
}
