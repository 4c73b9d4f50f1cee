// One supervised dnsmasq per managed bridge: DHCP for the bridge's subnet and DNS for the `dns.domain`
// zone (names come from the hosts directory the daemon writes: one file per instance nic holding its
// `MAC,NAME[,IP]` line, which dnsmasq reads through inotify as it appears: a launch costs O(1),
// not a rewrite and a SIGHUP re-read of every instance's entry).
// If it dies, it is started again; a stale one left by a killed daemon is found by its pid file.
import type { Subprocess } from "bun";
import { lstat, mkdir, readFile, readdir, rename, rm, unlink, writeFile } from "node:fs/promises";
import { openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { parseIPv4 } from "./subnet.ts";

export interface DnsmasqSpec {
  /** $LXD_DIR/networks/<name> */
  dir: string;
  link: string;
  /** Host address on the bridge: "10.1.2.1" (when the bridge has IPv4). */
  gateway?: string;
  /** The IPv4 DHCP pools (ipv4.dhcp.ranges, else one over the subnet), when DHCP is on. */
  ranges?: [string, string][];
  domain: string;
  /** dns.mode=none: no DNS server on the bridge (DHCP only). */
  noDns?: boolean;
  leaseTime: string;
  ipv6?: {
    /** Host address on the bridge: "fd42:1:2:3::1". */
    gateway: string;
    /** "slaac" (router advertisements only), "stateless" (SLAAC plus DHCPv6 for DNS), or a stateful pool. */
    mode: "slaac" | "stateless" | { range: [string, string] };
    leaseTime: string;
  };
}

export interface Lease {
  expiry: number;
  hwaddr: string;
  address: string;
  hostname: string;
}

const RESTART_DELAY_MS = [100, 500, 2000, 5000];

export const leaseFile = (dir: string) => join(dir, "dnsmasq.leases");
/** dnsmasq's --dhcp-hostsdir: files named `INSTANCE.DEVICE`, each with one `MAC,NAME[,IP]` line. */
export const hostsDir = (dir: string) => join(dir, "dnsmasq.hosts");
const pidFile = (dir: string) => join(dir, "dnsmasq.pid");

/** dnsmasq keeps at most 1000 leases by default: IPv4 pools larger than that (a /22 for a
 *  thousand containers) get room for every address, plus the default for DHCPv6. */
const DEFAULT_LEASE_MAX = 1000;
function leaseMax(ranges: [string, string][] = []): number {
  const size = ranges.reduce((n, [from, to]) => n + (parseIPv4(to) ?? 0) - (parseIPv4(from) ?? 0) + 1, 0);
  return size + DEFAULT_LEASE_MAX;
}

export function dnsmasqArgs(s: DnsmasqSpec): string[] {
  const v6 = s.ipv6;
  const range6 = !v6 ? [] : v6.mode === "slaac" ? [`--dhcp-range=::,constructor:${s.link},ra-only`]
    : v6.mode === "stateless" ? [`--dhcp-range=::,constructor:${s.link},ra-stateless,ra-names`]
    : [`--dhcp-range=${v6.mode.range[0]},${v6.mode.range[1]},64,${v6.leaseTime}`];
  return [
    "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--strict-order", "--bind-interfaces",
    "--except-interface=lo", `--interface=${s.link}`,
    ...(s.gateway ? [`--listen-address=${s.gateway}`] : []), ...(v6 ? [`--listen-address=${v6.gateway}`, "--enable-ra"] : []),
    "--no-ping", "--dhcp-rapid-commit", "--dhcp-authoritative", "--dhcp-no-override",
    ...(s.ranges ?? []).map(([from, to]) => `--dhcp-range=${from},${to},${s.leaseTime}`), ...range6,
    `--dhcp-lease-max=${leaseMax(s.ranges)}`,
    `--dhcp-leasefile=${leaseFile(s.dir)}`, `--dhcp-hostsdir=${hostsDir(s.dir)}`,
    `--domain=${s.domain}`, `--local=/${s.domain}/`, `--pid-file=${pidFile(s.dir)}`, ...(s.noDns ? ["--port=0"] : []),
    "--user=nobody", "--group=nogroup",
  ];
}

/** dnsmasq's lease file: IPv4 lines "EXPIRY MAC ADDRESS HOSTNAME CLIENTID", then after a "duid" line,
 *  DHCPv6 lines "EXPIRY IAID ADDRESS HOSTNAME DUID" (no MAC: `hwaddr` is left empty). */
export function parseLeases(text: string): Lease[] {
  const out: Lease[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[0] === "duid") continue;
    const v6 = f[2].includes(":");
    out.push({ expiry: Number(f[0]), hwaddr: v6 ? "" : f[1], address: f[2], hostname: f[3] === "*" ? "" : f[3] });
  }
  return out;
}

/** Kills a dnsmasq a previous daemon left running, if its pid file still names one serving `dir`. */
async function killStale(dir: string): Promise<void> {
  const pid = Number((await readFile(pidFile(dir), "utf8").catch(() => "")).trim());
  if (!pid) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (!cmdline.startsWith("dnsmasq\0") || !cmdline.includes(pidFile(dir))) return;
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100 && (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")) !== ""; i++) await Bun.sleep(10);
}

export class Dnsmasq {
  private proc?: Subprocess;
  private stopped = false;
  private failures = 0;
  /** How many times it was (re)started; observable for supervision tests and logs. */
  starts = 0;

  constructor(private spec: DnsmasqSpec, private readonly onLog: (msg: string, ctx: Record<string, unknown>) => void) {}

  get pid(): number | undefined {
    return this.proc?.exitCode === null ? this.proc.pid : undefined;
  }

  async start(): Promise<void> {
    await ensureHostsDir(this.spec.dir);
    await killStale(this.spec.dir);
    this.spawn();
  }

  private spawn() {
    const log = openSync(join(this.spec.dir, "dnsmasq.log"), "a");
    try {
      const proc = Bun.spawn(dnsmasqArgs(this.spec), { stdin: "ignore", stdout: log, stderr: log });
      this.proc = proc;
      this.starts++;
      const startedAt = Date.now();
      proc.exited.then((code) => {
        if (this.stopped || this.proc !== proc) return;
        this.failures = Date.now() - startedAt > 10_000 ? 0 : this.failures + 1;
        const delay = RESTART_DELAY_MS[Math.min(this.failures, RESTART_DELAY_MS.length - 1)];
        this.onLog("dnsmasq exited, restarting", { link: this.spec.link, code, delayMs: delay });
        // One that holds our addresses and pid file without being ours (left by a daemon that
        // was killed) would make every restart fail: it goes first.
        setTimeout(async () => {
          if (this.stopped || this.proc !== proc) return;
          await killStale(this.spec.dir).catch(() => {});
          if (this.stopped || this.proc !== proc) return;
          try {
            this.spawn();
          } catch (err) {
            this.onLog("dnsmasq could not be started", { link: this.spec.link, err: (err as Error).message });
          }
        }, delay);
      });
    } finally {
      closeSync(log);
    }
  }

  /** Re-reads the hosts directory (SIGHUP): a changed or removed entry needs it, a new file not. */
  reload(): void {
    if (!this.pid) return;
    try {
      this.proc?.kill("SIGHUP");
    } catch {
      // It exited after all (Bun has not reaped it yet): its restart reads the hosts file anew.
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const proc = this.proc;
    this.proc = undefined;
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 2000);
      await proc.exited;
      clearTimeout(timer);
    }
    await rm(pidFile(this.spec.dir), { force: true });
  }

  async leases(): Promise<Lease[]> {
    return parseLeases(await readFile(leaseFile(this.spec.dir), "utf8").catch(() => ""));
  }
}

let hostsWrites = 0;

/** The hosts directory (a hosts file of an older daemon in its place goes). */
async function ensureHostsDir(dir: string): Promise<void> {
  const st = await lstat(hostsDir(dir)).catch(() => undefined);
  if (st && !st.isDirectory()) await rm(hostsDir(dir), { force: true });
  await mkdir(hostsDir(dir), { recursive: true, mode: 0o755 });
}

/** The entry's file name: instance names never hold a dot; device names are encoded. */
export const hostEntryName = (instance: string, device: string) => `${instance}.${encodeURIComponent(device)}`;

/** Writes one nic's entry: "added" (dnsmasq reads a new file by itself), "changed" (it needs a
 *  reload: dnsmasq keeps what it read from the old content) or "same". Dot files are ignored by
 *  dnsmasq's inotify, so the entry appears whole with the rename. */
export async function writeHostEntry(dir: string, name: string, line: string): Promise<"added" | "changed" | "same"> {
  const file = join(hostsDir(dir), name);
  const old = await readFile(file, "utf8").catch(() => undefined);
  if (old === `${line}\n`) return "same";
  if (old === undefined) await ensureHostsDir(dir);
  const tmp = join(hostsDir(dir), `.tmp-${process.pid}-${++hostsWrites}`);
  await writeFile(tmp, `${line}\n`, { mode: 0o644 });
  await rename(tmp, file);
  return old === undefined ? "added" : "changed";
}

/** The entry files present (names), dot files aside. */
export async function hostEntries(dir: string): Promise<string[]> {
  return (await readdir(hostsDir(dir)).catch(() => [] as string[])).filter((n) => !n.startsWith("."));
}

/** Removes entry files; true when one was there (then dnsmasq needs a reload to drop it). */
export async function removeHostEntries(dir: string, names: string[]): Promise<boolean> {
  let removed = false;
  for (const n of names) removed = (await unlink(join(hostsDir(dir), n)).then(() => true, () => false)) || removed;
  return removed;
}

/** The `MAC,NAME[,IP]` lines of every entry. */
export async function readHostLines(dir: string): Promise<string[]> {
  const names = await hostEntries(dir);
  const texts = await Promise.all(names.map((n) => readFile(join(hostsDir(dir), n), "utf8").catch(() => "")));
  return texts.flatMap((t) => t.split("\n").filter(Boolean));
}

/** Makes the directory hold exactly `entries` (name -> line); true when anything changed or went. */
export async function syncHostEntries(dir: string, entries: Map<string, string>): Promise<boolean> {
  await ensureHostsDir(dir);
  const stale = (await hostEntries(dir)).filter((n) => !entries.has(n));
  let changed = await removeHostEntries(dir, stale);
  for (const [name, line] of entries) changed = (await writeHostEntry(dir, name, line)) !== "same" || changed;
  return changed;
}
