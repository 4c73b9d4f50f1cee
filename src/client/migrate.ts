// Copies between two servers through LXD's migration API, as LXD's client does: `pull` (the
// target fetches from the source's operation), `push` (the source sends to the target's
// operation) and `relay` (this client carries both websockets when the servers cannot reach each
// other). The caller describes the instance or volume; the servers do the transfer.
import type { LxdClient } from "./client.ts";
import { LxdError } from "./errors.ts";
import type { Operation } from "../api/operation.ts";
import type { WsConn } from "./websocket.ts";

export type MigrationMode = "pull" | "push" | "relay";
export const MIGRATION_MODES: MigrationMode[] = ["pull", "push", "relay"];

/** One side of a copy: its client, and how the other server reaches it. */
export interface Side {
  client: LxdClient;
  /** The remote's https:// URL, or undefined for a unix-socket remote (its listen address is asked). */
  url?: string;
}

export interface MigrationRequest {
  /** POST path that starts the source side (`/1.0/instances/c1`, `…/snapshots/s0`, a volume's). */
  sourcePath: string;
  /** The source POST's fields besides migration and target (name, live, instance_only, …). */
  sourceBody: Record<string, unknown>;
  /** POST path that creates the target (`/1.0/instances`, a pool's volumes). */
  targetPath: string;
  /** The target POST without its source's migration fields. */
  targetBody: Record<string, unknown> & { source: Record<string, unknown> };
  mode: MigrationMode;
  /** Waits for the target's operation (e.g. showing its progress). */
  wait?: (client: LxdClient, op: Operation) => Promise<Operation>;
}

/** The server's HTTPS URL and certificate, for its peer to connect with. */
async function reach(side: Side): Promise<{ url: string; certificate: string }> {
  const env = (await side.client.server()).environment as { addresses?: string[]; certificate?: string };
  if (!env.certificate) throw new LxdError("The server did not report its certificate");
  const url = side.url ?? (env.addresses?.[0] ? `https://${env.addresses[0]}` : undefined);
  if (!url) throw new LxdError("The server isn't listening on the network: set core.https_address for migrations between servers");
  return { url: url.replace(/\/+$/, ""), certificate: env.certificate };
}

const secretsOf = (op: Operation) =>
  Object.fromEntries(Object.entries(op.metadata ?? {}).filter(([, v]) => typeof v === "string")) as Record<string, string>;

async function startOp(client: LxdClient, path: string, body: unknown): Promise<Operation> {
  const reply = await client.post<Operation>(path, body);
  if (reply.type !== "async") throw new LxdError(`POST ${path} did not start an operation`);
  return reply.metadata;
}

/** Cancels an operation that may be left waiting for a peer (best effort). */
async function abandon(client: LxdClient, op: Operation | undefined): Promise<void> {
  if (op) await client.delete(`/1.0/operations/${op.id}`).catch(() => {});
}

/** Carries every message between two websockets, frame types kept, until either closes. */
function bridge(x: WsConn, y: WsConn): Promise<void> {
  x.onMessage((d) => y.send(d));
  y.onMessage((d) => x.send(d));
  return Promise.race([x.closed, y.closed]).then(() => {
    x.close();
    y.close();
  });
}

export async function migrate(source: Side, target: Side, req: MigrationRequest): Promise<void> {
  const wait = req.wait ?? ((c, op) => c.waitOperation(op));
  let srcOp: Operation | undefined;
  let dstOp: Operation | undefined;
  try {
    if (req.mode === "pull") {
      const src = await reach(source);
      srcOp = await startOp(source.client, req.sourcePath, { ...req.sourceBody, migration: true });
      dstOp = await startOp(target.client, req.targetPath, {
        ...req.targetBody,
        source: {
          ...req.targetBody.source, type: "migration", mode: "pull",
          operation: `${src.url}/1.0/operations/${srcOp.id}`, certificate: src.certificate, secrets: secretsOf(srcOp),
        },
      });
      await wait(target.client, dstOp);
      await source.client.waitOperation(srcOp);
    } else if (req.mode === "push") {
      const dst = await reach(target);
      dstOp = await startOp(target.client, req.targetPath, { ...req.targetBody, source: { ...req.targetBody.source, type: "migration", mode: "push" } });
      srcOp = await startOp(source.client, req.sourcePath, {
        ...req.sourceBody, migration: true,
        target: { operation: `${dst.url}/1.0/operations/${dstOp.id}`, certificate: dst.certificate, secrets: secretsOf(dstOp) },
      });
      await Promise.all([wait(target.client, dstOp), source.client.waitOperation(srcOp)]);
    } else {
      srcOp = await startOp(source.client, req.sourcePath, { ...req.sourceBody, migration: true });
      dstOp = await startOp(target.client, req.targetPath, { ...req.targetBody, source: { ...req.targetBody.source, type: "migration", mode: "push" } });
      const [srcSecrets, dstSecrets] = [secretsOf(srcOp), secretsOf(dstOp)];
      const bridges: Promise<void>[] = [];
      // Control first, as LXD's client does; criu when both offer it (a live migration).
      for (const channel of ["control", "fs", ...(srcSecrets.criu && dstSecrets.criu ? ["criu"] : [])]) {
        if (!srcSecrets[channel] || !dstSecrets[channel]) throw new LxdError(`The servers did not offer a ${channel} channel`);
        const x = await source.client.operationWebsocket(srcOp.id, srcSecrets[channel]!);
        const y = await target.client.operationWebsocket(dstOp.id, dstSecrets[channel]!);
        bridges.push(bridge(x, y));
      }
      await Promise.all([wait(target.client, dstOp), source.client.waitOperation(srcOp)]);
      await Promise.all(bridges);
    }
  } catch (err) {
    // Whichever side is still waiting for its peer stops now instead of at its timeout.
    await Promise.all([abandon(source.client, srcOp), abandon(target.client, dstOp)]);
    throw err;
  }
}
