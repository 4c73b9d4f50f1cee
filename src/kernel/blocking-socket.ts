// Blocking unix sockets through libc, for a client that must answer synchronously on the daemon's
// own thread (the cluster database behind bun:sqlite's synchronous interface): a round trip costs
// a send and a recv, where a helper thread would add two thread wake-ups per statement.
import { dlopen, FFIType, read } from "bun:ffi";
import { getSystemErrorName } from "node:util";

const { i32, ptr, u64, i64 } = FFIType;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const MSG_NOSIGNAL = 0x4000;
const EINTR = 4;
const EAGAIN = 11;
/** sizeof(struct sockaddr_un) and where its path starts. */
const SUN_SIZE = 110;
const SUN_PATH = 2;

let libc: ReturnType<typeof openLibc> | undefined;
function openLibc() {
  return dlopen("libc.so.6", {
    socket: { args: [i32, i32, i32], returns: i32 },
    connect: { args: [i32, ptr, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, ptr, i32], returns: i32 },
    send: { args: [i32, ptr, u64, i32], returns: i64 },
    recv: { args: [i32, ptr, u64, i32], returns: i64 },
    close: { args: [i32], returns: i32 },
    __errno_location: { args: [], returns: ptr },
  }).symbols;
}
const sym = () => (libc ??= openLibc());
const errno = () => read.i32(sym().__errno_location()!, 0);

/** The socket failed, or nothing came within its timeout. */
export class SocketError extends Error {}

export class BlockingSocket {
  private constructor(private fd: number, private readonly peer: string) {}

  /** Connects to the abstract unix socket `name`; every later send or receive waits at most `timeoutMs`. */
  static connectAbstract(name: string, timeoutMs: number): BlockingSocket {
    const path = Buffer.from(name);
    if (path.length + 1 > SUN_SIZE - SUN_PATH) throw new SocketError(`socket name "${name}" is too long`);
    // Abstract: the path starts with a NUL and its length is the address's, nothing on disk.
    const addr = new Uint8Array(SUN_PATH + 1 + path.length);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(path, SUN_PATH + 1);
    const peer = `@${name}`;
    const fd = sym().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new SocketError(`socket: ${getSystemErrorName(-errno())}`);
    const tv = new BigInt64Array([BigInt(Math.floor(timeoutMs / 1000)), BigInt((timeoutMs % 1000) * 1000)]);
    sym().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    sym().setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, 16);
    if (sym().connect(fd, addr, addr.length) !== 0) {
      const e = errno();
      sym().close(fd);
      throw new SocketError(`cannot connect to ${peer}: ${getSystemErrorName(-e)}`);
    }
    return new BlockingSocket(fd, peer);
  }

  write(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      const n = Number(sym().send(this.fd, bytes.subarray(at), bytes.length - at, MSG_NOSIGNAL));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        throw new SocketError(`sending to ${this.peer}: ${getSystemErrorName(-e)}`);
      }
      at += n;
    }
  }

  /** Reads what arrives next into `buffer` (its length at most); throws when the peer closed or nothing came in time. */
  read(buffer: Uint8Array): number {
    for (;;) {
      const n = Number(sym().recv(this.fd, buffer, buffer.length, 0));
      if (n > 0) return n;
      if (n === 0) throw new SocketError(`${this.peer} closed the connection`);
      const e = errno();
      if (e === EINTR) continue;
      throw new SocketError(e === EAGAIN ? `${this.peer} did not answer in time` : `receiving from ${this.peer}: ${getSystemErrorName(-e)}`);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    sym().close(this.fd);
    this.fd = -1;
  }
}
