// `lxd sql`: one statement against the daemon's database (LXD's local and global databases are
// the same SQLite file here), answered in LXD's internal SQL result shape.
import type { Database } from "bun:sqlite";
import type { Db } from "./index.ts";

export interface SqlResult { type: "select" | "exec"; columns: string[]; rows: unknown[][]; rows_affected: number }

/** Statements that return rows. */
const READS = /^\s*(select|pragma|with|explain|values)\b/i;

export function runSql(db: Db, query: string): SqlResult {
  const client = (db as unknown as { $client: Database }).$client;
  const stmt = client.query(query);
  try {
    if (READS.test(query)) {
      return { type: "select", columns: stmt.columnNames, rows: stmt.values() as unknown[][], rows_affected: 0 };
    }
    const { changes } = stmt.run();
    return { type: "exec", columns: [], rows: [], rows_affected: changes };
  } finally {
    stmt.finalize();
  }
}
