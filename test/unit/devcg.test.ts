// The cgroup v2 device program, run by a small interpreter of the few eBPF instructions it uses:
// it must allow exactly what the rules allow (the kernel's verifier only checks it is safe).
import { describe, expect, test } from "bun:test";
import { deviceProgram, type DeviceRule, ruleText, STANDARD_RULES } from "../../src/kernel/devcg.ts";

/** Runs the program on bpf_cgroup_dev_ctx {access_type, major, minor}; returns r0. */
function run(prog: Uint8Array, type: "c" | "b", access: string, major: number, minor: number): number {
  const acc = [...access].reduce((a, c) => a | ({ m: 1, r: 2, w: 4 } as Record<string, number>)[c], 0);
  const ctx = [(acc << 16) | (type === "b" ? 1 : 2), major, minor];
  const r = new Array<number>(11).fill(0);
  const v = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  for (let pc = 0, steps = 0; steps < 10000; steps++, pc++) {
    const code = v.getUint8(pc * 8), dst = v.getUint8(pc * 8 + 1) & 0xf, src = v.getUint8(pc * 8 + 1) >> 4;
    const off = v.getInt16(pc * 8 + 2, true), imm = v.getInt32(pc * 8 + 4, true);
    switch (code) {
      case 0x61: r[dst] = ctx[off / 4]; break; // ldx w
      case 0x57: r[dst] &= imm; break;
      case 0x77: r[dst] >>>= imm; break;
      case 0xbf: r[dst] = r[src]; break;
      case 0xb7: r[dst] = imm; break;
      case 0x55: if (r[dst] !== imm) pc += off; break;
      case 0x95: return r[0];
      default: throw new Error(`unexpected opcode ${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("no exit");
}

describe("deviceProgram", () => {
  const prog = deviceProgram([...STANDARD_RULES, { type: "b", major: 7, minor: 3, access: "rw" }]);

  test("the standard set is allowed, other devices are not", () => {
    expect(run(prog, "c", "rw", 1, 3)).toBe(1);
    expect(run(prog, "c", "rwm", 1, 9)).toBe(1);
    expect(run(prog, "c", "rw", 136, 42)).toBe(1); // pts/*
    expect(run(prog, "c", "rw", 1, 1)).toBe(0); // /dev/mem
    expect(run(prog, "b", "r", 254, 0)).toBe(0);
    expect(run(prog, "c", "r", 10, 237)).toBe(0);
  });

  test("mknod of anything is allowed, access needs a rule", () => {
    expect(run(prog, "b", "m", 254, 0)).toBe(1);
    expect(run(prog, "c", "m", 1, 1)).toBe(1);
    expect(run(prog, "b", "mr", 254, 0)).toBe(0);
  });

  test("a rule grants only its access bits, type, major and minor", () => {
    expect(run(prog, "b", "r", 7, 3)).toBe(1);
    expect(run(prog, "b", "rw", 7, 3)).toBe(1);
    // One rule must grant the whole request (the kernel asks for mknod and open separately).
    expect(run(prog, "b", "rwm", 7, 3)).toBe(0);
    expect(run(prog, "c", "r", 7, 3)).toBe(0);
    expect(run(prog, "b", "r", 7, 4)).toBe(0);
    const readOnly = deviceProgram([{ type: "c", major: 1, minor: 3, access: "r" }]);
    expect(run(readOnly, "c", "r", 1, 3)).toBe(1);
    expect(run(readOnly, "c", "w", 1, 3)).toBe(0);
    expect(run(deviceProgram([{ type: "a", access: "rwm" }]), "b", "rw", 8, 0)).toBe(1);
    expect(run(deviceProgram([]), "c", "r", 1, 3)).toBe(0);
  });

  test("v1 rule text", () => {
    expect(STANDARD_RULES.map(ruleText)).toContain("c 136:* rwm");
    expect(ruleText({ type: "b", access: "m" } as DeviceRule)).toBe("b *:* m");
  });
});
