// `npm run bench -- --density N`: N busybox containers with a bridged nic each, launched one after
// the other on one daemon. Rows: the first and the last launches, daemon RSS and host memory per
// container with all N idle, `lxd list` / `lxc list` of all N, a daemon restart until `list` answers
// with all N running, and what the idle host does meanwhile (load average, processes forked,
// CPU time of the daemon, dnsmasq and the containers).
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { lxdBinary, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { type BenchRow, cliOf, lxcList, median, timed } from "./timing.ts";

const ms = (xs: number[]) => `${median(xs).toFixed(1)} ms`;
const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
const memAvailableKiB = () => field(readFileSync("/proc/meminfo", "utf8"), "MemAvailable");
const rssKiB = (pid: number) => field(readFileSync(`/proc/${pid}/status`, "utf8"), "VmRSS");
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const lastPid = () => Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8"));
const CLK_TCK = 100;
/** Pids handed out between two readings of ns_last_pid (it wraps at pid_max). */
function forked(from: number, to: number): number {
  const max = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
  return (to - from + max) % max;
}

/** utime+stime (ticks) of the processes `match` picks by pid, cgroup file and command line. */
function cpuTicks(match: (pid: number, cgroup: string, cmdline: string) => boolean): number {
  let total = 0;
  for (const p of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      if (!match(Number(p), readFileSync(`/proc/${p}/cgroup`, "utf8"), readFileSync(`/proc/${p}/cmdline`, "utf8"))) continue;
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += Number(f[11]) + Number(f[12]);
    } catch { /* gone meanwhile */ }
  }
  return total;
}

/** `lxd launch busybox NAME` through our CLI: wall ms and the CLI process's CPU ms. */
async function launchOne(d: TestDaemon, name: string): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  const proc = Bun.spawn([lxdBinary(), "launch", "busybox", name], { env: { ...process.env, LXD_DIR: d.dir }, stdout: "pipe", stderr: "pipe" });
  const [, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const wall = performance.now() - t0;
  if (code !== 0) throw new Error(`lxd launch busybox ${name} failed (${code}): ${err}`);
  return { wall, cpu: Number(proc.resourceUsage()?.cpuTime.total ?? 0) / 1000 };
}

/** Time a thread spent runnable but waiting for a CPU (schedstat's run_delay), ns; 0 without schedstats. */
function runDelayNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[1]) || 0;
  } catch {
    return 0;
  }
}

/** A start-up log record's phases as "name wall/main-thread CPU ms", or wall only where the
 *  record has no CPU time (`lxd serve --debug`; src/instance/phases.ts cpuPhases). */
function startPhasesOf(lines: string[], msg: string): string {
  const line = lines.filter((l) => l.includes(`msg="${msg}"`)).at(-1) ?? "";
  const fields = Object.fromEntries([...line.matchAll(/\b(\w+)=([\d.]+)ms\b/g)].map((m) => [m[1], m[2]]));
  return Object.keys(fields).filter((k) => !k.endsWith("_cpu") && k !== "run_wait" && k !== "before")
    .map((k) => `${k} ${Number(fields[k]).toFixed(0)}${fields[`${k}_cpu`] === undefined ? "" : `/${Number(fields[`${k}_cpu`]).toFixed(0)}`}`)
    .concat(fields.run_wait ? [`run-queue wait ${Number(fields.run_wait).toFixed(0)}`] : []).join(", ");
}

/** utime+stime (ticks) of a process's main thread. */
function threadTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** utime+stime (ticks) of one process: its own stat file, not a scan of /proc (which would cost O(N) per launch). */
function ownTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** Processes running or in uninterruptible sleep (what the load average counts), by name. */
function loadByComm(into: Map<string, number>) {
  for (const p of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const state = stat[stat.lastIndexOf(")") + 2];
      if (state !== "R" && state !== "D") continue;
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      into.set(`${comm}:${state}`, (into.get(`${comm}:${state}`) ?? 0) + 1);
    } catch { /* gone meanwhile */ }
  }
}

/** PSS (KiB) of each per-container monitor: processes running a helper from the daemon's bin/. */
function monitorPss(d: TestDaemon): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      if (!readlinkSync(`/proc/${p}/exe`).startsWith(`${d.dir}/bin/`)) continue;
      out.push(field(readFileSync(`/proc/${p}/smaps_rollup`, "utf8"), "Pss"));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** A network big enough for `n` DHCP leases: a /24 holds 253, so larger runs use a /21 (2045). */
async function sizeNetwork(d: TestDaemon, n: number) {
  if (n <= 250) return;
  const cli = cliOf(d);
  const current = (await cli("network", "get", "lxdbr0", "ipv4.address")).trim();
  const [a, b, c] = current.split(".").map(Number);
  await cli("network", "set", "lxdbr0", "ipv4.address", `${a}.${b}.${c & ~7}.1/21`);
}

/** The daemon's own part of each launch, from its debug log: create + start totals and the
 *  monitor phase (lxd-helper start), by instance name. */
export function daemonPhases(log: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const line of log.split("\n")) {
    const m = /msg="(Created|Started) instance" name=(\S+)/.exec(line);
    if (!m) continue;
    const e = out.get(m[2]) ?? { daemon: 0 };
    for (const [, key, value] of line.matchAll(/ (\w+)=([\d.]+)ms/g)) {
      if (key === "total") e.daemon += Number(value);
      else e[`${m[1] === "Created" ? "create." : ""}${key}`] = Number(value);
    }
    out.set(m[2], e);
  }
  return out;
}

/** Memory charged to each container's cgroup (its processes, page cache, kernel memory), KiB. */
async function chargedKiB(d: TestDaemon, names: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const n of names) out.push(((await d.api("GET", `/1.0/instances/${n}/state`)).body.metadata.memory.usage as number) / 1024);
  return out;
}

export async function densityTimings(d: TestDaemon, n: number, runs: number): Promise<BenchRow[]> {
  const cli = cliOf(d);
  await sizeNetwork(d, n);
  const names = Array.from({ length: n }, (_, i) => `d${i}`);
  const memBefore = memAvailableKiB();
  const launches: number[] = [];
  // The daemon's CPU time (ticks) and its main thread's run-queue wait (ns) before each launch, and after the last.
  const daemonCpu: number[] = [];
  const daemonWait: number[] = [];
  const sample = () => {
    daemonCpu.push(ownTicks(d.pid!));
    daemonWait.push(runDelayNs(d.pid!));
  };
  const cliCpu: number[] = [];
  // The host's load changes during a long run (other tenants of a shared host), and a launch's
  // wall time with it: each of the last 10 launches is paired with a launch on a second, empty
  // daemon at the same moment (deleted again, so it is always that daemon's first container).
  const lastCount = Math.min(10, n);
  const empty = await startInitializedDaemon();
  const emptyLaunches: number[] = [];
  try {
    for (const [i, name] of names.entries()) {
      if (i >= n - lastCount) {
        emptyLaunches.push((await launchOne(empty, "probe")).wall);
        await cliOf(empty)("delete", "--force", "probe");
      }
      sample();
      const { wall, cpu } = await launchOne(d, name);
      launches.push(wall);
      cliCpu.push(cpu);
    }
  } finally {
    await empty.stop();
  }
  sample();
  await Bun.sleep(5000);

  // What the host does while the N containers idle: CPU of the daemon, of dnsmasq and of
  // everything in the daemon's cgroup (monitors and containers too), pids forked host-wide.
  const ours = (_pid: number, cgroup: string) => cgroup.includes(`lxd-test-${d.tag}`);
  const parts = () => ({
    pid: lastPid(), daemon: ownTicks(d.pid!), dnsmasq: cpuTicks((_p, _c, cmd) => cmd.startsWith("dnsmasq") && cmd.includes(d.dir)),
    ours: cpuTicks(ours),
  });
  const idleSeconds = 30;
  const before = parts();
  const busy = new Map<string, number>();
  for (let i = 0; i < idleSeconds; i++) {
    await Bun.sleep(1000);
    loadByComm(busy);
  }
  const after = parts();
  const busiest = [...busy].sort((x, y) => y[1] - x[1]).slice(0, 4).map(([k, v]) => `${k} ${(v / idleSeconds).toFixed(1)}`).join(", ");
  const load = loadavg();
  const secs = (k: "daemon" | "dnsmasq" | "ours") => ((after[k] - before[k]) / CLK_TCK).toFixed(2);

  const memPer = (memBefore - memAvailableKiB()) / n;
  const charged = median(await chargedKiB(d, names.filter((_, i) => i % Math.max(1, Math.floor(n / 50)) === 0)));
  const monitors = monitorPss(d);
  const daemonRss = rssKiB(d.pid!);
  const list: number[] = [];
  const lxcLists: number[] = [];
  // The daemon's CPU per list too: unlike the wall time, it does not depend on the host's load.
  const listTicks = ownTicks(d.pid!);
  for (let i = 0; i < runs; i++) list.push(await timed(() => cli("list")));
  const lxcTicks = ownTicks(d.pid!);
  for (let i = 0; i < runs; i++) lxcLists.push(await timed(() => lxcList(d)));
  const perList = (from: number, to: number) => `${(((to - from) * 1000) / CLK_TCK / runs).toFixed(0)} ms daemon CPU`;
  const [listCpu, lxcCpu] = [perList(listTicks, lxcTicks), perList(lxcTicks, ownTicks(d.pid!))];
  const running = async () => (await d.api("GET", "/1.0/instances?recursion=1")).body.metadata.filter((i: { status: string }) => i.status === "Running").length;
  await d.kill("SIGTERM");
  let readyMain = 0;
  const restart = await timed(async () => {
    await d.start();
    readyMain = threadTicks(d.pid!);
    await cli("list");
  });
  // All threads (JIT compilers too), and of it the main thread's until ready and for the first list.
  const tickMs = (t: number) => ((t * 1000) / CLK_TCK).toFixed(0);
  const restartCpu = `${tickMs(ownTicks(d.pid!))} ms daemon CPU, main thread ${tickMs(readyMain)} until ready + ${tickMs(threadTicks(d.pid!) - readyMain)} for the list`;
  const found = await running();
  const lines = d.log().split("\n");
  const startPhases = [
    startPhasesOf(lines, "Daemon started"), `of reconcile: ${startPhasesOf(lines, "Reconciled instances")}`,
    `beside it (wall only): networks ${startPhasesOf(lines, "Networks up")}, ${startPhasesOf(lines, "Reconciled storage")}`,
  ].join("; ");

  const first = launches.slice(0, Math.min(10, n));
  const last = launches.slice(-Math.min(10, n));
  const phases = daemonPhases(d.log());
  const part = (slice: string[], k: string) => median(slice.map((name) => phases.get(name)?.[k] ?? 0));
  const [firstNames, lastNames] = [names.slice(0, first.length), names.slice(-last.length)];
  // Every traced phase, first 10 / last 10: what grows with the number of containers.
  const phaseKeys = Object.keys(phases.get(firstNames[0]) ?? {}).filter((k) => k !== "daemon");
  // Mean daemon CPU per launch over the first and the last launches (ticks of 10 ms: summed, not medians).
  const cpuPer = (from: number, count: number) => (((daemonCpu[from + count] - daemonCpu[from]) * 1000) / CLK_TCK / count).toFixed(1);
  const waitPer = (from: number, count: number) => ((daemonWait[from + count] - daemonWait[from]) / 1e6 / count).toFixed(1);
  const helperCpu = (slice: string[]) => (part(slice, "cpu_user") + part(slice, "cpu_sys")).toFixed(1);
  const growth = phaseKeys.filter((k) => !k.startsWith("cpu_") && k !== "run_wait").map((k) => `${k} ${part(firstNames, k).toFixed(1)}/${part(lastNames, k).toFixed(1)}`).join(", ");
  for (let i = 0; i < n; i += 8) await Promise.all(names.slice(i, i + 8).map((name) => cli("delete", "--force", name)));
  return [
    { key: "density-first", what: `launch, first 10 of ${n} (median)`, ours: ms(first), floor: "" },
    { key: "density-last", what: `launch, last 10 of ${n} (median)`, ours: `${ms(last)} (${(median(last) / median(first)).toFixed(2)}x first)`, floor: "" },
    {
      key: "density-paired",
      what: `launch on an empty daemon, each just before one of the last 10 (median): the same host load`,
      ours: `${ms(emptyLaunches)} (the last 10 of ${n}: ${(median(last) / median(emptyLaunches)).toFixed(2)}x)`,
      floor: "",
    },
    {
      key: "density-daemon",
      what: "daemon's part of a launch (create+start), first 10 / last 10; of it the monitor",
      ours: `${part(firstNames, "daemon").toFixed(1)} / ${part(lastNames, "daemon").toFixed(1)} ms; ${part(firstNames, "monitor").toFixed(1)} / ${part(lastNames, "monitor").toFixed(1)} ms`,
      floor: "",
    },
    {
      key: "density-cpu",
      what: "CPU per launch (user+sys), first 10 / last 10: daemon (mean), lxd-helper start's processes (median), our CLI (median)",
      ours: `${cpuPer(0, first.length)} / ${cpuPer(n - last.length, last.length)} ms; ${helperCpu(firstNames)} / ${helperCpu(lastNames)} ms; ${median(cliCpu.slice(0, first.length)).toFixed(1)} / ${median(cliCpu.slice(-last.length)).toFixed(1)} ms`,
      floor: "",
    },
    {
      key: "density-wait",
      what: "waiting for a CPU per launch (run queue: what the host's other load adds), first 10 / last 10: daemon main thread (mean), lxd-helper start's processes (median)",
      ours: `${waitPer(0, first.length)} / ${waitPer(n - last.length, last.length)} ms; ${part(firstNames, "run_wait").toFixed(1)} / ${part(lastNames, "run_wait").toFixed(1)} ms`,
      floor: "",
    },
    { key: "density-phases", what: "daemon's launch phases, first 10 / last 10 (ms, medians)", ours: growth, floor: "" },
    { key: "density-rss", what: `daemon RSS, ${n} running`, ours: `${(daemonRss / 1024).toFixed(1)} MiB`, floor: "" },
    {
      key: "density-mem",
      what: `host memory per idle container: MemAvailable delta over ${n}; cgroup charge + monitor PSS (medians)`,
      ours: `${(memPer / 1024).toFixed(2)} MiB; ${(charged / 1024).toFixed(2)} + ${(median(monitors) / 1024).toFixed(2)} MiB (${monitors.length} monitors)`,
      floor: "",
    },
    { key: "density-list", what: `lxd list, ${n} running`, ours: `${ms(list)} (${listCpu})`, floor: "" },
    { key: "density-lxclist", what: `lxc list, ${n} running`, ours: `${ms(lxcLists)} (${lxcCpu})`, floor: "" },
    { key: "density-restart", what: `daemon restart until list answers (${found}/${n} running found); start-up phases wall/main-thread CPU ms`, ours: `${restart.toFixed(0)} ms, ${restartCpu} (${startPhases})`, floor: "" },
    {
      key: "density-idle",
      what: `${idleSeconds} s idle with ${n} running: CPU s of daemon / dnsmasq / its whole cgroup; pids forked host-wide; load avg`,
      ours: `${secs("daemon")} / ${secs("dnsmasq")} / ${secs("ours")}; ${forked(before.pid, after.pid)} pids; ${load}`,
      floor: "",
    },
    { key: "density-busy", what: "host tasks running (R) or in D state, mean per sample, top 4 by name", ours: busiest || "none", floor: "" },
  ];
}
