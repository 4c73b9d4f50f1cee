// Compiles native/*.c with gcc (a cross gcc for the other arch): liblxd.c and lxd-netlink.c into
// liblxd.so, lxd-dqlite.c into the dqlite node runner, every other file into the static lxd-helper. Warnings are errors; fortified glibc
// calls. `LXD_NATIVE_ANALYZE=1` adds gcc's static analyzer (CI sets it; it is clean).
// Runs at build time; the compiled `dist/lxd` embeds the results and needs no compiler.
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export type NativeArch = "x64" | "arm64";

export const nativeSourceDir = join(import.meta.dir, "..", "..", "native");
/** Where the host build puts its natives; src/kernel/native.ts embeds them from here. */
export const currentNativeDir = join(import.meta.dir, "..", "..", "build", "native", "current");

const CROSS: Record<NativeArch, string> = { x64: "x86_64-linux-gnu-gcc", arm64: "aarch64-linux-gnu-gcc" };

const CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-D_FORTIFY_SOURCE=2"];
const LIB_SOURCES = ["liblxd.c", "lxd-netlink.c"];
/** A program of its own: dynamic, since it dlopens the host's libdqlite (a static binary cannot). */
const DQLITE_SOURCE = "lxd-dqlite.c";

/** The C sources and headers, for staleness checks. */
export function nativeSources(): string[] {
  return readdirSync(nativeSourceDir).filter((f) => /\.[ch]$/.test(f)).map((f) => join(nativeSourceDir, f));
}

function compiler(arch: NativeArch): string {
  return arch === process.arch ? "gcc" : CROSS[arch];
}

function gcc(cc: string, args: string[], out: string) {
  // Written beside the target and renamed: concurrent builds never see a half-written file.
  const tmp = `${out}.tmp-${process.pid}`;
  const analyze = process.env.LXD_NATIVE_ANALYZE === "1" ? ["-fanalyzer"] : [];
  const res = Bun.spawnSync([cc, ...CFLAGS, ...analyze, ...args, "-o", tmp], { stderr: "pipe", stdout: "pipe" });
  if (!res.success) {
    rmSync(tmp, { force: true });
    throw new Error(`building ${out} with ${cc} failed:\n${res.stderr.toString()}`);
  }
  renameSync(tmp, out);
}

/**
 * Builds OUTDIR/lxd-helper (static, so it runs on any glibc and starts fast), OUTDIR/liblxd.so and
 * OUTDIR/lxd-dqlite (dynamic: it dlopens the host's libdqlite, which a static binary cannot).
 */
export function buildNative(arch: NativeArch, outDir: string): { helper: string; lib: string; dqlite: string } {
  const cc = compiler(arch);
  mkdirSync(outDir, { recursive: true });
  const helper = join(outDir, "lxd-helper");
  const lib = join(outDir, "liblxd.so");
  const sources = readdirSync(nativeSourceDir).filter((f) => f.endsWith(".c")).sort();
  const helperSources = sources.filter((f) => !LIB_SOURCES.includes(f) && f !== DQLITE_SOURCE).map((f) => join(nativeSourceDir, f));
  const dqlite = join(outDir, "lxd-dqlite");
  gcc(cc, ["-static", "-s", ...helperSources], helper);
  gcc(cc, ["-shared", "-fPIC", "-s", ...LIB_SOURCES.map((f) => join(nativeSourceDir, f))], lib);
  gcc(cc, ["-s", "-pthread", join(nativeSourceDir, DQLITE_SOURCE), "-ldl"], dqlite);
  return { helper, lib, dqlite };
}
