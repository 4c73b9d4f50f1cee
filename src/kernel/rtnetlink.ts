// Reading interfaces and addresses of other network namespaces over rtnetlink, without entering
// them: a namespace gets a netnsid (RTM_NEWNSID by pid), and link and address dumps name it with
// IFLA_TARGET_NETNSID / IFA_TARGET_NETNSID (Linux 4.20+). One socket, two dumps per container:
// what `lxd list` needs for every running container, where procfs and sysfs took ~26 file reads
// each. Plain socket calls through libc (no namespace is joined, so safe in the multithreaded
// daemon); they never wait: the kernel builds a dump's replies while we read them.
import { dlopen, FFIType, ptr, read } from "bun:ffi";

const { i32, u32, u64 } = FFIType;

function open() {
  return dlopen("libc.so.6", {
    socket: { args: [i32, i32, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, FFIType.ptr, u32], returns: i32 },
    send: { args: [i32, FFIType.ptr, u64, i32], returns: i32 },
    recv: { args: [i32, FFIType.ptr, u64, i32], returns: i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

const AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000, NETLINK_ROUTE = 0;
const SOL_NETLINK = 270, NETLINK_GET_STRICT_CHK = 12;
const NLMSG_ERROR = 2, NLMSG_DONE = 3;
const NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_DUMP = 0x300;
const RTM_NEWLINK = 16, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_GETADDR = 22, RTM_NEWNSID = 88, RTM_GETNSID = 90;
const IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5, IFLA_STATS64 = 23, IFLA_LINK_NETNSID = 37, IFLA_TARGET_NETNSID = 46;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_TARGET_NETNSID = 10;
const NETNSA_NSID = 1, NETNSA_PID = 2;
const AF_INET = 2, AF_INET6 = 10;
const EEXIST = 17;

export class NetlinkError extends Error {
  constructor(what: string, readonly errno: number) {
    super(`rtnetlink ${what}: errno ${errno}`);
  }
}

let lib: ReturnType<typeof open> | undefined;
let fd = -1;
let seq = 0;
const buf = new Uint8Array(256 * 1024);
const bufPtr = ptr(buf);

function socket(): number {
  if (fd >= 0) return fd;
  lib ??= open();
  const s = lib.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) throw new NetlinkError("socket", errno());
  // Without strict checking the kernel ignores IFA_TARGET_NETNSID in address dumps.
  const one = new Int32Array([1]);
  if (lib.setsockopt(s, SOL_NETLINK, NETLINK_GET_STRICT_CHK, ptr(one), 4) < 0) throw new NetlinkError("strict check", errno());
  fd = s;
  return fd;
}

const errno = () => read.i32(lib!.__errno_location()!, 0);

/** A request: header, fixed part, then (type, s32/u32) attributes. */
function request(type: number, flags: number, fixed: number, attrs: [number, number][]): Uint8Array {
  const len = 16 + fixed + attrs.length * 8;
  const msg = new Uint8Array(len);
  const v = new DataView(msg.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
  v.setUint16(6, NLM_F_REQUEST | flags, true);
  v.setUint32(8, ++seq, true);
  attrs.forEach(([t, value], i) => {
    const at = 16 + fixed + i * 8;
    v.setUint16(at, 8, true);
    v.setUint16(at + 2, t, true);
    v.setInt32(at + 4, value, true);
  });
  return msg;
}

/** Sends `msg` and calls `each` for every reply message until the dump or the ack ends. */
function exchange(what: string, msg: Uint8Array, each: (type: number, v: DataView, at: number, len: number) => void): void {
  const s = socket();
  if (lib!.send(s, ptr(msg), msg.length, 0) < 0) throw new NetlinkError(what, errno());
  const want = seq;
  const v = new DataView(buf.buffer);
  for (;;) {
    const n = lib!.recv(s, bufPtr, buf.length, 0);
    if (n < 0) throw new NetlinkError(what, errno());
    for (let at = 0; at + 16 <= n;) {
      const len = v.getUint32(at, true);
      const type = v.getUint16(at + 4, true);
      if (len < 16) throw new NetlinkError(`${what}: malformed reply`, 0);
      if (v.getUint32(at + 8, true) === want) {
        if (type === NLMSG_DONE) return;
        if (type === NLMSG_ERROR) {
          const code = -v.getInt32(at + 16, true);
          if (code === 0) return;
          throw new NetlinkError(what, code);
        }
        each(type, v, at, len);
      }
      at += (len + 3) & ~3;
    }
  }
}

/** Calls `fn(type, start, length)` for each attribute in [from, to). */
function attributes(v: DataView, from: number, to: number, fn: (type: number, at: number, len: number) => void) {
  for (let at = from; at + 4 <= to;) {
    const len = v.getUint16(at, true);
    if (len < 4) break;
    fn(v.getUint16(at + 2, true) & 0x3fff, at + 4, len - 4);
    at += (len + 3) & ~3;
  }
}

/**
 * The netnsid this host's namespace uses for the network namespace of `pid`, assigned first if
 * it has none (ids live as long as the namespace: cache per container run).
 */
export function netnsId(pid: number): number {
  const assign = request(RTM_NEWNSID, NLM_F_ACK, 4, [[NETNSA_NSID, -1], [NETNSA_PID, pid]]);
  try {
    exchange(`assign netnsid to pid ${pid}`, assign, () => {});
  } catch (err) {
    if (!(err instanceof NetlinkError && err.errno === EEXIST)) throw err;
  }
  let id = -1;
  exchange(`netnsid of pid ${pid}`, request(RTM_GETNSID, NLM_F_ACK, 4, [[NETNSA_PID, pid]]), (_type, v, at, len) => {
    attributes(v, at + 20, at + len, (t, a) => { if (t === NETNSA_NSID) id = v.getInt32(a, true); });
  });
  if (id < 0) throw new NetlinkError(`netnsid of pid ${pid}: none assigned`, 0);
  return id;
}

export interface Link {
  index: number;
  name: string;
  flags: number;
  /** ARPHRD_* (772: loopback). */
  type: number;
  mtu: number;
  mac: string;
  /** The peer's ifindex (a veth), and whether it lives in another namespace. */
  link?: number;
  linkOtherNs: boolean;
  /** rx/tx bytes, packets, errors, drops. */
  stats?: { rxBytes: number; rxPackets: number; rxErrors: number; rxDropped: number; txBytes: number; txPackets: number; txErrors: number; txDropped: number };
}

const hex = (v: DataView, at: number, len: number) =>
  Array.from({ length: len }, (_, i) => v.getUint8(at + i).toString(16).padStart(2, "0")).join(":");
const u64le = (v: DataView, at: number) => Number(v.getBigUint64(at, true));
const text = (v: DataView, at: number, len: number) => {
  const bytes = new Uint8Array(v.buffer, at, len);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
};

/** Every interface of the namespace with netnsid `nsid` (undefined: this host's own). */
export function links(nsid?: number): Link[] {
  const out: Link[] = [];
  const msg = request(RTM_GETLINK, NLM_F_DUMP, 16, nsid === undefined ? [] : [[IFLA_TARGET_NETNSID, nsid]]);
  exchange("link dump", msg, (type, v, at, len) => {
    if (type !== RTM_NEWLINK) return;
    const l: Link = {
      index: v.getInt32(at + 20, true), type: v.getUint16(at + 18, true), flags: v.getUint32(at + 24, true),
      name: "", mtu: 0, mac: "", linkOtherNs: false,
    };
    attributes(v, at + 32, at + len, (t, a, n) => {
      if (t === IFLA_IFNAME) l.name = text(v, a, n);
      else if (t === IFLA_MTU) l.mtu = v.getUint32(a, true);
      else if (t === IFLA_ADDRESS) l.mac = hex(v, a, n);
      else if (t === IFLA_LINK) l.link = v.getUint32(a, true);
      else if (t === IFLA_LINK_NETNSID) l.linkOtherNs = true;
      else if (t === IFLA_STATS64 && n >= 64) {
        // struct rtnl_link_stats64: rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped.
        l.stats = {
          rxPackets: u64le(v, a), txPackets: u64le(v, a + 8), rxBytes: u64le(v, a + 16), txBytes: u64le(v, a + 24),
          rxErrors: u64le(v, a + 32), txErrors: u64le(v, a + 40), rxDropped: u64le(v, a + 48), txDropped: u64le(v, a + 56),
        };
      }
    });
    out.push(l);
  });
  return out;
}

export interface Addr {
  index: number;
  family: "inet" | "inet6";
  address: string;
  prefixlen: number;
  /** RT_SCOPE_*: 0 universe, 253 link, 254 host. */
  scope: number;
}

function formatAddress(v: DataView, at: number, family: number): string {
  if (family === AF_INET) return [0, 1, 2, 3].map((i) => v.getUint8(at + i)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => v.getUint16(at + i * 2).toString(16));
  return groups.join(":");
}

/** IPv4 and IPv6 addresses of the namespace with netnsid `nsid`; v6 addresses come as 8
 *  uncompressed groups ("fe80:0:0:0:…", for the caller's formatter). */
export function addresses(nsid: number): Addr[] {
  const out: Addr[] = [];
  exchange("address dump", request(RTM_GETADDR, NLM_F_DUMP, 8, [[IFA_TARGET_NETNSID, nsid]]), (type, v, at, len) => {
    if (type !== RTM_NEWADDR) return;
    const family = v.getUint8(at + 16);
    if (family !== AF_INET && family !== AF_INET6) return;
    let local: string | undefined;
    let address: string | undefined;
    attributes(v, at + 24, at + len, (t, a) => {
      if (t === IFA_LOCAL) local = formatAddress(v, a, family);
      else if (t === IFA_ADDRESS) address = formatAddress(v, a, family);
    });
    const chosen = local ?? address;
    if (!chosen) return;
    out.push({
      index: v.getUint32(at + 20, true), family: family === AF_INET ? "inet" : "inet6", address: chosen,
      prefixlen: v.getUint8(at + 17), scope: v.getUint8(at + 19),
    });
  });
  return out;
}
