// The transfer between two of our own daemons (negotiated through the header's extensions: an
// LXD peer gets rsync): one GNU tar stream per tree over the fs channel, ended by a barrier. A
// new tree has nothing to compare against, so rsync's file-list exchange and its extra process
// hop (netcat) only cost time; tar streams at disk speed. What it keeps is what LXD's rsync
// keeps: owners by number, modes, mtimes, hard links, device nodes, sparse files and extended
// attributes (security.capability included, security.selinux not). The receiver's tar refuses
// member names with "..", and delays links that could lead out of the tree until everything else
// is written, so a stream cannot write outside its directory.
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Channel } from "./channel.ts";

export const TAR_EXTENSION = "tar";

const COMMON = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--xattrs-exclude=security.selinux", "--acls"];
/** Larger websocket messages than a pipe's chunks: fewer frames and wakeups per byte. */
const MESSAGE_BYTES = 1 << 20;
const FLUSH_BYTES = 8 << 20;

async function finish(proc: { exited: Promise<number>; stderr: ReadableStream<Uint8Array> }, what: string): Promise<void> {
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${what} failed: ${stderr.trim().split("\n").slice(-3).join("; ") || `tar exited with ${code}`}`);
}

/** Sends directory `dir` (its content) as one tar stream over `ch`. */
export async function tarSend(dir: string, ch: Channel, name: string): Promise<void> {
  // Sockets cannot travel (rsync skips them too); tar warns and goes on.
  const proc = Bun.spawn(["tar", "-c", "--sparse", "--warning=no-file-ignored", ...COMMON, "-C", dir, "."], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const done = finish(proc, `Sending ${name} with tar`);
  done.catch(() => {});
  try {
    let parts: Uint8Array[] = [];
    let size = 0;
    const send = async () => {
      const msg = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      size = 0;
      await ch.write(msg);
    };
    for await (const chunk of proc.stdout) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= MESSAGE_BYTES) await send();
    }
    if (size) await send();
    await done;
    ch.barrier();
  } catch (err) {
    proc.kill(9);
    await proc.exited;
    throw err;
  }
}

/** Receives one tar stream from `ch` into directory `dir`, which becomes exactly that tree (what
 *  an earlier tree left there goes first, as rsync's --delete would take it away). */
export async function tarReceive(dir: string, ch: Channel, name: string): Promise<void> {
  for (const e of await readdir(dir)) await rm(join(dir, e), { recursive: true, force: true });
  const proc = Bun.spawn(["tar", "-x", "--preserve-permissions", "--same-owner", ...COMMON, "-C", dir], { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
  const done = finish(proc, `Receiving ${name} with tar`);
  done.catch(() => {});
  try {
    let unflushed = 0;
    await ch.readStream(async (chunk) => {
      proc.stdin.write(chunk);
      unflushed += chunk.length;
      // Waiting for the pipe now and then, not after every chunk, keeps tar fed.
      if (unflushed >= FLUSH_BYTES) {
        unflushed = 0;
        await proc.stdin.flush();
      }
    });
    await proc.stdin.end();
    await done;
  } catch (err) {
    proc.kill(9);
    await proc.exited;
    throw err;
  }
}
