// `lxd sql`: one statement against the daemon's database (LXD's local and global databases are
// the same SQLite file here), answered in LXD's internal SQL result shape.
import type { Db, SqliteClient, SqliteStatement } from "./index.ts";

export interface SqlResult { type: "select" | "exec"; columns: string[]; rows: unknown[][]; rows_affected: number }

/** Statements that return rows. */
const READS = /^\s*(select|pragma|with|explain|values)\b/i;

export function runSql(db: Db, query: string): SqlResult {
  const client = (db as unknown as { $client: SqliteClient }).$client;
  // bun:sqlite's statements also name their columns and are finalized; the cluster's are not.
  const stmt = client.query(query) as SqliteStatement & { columnNames?: string[]; finalize?: () => void };
  try {
    if (READS.test(query)) {
      if (stmt.columnNames) return { type: "select", columns: stmt.columnNames, rows: stmt.values() as unknown[][], rows_affected: 0 };
      const rows = stmt.all() as Record<string, unknown>[];
      const columns = Object.keys(rows[0] ?? {});
      return { type: "select", columns, rows: rows.map((r) => columns.map((c) => r[c])), rows_affected: 0 };
    }
    const { changes } = stmt.run();
    return { type: "exec", columns: [], rows: [], rows_affected: changes };
  } finally {
    stmt.finalize?.();
  }
}
