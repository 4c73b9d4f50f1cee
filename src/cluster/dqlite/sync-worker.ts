// The worker thread behind SyncDqlite (sync.ts): it owns the DqliteClient and its sockets, runs each
// request the blocked main thread posts, and writes the answer into the shared buffer it was given.
import { DqliteClient } from "./client.ts";
import { encodeReply, type SyncReply, type SyncRequest } from "./sync-protocol.ts";

declare const self: Worker;

let client: DqliteClient | undefined;
/** An answer too large for the caller's buffer, kept until it comes back with a bigger one. */
let held: Uint8Array | undefined;

async function answer(req: SyncRequest): Promise<SyncReply> {
  try {
    switch (req.op) {
      case "connect":
        client = new DqliteClient(req.addresses, { database: req.database, timeoutMs: req.timeoutMs });
        return { ok: true, value: null };
      case "exec":
        return { ok: true, value: await client!.exec(req.sql, req.params) };
      case "query":
        return { ok: true, value: await client!.query(req.sql, req.params) };
      case "close":
        client?.close();
        return { ok: true, value: null };
    }
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

self.onmessage = async (event: MessageEvent<{ seq: number; buffer: SharedArrayBuffer; req?: SyncRequest }>) => {
  const { seq, buffer, req } = event.data;
  const bytes = req ? encodeReply(await answer(req)) : held!;
  const header = new Int32Array(buffer, 0, 2);
  const room = buffer.byteLength - 8;
  if (bytes.length > room) {
    held = bytes;
  } else {
    held = undefined;
    new Uint8Array(buffer, 8, bytes.length).set(bytes);
  }
  header[1] = bytes.length;
  Atomics.store(header, 0, seq);
  Atomics.notify(header, 0);
};
