// Device access control for containers: which device nodes a container may create and open.
// Like LXD, every container may mknod any node (it is useless without access) but may only read
// and write the standard set plus its unix-char/unix-block devices. cgroup v1 expresses this
// with the `devices` controller's allow list; cgroup v2 has no such files, there an eBPF
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the container's cgroup decides.
import { closeSync, openSync } from "node:fs";
import { ptr } from "bun:ffi";
import { bpf, SyscallError } from "./ffi.ts";
import { inInitialUserNamespace } from "./idmap.ts";

export interface DeviceRule {
  type: "a" | "c" | "b";
  /** undefined: any. */
  major?: number;
  minor?: number;
  /** Subset of "rwm". */
  access: string;
}

/** Nodes every container may use (LXD's list): null, zero, full, random, urandom, tty, console,
 *  ptmx, pts/*, fuse, net/tun. mknod is allowed for any node. */
export const STANDARD_RULES: DeviceRule[] = [
  { type: "c", access: "m" }, { type: "b", access: "m" },
  ...[[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [10, 229], [10, 200]].map(
    ([major, minor]): DeviceRule => ({ type: "c", major, minor, access: "rwm" }),
  ),
  { type: "c", major: 136, access: "rwm" },
];

/** A rule in v1's devices.allow / devices.list syntax ("c 1:3 rwm"). */
export const ruleText = (r: DeviceRule) => `${r.type} ${r.major ?? "*"}:${r.minor ?? "*"} ${r.access}`;

// ---- cgroup v2: the eBPF program ----------------------------------------------------------

/** One eBPF instruction (linux/bpf.h: code, dst/src registers, offset, immediate). */
function insn(code: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new DataView(new ArrayBuffer(8));
  b.setUint8(0, code);
  b.setUint8(1, (src << 4) | dst);
  b.setInt16(2, off, true);
  b.setInt32(4, imm, true);
  return [...new Uint8Array(b.buffer)];
}

const LDX_W = 0x61, AND_K = 0x57, RSH_K = 0x77, MOV_X = 0xbf, MOV_K = 0xb7, JNE_K = 0x55, EXIT = 0x95;
/** bpf_cgroup_dev_ctx: access_type (type | access << 16), major, minor; BPF_DEVCG_* values. */
const DEV_TYPE = { b: 1, c: 2 } as const;
const ACC = { m: 1, r: 2, w: 4 } as const;

/** The program: allow (return 1) when a rule matches the access, else deny (return 0).
 *  r2 = device type, r3 = access bits, r4 = major, r5 = minor. */
export function deviceProgram(rules: DeviceRule[]): Uint8Array {
  const out: number[][] = [
    insn(LDX_W, 2, 1, 0, 0), insn(AND_K, 2, 0, 0, 0xffff),
    insn(LDX_W, 3, 1, 0, 0), insn(RSH_K, 3, 0, 0, 16),
    insn(LDX_W, 4, 1, 4, 0), insn(LDX_W, 5, 1, 8, 0),
  ];
  for (const r of rules) {
    // Each check is some set-up and a "jump if not equal" to the end of this rule.
    const checks: { setup: number[][]; reg: number; imm: number }[] = [];
    if (r.type !== "a") checks.push({ setup: [], reg: 2, imm: DEV_TYPE[r.type] });
    const allowed = [...r.access].reduce((a, c) => a | ACC[c as keyof typeof ACC], 0);
    // r0 = the requested access bits the rule does not grant: must be none.
    if (allowed !== 7) checks.push({ setup: [insn(MOV_X, 0, 3, 0, 0), insn(AND_K, 0, 0, 0, ~allowed & 7)], reg: 0, imm: 0 });
    if (r.major !== undefined) checks.push({ setup: [], reg: 4, imm: r.major });
    if (r.minor !== undefined) checks.push({ setup: [], reg: 5, imm: r.minor });
    let left = checks.reduce((n, c) => n + c.setup.length + 1, 0) + 2; // + the two "allow" instructions
    for (const c of checks) {
      out.push(...c.setup);
      left -= c.setup.length + 1;
      out.push(insn(JNE_K, c.reg, 0, left, c.imm));
    }
    out.push(insn(MOV_K, 0, 0, 0, 1), insn(EXIT, 0, 0, 0, 0));
  }
  out.push(insn(MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0));
  return new Uint8Array(out.flat());
}

const BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9, BPF_PROG_GET_FD_BY_ID = 13, BPF_PROG_QUERY = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15, BPF_CGROUP_DEVICE = 6, BPF_F_ALLOW_MULTI = 2;

const attr = () => {
  const buf = new Uint8Array(128);
  return { buf, view: new DataView(buf.buffer) };
};
const addr = (b: Uint8Array) => BigInt(ptr(b));

function loadProgram(rules: DeviceRule[], what: string): number {
  const prog = deviceProgram(rules);
  const license = Buffer.from("GPL\0");
  const load = (log?: Uint8Array) => {
    const { buf, view } = attr();
    view.setUint32(0, BPF_PROG_TYPE_CGROUP_DEVICE, true);
    view.setUint32(4, prog.length / 8, true);
    view.setBigUint64(8, addr(prog), true);
    view.setBigUint64(16, addr(license), true);
    if (log) {
      view.setUint32(24, 1, true);
      view.setUint32(28, log.length, true);
      view.setBigUint64(32, addr(log), true);
    }
    return bpf(BPF_PROG_LOAD, buf, `${what}: load the device program`);
  };
  try {
    return load();
  } catch (err) {
    if (!(err instanceof SyscallError) || !["EACCES", "EINVAL"].includes(err.code)) throw err;
    // Rejected by the verifier: load again with its log for the reason.
    const log = new Uint8Array(1 << 20);
    try {
      return load(log);
    } catch {
      const reason = new TextDecoder().decode(log.subarray(0, log.indexOf(0))).trim().split("\n").pop();
      throw new Error(`${err.message}${reason ? ` (verifier: ${reason})` : ""}`);
    }
  }
}

/** Ids of the device programs attached to exactly this cgroup (not inherited ones). */
function attachedIds(cgroupFd: number, what: string): number[] {
  const ids = new Uint32Array(64);
  const { buf, view } = attr();
  view.setUint32(0, cgroupFd, true);
  view.setUint32(4, BPF_CGROUP_DEVICE, true);
  view.setBigUint64(16, addr(new Uint8Array(ids.buffer)), true);
  view.setUint32(24, ids.length, true);
  bpf(BPF_PROG_QUERY, buf, `${what}: query device programs`);
  return [...ids.subarray(0, view.getUint32(24, true))];
}

/** Attaches a program for `rules` to the cgroup v2 directory `dir`, then detaches the ones it
 *  replaces: in between both apply (the stricter wins), so access never widens transiently.
 *  ALLOW_MULTI keeps programs that a nested manager attaches below from overriding this one. */
export function applyDeviceProgram(dir: string, rules: DeviceRule[], what: string): void {
  try {
    attachProgram(dir, rules, what);
  } catch (err) {
    // A daemon nested in an unprivileged container may not load BPF programs; the program of
    // the container it runs in still applies to everything below it.
    if (err instanceof SyscallError && err.code === "EPERM" && !inInitialUserNamespace()) return;
    throw err;
  }
}

function attachProgram(dir: string, rules: DeviceRule[], what: string): void {
  const cg = openSync(dir, "r");
  const fds: number[] = [];
  try {
    const old = attachedIds(cg, what);
    const prog = loadProgram(rules, what);
    fds.push(prog);
    const { buf, view } = attr();
    view.setUint32(0, cg, true);
    view.setUint32(4, prog, true);
    view.setUint32(8, BPF_CGROUP_DEVICE, true);
    view.setUint32(12, BPF_F_ALLOW_MULTI, true);
    bpf(BPF_PROG_ATTACH, buf, `${what}: attach the device program`);
    for (const id of old) {
      const get = attr();
      get.view.setUint32(0, id, true);
      const fd = bpf(BPF_PROG_GET_FD_BY_ID, get.buf, `${what}: open device program ${id}`);
      fds.push(fd);
      const det = attr();
      det.view.setUint32(0, cg, true);
      det.view.setUint32(4, fd, true);
      det.view.setUint32(8, BPF_CGROUP_DEVICE, true);
      bpf(BPF_PROG_DETACH, det.buf, `${what}: detach the previous device program`);
    }
  } finally {
    for (const fd of fds) closeSync(fd);
    closeSync(cg);
  }
}
