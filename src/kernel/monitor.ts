// Starting a container (lxd-helper start, which becomes its monitor) and watching a running one
// through the monitor's socket. The monitor outlives the daemon; a restarted daemon finds its
// containers again with watch().
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type IdMapEntry, inInitialUserNamespace } from "./idmap.ts";
import { helperPath } from "./native.ts";
import { seccompHex } from "./seccomp.ts";

export type { IdMapEntry } from "./idmap.ts";

export interface LaunchSpec {
  name: string;
  hostname: string;
  /** Monitor's directory: monitor.sock, monitor.log, init.pid (must exist, short enough for a socket path). */
  rundir: string;
  /** overlay: `layers` are frozen read-only layers between the image (`lower`) and `upper`, newest first. */
  rootfs: { kind: "overlay"; lower: string; layers?: string[]; upper: string; work: string } | { kind: "bind"; path: string };
  /** No user namespace: container root is host root (uidMap and gidMap must be empty). */
  privileged?: boolean;
  /** Unmasked proc and sysfs at /dev/.lxc so nested containers can mount their own. */
  nesting?: boolean;
  /** Host paths attached (idmapped) inside the container before init runs: disk devices. */
  mounts?: LaunchMount[];
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
  /** cgroup.procs files init is written to before it runs. */
  cgroupProcs: string[];
  /** Mount cgroup2 at /sys/fs/cgroup inside (v2 hosts, and hybrid hosts' cgroup2 tree). */
  cgroup2: boolean;
  /** LXCFS mountpoint whose files replace /proc's (and /sys's cpu/online) inside. */
  lxcfs?: string;
  seccomp?: Uint8Array;
  env: string[];
  init: string[];
  /** Restore this checkpoint with CRIU instead of booting (see criu.ts restoreArgs). */
  restore?: { criu: string; dir: string; tty: string; ctty?: string; args: string[] };
}

export interface LaunchMount {
  source: string;
  path: string;
  readonly: boolean;
}

const clean = (what: string, v: string) => {
  if (/[\n\r]/.test(v)) throw new Error(`${what} must not contain a newline`);
  return v;
};

/** The helper's stdin config for a spec. */
export function launchConfig(spec: LaunchSpec): string {
  const lines = [
    `name ${clean("name", spec.name)}`,
    `hostname ${clean("hostname", spec.hostname)}`,
    `rundir ${clean("rundir", spec.rundir)}`,
  ];
  const r = spec.rootfs;
  if (r.kind === "overlay") {
    for (const p of [r.lower, r.upper, r.work]) if (p.includes(":")) throw new Error(`overlay layer path "${p}" contains ":"`);
    lines.push(`rootfs_overlay ${clean("rootfs", `${r.lower}:${r.upper}:${r.work}`)}`);
    for (const l of r.layers ?? []) lines.push(`rootfs_layer ${clean("rootfs", l)}`);
  } else {
    lines.push(`rootfs_bind ${clean("rootfs", r.path)}`);
  }
  if (spec.privileged) lines.push("privileged 1");
  if (spec.nesting) lines.push("nesting 1");
  for (const m of spec.mounts ?? []) {
    if (/\t/.test(m.source + m.path)) throw new Error(`disk path "${m.source}" or "${m.path}" contains a tab`);
    lines.push(clean("mount", `mount ${m.readonly ? "ro" : "rw"}\t${m.source}\t${m.path}`));
  }
  for (const m of spec.uidMap) lines.push(`uidmap ${m.nsid} ${m.hostid} ${m.range}`);
  for (const m of spec.gidMap) lines.push(`gidmap ${m.nsid} ${m.hostid} ${m.range}`);
  for (const c of spec.cgroupProcs) lines.push(`cgroup ${clean("cgroup", c)}`);
  lines.push(`cgroup2 ${spec.cgroup2 ? 1 : 0}`);
  if (spec.lxcfs) lines.push(`lxcfs ${clean("lxcfs", spec.lxcfs)}`);
  if (spec.seccomp?.length) lines.push(`seccomp ${seccompHex(spec.seccomp)}`);
  for (const e of spec.env) lines.push(`env ${clean("env", e)}`);
  if (spec.restore) {
    const { criu, dir, tty, ctty, args } = spec.restore;
    lines.push(`criu ${clean("criu", criu)}`, `restore_dir ${clean("restore", dir)}`, `restore_tty ${clean("restore", tty)}`);
    if (ctty) lines.push(`restore_ctty ${clean("restore", ctty)}`);
    for (const a of args) lines.push(`criu_arg ${clean("criu", a)}`);
  }
  if (spec.init.some((a) => /\s/.test(a) || !a)) throw new Error("init arguments must be non-empty words without spaces");
  lines.push(`init ${spec.init.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/** What a user can do about the failures that depend on the host rather than the container. */
function hint(msg: string): string {
  const nested = !inInitialUserNamespace();
  if (/^idmap .*: Invalid argument/.test(msg)) {
    // Inside a container, its rootfs is already idmapped and belongs to the host's user namespace.
    if (nested) return " (this daemon runs in a container: put LXD_DIR on a filesystem mounted inside it, e.g. tmpfs)";
    return " (the filesystem holding LXD_DIR does not support idmapped mounts: use ext4, xfs or btrfs; tmpfs needs Linux 6.3 or later)";
  }
  if (nested && /^mount \/proc: Operation not permitted/.test(msg)) {
    return " (this daemon runs in a container without security.nesting=true: set it on that container to run containers inside)";
  }
  return "";
}

/** The helper's "ok PID[ NAME=N.NNms...]" line, or undefined for anything else. */
export function parseStartReport(line: string): { initPid: number; trace: Record<string, string> } | undefined {
  const ok = /^ok (\d+)((?: \w+=[\d.]+ms)*)$/.exec(line);
  if (!ok) return undefined;
  return { initPid: Number(ok[1]), trace: Object.fromEntries(ok[2].trim().split(" ").filter(Boolean).map((kv) => kv.split("="))) };
}

/** Starts the container; resolves once init runs (the monitor stays behind, detached). With
 *  LXD_HELPER_TRACE=1 in the daemon's environment the helper also reports its phases and CPU
 *  time (`trace`: name -> "N.NNms"; native/trace.c). */
export async function launch(spec: LaunchSpec): Promise<{ initPid: number; trace: Record<string, string> }> {
  const config = launchConfig(spec);
  const proc = Bun.spawn([helperPath(), "start"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  proc.stdin.write(config);
  proc.stdin.end();
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const line = out.trim();
  const ok = parseStartReport(line);
  if (ok && code === 0) return ok;
  const msg = line.startsWith("error ") ? line.slice(6) : `lxd-helper start exited with ${code}${line ? `: ${line}` : ""}`;
  throw new Error(`start ${spec.name}: ${msg}${hint(msg)}`);
}

/** LXD's clean-stop signal for init. A number on purpose: Bun's process.kill() rejects the name
 *  "SIGPWR" (ERR_UNKNOWN_SIGNAL). 30 on x86_64 and arm64. busybox init powers off on it (the
 *  monitor then reports 130: reboot(2) in a pid namespace kills init with SIGINT; a reboot is 129). */
export const SIGPWR = 30;

/** systemd's "halt" signal (SIGRTMIN+3, with glibc's SIGRTMIN of 34). */
const SIGRTMIN_3 = 37;

/** The clean-stop signal for a container's init: SIGRTMIN+3 for systemd, which on SIGPWR only
 *  starts sigpwr.target (empty unless the image wires it to a poweroff), else LXD's SIGPWR. */
export function haltSignal(initPid: number): number {
  try {
    return readFileSync(`/proc/${initPid}/comm`, "utf8").trim() === "systemd" ? SIGRTMIN_3 : SIGPWR;
  } catch {
    return SIGPWR;
  }
}

/** `execSocket`: where exec requests go when the monitor takes them (monitors of this version
 *  do): its zygote's exec.sock (monitor.sock beside it when that is missing). */
export type WatchResult = { running: false } | { running: true; initPid: number; exited: Promise<number>; execSocket?: string };

/** Exit code reported when the monitor vanished without a word (init dies with it: SIGKILL). */
const MONITOR_LOST = 128 + 9;

/** Asks the container's monitor whether init runs; `exited` resolves with its exit code
 *  (128+N when killed by signal N). */
export function watch(rundir: string): Promise<WatchResult> {
  return new Promise<WatchResult>((resolve, reject) => {
    let buf = "";
    let answered = false;
    let finish!: (code: number) => void;
    const exited = new Promise<number>((r) => (finish = r));
    const answer = (r: WatchResult) => {
      if (!answered) resolve(r);
      answered = true;
    };
    const notRunning = (err: Error & { code?: string }) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") answer({ running: false });
      else if (!answered) { answered = true; reject(new Error(`watch ${rundir}: ${err.message}`)); }
    };
    Bun.connect({
      unix: join(rundir, "monitor.sock"),
      socket: {
        data(_sock, data) {
          buf += data.toString();
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const [word, num, feature] = buf.slice(0, nl).split(" ");
            buf = buf.slice(nl + 1);
            if (word === "running") {
              answer({ running: true, initPid: Number(num), exited, execSocket: feature === "exec" ? join(rundir, "exec.sock") : undefined });
            }
            if (word === "exit") {
              answer({ running: false });
              finish(Number(num));
            }
          }
        },
        close() {
          answer({ running: false });
          finish(MONITOR_LOST);
        },
        connectError(_sock, err) {
          notRunning(err);
        },
        error() {},
      },
    }).catch(notRunning);
  });
}
