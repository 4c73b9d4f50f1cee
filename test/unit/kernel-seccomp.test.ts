import { describe, expect, test } from "bun:test";
import { buildSeccomp, DEFAULT_DENY, HELPER_SYSCALLS, knownSyscalls, seccompHex, syscallNumber } from "../../src/kernel/seccomp.ts";

const AUDIT = { x86_64: 0xc000003e, i386: 0x40000003, aarch64: 0xc00000b7, arm: 0x40000028, riscv64: 0xc00000f3 };
const ALLOW = 0x7fff0000;
const ENOSYS = 0x00050000 | 38;
const EACCES = 0x00050000 | 13;
const EPERM = 0x00050000 | 1;

interface Insn { code: number; jt: number; jf: number; k: number }

function decode(bytes: Uint8Array): Insn[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Insn[] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    out.push({ code: v.getUint16(i, true), jt: v.getUint8(i + 2), jf: v.getUint8(i + 3), k: v.getUint32(i + 4, true) });
  }
  return out;
}

/** A classic-BPF interpreter for the opcodes the builder emits, over struct seccomp_data. */
function run(bytes: Uint8Array, arch: number, nr: number, args: number[] = []): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, nr >>> 0, true);
  data.setUint32(4, arch >>> 0, true);
  for (const [i, a] of args.entries()) data.setUint32(16 + 8 * i, a >>> 0, true);
  const prog = decode(bytes);
  let acc = 0;
  for (let pc = 0, steps = 0; pc < prog.length && steps < 10000; steps++) {
    const { code, jt, jf, k } = prog[pc];
    switch (code) {
      case 0x20: acc = data.getUint32(k, true); pc++; break;
      case 0x15: pc += 1 + (acc === k ? jt : jf); break;
      case 0x35: pc += 1 + (acc >= k ? jt : jf); break;
      case 0x45: pc += 1 + ((acc & k) !== 0 ? jt : jf); break;
      case 0x05: pc += 1 + k; break;
      case 0x06: return k;
      default: throw new Error(`unexpected opcode ${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("program fell off the end");
}

describe("seccomp syscall table", () => {
  test("known numbers per ABI", () => {
    expect(syscallNumber("finit_module", "x86_64")).toBe(313);
    expect(syscallNumber("finit_module", "aarch64")).toBe(273);
    expect(syscallNumber("finit_module", "i386")).toBe(350);
    expect(syscallNumber("finit_module", "arm")).toBe(379);
    expect(syscallNumber("mount", "aarch64")).toBe(40);
    expect(syscallNumber("iopl", "aarch64")).toBeUndefined();
    expect(knownSyscalls()).toEqual(expect.arrayContaining([...DEFAULT_DENY, "keyctl", "bpf", "userfaultfd", "ptrace"]));
  });
});

describe("buildSeccomp", () => {
  test("structure: 8-byte instructions, starts by loading arch, every jump lands inside", () => {
    for (const arch of ["x64", "arm64"] as const) {
      const bytes = buildSeccomp({ arch, deny: ["mount", "keyctl"] });
      expect(bytes.length % 8).toBe(0);
      const prog = decode(bytes);
      expect(prog[0]).toEqual({ code: 0x20, jt: 0, jf: 0, k: 4 });
      expect(prog[prog.length - 1].code).toBe(0x06);
      prog.forEach((p, i) => {
        if (p.code === 0x05) expect(i + 1 + p.k).toBeLessThan(prog.length);
        if ([0x15, 0x35, 0x45].includes(p.code)) {
          expect(i + 1 + p.jt).toBeLessThan(prog.length);
          expect(i + 1 + p.jf).toBeLessThan(prog.length);
        }
      });
    }
  });

  test("x86_64: default list denied with ENOSYS, the rest allowed", () => {
    const p = buildSeccomp({ arch: "x64" });
    for (const name of DEFAULT_DENY) expect(run(p, AUDIT.x86_64, syscallNumber(name, "x86_64")!)).toBe(ENOSYS);
    expect(run(p, AUDIT.x86_64, 0)).toBe(ALLOW); // read
    expect(run(p, AUDIT.x86_64, 59)).toBe(ALLOW); // execve
    expect(run(p, AUDIT.x86_64, 165)).toBe(ALLOW); // mount is allowed by default
  });

  test("x86_64: x32 ABI rejected, i386 compat gets its own numbers", () => {
    const p = buildSeccomp({ arch: "x64" });
    expect(run(p, AUDIT.x86_64, 0x40000000 + 313)).toBe(ENOSYS);
    expect(run(p, AUDIT.x86_64, 0x40000000)).toBe(ENOSYS);
    expect(run(p, AUDIT.i386, 350)).toBe(ENOSYS); // finit_module on i386
    expect(run(p, AUDIT.i386, 313)).toBe(ALLOW); // 313 is not finit_module on i386
    expect(run(p, AUDIT.i386, 3)).toBe(ALLOW);
  });

  test("denyCompat rejects all 32-bit calls; foreign arches always rejected", () => {
    const p = buildSeccomp({ arch: "x64", denyCompat: true });
    expect(run(p, AUDIT.i386, 3)).toBe(ENOSYS);
    expect(run(p, AUDIT.x86_64, 3)).toBe(ALLOW);
    expect(run(p, AUDIT.riscv64, 3)).toBe(ENOSYS);
    expect(run(buildSeccomp({ arch: "x64" }), AUDIT.aarch64, 3)).toBe(ENOSYS);
  });

  test("aarch64 with an extra deny list", () => {
    const p = buildSeccomp({ arch: "arm64", deny: ["mount", "keyctl", "bpf"] });
    expect(run(p, AUDIT.aarch64, 40)).toBe(EPERM);
    expect(run(p, AUDIT.aarch64, 219)).toBe(EPERM);
    expect(run(p, AUDIT.aarch64, 280)).toBe(EPERM);
    expect(run(p, AUDIT.aarch64, 273)).toBe(ENOSYS); // finit_module (default list)
    expect(run(p, AUDIT.aarch64, 63)).toBe(ALLOW); // read
    expect(run(p, AUDIT.arm, 21)).toBe(EPERM); // mount on arm
    expect(run(p, AUDIT.arm, 3)).toBe(ALLOW);
    expect(run(p, AUDIT.aarch64, 0x40000000)).toBe(ALLOW); // no x32 check on arm64
    expect(run(p, AUDIT.x86_64, 40)).toBe(ENOSYS);
  });

  test("umount2 with MNT_FORCE gets EACCES unless umount2 is denied outright", () => {
    const p = buildSeccomp({ arch: "x64" });
    expect(run(p, AUDIT.x86_64, 166, [0, 1])).toBe(EACCES);
    expect(run(p, AUDIT.x86_64, 166, [0, 2])).toBe(ALLOW);
    expect(run(p, AUDIT.i386, 52, [0, 1])).toBe(EACCES);
    const q = buildSeccomp({ arch: "x64", deny: ["umount2"] });
    expect(run(q, AUDIT.x86_64, 166, [0, 2])).toBe(EPERM);
    expect(run(q, AUDIT.i386, 22)).toBe(EPERM); // the old umount goes with it
  });

  test("denyDefault false leaves only the extra list", () => {
    const p = buildSeccomp({ arch: "x64", denyDefault: false, deny: ["ptrace"] });
    expect(run(p, AUDIT.x86_64, 313)).toBe(ALLOW);
    expect(run(p, AUDIT.x86_64, 101)).toBe(EPERM);
  });

  test("long deny lists keep every jump short; the default list keeps ENOSYS", () => {
    const all = knownSyscalls().filter((n) => n !== "read");
    const p = buildSeccomp({ arch: "x64", deny: all });
    const prog = decode(p);
    expect(prog.length).toBeGreaterThan(255);
    for (const name of all) {
      const nr = syscallNumber(name, "x86_64");
      if (nr !== undefined) expect(run(p, AUDIT.x86_64, nr)).toBe(DEFAULT_DENY.includes(name) ? ENOSYS : EPERM);
    }
    expect(run(p, AUDIT.x86_64, 0)).toBe(ALLOW);
  });

  test("allowlist: only listed calls (and what the helper needs before execve) pass; compat and x32 refused", () => {
    for (const [arch, audit, abi] of [["x64", AUDIT.x86_64, "x86_64"], ["arm64", AUDIT.aarch64, "aarch64"]] as const) {
      const p = buildSeccomp({ arch, allow: ["read", "openat", "kexec_load"] });
      for (const name of ["read", "openat", "kexec_load", ...HELPER_SYSCALLS]) {
        const nr = syscallNumber(name, abi);
        if (nr !== undefined) expect(run(p, audit, nr)).toBe(ALLOW);
      }
      expect(run(p, audit, syscallNumber("mkdirat", abi)!)).toBe(EPERM);
      expect(run(p, audit, syscallNumber("mount", abi)!)).toBe(EPERM);
      expect(run(p, arch === "x64" ? AUDIT.i386 : AUDIT.arm, 3)).toBe(ENOSYS);
    }
    expect(run(buildSeccomp({ arch: "x64", allow: ["read"] }), AUDIT.x86_64, 0x40000000)).toBe(ENOSYS);
    expect(() => buildSeccomp({ allow: ["read"], deny: ["mount"] })).toThrow(/mutually exclusive/);
    expect(() => buildSeccomp({ allow: ["nope"] })).toThrow(/unknown syscall "nope" in security.syscalls.allow/);
  });

  test("names only another architecture has are skipped, not refused", () => {
    const p = buildSeccomp({ arch: "arm64", deny: ["iopl", "open"] });
    expect(run(p, AUDIT.aarch64, 63)).toBe(ALLOW);
  });

  test("unknown names are an error; hex form", () => {
    expect(() => buildSeccomp({ deny: ["no_such_call"] })).toThrow(/unknown syscall "no_such_call"/);
    const p = buildSeccomp({ arch: "x64" });
    expect(seccompHex(p)).toMatch(/^2000000004000000/);
    expect(seccompHex(p).length).toBe(p.length * 2);
  });
});
