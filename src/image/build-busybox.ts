// Builds a tiny LXD-format unified image from the host's static busybox: the test image and
// a quick smoke-test image for users. Output is deterministic (fixed mtimes, sorted entries,
// gzip without timestamp) so two builds from the same busybox have the same fingerprint.
//
// Shutdown: LXD stops a container by sending SIGPWR to its init. busybox init treats SIGPWR
// like halt: it runs ::shutdown actions, SIGTERMs then SIGKILLs every other process, and calls
// reboot(RB_HALT_SYSTEM) from a child; inside a PID namespace the kernel turns that into the
// namespace init being killed (exit by SIGINT = "powered off"), and busybox >= 1.29 exits
// anyway if reboot() is refused. So /sbin/init is busybox init itself.
import { rename, rm, stat } from "node:fs/promises";
import { TarWriter, type TarWriteEntry } from "./tar.ts";
import { compressBuffer } from "./compression.ts";
import { emitMetadata, hostArchitecture, type ImageMetadata } from "./metadata.ts";

export interface BusyboxImageOptions {
  busybox?: string;
  compression?: "gzip" | "xz" | "none";
  /** Timestamp for creation_date and every mtime; default SOURCE_DATE_EPOCH or busybox's mtime. */
  epoch?: number;
}

// SIGPWR (lxc stop) halts; SIGINT (lxc restart) runs ctrlaltdel, and `reboot` makes init
// reboot(RB_AUTOBOOT), which a PID namespace reports as init killed by SIGHUP. `-n`: no extra
// host-wide sync() (init does one itself). A root shell on the console (`lxd console`), started
// again whenever it exits.
const INITTAB = `::sysinit:/etc/init.d/rcS
::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot -n
`;

const RCS = `#!/bin/sh
# Runs once at boot (::sysinit). Never blocks: DHCP continues in the background.
ip link set lo up 2>/dev/null
# The daemon plugs eth0 in right after init starts: wait for it (up to 30 s on a loaded host), in
# the background; ask again every second rather than udhcpc's default 3 s, and after a round of
# five unanswered asks wait 3 s rather than 20 before the next round.
(
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i + 1)); done
  [ -e /sys/class/net/eth0 ] && exec udhcpc -i eth0 -b -T 1 -t 5 -A 3 -s /etc/udhcpc/default.script >/dev/null 2>&1
) &
exit 0
`;

const DHCP_SCRIPT = `#!/bin/sh
# udhcpc hook: applies a DHCP lease ($1 is deconfig|bound|renew|leasefail|nak).
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" \${broadcast:+broadcast $broadcast} dev "$interface"
    if [ -n "$router" ]; then
      ip route del default dev "$interface" 2>/dev/null
      for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    fi
    if [ -n "$dns" ]; then
      { [ -n "$domain" ] && echo "search $domain"; for d in $dns; do echo "nameserver $d"; done; } > /etc/resolv.conf
    fi
    ;;
esac
exit 0
`;

const FILES: Record<string, [mode: number, content: string]> = {
  "etc/passwd": [0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"],
  "etc/group": [0o644, "root:x:0:\nnogroup:x:65534:\n"],
  "etc/hosts": [0o644, "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"],
  "etc/inittab": [0o644, INITTAB],
  "etc/init.d/rcS": [0o755, RCS],
  "etc/udhcpc/default.script": [0o755, DHCP_SCRIPT],
};

const DIR_MODES: Record<string, number> = { tmp: 0o1777, root: 0o700 };
const EMPTY_DIRS = ["dev", "proc", "sys", "tmp", "root", "run", "mnt", "home", "var", "var/log", "var/tmp"];

/** busybox's version from the first line of `busybox --help` ("BusyBox v1.35.0 (...)"). */
export async function busyboxVersion(busybox: string): Promise<string> {
  const p = Bun.spawnSync([busybox, "--help"], { stdout: "pipe", stderr: "pipe" });
  const first = p.stdout.toString().split("\n")[0] ?? "";
  const m = /BusyBox v(\d+(?:\.\d+)*)/.exec(first);
  if (!m) throw new Error(`cannot read the busybox version from "${busybox} --help": "${first}"`);
  return m[1]!;
}

async function applets(busybox: string): Promise<string[]> {
  const p = Bun.spawnSync([busybox, "--list-full"], { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`"${busybox} --list-full" failed: ${p.stderr.toString().trim()}`);
  return p.stdout.toString().split("\n").map((l) => l.trim()).filter((l) => l && !l.includes(".."));
}

/** Writes the image to `outFile`; returns its metadata. */
export async function buildBusyboxImage(outFile: string, opts: BusyboxImageOptions = {}): Promise<ImageMetadata> {
  const busybox = opts.busybox ?? "/bin/busybox";
  const st = await stat(busybox).catch(() => undefined);
  if (!st?.isFile()) throw new Error(`busybox binary "${busybox}" not found`);
  const epoch = opts.epoch ?? (Number(process.env.SOURCE_DATE_EPOCH) || Math.floor(st.mtimeMs / 1000));
  const version = await busyboxVersion(busybox);
  const architecture = hostArchitecture();
  const meta: ImageMetadata = {
    architecture,
    creation_date: epoch,
    properties: {
      architecture,
      description: `BusyBox ${version} static`,
      name: "busybox",
      os: "busybox",
      release: version,
    },
  };

  // path (under rootfs/) -> entry; directories are implied by every path's parents.
  const entries = new Map<string, { entry: Omit<TarWriteEntry, "path" | "mtime">; data?: Uint8Array }>();
  const dir = (p: string) => entries.set(p, { entry: { type: "directory", mode: DIR_MODES[p] ?? 0o755 } });
  const addParents = (p: string) => {
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!entries.has(d)) dir(d);
    }
  };
  const put = (p: string, entry: Omit<TarWriteEntry, "path" | "mtime">, data?: Uint8Array) => {
    addParents(p);
    entries.set(p, { entry, data });
  };

  for (const d of EMPTY_DIRS) { addParents(d); dir(d); }
  put("bin/busybox", { type: "file", mode: 0o755 }, new Uint8Array(await Bun.file(busybox).arrayBuffer()));
  for (const a of await applets(busybox)) {
    if (a !== "bin/busybox") put(a, { type: "symlink", mode: 0o777, linkpath: "/bin/busybox" });
  }
  put("var/run", { type: "symlink", mode: 0o777, linkpath: "../run" });
  for (const [p, [mode, content]] of Object.entries(FILES)) put(p, { type: "file", mode }, new TextEncoder().encode(content));

  const chunks: Uint8Array[] = [];
  const tar = new TarWriter((c) => { chunks.push(c); });
  const owner = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: epoch };
  await tar.add({ path: "metadata.yaml", type: "file", mode: 0o644, ...owner }, new TextEncoder().encode(emitMetadata(meta)));
  await tar.add({ path: "rootfs", type: "directory", mode: 0o755, ...owner });
  for (const p of [...entries.keys()].sort()) {
    const { entry, data } = entries.get(p)!;
    await tar.add({ ...entry, ...owner, path: `rootfs/${p}` }, data);
  }
  await tar.finish();
  const raw = Buffer.concat(chunks);
  const out = compressBuffer(raw, opts.compression ?? "gzip");

  const tmp = `${outFile}.tmp-${process.pid}`;
  try {
    await Bun.write(tmp, out);
    await rename(tmp, outFile);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`writing busybox image "${outFile}" failed: ${(err as Error).message}`);
  }
  return meta;
}
