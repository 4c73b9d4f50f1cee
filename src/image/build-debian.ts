// Builds an LXD-format unified image of a real Debian release with debootstrap, so a host
// without an image server can run systemd guests. Runs on the client side like the busybox
// builder, as root (debootstrap unpacks packages as their owners and runs maintainer scripts in
// a chroot).
//
// What the tree gets beyond debootstrap's: systemd as init with udev (systemd-networkd waits
// for udev's view of a link), systemd-networkd doing DHCP on eth0, systemd-resolved for the
// DNS it learns, no /etc/hostname (systemd then keeps the hostname the runtime set: the
// instance name), an empty machine-id (each container makes its own on first boot), root
// without a password, and SIGPWR (LXD's stop signal) wired to a poweroff.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { emitMetadata, hostArchitecture, type ImageMetadata } from "./metadata.ts";

export interface DebianImageOptions {
  release: string;
  /** debootstrap's --variant: "minbase" (default), "buildd" or "default" (debootstrap's own). */
  variant?: string;
  mirror?: string;
  /** Extra packages, beyond what a systemd guest needs. */
  include?: string[];
  compression?: "gzip" | "xz" | "none";
  /** Keeps downloaded .debs here between builds (debootstrap --cache-dir). */
  cacheDir?: string;
  /** Where temporary trees go (default: the output file's directory). */
  workDir?: string;
  /** debootstrap's progress lines. */
  log?: (line: string) => void;
}

export const DEFAULT_MIRROR = "http://deb.debian.org/debian";
const VARIANTS = ["minbase", "buildd", "default"];
/** What a systemd guest with DHCP and DNS needs on top of minbase (procps: free, top, ps). */
export const GUEST_PACKAGES = ["systemd", "systemd-sysv", "systemd-resolved", "udev", "dbus", "iproute2", "procps"];
/** Debian's architecture names for LXD's. */
const DEBIAN_ARCH: Record<string, string> = { x86_64: "amd64", aarch64: "arm64", i686: "i386", armv7l: "armhf", ppc64le: "ppc64el", s390x: "s390x", riscv64: "riscv64" };

const NETWORK = `# Written by lxd image build debian: DHCP on the NIC the container gets.
[Match]
Name=eth0

[Network]
DHCP=yes
`;

/** Checks options before anything is downloaded; returns the normalised ones. */
export function checkDebianOptions(opts: DebianImageOptions): Required<Pick<DebianImageOptions, "release" | "variant" | "mirror" | "include">> {
  if (!/^[a-z][a-z0-9-]*$/.test(opts.release)) throw new Error(`invalid Debian release "${opts.release}" (a codename such as bookworm)`);
  const variant = opts.variant ?? "minbase";
  if (!VARIANTS.includes(variant)) throw new Error(`invalid variant "${variant}" (one of ${VARIANTS.join(", ")})`);
  const mirror = opts.mirror ?? DEFAULT_MIRROR;
  if (!/^(https?|file):\/\/\S+$/.test(mirror)) throw new Error(`invalid mirror "${mirror}" (an http, https or file URL)`);
  const include = opts.include ?? [];
  for (const p of include) if (!/^[a-z0-9][a-z0-9+.-]+$/.test(p)) throw new Error(`invalid package name "${p}"`);
  return { release: opts.release, variant, mirror, include };
}

async function run(argv: string[], what: string, log?: (line: string) => void): Promise<void> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" } });
  const tail: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        log?.(line);
        tail.push(line);
        if (tail.length > 15) tail.shift();
      }
    }
    if (buf) tail.push(buf);
  };
  await Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${tail.join("\n")}`);
}

/** debootstrap mounts /proc and /sys in the tree while it works and may leave them behind when
 *  it fails: detach them before the tree is deleted. */
async function unmountUnder(dir: string): Promise<void> {
  const points = (await Bun.file("/proc/self/mountinfo").text()).split("\n")
    .map((l) => l.split(" ")[4]).filter((p): p is string => !!p && p.startsWith(`${dir}/`));
  for (const p of points.reverse()) Bun.spawnSync(["umount", "-l", p]);
}

/** Turns a debootstrapped tree into a guest; `root` is the tree. */
async function configure(root: string): Promise<void> {
  const at = (p: string) => join(root, p);
  const put = async (p: string, content: string) => {
    await mkdir(dirname(at(p)), { recursive: true });
    await writeFile(at(p), content);
  };
  const link = async (p: string, target: string) => {
    await mkdir(dirname(at(p)), { recursive: true });
    await rm(at(p), { force: true });
    await symlink(target, at(p));
  };
  await put("etc/systemd/network/eth0.network", NETWORK);
  // What `systemctl enable` would link, without running the guest's systemctl on the host.
  await link("etc/systemd/system/multi-user.target.wants/systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service");
  await link("etc/systemd/system/sockets.target.wants/systemd-networkd.socket", "/lib/systemd/system/systemd-networkd.socket");
  await link("etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service", "/lib/systemd/system/systemd-networkd-wait-online.service");
  // systemd starts sigpwr.target on SIGPWR, which does nothing by default. As an alias of
  // poweroff.target it powers off (a drop-in with Wants=poweroff.target does not: the
  // transaction drops the wanted job, which conflicts with running units).
  await link("etc/systemd/system/sigpwr.target", "/lib/systemd/system/poweroff.target");
  // It would ask for locale, timezone and root password on a console nobody reads.
  await link("etc/systemd/system/systemd-firstboot.service", "/dev/null");
  await rm(at("etc/hostname"), { force: true });
  await put("etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
  await writeFile(at("etc/machine-id"), "");
  await rm(at("var/lib/dbus/machine-id"), { force: true });
  // Root logs in on the console without a password (as in LXD's images); `exec` needs none.
  const shadow = await Bun.file(at("etc/shadow")).text();
  await writeFile(at("etc/shadow"), shadow.replace(/^root:[^:]*:/m, "root::"));
  // debootstrap leaves the .debs, the package lists and its own device nodes behind.
  for (const dir of ["var/cache/apt/archives", "var/lib/apt/lists", "dev"]) {
    for (const e of await readdir(at(dir)).catch(() => [] as string[])) {
      if (e !== "partial" && e !== "lock") await rm(join(at(dir), e), { recursive: true, force: true });
    }
  }
  // debootstrap copied the host's resolv.conf; the guest asks systemd-resolved instead.
  await link("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf");
}

/** Writes the image to `outFile`; returns its metadata. */
export async function buildDebianImage(outFile: string, opts: DebianImageOptions): Promise<ImageMetadata> {
  const o = checkDebianOptions(opts);
  if (process.getuid?.() !== 0) throw new Error("building a Debian image needs root (debootstrap)");
  const debootstrap = ["/usr/sbin/debootstrap", "/sbin/debootstrap"].find((p) => existsSync(p));
  if (!debootstrap) throw new Error("debootstrap is not installed (apt-get install debootstrap)");
  const architecture = hostArchitecture();
  const debArch = DEBIAN_ARCH[architecture];
  if (!debArch) throw new Error(`no Debian architecture for ${architecture}`);

  const work = await mkdtemp(join(opts.workDir ?? dirname(outFile), ".lxd-debian-"));
  try {
    const root = join(work, "rootfs");
    const include = [...new Set([...GUEST_PACKAGES, ...o.include])];
    const argv = [debootstrap, `--arch=${debArch}`, `--include=${include.join(",")}`];
    if (o.variant !== "default") argv.push(`--variant=${o.variant}`);
    if (opts.cacheDir) {
      await mkdir(opts.cacheDir, { recursive: true });
      argv.push(`--cache-dir=${opts.cacheDir}`);
    }
    argv.push(o.release, root, o.mirror);
    await run(argv, `debootstrap ${o.release} from ${o.mirror}`, opts.log);
    await configure(root);

    const epoch = Number(process.env.SOURCE_DATE_EPOCH) || Math.floor(Date.now() / 1000);
    const version = (await Bun.file(join(root, "etc/debian_version")).text().catch(() => "")).trim();
    const serial = new Date(epoch * 1000).toISOString().slice(0, 10).replaceAll("-", "");
    const meta: ImageMetadata = {
      architecture,
      creation_date: epoch,
      properties: {
        architecture: debArch,
        description: `Debian ${o.release} ${debArch} (${o.variant}, ${serial})`,
        name: `debian-${o.release}-${debArch}-${o.variant}-${serial}`,
        os: "debian",
        release: o.release,
        serial,
        variant: o.variant,
        ...(version ? { version } : {}),
      },
    };
    await writeFile(join(work, "metadata.yaml"), emitMetadata(meta));
    const tmp = `${outFile}.tmp-${process.pid}`;
    const compress = { gzip: ["-z"], xz: ["-J"], none: [] }[opts.compression ?? "gzip"];
    try {
      // Numeric owners: the image keeps the guest's ids, whatever names the host has for them.
      await run(["tar", "-c", ...compress, "--numeric-owner", "--sort=name", "-f", tmp, "-C", work, "metadata.yaml", "rootfs"], "packing the image");
      await rename(tmp, outFile);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new Error(`writing Debian image "${outFile}" failed: ${(err as Error).message}`);
    }
    return meta;
  } finally {
    await unmountUnder(work);
    await rm(work, { recursive: true, force: true });
  }
}
