// Runs one dqlite node (native/lxd-dqlite.c) as a child process: libdqlite's own libuv must not
// meet the Bun runtime's libuv symbols in one process. The node lives while its stdin is open, so
// it ends with the process that started it, whichever way that one dies. The process is also the
// node's TLS relay: other members reach it only over TLS with the cluster certificate, and local
// clients reach any node through its relay socket (see native/lxd-dqlite.c).
import type { Subprocess } from "bun";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dqlitePath } from "./native.ts";

export interface DqliteNodeOptions {
  /** Raft id: 1 bootstraps a new cluster on first start; the others wait to be added. */
  id: bigint;
  /** HOST:PORT the node listens on and other nodes reach it at. */
  address: string;
  /** Its data directory (Raft log and snapshots). */
  dir: string;
  /** The cluster certificate and key (PEM files): presented to other nodes, and the only one accepted from them. */
  cert: string;
  key: string;
  /** Expected one-way latency: leader heartbeats and election timeouts scale with it. */
  latencyMs?: number;
  /** Each line the node writes once it runs (its relay's refusals and failed dials). */
  onLog?: (line: string) => void;
}

export interface DqliteNode {
  readonly pid: number;
  readonly exited: Promise<number>;
  /** Name of its relay socket (abstract unix, this user only): how local clients reach any node. */
  readonly relay: string;
  /** Stops the node (SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

/** How long a node gets to stop cleanly before it is killed. */
const STOP_GRACE_MS = 3000;

/** This host cannot run a dqlite node: no usable libdqlite (lxd-dqlite exits 3). */
export class DqliteUnavailableError extends Error {}

export async function startDqliteNode(opts: DqliteNodeOptions): Promise<DqliteNode> {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const relay = `lxd-dqlite-${randomBytes(8).toString("hex")}`;
  const argv = [dqlitePath(), "--id", String(opts.id), "--address", opts.address, "--dir", opts.dir, "--cert", opts.cert, "--key", opts.key, "--relay", relay];
  if (opts.latencyMs) argv.push("--latency-ms", String(opts.latencyMs));
  const proc: Subprocess<"pipe", "pipe", "pipe"> = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  const first = await reader.read();
  reader.releaseLock();
  if (first.done || !new TextDecoder().decode(first.value).startsWith("ready")) {
    const code = await proc.exited;
    const why = (await new Response(proc.stderr).text()).trim().replace(/^lxd-dqlite: /, "");
    if (code === 3) throw new DqliteUnavailableError(why);
    throw new Error(`dqlite node ${opts.id} at ${opts.address} did not start: ${why || `exit ${code}`}`);
  }
  void drainLines(proc.stderr, (line) => opts.onLog?.(line.replace(/^lxd-dqlite: /, "")));
  return {
    pid: proc.pid,
    relay,
    exited: proc.exited,
    async stop() {
      proc.kill("SIGTERM");
      // A node whose peers are gone can wait on Raft for long: its log is on disk, so it may be killed.
      const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_GRACE_MS);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

/** Reads a running node's stderr to its end, line by line, so nothing piles up in the pipe. */
async function drainLines(stream: ReadableStream<Uint8Array>, line: (text: string) => void): Promise<void> {
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    const lines = (pending + decoder.decode(chunk, { stream: true })).split("\n");
    pending = lines.pop()!;
    for (const l of lines) if (l) line(l);
  }
}
