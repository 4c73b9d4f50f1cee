// CLI start-up beside its floor: `lxd --version` and `lxd list` (no instances) against a trivial
// compiled Bun program (console.log only) built here the same way (`bun build --compile`, no
// .env/bunfig autoload), interleaved run by run so machine load hits all three alike. Wall time
// and CPU time (user+sys of the child, steadier on a busy host) are reported, medians.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lxdBinary, type TestDaemon } from "../helpers/daemon.ts";
import { type BenchRow, median } from "./timing.ts";


function trivialBinary(dir: string): string {
  const src = join(dir, "hello.ts");
  const out = join(dir, "hello");
  writeFileSync(src, 'console.log("0.1.0");\n');
  const r = Bun.spawnSync([process.execPath, "build", "--compile", "--minify", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", src, "--outfile", out], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`compiling the trivial program failed: ${r.stderr.toString()}`);
  return out;
}

/** One run: wall and CPU milliseconds; a failing command stops the benchmark. */
function once(argv: string[], env: Record<string, string>): { wall: number; cpu: number } {
  const t0 = performance.now();
  const r = Bun.spawnSync(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const wall = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${r.exitCode}: ${r.stderr.toString()}`);
  const u = r.resourceUsage!;
  return { wall, cpu: (Number(u.cpuTime.user) + Number(u.cpuTime.system)) / 1000 };
}

export function cliStartTimings(d: TestDaemon, runs: number): BenchRow[] {
  const dir = mkdtempSync("/tmp/lxd-bench-start-");
  try {
    const hello = trivialBinary(dir);
    const env = { LXD_DIR: d.dir };
    const cases = { floor: [hello], version: [lxdBinary(), "--version"], list: [lxdBinary(), "list"] };
    const t = Object.fromEntries(Object.keys(cases).map((k) => [k, { wall: [] as number[], cpu: [] as number[] }])) as Record<keyof typeof cases, { wall: number[]; cpu: number[] }>;
    // Start-up is short: more runs than the other rows, the first of each discarded (cold page cache).
    for (let i = 0; i <= runs * 4; i++) {
      for (const [k, argv] of Object.entries(cases) as [keyof typeof cases, string[]][]) {
        const r = once(argv, env);
        if (i === 0) continue;
        t[k].wall.push(r.wall);
        t[k].cpu.push(r.cpu);
      }
    }
    const show = (k: keyof typeof cases) => `${median(t[k].wall).toFixed(1)} ms (CPU ${median(t[k].cpu).toFixed(1)} ms)`;
    const above = (k: keyof typeof cases) => `${show(k)}, +${(median(t[k].wall) - median(t.floor.wall)).toFixed(1)} ms`;
    return [
      { key: "cli", what: "CLI start: lxd --version", ours: above("version"), floor: `${show("floor")} trivial compiled Bun` },
      { key: "cli-list", what: "CLI start + request: lxd list, no instances", ours: above("list"), floor: `${show("floor")} trivial compiled Bun` },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
