// Debian's own kernel for the guest: the linux-image package of this release, downloaded with apt
// (never installed) and unpacked into a cache directory that later runs reuse.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

/** Where unpacked kernels and built initramfs images are kept between runs. */
function cacheDir(): string {
  const dir = process.env.LXD_TEST_VM_CACHE ?? (process.getuid?.() === 0 ? "/var/cache/lxd-test-vm" : join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/tmp", ".cache"), "lxd-test-vm"));
  mkdirSync(dir, { recursive: true });
  return dir;
}

function sh(argv: string[], cwd?: string): string {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, LC_ALL: "C" } });
  if (r.exitCode !== 0) throw new Error(`\`${argv.join(" ")}\` failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

/** The ABI-named package behind linux-image-amd64 (e.g. linux-image-6.1.0-56-amd64), or undefined offline. */
function currentKernelPackage(): string | undefined {
  try {
    const deps = sh(["apt-cache", "depends", "linux-image-amd64"]);
    return /Depends:\s*(linux-image-\S+-amd64)\b/.exec(deps)?.[1];
  } catch {
    return undefined;
  }
}

export interface Kernel {
  /** Package name, which carries the ABI (it is also the cache key). */
  pkg: string;
  /** Its cache directory: vmlinuz plus initramfs images built for it. */
  dir: string;
  vmlinuz: string;
}

/** The kernel to boot: the current package if apt knows it, else the newest one already cached. */
export function findKernel(): Kernel {
  const root = cacheDir();
  const pkg =
    currentKernelPackage() ??
    readdirSync(root)
      .filter((d) => d.startsWith("linux-image-") && existsSync(join(root, d, "vmlinuz")))
      .sort((a, b) => statSync(join(root, b)).mtimeMs - statSync(join(root, a)).mtimeMs)[0];
  if (!pkg) throw new Error("no Debian kernel for the VM: `apt-cache depends linux-image-amd64` found none (run apt-get update) and none is cached in " + root);
  const dir = join(root, pkg);
  return { pkg, dir, vmlinuz: join(dir, "vmlinuz") };
}

export interface UnpackedKernel {
  /** …/lib/modules/<release>/kernel inside the unpacked package. */
  modulesDir: string;
  release: string;
  /** Removes the unpacked tree (hundreds of MB); the cached vmlinuz stays. */
  dispose(): void;
}

/** Downloads and unpacks `k.pkg`, installs its vmlinuz into the cache, returns the module tree. */
export function unpackKernel(k: Kernel): UnpackedKernel {
  mkdirSync(k.dir, { recursive: true });
  const tmp = mkdtempSync(join(k.dir, "unpack-"));
  try {
    sh(["apt-get", "download", "-q", k.pkg], tmp);
    const deb = readdirSync(tmp).find((f) => f.endsWith(".deb"));
    if (!deb) throw new Error(`apt-get download ${k.pkg} left no .deb in ${tmp}`);
    sh(["dpkg-deb", "-x", join(tmp, deb), join(tmp, "root")]);
    const release = readdirSync(join(tmp, "root/lib/modules"))[0];
    const image = readdirSync(join(tmp, "root/boot")).find((f) => f.startsWith("vmlinuz-"));
    if (!release || !image) throw new Error(`${deb} has no vmlinuz or /lib/modules/<release>`);
    if (!existsSync(k.vmlinuz)) renameSync(join(tmp, "root/boot", image), k.vmlinuz);
    return {
      modulesDir: join(tmp, "root/lib/modules", release, "kernel"),
      release,
      dispose: () => rmSync(tmp, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
