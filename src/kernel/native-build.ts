// Compiles native/lxd-helper.c (with lxd-proxy.c), native/liblxd.c (with lxd-netlink.c) and native/lxd-dqlite.c with gcc (a cross gcc for the other arch).
// Runs at build time; the compiled `dist/lxd` embeds the results and needs no compiler.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export type NativeArch = "x64" | "arm64";

export const nativeSourceDir = join(import.meta.dir, "..", "..", "native");
/** Where the host build puts its natives; src/kernel/native.ts embeds them from here. */
export const currentNativeDir = join(import.meta.dir, "..", "..", "build", "native", "current");

const CROSS: Record<NativeArch, string> = { x64: "x86_64-linux-gnu-gcc", arm64: "aarch64-linux-gnu-gcc" };

function compiler(arch: NativeArch): string {
  return arch === process.arch ? "gcc" : CROSS[arch];
}

function gcc(cc: string, args: string[], out: string) {
  // Written beside the target and renamed: concurrent builds never see a half-written file.
  const tmp = `${out}.tmp-${process.pid}`;
  const res = Bun.spawnSync([cc, "-O2", "-Wall", ...args, "-o", tmp], { stderr: "pipe", stdout: "pipe" });
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
  const dqlite = join(outDir, "lxd-dqlite");
  gcc(cc, ["-static", "-s", join(nativeSourceDir, "lxd-helper.c"), join(nativeSourceDir, "lxd-proxy.c")], helper);
  gcc(cc, ["-shared", "-fPIC", "-s", join(nativeSourceDir, "liblxd.c"), join(nativeSourceDir, "lxd-netlink.c")], lib);
  gcc(cc, ["-s", join(nativeSourceDir, "lxd-dqlite.c"), "-ldl"], dqlite);
  return { helper, lib, dqlite };
}
