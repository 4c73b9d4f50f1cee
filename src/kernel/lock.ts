// An exclusive lock on the daemon's state directory: flock(2) on LXD_DIR/.lock, held for the
// process's life. The kernel drops it when the daemon dies however it dies, so it never goes
// stale; containers and helpers do not inherit it (the file is opened close-on-exec).
// Only libc is used: the lock is taken before the daemon unpacks its own native library.
import { dlopen, FFIType, read } from "bun:ffi";
import { openSync } from "node:fs";
import { getSystemErrorName } from "node:util";

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

let libc: ReturnType<typeof openLibc> | undefined;
function openLibc() {
  return dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

/** Locks `file` (created if missing) exclusively for this process, or throws: `held` when
 *  another process holds it. The descriptor stays open on purpose: closing it would unlock. */
export function lockExclusive(file: string): { fd: number } {
  libc ??= openLibc();
  const fd = openSync(file, "a", 0o600);
  if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return { fd };
  const errno = read.i32(libc.__errno_location()!, 0);
  throw Object.assign(new Error(`flock ${file}: ${getSystemErrorName(-errno)}`), { held: errno === EWOULDBLOCK });
}
