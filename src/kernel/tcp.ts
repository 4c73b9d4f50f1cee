// Blocking TCP sockets through libc, for a client that must answer synchronously on the daemon's
// own thread (the cluster database behind bun:sqlite's synchronous interface): a round trip costs
// a send and a recv, where a helper thread would add two thread wake-ups per statement.
import { dlopen, FFIType, read } from "bun:ffi";
import { isIPv6 } from "node:net";
import { getSystemErrorName } from "node:util";

const { i32, ptr, u64, i64 } = FFIType;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const TCP_QUICKACK = 12;
const MSG_NOSIGNAL = 0x4000;
const EINTR = 4;
const EAGAIN = 11;
const EINPROGRESS = 115;

let libc: ReturnType<typeof openLibc> | undefined;
function openLibc() {
  return dlopen("libc.so.6", {
    socket: { args: [i32, i32, i32], returns: i32 },
    connect: { args: [i32, ptr, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, ptr, i32], returns: i32 },
    send: { args: [i32, ptr, u64, i32], returns: i64 },
    recv: { args: [i32, ptr, u64, i32], returns: i64 },
    close: { args: [i32], returns: i32 },
    inet_pton: { args: [i32, ptr, ptr], returns: i32 },
    __errno_location: { args: [], returns: ptr },
  }).symbols;
}
const sym = () => (libc ??= openLibc());
const errno = () => read.i32(sym().__errno_location()!, 0);

/** The socket failed, or nothing came within its timeout. */
export class TcpError extends Error {}

function sockaddr(host: string, port: number): Uint8Array {
  const six = isIPv6(host);
  const addr = new Uint8Array(six ? 28 : 16);
  const view = new DataView(addr.buffer);
  view.setUint16(0, six ? AF_INET6 : AF_INET, true);
  view.setUint16(2, port, false);
  if (sym().inet_pton(six ? AF_INET6 : AF_INET, Buffer.from(`${host}\0`), addr.subarray(six ? 8 : 4)) !== 1) {
    throw new TcpError(`"${host}" is not an IP address`);
  }
  return addr;
}

/** TCP_QUICKACK's value. dqlite's node writes a multi-part answer (rows) whose second part waits
 *  for our ACK of the first (Nagle on its socket, it seems), which Linux delays by 40 ms: a read of 100
 *  instance rows took 1-5 ms or 45 ms at random. Quick ACKs (re-armed before each receive: the
 *  kernel drops the mode by itself) keep every answer at its own speed. */
const QUICK = new Int32Array([1]);

export class BlockingTcp {
  private constructor(private fd: number, private readonly peer: string) {}

  /** Connects to host:port (IP addresses only); every later send or receive waits at most `timeoutMs`. */
  static connect(host: string, port: number, timeoutMs: number): BlockingTcp {
    const peer = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    const addr = sockaddr(host, port);
    const fd = sym().socket(isIPv6(host) ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new TcpError(`socket: ${getSystemErrorName(-errno())}`);
    const tv = new BigInt64Array([BigInt(Math.floor(timeoutMs / 1000)), BigInt((timeoutMs % 1000) * 1000)]);
    const one = new Int32Array([1]);
    sym().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    sym().setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, 16);
    sym().setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4);
    if (sym().connect(fd, addr, addr.length) !== 0) {
      const e = errno();
      sym().close(fd);
      throw new TcpError(e === EINPROGRESS || e === EAGAIN ? `no answer from ${peer} in time` : `cannot connect to ${peer}: ${getSystemErrorName(-e)}`);
    }
    return new BlockingTcp(fd, peer);
  }

  write(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      const n = Number(sym().send(this.fd, bytes.subarray(at), bytes.length - at, MSG_NOSIGNAL));
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        throw new TcpError(`sending to ${this.peer}: ${getSystemErrorName(-e)}`);
      }
      at += n;
    }
  }

  /** Reads what arrives next into `buffer` (its length at most); throws when the peer closed or nothing came in time. */
  read(buffer: Uint8Array): number {
    for (;;) {
      sym().setsockopt(this.fd, IPPROTO_TCP, TCP_QUICKACK, QUICK, 4);
      const n = Number(sym().recv(this.fd, buffer, buffer.length, 0));
      if (n > 0) return n;
      if (n === 0) throw new TcpError(`${this.peer} closed the connection`);
      const e = errno();
      if (e === EINTR) continue;
      throw new TcpError(e === EAGAIN ? `${this.peer} did not answer in time` : `receiving from ${this.peer}: ${getSystemErrorName(-e)}`);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    sym().close(this.fd);
    this.fd = -1;
  }
}
