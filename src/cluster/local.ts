// The facts of one member that are not the cluster's: its name, its Raft id and node address, the
// listen addresses it alone uses, and the last Raft node list it saw (to find the cluster again
// after a restart). A small bun:sqlite file of its own (database/local.db), as LXD keeps one.
import type { Database } from "bun:sqlite";
import { join } from "node:path";
import { openSqlite } from "../db/index.ts";

export interface RaftNode { id: number; address: string; role: string; name: string }

/** Server config keys each member sets for itself (LXD keeps them in the local database too). */
export const MEMBER_KEYS = new Set(["core.https_address", "cluster.https_address"]);

export class LocalStore {
  private readonly db: Database;

  constructor(stateDir: string) {
    this.db = openSqlite(join(stateDir, "database", "local.db"));
    this.db.run("CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.db.run("CREATE TABLE IF NOT EXISTS raft_nodes (id INTEGER PRIMARY KEY, address TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL)");
  }

  get(key: string): string | undefined {
    return (this.db.query("SELECT value FROM config WHERE key = ?").get(key) as { value: string } | null)?.value;
  }

  set(key: string, value: string | undefined): void {
    if (value === undefined || value === "") this.db.query("DELETE FROM config WHERE key = ?").run(key);
    else this.db.query("INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  raftNodes(): RaftNode[] {
    return this.db.query("SELECT id, address, role, name FROM raft_nodes ORDER BY id").all() as RaftNode[];
  }

  setRaftNodes(nodes: RaftNode[]): void {
    this.db.transaction(() => {
      this.db.run("DELETE FROM raft_nodes");
      for (const n of nodes) this.db.query("INSERT INTO raft_nodes (id, address, role, name) VALUES (?, ?, ?, ?)").run(n.id, n.address, n.role, n.name);
    })();
  }

  close(): void {
    this.db.close();
  }
}
