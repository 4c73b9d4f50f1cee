// File transfer inside a container through `lxd-helper file`: for a running one the helper joins
// its user and mount namespaces and works as its root, for a stopped one it chroots into the root
// filesystem the caller mounted; either way paths and symlinks resolve inside the container and
// ids are container ids. Protocol (see native/file.c): a first
// line "ok ..." or "error ERRNO MESSAGE" on stdout, then for reads the raw data.
import { closeSync, constants, openSync } from "node:fs";
import { helperPath, pidfdForHelper } from "./native.ts";

export type FileKind = "file" | "directory" | "symlink";

export interface FileStat {
  type: FileKind;
  /** Owner and group as the container sees them. */
  uid: number;
  gid: number;
  /** Permission bits (07777). */
  mode: number;
  /** Modification time, nanoseconds since the epoch. */
  mtimeNs: bigint;
  /** Bytes that follow: the file's size, the link target's length; 0 for a directory. */
  size: number;
}

/** A failed file operation; `errno` is the kernel's answer inside the container (0 if none). */
export class FileOpError extends Error {
  constructor(readonly errno: number, message: string) {
    super(message);
    this.name = "FileOpError";
  }
}

export interface PutOptions {
  type: FileKind;
  write: "overwrite" | "append";
  /** -1 (or absent): leave as created. */
  uid?: number;
  gid?: number;
  mode?: number;
}

/** The longest first line the helper writes. */
const MAX_HEADER = 1024;

type Helper = ReturnType<typeof spawnHelper>;
/** What is used of the helper's stdout reader (Node's and the DOM's stream types differ). */
type ChunkReader = { read(): Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>; cancel(): Promise<void> };

/** Where the files are: a running container (a pidfd of its init, used at once: the helper is
 *  spawned before any await) or a stopped one's root filesystem, mounted at `root` meanwhile. */
export type FileTarget = { pidfd: number; root?: undefined } | { root: string; pidfd?: undefined };

/** The target is passed as the helper's fd 3: the pidfd, or a descriptor of the root directory. */
function spawnHelper(target: FileTarget, args: string[], stdin: ReadableStream<Uint8Array> | Uint8Array | null) {
  const rootFd = target.root === undefined ? -1 : openSync(target.root, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return Bun.spawn([helperPath(), "file", rootFd < 0 ? "--pidfd" : "--root", "3", ...args], {
      stdio: [stdin === null ? "ignore" : stdin instanceof Uint8Array ? new Blob([stdin]) : stdin, "pipe", "pipe",
        rootFd < 0 ? pidfdForHelper(target.pidfd!) : rootFd],
    });
  } finally {
    if (rootFd >= 0) closeSync(rootFd);
  }
}

/** Reads the helper's first line; returns it and a reader positioned after it. */
async function readHeader(proc: Helper) {
  const reader = proc.stdout.getReader();
  let buf = new Uint8Array(0);
  for (;;) {
    const nl = buf.indexOf(10);
    if (nl >= 0) return { line: new TextDecoder().decode(buf.subarray(0, nl)), rest: buf.subarray(nl + 1), reader };
    if (buf.length > MAX_HEADER) break;
    const { value, done } = await reader.read();
    if (done) break;
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
  }
  reader.cancel().catch(() => {});
  const code = await proc.exited;
  const stderr = (await new Response(proc.stderr).text()).trim();
  throw new FileOpError(0, `lxd-helper file exited (${proc.signalCode ?? code}) without an answer${stderr ? `: ${stderr}` : ""}`);
}

/** "error ERRNO MESSAGE" -> thrown; "ok REST" -> REST. */
function checkLine(line: string): string {
  const err = /^error (\d+) (.*)$/.exec(line);
  if (err) throw new FileOpError(Number(err[1]), err[2]!);
  if (line === "ok" || line.startsWith("ok ")) return line.slice(3);
  throw new FileOpError(0, `unexpected answer from lxd-helper file: ${line.slice(0, 100)}`);
}

export function parseStat(fields: string): FileStat {
  const [type, uid, gid, mode, sec, nsec, size] = fields.split(" ");
  if (type !== "file" && type !== "directory" && type !== "symlink") throw new FileOpError(0, `unexpected file type "${type}"`);
  return {
    type, uid: Number(uid), gid: Number(gid), mode: Number.parseInt(mode ?? "", 8),
    mtimeNs: BigInt(sec ?? 0) * 1_000_000_000n + BigInt(nsec ?? 0), size: Number(size),
  };
}

/** The data after the header as a stream that fails if the helper does not finish cleanly, and
 *  kills the helper when the consumer cancels. */
function rest(proc: Helper, first: Uint8Array, reader: ChunkReader): ReadableStream<Uint8Array> {
  let pending: Uint8Array | undefined = first.length ? first : undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const { value, done } = await reader.read();
      if (!done) {
        controller.enqueue(value);
        return;
      }
      const code = await proc.exited;
      if (code === 0) controller.close();
      else controller.error(new FileOpError(0, `reading failed inside the container (lxd-helper exit ${proc.signalCode ?? code})`));
    },
    cancel() {
      proc.kill("SIGKILL");
      reader.cancel().catch(() => {});
    },
  }, { highWaterMark: 0 });
}

export interface FileRead {
  stat: FileStat;
  /** A file's bytes, a symlink's target, or a directory's names each ended by NUL. */
  body: ReadableStream<Uint8Array>;
}

/** Opens `path` (absolute, inside the container) for reading; never follows a final symlink. */
export async function readPath(target: FileTarget, path: string): Promise<FileRead> {
  const proc = spawnHelper(target, ["get", path], null);
  const { line, rest: first, reader } = await readHeader(proc);
  try {
    return { stat: parseStat(checkLine(line)), body: rest(proc, first, reader) };
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
}

/** Entry names of a directory listing body. */
export async function readEntries(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const text = await new Response(body).text();
  return text.split("\0").filter((n) => n !== "");
}

const idArg = (v: number | undefined) => String(v === undefined || v < 0 ? -1 : v);

/** Creates or writes `path`: file content (or a symlink's target) comes from `data`. */
export async function writePath(target: FileTarget, path: string, opts: PutOptions, data: ReadableStream<Uint8Array> | Uint8Array | null): Promise<void> {
  const mode = opts.mode === undefined || opts.mode < 0 ? "-1" : (opts.mode & 0o7777).toString(8);
  const proc = spawnHelper(target, ["put", path, opts.type, opts.write, idArg(opts.uid), idArg(opts.gid), mode], opts.type === "directory" ? null : data);
  await finish(proc);
}

export async function deletePath(target: FileTarget, path: string): Promise<void> {
  await finish(spawnHelper(target, ["delete", path], null));
}

async function finish(proc: Helper): Promise<void> {
  const { line, reader } = await readHeader(proc);
  reader.cancel().catch(() => {});
  checkLine(line);
  const code = await proc.exited;
  if (code !== 0) throw new FileOpError(0, `lxd-helper file exited ${code}`);
}
