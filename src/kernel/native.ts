// Locates the native helper and library. A compiled `dist/lxd` carries them embedded (the dynamic
// imports below are resolved by `bun build --compile`); from source they come from
// build/native/current, rebuilt with gcc when missing or older than native/*.[ch]. Either way they
// are installed under binDir() with content-hashed names, so a running monitor's binary is never
// overwritten by an upgrade.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binDir } from "../paths.ts";
import { buildNative, currentNativeDir, nativeSources, type NativeArch } from "./native-build.ts";

interface Natives {
  helper: string;
  lib: string;
  dqlite: string;
}

let embedded: Natives | undefined;
try {
  // Build artifacts without type declarations; `type: "file"` imports resolve to a path.
  // @ts-ignore
  const helper: { default: string } = await import("../../build/native/current/lxd-helper", { with: { type: "file" } });
  // @ts-ignore
  const lib: { default: string } = await import("../../build/native/current/liblxd.so", { with: { type: "file" } });
  // @ts-ignore
  const dqlite: { default: string } = await import("../../build/native/current/lxd-dqlite", { with: { type: "file" } });
  if (helper.default.startsWith("/$bunfs/")) embedded = { helper: helper.default, lib: lib.default, dqlite: dqlite.default };
} catch {
  // Running from source before any build: built on demand below.
}

function sourceBuild(): Natives {
  const helper = join(currentNativeDir, "lxd-helper");
  const lib = join(currentNativeDir, "liblxd.so");
  const dqlite = join(currentNativeDir, "lxd-dqlite");
  const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : 0);
  const newest = Math.max(...nativeSources().map(mtime));
  if (Math.min(mtime(helper), mtime(lib), mtime(dqlite)) < newest) buildNative(process.arch as NativeArch, currentNativeDir);
  return { helper, lib, dqlite };
}

function install(src: string, name: string): string {
  const bytes = readFileSync(src);
  const hash = Bun.hash(bytes).toString(16).padStart(16, "0");
  const dest = join(binDir(), `${name}-${hash}`);
  if (existsSync(dest)) return dest;
  mkdirSync(binDir(), { recursive: true, mode: 0o755 });
  const tmp = `${dest}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  renameSync(tmp, dest);
  return dest;
}

let installed: (Natives & { dir: string }) | undefined;

function natives() {
  const dir = binDir();
  if (installed?.dir !== dir) {
    const src = embedded ?? sourceBuild();
    installed = { dir, helper: install(src.helper, "lxd-helper"), lib: install(src.lib, "liblxd.so"), dqlite: install(src.dqlite, "lxd-dqlite") };
  }
  return installed;
}

/** Path of the lxd-helper executable (installed on first use). */
export const helperPath = (): string => natives().helper;
/** Path of the lxd-dqlite node runner (installed on first use). */
export const dqlitePath = (): string => natives().dqlite;
/** A pidfd to hand a helper as an inherited fd; -1 (init already gone) is refused here. */
export function pidfdForHelper(pidfd: number): number {
  if (pidfd < 0) throw new Error("the instance's init process is gone");
  return pidfd;
}

/** Path of liblxd.so for bun:ffi (installed on first use). */
export const libPath = (): string => natives().lib;
