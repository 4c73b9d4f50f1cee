// Seccomp filters as classic BPF bytes (struct sock_filter[], little-endian), installed by
// lxd-helper just before execve of the container's init and of every exec'd command.
//
// Policy, after LXD's default: on the native ABI deny LXD's default list with ENOSYS and `deny`
// with EPERM, reject umount2(MNT_FORCE) with EACCES, and on x86_64 reject the x32 ABI. The 32-bit
// compat ABI (i386 on x86_64, arm on arm64) gets the same lists with its own numbers, or ENOSYS
// for everything when `denyCompat`. Any other architecture gets ENOSYS.
//
// Allowlist mode (`allow`): only the listed native syscalls pass, every other one fails with
// EPERM; x32 and the compat ABI are refused whole (ENOSYS).
import { AARCH64_SYSCALLS, X86_64_SYSCALLS } from "./syscall-table.ts";

export type SeccompArch = "x64" | "arm64";

/** LXD's default deny list (errno 38). */
export const DEFAULT_DENY = ["kexec_load", "open_by_handle_at", "init_module", "finit_module", "delete_module"];

// Syscall numbers: [x86_64, aarch64, i386, arm EABI]; -1 where the ABI lacks the call.
// Taken from the kernel's uapi unistd headers.
const TABLE: Record<string, readonly [number, number, number, number]> = {
  _sysctl: [156, -1, 149, 149],
  acct: [163, 89, 51, 51],
  add_key: [248, 217, 286, 309],
  adjtimex: [159, 171, 124, 124],
  bpf: [321, 280, 357, 386],
  chroot: [161, 51, 61, 61],
  clock_adjtime: [305, 266, 343, 372],
  clock_settime: [227, 112, 264, 262],
  create_module: [174, -1, 127, -1],
  delete_module: [176, 106, 129, 129],
  fanotify_init: [300, 262, 338, 367],
  finit_module: [313, 273, 350, 379],
  fsconfig: [431, 431, 431, 431],
  fsetxattr: [190, 7, 228, 228],
  fsmount: [432, 432, 432, 432],
  fsopen: [430, 430, 430, 430],
  fspick: [433, 433, 433, 433],
  get_kernel_syms: [177, -1, 130, -1],
  init_module: [175, 105, 128, 128],
  io_uring_enter: [426, 426, 426, 426],
  io_uring_register: [427, 427, 427, 427],
  io_uring_setup: [425, 425, 425, 425],
  ioperm: [173, -1, 101, -1],
  iopl: [172, -1, 110, -1],
  kcmp: [312, 272, 349, 378],
  kexec_file_load: [320, 294, -1, 401],
  kexec_load: [246, 104, 283, 347],
  keyctl: [250, 219, 288, 311],
  lookup_dcookie: [212, 18, 253, 249],
  lsetxattr: [189, 6, 227, 227],
  mbind: [237, 235, 274, 319],
  memfd_create: [319, 279, 356, 385],
  migrate_pages: [256, 238, 294, 400],
  mknod: [133, -1, 14, 14],
  mknodat: [259, 33, 297, 324],
  modify_ldt: [154, -1, 123, -1],
  mount: [165, 40, 21, 21],
  mount_setattr: [442, 442, 442, 442],
  move_mount: [429, 429, 429, 429],
  move_pages: [279, 239, 317, 344],
  name_to_handle_at: [303, 264, 341, 370],
  nfsservctl: [180, 42, 169, 169],
  open_by_handle_at: [304, 265, 342, 371],
  open_tree: [428, 428, 428, 428],
  perf_event_open: [298, 241, 336, 364],
  personality: [135, 92, 136, 136],
  pidfd_getfd: [438, 438, 438, 438],
  pivot_root: [155, 41, 217, 218],
  process_vm_readv: [310, 270, 347, 376],
  process_vm_writev: [311, 271, 348, 377],
  ptrace: [101, 117, 26, 26],
  query_module: [178, -1, 167, -1],
  quotactl: [179, 60, 131, 131],
  reboot: [169, 142, 88, 88],
  request_key: [249, 218, 287, 310],
  sched_setscheduler: [144, 119, 156, 156],
  seccomp: [317, 277, 354, 383],
  set_mempolicy: [238, 237, 276, 321],
  setdomainname: [171, 162, 121, 121],
  sethostname: [170, 161, 74, 74],
  setns: [308, 268, 346, 375],
  settimeofday: [164, 170, 79, 79],
  setxattr: [188, 5, 226, 226],
  socket: [41, 198, 359, 281],
  stime: [-1, -1, 25, -1],
  swapoff: [168, 225, 115, 115],
  swapon: [167, 224, 87, 87],
  sysfs: [139, -1, 135, 135],
  syslog: [103, 116, 103, 103],
  umount: [-1, -1, 22, -1],
  umount2: [166, 39, 52, 52],
  unshare: [272, 97, 310, 337],
  uselib: [134, -1, 86, 86],
  userfaultfd: [323, 282, 374, 388],
  ustat: [136, -1, 62, 62],
  vhangup: [153, 58, 111, 111],
  vm86: [-1, -1, 166, -1],
  vm86old: [-1, -1, 113, -1],
};

const ABI_INDEX = { x86_64: 0, aarch64: 1, i386: 2, arm: 3 } as const;
type Abi = keyof typeof ABI_INDEX;

const AUDIT_ARCH: Record<Abi, number> = {
  x86_64: 0xc000003e, aarch64: 0xc00000b7, i386: 0x40000003, arm: 0x40000028,
};
const NATIVE: Record<SeccompArch, { native: Abi; compat: Abi }> = {
  x64: { native: "x86_64", compat: "i386" },
  arm64: { native: "aarch64", compat: "arm" },
};

const X32_SYSCALL_BIT = 0x40000000;
const MNT_FORCE = 1;
const ENOSYS = 38;
const EACCES = 13;
const EPERM = 1;

// Classic BPF opcodes used here.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const JA = 0x05;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;

// struct seccomp_data offsets: nr, arch, then args[] (u64 each, low word first on little-endian).
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG1_LO = 16 + 8;

interface Insn { code: number; jt: number; jf: number; k: number }
const insn = (code: number, k: number, jt = 0, jf = 0): Insn => ({ code, jt, jf, k });

const FULL: Partial<Record<Abi, Map<string, number>>> = { x86_64: X86_64_SYSCALLS, aarch64: AARCH64_SYSCALLS };

/** Syscall names this module knows (valid in security.syscalls.deny and .allow). */
export const knownSyscalls = (): string[] => [...new Set([...Object.keys(TABLE), ...X86_64_SYSCALLS.keys(), ...AARCH64_SYSCALLS.keys()])];

/** The number of `name` on an ABI, or undefined when the ABI lacks it. */
export function syscallNumber(name: string, abi: Abi): number | undefined {
  const n = TABLE[name]?.[ABI_INDEX[abi]] ?? FULL[abi]?.get(name);
  return n === undefined || n < 0 ? undefined : n;
}

// Denying one name of a pair denies both: they are the same operation.
const ALIASES: Record<string, string[]> = { umount: ["umount2"], umount2: ["umount"] };

const errno = (e: number) => insn(RET_K, RET_ERRNO | e);

/** The numbers of `names` (and their aliases) on an ABI; names the ABI lacks are skipped. */
function numbers(names: string[], abi: Abi): Set<number> {
  const nrs = new Set<number>();
  for (const name of names) for (const n of [name, ...(ALIASES[name] ?? [])]) {
    const nr = syscallNumber(n, abi);
    if (nr !== undefined) nrs.add(nr);
  }
  return nrs;
}

/** One ABI's checks; the accumulator holds the syscall number on entry. Ends in RET. */
function abiSection(abi: Abi, deny: { names: string[]; errno: number }[], x32: boolean): Insn[] {
  const out: Insn[] = [insn(LD_W_ABS, OFF_NR)];
  if (x32) out.push(insn(JGE_K, X32_SYSCALL_BIT, 0, 1), errno(ENOSYS));
  const denied = new Set<number>();
  for (const list of deny) {
    // Each check is "jeq nr → next (deny); else skip it": jumps stay short however long the list.
    for (const nr of [...numbers(list.names, abi)].sort((a, b) => a - b)) {
      if (denied.has(nr)) continue;
      denied.add(nr);
      out.push(insn(JEQ_K, nr, 0, 1), errno(list.errno));
    }
  }
  const umount2 = syscallNumber("umount2", abi);
  if (umount2 !== undefined && !denied.has(umount2)) {
    out.push(insn(JEQ_K, umount2, 0, 3), insn(LD_W_ABS, OFF_ARG1_LO), insn(JSET_K, MNT_FORCE, 0, 1), errno(EACCES));
  }
  out.push(insn(RET_K, RET_ALLOW));
  return out;
}

/** What lxd-helper itself calls between installing the filter and execve (or reporting why
 *  execve failed): always allowed, or no command could start at all. */
export const HELPER_SYSCALLS = ["execve", "setgroups", "setresuid", "setresgid", "chdir", "write", "exit", "exit_group"];

/** Allowlist section of the native ABI: listed numbers pass, the rest fail with EPERM. */
function allowSection(abi: Abi, allow: string[], x32: boolean): Insn[] {
  const out: Insn[] = [insn(LD_W_ABS, OFF_NR)];
  if (x32) out.push(insn(JGE_K, X32_SYSCALL_BIT, 0, 1), errno(ENOSYS));
  for (const nr of [...numbers([...allow, ...HELPER_SYSCALLS], abi)].sort((a, b) => a - b)) {
    out.push(insn(JEQ_K, nr, 0, 1), insn(RET_K, RET_ALLOW));
  }
  out.push(errno(EPERM));
  return out;
}

export interface SeccompOptions {
  /** Extra syscall names to deny with EPERM (security.syscalls.deny). */
  deny?: string[];
  /** Allowlist mode: only these pass (security.syscalls.allow); excludes the deny options. */
  allow?: string[];
  /** Include LXD's default deny list (security.syscalls.deny_default); default true. */
  denyDefault?: boolean;
  /** Reject every 32-bit compat syscall (security.syscalls.deny_compat). */
  denyCompat?: boolean;
  /** Target architecture; default the host's. */
  arch?: SeccompArch;
}

/** Assembles the filter; throws on an unknown syscall name. */
export function buildSeccomp(opts: SeccompOptions = {}): Uint8Array {
  const arch = opts.arch ?? (process.arch === "arm64" ? "arm64" : "x64");
  const { native, compat } = NATIVE[arch];
  // A name only another architecture has is skipped there, as libseccomp does.
  const known = new Set(knownSyscalls());
  const names = (list: string[] | undefined, key: string) => {
    const out = (list ?? []).map((s) => s.trim()).filter(Boolean);
    for (const name of out) if (!known.has(name)) throw new Error(`unknown syscall "${name}" in ${key}`);
    return out;
  };
  const extra = names(opts.deny, "security.syscalls.deny");
  const allow = opts.allow ? names(opts.allow, "security.syscalls.allow") : undefined;
  if (allow && extra.length) throw new Error("security.syscalls.allow and security.syscalls.deny are mutually exclusive");
  const deny = [{ names: opts.denyDefault === false ? [] : DEFAULT_DENY, errno: ENOSYS }, { names: extra, errno: EPERM }];

  const nativeSection = allow ? allowSection(native, allow, native === "x86_64") : abiSection(native, deny, native === "x86_64");
  const compatSection = opts.denyCompat || allow
    ? [insn(RET_K, RET_ERRNO | ENOSYS)]
    : abiSection(compat, deny, false);
  // ld arch; native → jump over the rest (ja takes a 32-bit offset); compat → its section;
  // anything else → ENOSYS.
  const prog: Insn[] = [
    insn(LD_W_ABS, OFF_ARCH),
    insn(JEQ_K, AUDIT_ARCH[native], 0, 1),
    insn(JA, 2 + compatSection.length),
    insn(JEQ_K, AUDIT_ARCH[compat], 1, 0),
    insn(RET_K, RET_ERRNO | ENOSYS),
    ...compatSection,
    ...nativeSection,
  ];
  if (prog.length > 4096) throw new Error("seccomp filter too long");
  const bytes = new Uint8Array(prog.length * 8);
  const view = new DataView(bytes.buffer);
  prog.forEach((p, i) => {
    view.setUint16(i * 8, p.code, true);
    view.setUint8(i * 8 + 2, p.jt);
    view.setUint8(i * 8 + 3, p.jf);
    view.setUint32(i * 8 + 4, p.k >>> 0, true);
  });
  return bytes;
}

/** Hex form for lxd-helper's `seccomp` config line and `--seccomp` option. */
export const seccompHex = (prog: Uint8Array): string => Buffer.from(prog).toString("hex");
