// The operations of migrations between daemons, for the handlers of instances, snapshots and
// custom volumes. A side whose peer connects to it is a websocket-class operation whose metadata
// holds the channel secrets (single-use, gone with the operation); a side that connects to its
// peer is a task. The transfer itself is src/migration.
import { join } from "node:path";
import { byteProgress } from "../image/progress.ts";
import { Acceptor, dial, type Channels, type DialTarget } from "../migration/connect.ts";
import { LiveMigrationUnsupported, runSource, runTarget, type SourceSpec, type TargetSpec, type TransferOptions } from "../migration/transfer.ts";
import { lxdDir } from "../paths.ts";
import type { DaemonContext } from "./context.ts";
import type { Operation } from "./operations.ts";
import { ApiError } from "../api/error.ts";
import { statefulUnavailable } from "../instance/stateful.ts";

type Ctx = Pick<DaemonContext, "ops" | "identity">;

/** A migration's peer, as a request names it (source of a pull, target of a push). */
export interface PeerRequest {
  operation?: string;
  certificate?: string;
  secrets?: Record<string, string>;
}

/** The sentence a live request gets (it names the CRIU this server lacks, if it does). */
export const liveUnsupported = (): string => new LiveMigrationUnsupported().message;

/** Checks a peer description; 400 names what is missing. */
export function peerOf(req: PeerRequest, what: string): DialTarget {
  if (!req.operation) throw new ApiError(400, `The ${what} needs the peer's operation URL`);
  if (!req.certificate) throw new ApiError(400, `The ${what} needs the peer's certificate (transfers between hosts are pinned to it)`);
  if (!req.secrets?.control || !req.secrets.fs) throw new ApiError(400, `The ${what} needs the peer's control and fs secrets`);
  if (req.secrets.criu && statefulUnavailable("Live migration")) throw new ApiError(400, liveUnsupported());
  return { operation: req.operation, certificate: req.certificate, secrets: req.secrets };
}

function identity(ctx: Ctx) {
  if (!ctx.identity) throw new ApiError(500, "This daemon has no server certificate to connect to a migration peer with");
  return ctx.identity;
}

interface RoleSpec {
  description: string;
  resources: Record<string, string[]>;
  /** Runs the role over connected channels. */
  transfer(ch: Channels, opts: TransferOptions): Promise<void>;
  /** The peer to dial; undefined: the peer connects to this operation. */
  peer?: DialTarget;
  /** After the transfer, success or not (releasing reservations). */
  cleanup?: () => void;
  /** After a successful transfer (e.g. start the instance). */
  afterSuccess?: () => Promise<void>;
  /** Accepting side of a live migration: a `criu` secret too. */
  live?: boolean;
}

function migrationOperation(ctx: Ctx, role: RoleSpec): Operation {
  const acceptor = role.peer ? undefined : new Acceptor(role.live);
  const me = role.peer ? identity(ctx) : undefined;
  let channels: Channels | undefined;
  let cancelled = false;
  let running: Promise<unknown> | undefined;
  const close = () => {
    acceptor?.close("Migration cancelled");
    channels?.control.close();
    channels?.fs.close();
    channels?.criu?.close();
  };
  return ctx.ops.create({
    class: acceptor ? "websocket" : "task",
    description: role.description,
    resources: role.resources,
    metadata: acceptor ? { ...acceptor.secrets } : undefined,
    ...(acceptor ? {
      secretKey: (secret: string) => acceptor.channelFor(secret),
      connect: (_op: Operation, secret: string, ws: Parameters<Acceptor["accept"]>[1]) => {
        if (!acceptor.accept(secret, ws)) ws.close(1008, "Invalid websocket secret");
      },
    } : {}),
    run: (op) => (running = (async () => {
      try {
        channels = acceptor ? await acceptor.wait() : await dial(role.peer!, me!);
        if (cancelled) throw new Error("Migration cancelled");
        const report = byteProgress((m) => op.updateMetadata(m), "fs_progress", role.resources.instances?.[0]?.split("/").pop() ?? "volume", 0, 500);
        await role.transfer(channels, { socketDir: join(lxdDir(), "migration"), progress: report });
      } finally {
        acceptor?.close();
        role.cleanup?.();
      }
      await role.afterSuccess?.();
    })()),
    cancel: async () => {
      cancelled = true;
      close();
      await running?.catch(() => {});
    },
  });
}

/** The source side: peers connect (pull, relay) or, with `target`, this daemon connects (push). */
export function sourceOperation(ctx: Ctx, spec: SourceSpec, resources: Record<string, string[]>, target?: PeerRequest): Operation {
  return migrationOperation(ctx, {
    description: spec.kind === "instance" ? "Migrating instance" : "Migrating storage volume",
    resources,
    peer: target ? peerOf(target, "migration target") : undefined,
    live: spec.live !== undefined && spec.running,
    transfer: (ch, opts) => runSource(spec, ch, opts),
  });
}

/** The target side: this daemon connects to the source (pull), or the source connects (push). */
export function targetOperation(
  ctx: Ctx, spec: TargetSpec, resources: Record<string, string[]>, mode: string, source: PeerRequest,
  hooks: { cleanup?: () => void; afterSuccess?: () => Promise<void>; live?: boolean } = {},
): Operation {
  try {
    if (mode !== "pull" && mode !== "push") throw new ApiError(501, `Migration mode "${mode}" is not implemented (pull or push)`);
    return migrationOperation(ctx, {
      description: spec.kind === "instance" ? "Creating instance" : "Copying storage volume",
      resources,
      peer: mode === "pull" ? peerOf(source, "migration source") : undefined,
      transfer: (ch, opts) => runTarget(spec, ch, opts),
      ...hooks,
    });
  } catch (err) {
    hooks.cleanup?.();
    throw err;
  }
}
