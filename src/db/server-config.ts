// Server configuration (`GET/PUT/PATCH /1.0` `config`): a key/value table.
import { eq } from "drizzle-orm";
import type { Db } from "./index.ts";
import { config } from "./schema.ts";

export function getServerConfig(db: Db): Record<string, string> {
  return Object.fromEntries(db.select().from(config).orderBy(config.key).all().map((r) => [r.key, r.value]));
}

export const getServerConfigValue = (db: Db, key: string): string | undefined =>
  db.select().from(config).where(eq(config.key, key)).get()?.value;

/** PUT: the stored config becomes exactly `values` (empty values are dropped, as LXD does). */
export function replaceServerConfig(db: Db, values: Record<string, string>): void {
  db.transaction((tx) => {
    tx.delete(config).run();
    const rows = Object.entries(values).filter(([, v]) => v !== "").map(([key, value]) => ({ key, value }));
    if (rows.length) tx.insert(config).values(rows).run();
  });
}

/** PATCH: sets the given keys; an empty value removes the key. */
export function patchServerConfig(db: Db, changes: Record<string, string>): void {
  db.transaction((tx) => {
    for (const [key, value] of Object.entries(changes)) {
      if (value === "") tx.delete(config).where(eq(config.key, key)).run();
      else tx.insert(config).values({ key, value }).onConflictDoUpdate({ target: config.key, set: { value } }).run();
    }
  });
}
