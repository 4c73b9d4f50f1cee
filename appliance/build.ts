// Builds the single `dist/lxd` executable: native helpers first (they are embedded from
// build/native/current by src/kernel/native.ts), then `bun build --compile`.
//
//   bun appliance/build.ts              host arch -> dist/lxd
//   bun appliance/build.ts --release    also dist/lxd-linux-x64 and dist/lxd-linux-arm64 (glibc),
//                                       compiled against pinned, integrity-checked Bun runtimes
//   bun appliance/build.ts --entry F    compile F instead of src/main.ts (toolchain smoke test)
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BunPlugin } from "bun";
import targetsJson from "./targets.json";
import { buildNative } from "../src/kernel/native-build.ts";

type Arch = keyof typeof targetsJson.targets;
type Target = (typeof targetsJson.targets)[Arch];

const root = resolve(import.meta.dir, "..");
const nativeRoot = join(root, "build/native");
const currentNative = join(nativeRoot, "current");
const runtimeCache = join(root, ".cache/bun-runtimes");

const hostArch = (): Arch => {
  if (process.arch === "x64" || process.arch === "arm64") return process.arch;
  throw new Error(`build: unsupported host architecture ${process.arch} (supported: x64, arm64)`);
};

function log(msg: string) {
  console.log(`[build] ${msg}`);
}

/** Runs a command with inherited stdio; throws with the command line when it fails. */
function run(cmd: string[], opts: { cwd?: string; quiet?: boolean } = {}): string {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd ?? root, stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString();
  const err = r.stderr.toString();
  if (!opts.quiet && out.trim()) process.stdout.write(out);
  if (r.exitCode !== 0) {
    throw new Error(`build: \`${cmd.join(" ")}\` exited ${r.exitCode}\n${err || out}`);
  }
  if (!opts.quiet && err.trim()) process.stderr.write(err);
  return out;
}

async function timed<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  const t0 = performance.now();
  const v = await fn();
  log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return v;
}

/** Compiles the C helpers for one architecture into `outDir` (flags and sources: src/kernel/native-build.ts). */
function buildNativeFor(arch: Arch, outDir: string): void {
  rmSync(outDir, { recursive: true, force: true });
  buildNative(arch, outDir);
}

/** Makes `arch`'s natives the ones the next compile embeds. */
function selectNative(arch: Arch) {
  rmSync(currentNative, { recursive: true, force: true });
  cpSync(join(nativeRoot, arch), currentNative, { recursive: true });
}

function sha512Integrity(file: string): string {
  return `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;
}

/**
 * The Bun runtime a cross build is linked against: the pinned npm package, fetched once with
 * `npm pack` into .cache/bun-runtimes and checked against the integrity in targets.json on every
 * build, so a release is repeatable offline once the cache is filled.
 */
function runtimeFor(t: Target): string {
  const version = targetsJson.bunVersion;
  const base = `${t.runtimePackage.replace(/^@/, "").replace("/", "-")}-${version}`;
  const tarball = join(runtimeCache, `${base}.tgz`);
  mkdirSync(runtimeCache, { recursive: true });
  if (!existsSync(tarball)) {
    log(`fetching ${t.runtimePackage}@${version}`);
    run(["npm", "pack", `${t.runtimePackage}@${version}`, "--pack-destination", runtimeCache, "--silent"], { quiet: true });
  }
  const actual = sha512Integrity(tarball);
  if (actual !== t.integrity) {
    rmSync(tarball, { force: true });
    throw new Error(`build: ${tarball} has integrity ${actual}, expected ${t.integrity} (appliance/targets.json); deleted it`);
  }
  const dir = join(runtimeCache, base);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  run(["tar", "-xzf", tarball, "-C", dir, "package/bin/bun"]);
  const bin = join(dir, "package/bin/bun");
  chmodSync(bin, 0o755);
  return bin;
}

/**
 * clipanion picks its Node platform module, which loads `node:tty` (and with it Node's stream
 * machinery, ~15 ms) only to guess a terminal colour depth. We run it with colours and output
 * capture off, where its browser platform module behaves identically and loads nothing.
 */
const clipanionWithoutTty: BunPlugin = {
  name: "clipanion-without-tty",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/platform$/ }, ({ importer }) =>
      /\/node_modules\/clipanion\/lib\//.test(importer)
        ? { path: join(importer.slice(0, importer.lastIndexOf("/clipanion/lib/") + 15), "platform/browser.js") }
        : undefined);
  },
};

/**
 * clipanion's `Cli.defaultContext` reads process.stdin/stdout/stderr when its module loads, and
 * creating those Node streams costs every CLI call ~20 ms. src/main.ts always passes the whole
 * context (with Bun-backed streams), so the default's streams are left out.
 */
const CLIPANION_DEFAULT_STREAMS = /stdin: process\.stdin,\s*stdout: process\.stdout,\s*stderr: process\.stderr,/;
const clipanionWithoutProcessStreams: BunPlugin = {
  name: "clipanion-without-process-streams",
  setup(build) {
    build.onLoad({ filter: /\/node_modules\/clipanion\/lib\/advanced\/Cli\.js$/ }, async ({ path }) => {
      const source = await Bun.file(path).text();
      if (!CLIPANION_DEFAULT_STREAMS.test(source)) {
        throw new Error(`build: ${path} no longer sets Cli.defaultContext's streams as expected; update clipanionWithoutProcessStreams`);
      }
      return { contents: source.replace(CLIPANION_DEFAULT_STREAMS, ""), loader: "js" };
    });
  },
};

/**
 * The tier-up thresholds a CLI process starts with: its code runs once, so the JIT would only
 * burn CPU compiling it. `lxd serve` restores the normal policy (src/cli/daemon.ts).
 */
const CLI_JIT_POLICY = 20;

/**
 * The web console (src/ui): minified browser bundles in build/ui — app.js and app.css (its own
 * styles and xterm.js's), plus chunks loaded on demand (the terminal, with xterm.js) — and
 * build/ui/files.ts, which imports each of them as an embedded file for src/daemon/ui.ts.
 * No source maps: it must stay small.
 */
async function bundleUi(): Promise<void> {
  const out = join(root, "build/ui");
  rmSync(out, { recursive: true, force: true });
  const result = await Bun.build({
    entrypoints: [join(root, "src/ui/main.tsx")],
    outdir: out,
    target: "browser",
    format: "esm",
    splitting: true,
    minify: true,
    sourcemap: "none",
    naming: { entry: "app.[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": '"production"' },
  });
  if (!result.success) throw new Error(`build: bundling the web console failed:\n${result.logs.map(String).join("\n")}`);
  const names = result.outputs.map((o) => o.path.slice(out.length + 1)).sort();
  const imports = names.map((n, i) => `import f${i} from "./${n}" with { type: "file" };`);
  const map = names.map((n, i) => `  ${JSON.stringify(n)}: f${i},`);
  await Bun.write(join(out, "files.ts"), [
    "// @ts-nocheck: build artifacts, without type declarations.",
    "// Generated by appliance/build.ts: the web console's files, embedded in the executable.",
    ...imports, "", "export const files: Record<string, string> = {", ...map, "};", "",
  ].join("\n"));
  log(`web console: ${result.outputs.map((o) => `${o.path.slice(out.length + 1)} ${(o.size / 1024).toFixed(0)} KiB`).join(", ")}`);
}

async function compile(entry: string, outfile: string, cross?: { target: Target; runtime: string }) {
  const result = await Bun.build({
    entrypoints: [entry],
    target: "bun",
    minify: true,
    sourcemap: "none",
    // Precompiled bytecode: every CLI call (`lxd exec`, `lxd list`) starts a fresh process.
    // Bytecode needs ESM output (top-level await).
    bytecode: true,
    format: "esm",
    // Code splitting keeps one executable but makes each dynamic import() its own chunk, evaluated
    // only when reached: without it every module (the daemon's Elysia, drizzle, TypeBox) is
    // evaluated at start-up, and `lxd exec` pays for the daemon on every call.
    splitting: true,
    plugins: [clipanionWithoutTty, clipanionWithoutProcessStreams],
    compile: {
      outfile,
      jitPolicy: CLI_JIT_POLICY,
      // The daemon must not pick up a .env or bunfig.toml from whatever directory it starts in.
      autoloadDotenv: false,
      autoloadBunfig: false,
      ...(cross ? { target: cross.target.bunTarget as Bun.Build.CompileTarget, executablePath: cross.runtime } : {}),
    },
  });
  if (!result.success) {
    throw new Error(`build: compiling ${entry} failed:\n${result.logs.map(String).join("\n")}`);
  }
}

/** `file` must name the target's machine: catches a host binary shipped under an arm64 name. */
function checkElf(path: string, t: Target) {
  const desc = run(["file", "-b", path], { quiet: true }).trim();
  if (!desc.startsWith("ELF 64-bit") || !desc.includes(t.elfMachine)) {
    throw new Error(`build: ${path} is "${desc}", expected an ELF for ${t.elfMachine}`);
  }
  log(`${path.slice(root.length + 1)}: ${desc.split(",").slice(0, 2).join(",")}`);
}

/** Each native built for `arch` must be inside the executable byte for byte (embedded files are stored raw). */
function checkEmbeds(path: string, arch: Arch) {
  const exe = readFileSync(path);
  for (const f of readdirSync(join(nativeRoot, arch))) {
    if (exe.indexOf(readFileSync(join(nativeRoot, arch, f))) < 0) {
      throw new Error(`build: ${path} does not embed build/native/${arch}/${f}`);
    }
  }
}

/** Runs `--help`; a foreign-architecture binary runs under qemu-user when it is installed. */
function checkRuns(path: string, emulator: string[] = []) {
  const r = Bun.spawnSync([...emulator, path, "--help"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, LXD_DIR: "/nonexistent" } });
  if (r.exitCode !== 0) throw new Error(`build: ${[...emulator, path].join(" ")} --help exited ${r.exitCode}: ${r.stderr.toString()}`);
}

async function main() {
  const argv = process.argv.slice(2);
  const release = argv.includes("--release");
  const entryAt = argv.indexOf("--entry");
  const entry = resolve(root, entryAt >= 0 ? argv[entryAt + 1] ?? "" : "src/main.ts");
  if (!existsSync(entry)) throw new Error(`build: entry point ${entry} does not exist`);
  mkdirSync(join(root, "dist"), { recursive: true });

  const host = hostArch();
  const arches: Arch[] = release ? (Object.keys(targetsJson.targets) as Arch[]) : [host];
  for (const arch of arches) await timed(`natives for ${arch}`, () => buildNativeFor(arch, join(nativeRoot, arch)));

  await timed("web console", bundleUi);

  const outputs = ["dist/lxd"];
  try {
    selectNative(host);
    await timed("dist/lxd", () => compile(entry, join(root, "dist/lxd")));
    checkRuns(join(root, "dist/lxd"));
    checkEmbeds(join(root, "dist/lxd"), host);
    if (release) {
      for (const arch of arches) {
        const t = targetsJson.targets[arch];
        const runtime = runtimeFor(t);
        selectNative(arch);
        const out = join(root, t.output);
        await timed(t.output, () => compile(entry, out, { target: t, runtime }));
        checkElf(out, t);
        checkEmbeds(out, arch);
        if (arch === host) checkRuns(out);
        else if (Bun.which(t.emulator[0])) await timed(`${t.output} --help under ${t.emulator[0]}`, () => checkRuns(out, t.emulator));
        else log(`${t.emulator[0]} not installed (Debian: qemu-user): ${t.output} not run`);
        outputs.push(t.output);
      }
    }
  } finally {
    // Dev runs and `bun test` embed/load build/native/current: leave the host's there.
    if (existsSync(join(nativeRoot, host))) selectNative(host);
  }
  log(`done: ${outputs.join(" ")}`);
}

await main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
