// The rsync transfer LXD uses for every filesystem it cannot send natively (and the fallback of
// all): the sender runs rsync as a client whose "remote shell" is this binary's `netcat`
// subcommand, which connects back to the daemon over a private unix socket; the receiver runs
// `rsync --server` on its stdio. The daemon pumps both ends over the websocket, and each side ends
// its direction with a barrier. Both need the rsync binary; the arguments are LXD's, so an LXD
// peer's rsync talks to ours.
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Socket, UnixSocketListener } from "bun";
import { ulid } from "ulid";
import type { Channel } from "./channel.ts";

export const RSYNC_FEATURES = ["xattrs", "delete", "compress", "bidirectional"];
/** rsync must call back within this long (as LXD). */
const CONNECT_TIMEOUT_MS = 10_000;

function featureArgs(features: string[]): string[] {
  const args: string[] = [];
  if (features.includes("xattrs")) args.push("--xattrs", "--filter=-x security.selinux");
  if (features.includes("delete")) args.push("--delete");
  if (features.includes("compress")) args.push("--compress", "--compress-level=2");
  return args;
}

export interface RsyncOptions {
  features: string[];
  bwlimit?: string;
  /** Directory for the netcat socket (root-only). */
  socketDir: string;
  /** Name shown in errors and given to netcat (the volume). */
  name: string;
  /** rsync exit code 24 (files vanished) is fine: `allow_inconsistent`. */
  allowInconsistent?: boolean;
}

async function finish(proc: Bun.Subprocess<"pipe" | "ignore", "pipe" | "ignore", "pipe">, what: string, allowInconsistent?: boolean): Promise<void> {
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code === 0 || (code === 24 && allowInconsistent)) return;
  throw new Error(`${what} failed: ${stderr.trim().split("\n").slice(-3).join("; ") || `rsync exited with ${code}`}`);
}

/** Sends directory `dir` (its content) as one rsync stream over `ch`. */
export async function rsyncSend(dir: string, ch: Channel, opts: RsyncOptions): Promise<void> {
  await mkdir(opts.socketDir, { recursive: true, mode: 0o700 });
  const path = join(opts.socketDir, `${ulid()}.sock`);
  let conn: Socket<undefined> | undefined;
  let connected!: () => void;
  const accepted = new Promise<void>((resolve) => (connected = resolve));
  let socketClosed!: () => void;
  const closedP = new Promise<void>((resolve) => (socketClosed = resolve));
  // Peer bytes waiting for the socket to take them.
  const pending: Uint8Array[] = [];
  let drainWaiter: (() => void) | undefined;
  const flush = () => {
    while (conn && pending.length) {
      const head = pending[0]!;
      const n = Math.max(0, conn.write(head));
      if (n < head.length) { pending[0] = head.subarray(n); return; }
      pending.shift();
    }
    if (!pending.length) { const w = drainWaiter; drainWaiter = undefined; w?.(); }
  };
  let outgoing = Promise.resolve();
  let writeError: unknown;
  const listener: UnixSocketListener<undefined> = Bun.listen<undefined>({
    unix: path,
    socket: {
      open(s) {
        if (conn) {
          s.end();
          return;
        }
        conn = s;
        connected();
      },
      data(s, data) {
        // rsync's output: to the websocket, in order, one chunk after another.
        const copy = new Uint8Array(data);
        s.pause();
        outgoing = outgoing.then(() => ch.write(copy)).catch((err) => { writeError ??= err; }).finally(() => s.resume());
      },
      drain() { flush(); },
      close() { socketClosed(); },
      error() { socketClosed(); },
    },
  });
  const argv = [
    "rsync", "-ar", "--devices", "--numeric-ids", "--partial", "--sparse",
    ...(opts.bwlimit ? ["--bwlimit", opts.bwlimit] : []),
    ...featureArgs(opts.features),
    `${dir.replace(/\/+$/, "")}/`, "localhost:/tmp/foo",
    "-e", `${process.execPath} netcat ${path} ${opts.name}`,
  ];
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const done = finish(proc, `Sending ${opts.name} with rsync`, opts.allowInconsistent);
  // Awaited below; a failure meanwhile must not count as unhandled.
  done.catch(() => {});
  try {
    const timer = setTimeout(() => proc.kill(9), CONNECT_TIMEOUT_MS);
    await Promise.race([accepted, proc.exited]);
    clearTimeout(timer);
    if (!conn) {
      await done;
      throw new Error(`rsync failed to connect within ${CONNECT_TIMEOUT_MS / 1000}s`);
    }
    const fromPeer = ch.readStream(async (chunk) => {
      pending.push(chunk.slice());
      flush();
      if (pending.length) await new Promise<void>((resolve) => (drainWaiter = resolve));
    }).then(() => conn?.end());
    fromPeer.catch(() => {});
    // The netcat side closes once rsync's output is all through: then our stream ends.
    await Promise.race([closedP, fromPeer.then(() => closedP)]);
    await outgoing;
    if (writeError) throw writeError;
    ch.barrier();
    await Promise.all([done, fromPeer]);
  } catch (err) {
    proc.kill(9);
    await proc.exited;
    throw err;
  } finally {
    listener.stop(true);
    await rm(path, { force: true });
  }
}

/** Receives one rsync stream from `ch` into directory `dir` (which exists). */
export async function rsyncReceive(dir: string, ch: Channel, opts: Pick<RsyncOptions, "features" | "name">): Promise<void> {
  const argv = [
    // Not --sparse (LXD's receiver has it): scanning every write for holes halves rsync's
    // throughput; holes in files arrive filled.
    "rsync", "--server", "-vlogDtpre.iLsfx", "--numeric-ids", "--devices", "--partial",
    // Nanosecond mtimes: a snapshot and the next tree may differ in a file of equal size and second.
    "--modify-window=-1",
    // Whole files: a new volume has nothing to diff against, and on a LAN the rolling checksums
    // cost more than the bytes they save (the generator decides; any sender follows).
    "--whole-file",
    ...featureArgs(opts.features), ".", `${dir.replace(/\/+$/, "")}/`,
  ];
  const proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const done = finish(proc, `Receiving ${opts.name} with rsync`);
  const toPeer = (async () => {
    for await (const chunk of proc.stdout) await ch.write(chunk);
    ch.barrier();
  })();
  const fromPeer = ch.readStream(async (chunk) => {
    proc.stdin.write(chunk);
    await proc.stdin.flush();
  }).finally(() => { try { proc.stdin.end(); } catch { /* rsync already gone */ } });
  try {
    await Promise.all([fromPeer, toPeer, done]);
  } catch (err) {
    proc.kill(9);
    await proc.exited;
    throw err;
  }
}
