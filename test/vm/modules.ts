// Kernel modules for the guest, taken from an unpacked linux-image package. The package has no
// modules.dep (depmod runs at install time, and we never install it), so the dependencies come
// from each module's own `.modinfo` ELF section ("depends=a,b").
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Module name as the kernel spells it: dashes and underscores are interchangeable. */
const moduleName = (s: string) => s.replace(/-/g, "_");

const MODULE_FILE = /^(.+)\.ko(\.xz|\.zst|\.gz)?$/;

/** Every module file below `dir` (…/lib/modules/<release>/kernel), by module name. */
function indexModules(dir: string): Map<string, string> {
  const index = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const m = entry.isFile() ? MODULE_FILE.exec(entry.name) : null;
    if (m) index.set(moduleName(m[1]), join(entry.parentPath, entry.name));
  }
  return index;
}

/** Reads an uncompressed module's file, decompressing .ko.xz/.ko.zst/.ko.gz with the host's tools. */
function readModule(file: string): Uint8Array {
  const tool = file.endsWith(".xz") ? ["xz", "-dc"] : file.endsWith(".zst") ? ["zstd", "-dc"] : file.endsWith(".gz") ? ["gzip", "-dc"] : null;
  if (!tool) return readFileSync(file);
  const r = Bun.spawnSync([...tool, file], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`decompressing kernel module ${file} with ${tool[0]} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** The `depends=` entry of an ELF64 module's .modinfo section. */
function moduleDepends(ko: Uint8Array, file = "module"): string[] {
  const view = new DataView(ko.buffer, ko.byteOffset, ko.byteLength);
  if (view.getUint32(0) !== 0x7f454c46 || ko[4] !== 2) throw new Error(`${file} is not an ELF64 object`);
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  const section = (i: number) => {
    const base = shoff + i * shentsize;
    return {
      name: view.getUint32(base, true),
      offset: Number(view.getBigUint64(base + 0x18, true)),
      size: Number(view.getBigUint64(base + 0x20, true)),
    };
  };
  const names = section(shstrndx);
  const decoder = new TextDecoder();
  const cstring = (at: number) => decoder.decode(ko.subarray(at, ko.indexOf(0, at)));
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (cstring(names.offset + s.name) !== ".modinfo") continue;
    const entries = decoder.decode(ko.subarray(s.offset, s.offset + s.size)).split("\0");
    const deps = entries.find((e) => e.startsWith("depends="))?.slice("depends=".length) ?? "";
    return deps.split(",").filter(Boolean).map(moduleName);
  }
  throw new Error(`${file} has no .modinfo section`);
}

export interface LoadableModule {
  name: string;
  /** Uncompressed module image, ready for insmod. */
  data: Uint8Array;
}

/** `wanted` and everything they depend on, dependencies first (the order insmod needs). */
export function resolveModules(kernelDir: string, wanted: string[]): LoadableModule[] {
  const index = indexModules(kernelDir);
  const order: LoadableModule[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string, requiredBy: string) => {
    if (done.has(name)) return;
    if (visiting.has(name)) throw new Error(`kernel module dependency cycle through ${name}`);
    const file = index.get(name);
    if (!file) throw new Error(`kernel module ${name} (needed by ${requiredBy}) is not in ${kernelDir}; is it built in?`);
    visiting.add(name);
    const data = readModule(file);
    for (const dep of moduleDepends(data, file)) visit(dep, name);
    visiting.delete(name);
    done.add(name);
    order.push({ name, data });
  };
  for (const w of wanted) visit(moduleName(w), "the VM harness");
  return order;
}
