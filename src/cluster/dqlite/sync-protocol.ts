// What SyncDqlite and its worker exchange: requests go by postMessage (structured clone), answers
// come back as bytes in a shared buffer, JSON with bigints and blobs tagged so they survive.
import type { ExecResult, QueryResult } from "./client.ts";
import type { SqlValue } from "./wire.ts";

export type SyncRequest =
  | { op: "connect"; addresses: string[]; database: string; timeoutMs: number }
  | { op: "exec"; sql: string; params: SqlValue[] }
  | { op: "query"; sql: string; params: SqlValue[] }
  | { op: "close" };

export type SyncReply = { ok: true; value: ExecResult | QueryResult | null } | { ok: false; error: string };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function encodeReply(reply: SyncReply): Uint8Array {
  return utf8.encode(
    JSON.stringify(reply, (_k, v) =>
      typeof v === "bigint" ? { $bigint: v.toString() } : v instanceof Uint8Array ? { $blob: Buffer.from(v).toString("base64") } : v),
  );
}

export function decodeReply(bytes: Uint8Array): SyncReply {
  return JSON.parse(fromUtf8.decode(bytes), (_k, v) =>
    v && typeof v === "object" && "$bigint" in v ? BigInt(v.$bigint) : v && typeof v === "object" && "$blob" in v ? new Uint8Array(Buffer.from(v.$blob, "base64")) : v);
}
