// CRIU, the host program behind stateful snapshots, stateful stop and live migration. It is a host
// dependency found at daemon start: LXD_CRIU names it (e.g. the wrapper appliance/criu.sh makes
// around Debian trixie's CRIU 4.1.1), else `criu` on PATH; `criu check` must pass, since Debian 12's
// criu 3.17 runs but fails on current kernels.
import { existsSync, statSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface CriuStatus {
  /** The program checked (absent when none was found). */
  path?: string;
  /** "4.1.1" from `criu --version`. */
  version?: string;
  /** `criu check` passed. */
  available: boolean;
  /** Why not, when unavailable: one clause. */
  reason?: string;
}

let current: CriuStatus = { available: false, reason: "CRIU has not been checked yet" };

/** The CRIU the daemon uses: LXD_CRIU, else `criu` on PATH. */
export function criuPath(): string | undefined {
  return process.env.LXD_CRIU || Bun.which("criu") || undefined;
}

async function runCriu(path: string, args: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn([path, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: `${out}\n${err}` };
}

/** The last message CRIU printed that says what failed (its errors start with "Error", in a
 *  restore's log after the task's pid), not its closing "Dumping FAILED." or "Restoring FAILED.". */
function lastError(out: string): string {
  const lines = out.split("\n").map((l) => l.trim().replace(/^\d+: /, "")).filter(Boolean);
  const errors = lines.filter((l) => /^Error\b/.test(l) && !/(Dumping|Restoring) FAILED/.test(l));
  return (errors.at(-1) ?? lines.at(-1) ?? "no output").replace(/^Error \([^)]*\):\s*/, "");
}

/** Runs `criu --version` and `criu check` and remembers the outcome (see criuStatus). */
export async function probeCriu(): Promise<CriuStatus> {
  const path = criuPath();
  if (!path) {
    current = { available: false, reason: "criu was not found (set LXD_CRIU to its path or put it on PATH)" };
    return current;
  }
  if (!existsSync(path)) {
    current = { available: false, reason: `LXD_CRIU names ${path}, which does not exist` };
    return current;
  }
  try {
    const version = /Version:\s*(\S+)/.exec((await runCriu(path, ["--version"])).out)?.[1];
    const check = await runCriu(path, ["check"]);
    current = check.code === 0
      ? { path, version, available: true }
      : { path, version, available: false, reason: `"${path} check" failed: ${lastError(check.out)}` };
  } catch (e) {
    current = { available: false, path, reason: `${path} could not run: ${(e as Error).message}` };
  }
  return current;
}

/** What the last probe found. */
export const criuStatus = (): CriuStatus => current;

/** The one sentence a stateful request gets when CRIU cannot serve it (undefined when it can). */
export function criuUnavailable(what: string, status = current): string | undefined {
  if (status.available) return undefined;
  return `${what} needs CRIU 4 or later, which is not available on this server: ${status.reason}`;
}

/** What the checkpoint directory records beside CRIU's images: the keys of the dumped ttys the
 *  restored console replaces: the console's, then /dev/tty's (see externalTtys). */
const CONSOLE_KEY_FILE = "lxd-console";

/** The container's addresses and routes, saved beside the images (see restoreNetwork). */
const NETWORK_FILE = "lxd-network.json";

/** Flags both directions share: bind mounts from the host (device nodes, LXCFS, disks) are
 *  external and found again at the same host paths; file locks and unlinked-but-open files.
 *  Established TCP connections are refused (the network namespace is restored empty, below). */
const COMMON = ["--ext-mount-map", "auto", "--enable-external-sharing", "--enable-external-masters", "--file-locks", "--link-remap"];

const inNetns = (pid: number, args: string[]) => ["nsenter", `--net=/proc/${pid}/ns/net`, "ip", ...args];

async function ipJson(argv: string[]): Promise<Record<string, any>[]> {
  const r = await runCriu(argv[0]!, argv.slice(1));
  try {
    return JSON.parse(r.out.trim().split("\n")[0] || "[]");
  } catch {
    return [];
  }
}

/** Addresses and routes a restore must put back: CRIU cannot create a veth whose other end is on
 *  the host from inside the container's user namespace (EPERM), so the network namespace comes back
 *  empty (`--empty-ns net`) and the daemon's nic devices are made anew, as at boot. */
async function saveNetwork(pid: number, dir: string): Promise<void> {
  const addresses = await ipJson(inNetns(pid, ["-j", "addr", "show"]));
  const routes = [...await ipJson(inNetns(pid, ["-j", "-4", "route", "show"])), ...await ipJson(inNetns(pid, ["-j", "-6", "route", "show"]))];
  await writeFile(join(dir, NETWORK_FILE), JSON.stringify({ addresses, routes }));
}

/** Puts the saved addresses (not SLAAC's, which come back by themselves) and routes back on the
 *  restored container's interfaces, and brings up its loopback. */
export async function restoreNetwork(pid: number, dir: string): Promise<void> {
  const saved = JSON.parse(await readFile(join(dir, NETWORK_FILE), "utf8").catch(() => "{}")) as { addresses?: Record<string, any>[]; routes?: Record<string, any>[] };
  await runCriu("nsenter", inNetns(pid, ["link", "set", "lo", "up"]).slice(1));
  for (const link of saved.addresses ?? []) {
    if (link.ifname === "lo") continue;
    for (const a of (link.addr_info ?? []) as Record<string, any>[]) {
      if (a.scope !== "global" || a.dynamic) continue;
      await runCriu("nsenter", inNetns(pid, ["addr", "add", `${a.local}/${a.prefixlen}`, "dev", link.ifname]).slice(1));
    }
  }
  for (const r of saved.routes ?? []) {
    if (r.protocol === "kernel" || r.protocol === "ra" || !r.dev) continue;
    const family = String(r.dst ?? "").includes(":") || String(r.gateway ?? "").includes(":") ? "-6" : "-4";
    await runCriu("nsenter", inNetns(pid, [family, "route", "replace", r.dst, ...(r.gateway ? ["via", r.gateway] : []), "dev", r.dev]).slice(1));
  }
}

/** CRIU's key of a tty it must not dump: tty[RDEV:DEV] in hex. */
function ttyKey(path: string): string {
  const st = statSync(path, { bigint: true });
  return `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`;
}

/** The container's ttys whose other end is outside it: the console (a pty whose primary side the
 *  monitor holds) and /dev/tty, which a console shell opens as its controlling terminal: that is
 *  the console too, but CRIU dumps a /dev/tty only with the pty it dumped itself ("ctty
 *  inheritance detected"), so it is external as well: the monitor opens /dev/tty on the new
 *  console for it at restore (native/restore.c). */
function externalTtys(pid: number): { tty: string; ctty: string } {
  return { tty: ttyKey(`/proc/${pid}/root/dev/console`), ctty: ttyKey(`/proc/${pid}/root/dev/tty`) };
}

/**
 * Checkpoints the container whose init is `pid` into `dir` (made empty first). `leaveRunning`
 * keeps it running (a stateful snapshot); otherwise CRIU kills the tree once it is dumped. The
 * console (a pty whose primary side the monitor holds) and /dev (a tmpfs whose content CRIU cannot
 * read from outside the container's user namespace) are external: the monitor provides new ones
 * at restore (native/restore.c).
 */
export async function criuDump(pid: number, dir: string, leaveRunning: boolean): Promise<void> {
  const criu = current.available ? current.path : undefined;
  if (!criu) throw new Error(criuUnavailable("A checkpoint"));
  await rm(dir, { recursive: true, force: true });
  // Searchable: the restored tasks read some images as container root (after CRIU dropped host root).
  await mkdir(dir, { recursive: true, mode: 0o711 });
  await chmod(dir, 0o711);
  const ttys = externalTtys(pid);
  await writeFile(join(dir, CONSOLE_KEY_FILE), `${ttys.tty}\n${ttys.ctty}\n`);
  await saveNetwork(pid, dir);
  const args = ["dump", "-t", String(pid), "-D", dir, "-o", "dump.log", "--manage-cgroups=full", "--network-lock", "nftables",
    ...COMMON, "--external", ttys.tty, "--external", ttys.ctty, "--external", "mnt[/dev/console]:console", "--external", "mnt[/dev]:dev"];
  if (leaveRunning) args.push("--leave-running");
  const r = await runCriu(criu, args);
  if (r.code !== 0) throw new Error(`criu dump failed: ${await logError(join(dir, "dump.log"), r.out)}`);
}

/** The restore part of the monitor's launch config for the checkpoint in `dir`. */
export async function restoreSpec(dir: string): Promise<{ criu: string; dir: string; tty: string; ctty?: string; args: string[] }> {
  const criu = current.available ? current.path : undefined;
  if (!criu) throw new Error(criuUnavailable("Restoring a checkpoint"));
  const [tty = "", ctty] = (await readFile(join(dir, CONSOLE_KEY_FILE), "utf8")).split("\n").filter(Boolean);
  // soft: the daemon made the cgroups and set their limits; CRIU puts the tasks back in them.
  return { criu, dir, tty, ctty, args: ["-D", dir, "-o", "restore.log", "--manage-cgroups=soft", "--empty-ns", "net", ...COMMON] };
}

/** CRIU's last error in a log it wrote (else in its output). */
export async function logError(log: string, fallback = ""): Promise<string> {
  const text = await readFile(log, "utf8").catch(() => "");
  // Noise CRIU logs on every run here, and the cleanup messages that follow a failure (nft's, when
  // it unlocks a network it had not locked yet: its error, the command, a caret line).
  const noise = /RLIMIT_NOFILE|tables|cgroupd: recv req error|Can't wait or bad status|address already assigned|Could not process rule|^\s*delete table|^\s*\^+\s*$/i;
  return lastError(`${fallback}\n${text}`.split("\n").filter((l) => !noise.test(l)).join("\n"));
}
