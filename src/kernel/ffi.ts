// In-process syscalls through liblxd.so. Only calls that are safe from a multithreaded process
// belong here (no namespaces). Every wrapper throws an Error naming the operation and errno.
import { dlopen, FFIType } from "bun:ffi";
import { getSystemErrorName } from "node:util";
import { libPath } from "./native.ts";

const { ptr, i32, u32, u64 } = FFIType;

function open() {
  return dlopen(libPath(), {
    lxd_mount: { args: [ptr, ptr, ptr, u64, ptr], returns: i32 },
    lxd_umount: { args: [ptr, i32], returns: i32 },
    lxd_pidfd_open: { args: [i32], returns: i32 },
    lxd_pidfd_send_signal: { args: [i32, i32], returns: i32 },
    lxd_bpf: { args: [i32, ptr, u32], returns: i32 },
    lxd_errno: { args: [], returns: i32 },
    lxd_btrfs_subvol_create: { args: [ptr], returns: i32 },
    lxd_btrfs_snapshot: { args: [ptr, ptr, i32], returns: i32 },
    lxd_btrfs_subvol_delete: { args: [ptr], returns: i32 },
    lxd_btrfs_set_readonly: { args: [ptr, i32], returns: i32 },
    lxd_lgetxattr: { args: [ptr, ptr, ptr, u64], returns: i32 },
    lxd_monotonic_ms: { args: [], returns: FFIType.f64 },
    lxd_channel: { args: [i32, ptr, i32], returns: i32 },
    lxd_monitor_exec: { args: [ptr, ptr, i32, ptr, i32], returns: i32 },
  }).symbols;
}

let lib: ReturnType<typeof open> | undefined;
const sym = () => (lib ??= open());

const cstr = (s: string | null | undefined) => (s == null ? null : Buffer.from(`${s}\0`));

export class SyscallError extends Error {
  /** e.g. "EPERM". */
  readonly code: string;
  constructor(what: string, readonly errno: number) {
    const code = getSystemErrorName(-errno);
    super(`${what}: ${code}`);
    this.code = code;
  }
}

/** Liblxd returns -errno on failure. */
function check(rc: number, what: () => string): number {
  if (rc < 0) throw new SyscallError(what(), -rc);
  return rc;
}

/** mount(2) flags. */
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32, BIND: 4096, MOVE: 8192, REC: 16384,
  PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20,
} as const;
/** umount2(2) flags. */
export const MNT = { FORCE: 1, DETACH: 2 } as const;

export function mount(src: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void {
  check(sym().lxd_mount(cstr(src), cstr(target), cstr(fstype), flags, cstr(data)),
    () => `mount ${src ?? fstype ?? "none"} on ${target}`);
}

export function umount(target: string, flags = 0): void {
  check(sym().lxd_umount(cstr(target), flags), () => `umount ${target}`);
}

/** A pidfd for `pid` (close it with fs.closeSync). */
export function pidfdOpen(pid: number): number {
  return check(sym().lxd_pidfd_open(pid), () => `pidfd_open ${pid}`);
}

export function pidfdSignal(pidfd: number, signal: number): void {
  check(sym().lxd_pidfd_send_signal(pidfd, signal), () => `pidfd_send_signal ${signal}`);
}

/** CLOCK_MONOTONIC in ms: the timeline lxd-helper's traces are on. */
export function monotonicMs(): number {
  return sym().lxd_monotonic_ms();
}

/** A pipe ([read, write]) or a unix stream socketpair, close-on-exec; end `nonblock` (0 or 1) is
 *  made non-blocking: the daemon's end. */
export function channel(kind: "pipe" | "socketpair", nonblock: 0 | 1): [number, number] {
  const fds = new Int32Array(2);
  check(sym().lxd_channel(kind === "pipe" ? 0 : 1, fds, nonblock), () => kind);
  return [fds[0], fds[1]];
}

/** Sends an exec request with `fds` (stdin, stdout, stderr, control) to a monitor's socket. */
export function monitorExec(sockPath: string, args: string[], fds: number[]): void {
  const payload = Buffer.from(args.map((a) => `${a}\0`).join(""));
  check(sym().lxd_monitor_exec(cstr(sockPath), payload, payload.length, new Int32Array(fds), fds.length),
    () => `exec request to ${sockPath}`);
}

/** bpf(2) with an attr buffer the caller laid out; returns the syscall's result (an fd or 0). */
export function bpf(cmd: number, attr: Uint8Array, what: string): number {
  return check(sym().lxd_bpf(cmd, attr, attr.byteLength), () => what);
}

// ---- btrfs subvolumes (ioctls on the parent directory) ----

export function btrfsSubvolCreate(path: string): void {
  check(sym().lxd_btrfs_subvol_create(cstr(path)), () => `creating btrfs subvolume ${path}`);
}

export function btrfsSnapshot(from: string, to: string, readonly: boolean): void {
  check(sym().lxd_btrfs_snapshot(cstr(from), cstr(to), readonly ? 1 : 0), () => `snapshotting btrfs subvolume ${from} as ${to}`);
}

/** Deletes an empty-of-subvolumes subvolume (unprivileged-deletable ones too: we are root). */
export function btrfsSubvolDelete(path: string): void {
  check(sym().lxd_btrfs_subvol_delete(cstr(path)), () => `deleting btrfs subvolume ${path}`);
}

export function btrfsSetReadonly(path: string, readonly: boolean): void {
  check(sym().lxd_btrfs_set_readonly(cstr(path), readonly ? 1 : 0), () => `setting btrfs subvolume ${path} ${readonly ? "read-only" : "writable"}`);
}

/** The value of xattr `name` on `path` (not following a symlink), or undefined when it has none. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const buf = Buffer.alloc(256);
  const rc = sym().lxd_lgetxattr(cstr(path), cstr(name), buf, buf.length);
  if (rc === -61 /* ENODATA */ || rc === -95 /* EOPNOTSUPP */) return undefined;
  check(rc, () => `reading xattr ${name} of ${path}`);
  return buf.subarray(0, rc);
}
