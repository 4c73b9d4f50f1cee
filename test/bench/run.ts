// `npm run bench [-- --runs N --instances M --storage]`: medians of the container operations through the
// real CLI against a private test daemon, beside the bare-kernel floor measured in the same run
// and the numbers real LXD 5.0.2 (dir pool) gave on this kind of machine.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { busyboxImage, importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { execFloor, launchFloor, makeRootfs, removeRootfs, startFloor, type FloorContainer } from "./floor.ts";
import { networkTimings } from "./network.ts";
import { bigImageTimings, LXD_502_BTRFS, LXD_502_STORAGE, storageTimings } from "./storage.ts";
import { importDebian, waitSystemd } from "../helpers/debian-image.ts";
import { remoteImageTimings } from "./remote-image.ts";
import { imageTimings } from "./images.ts";
import { clusterTimings } from "./cluster.ts";
import { clusterMemberTimings } from "./cluster-members.ts";
import { execTimings } from "./exec.ts";
import { migrationTimings } from "./migration.ts";
import { criuTimings } from "./criu.ts";
import { uiTimings } from "./ui.ts";
import { daemonPhases, densityTimings } from "./density.ts";
import { cliStartTimings } from "./cli-start.ts";
import { type BenchRow, lxcList, median } from "./timing.ts";
import { freePort } from "../helpers/net.ts";

const argValue = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = argValue("--runs", 7);
/** `--density N`: only the density rows, with N containers. */
const DENSITY = argValue("--density", 0);
/** `--only launch|images|systemd|exec|migration|criu|ui|cluster|cli`: just that group of rows (the others take minutes). */
const ONLY = DENSITY ? "density" : process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const INSTANCES = argValue("--instances", 100);
/** `--storage`: only the storage rows. */
const STORAGE_ONLY = process.argv.includes("--storage");
/** The systemd rows need the Debian image (built once, minutes, then cached). */
const DEBIAN = !process.argv.includes("--no-debian");

/** LXD 5.0.2 measured on this kind of machine (runtime-notes.md): ms, or MiB for memory. */
const LXD_502: Record<string, string> = {
  launch: "482 ms",
  exec: "47 ms",
  "exec-cli": "47 ms",
  "exec-lxc": "47 ms",
  stop: "780 ms",
  [`list${INSTANCES}`]: INSTANCES === 100 ? "705 ms" : "",
  memory: "13-14 MiB",
  "systemd-stop": "1.0 s",
};

const rows: BenchRow[] = [];
/** Lines printed under the table (per-phase traces). */
const notes: string[] = [];

const ms = (xs: number[]) => (xs.length ? `${median(xs).toFixed(1)} ms` : "");
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs the CLI and fails loudly: a benchmark of a failing command measures nothing. */
const lxd = (d: TestDaemon) => async (...args: string[]) => {
  const r = await d.lxd(...args);
  if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};

function memAvailableKiB(): number {
  const line = readFileSync("/proc/meminfo", "utf8").split("\n").find((l) => l.startsWith("MemAvailable:"))!;
  return Number(line.split(/\s+/)[1]);
}

function rollup(pid: number): { pss: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const field = (name: string) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0);
  return { pss: field("Pss"), rss: field("Rss") };
}

/** The per-container monitors: processes running a helper binary from the daemon's bin/. */
function monitorPids(d: TestDaemon): number[] {
  return readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    try {
      return readlinkSync(`/proc/${pid}/exe`).startsWith(`${d.dir}/bin/`);
    } catch {
      return false;
    }
  });
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>) {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

async function singleInstance(d: TestDaemon, root: string) {
  const cli = lxd(d);
  const t = { launch: [] as number[], exec: [] as number[], list1: [] as number[], stop: [] as number[], del: [] as number[] };
  await cli("launch", "busybox", "warmup");
  await cli("delete", "warmup", "--force");
  for (let i = 0; i < RUNS; i++) {
    const name = `b${i}`;
    t.launch.push(await timed(() => cli("launch", "busybox", name)));
    t.exec.push(await timed(() => cli("exec", name, "--", "true")));
    t.list1.push(await timed(() => cli("list")));
    t.stop.push(await timed(() => cli("stop", name, "--force")));
    t.del.push(await timed(() => cli("delete", name)));
  }
  const f = { launch: [] as number[], exec: [] as number[], stop: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    f.launch.push(await timed(() => launchFloor(root)));
    const c = await startFloor(root);
    f.exec.push(await timed(() => execFloor(c)));
    f.stop.push(await timed(async () => {
      c.kill();
      await c.exited;
    }));
  }
  // The daemon's own part of each timed launch (create + start), from its debug log.
  const phases = daemonPhases(d.log());
  const launched = Array.from({ length: RUNS }, (_, i) => phases.get(`b${i}`)).filter((p) => p !== undefined);
  const keys = Object.keys(launched[0] ?? {});
  notes.push(`launch daemon phases (ms, medians of ${launched.length}): ${keys.map((k) => `${k === "daemon" ? "total" : k} ${median(launched.map((p) => p[k] ?? 0)).toFixed(1)}`).join(", ")}`);
  rows.push(
    { key: "launch", what: "launch busybox (create+start)", ours: ms(t.launch), floor: ms(f.launch) },
    { key: "exec", what: "exec c -- true", ours: ms(t.exec), floor: ms(f.exec) },
    { key: "stop", what: "stop --force", ours: ms(t.stop), floor: ms(f.stop) },
    { key: "delete", what: "delete (stopped)", ours: ms(t.del), floor: "" },
    { key: "list1", what: "list, 1 running", ours: ms(t.list1), floor: "" },
    // No instance left: `lxd list` below is the empty one.
    ...cliStartTimings(d, RUNS),
  );
}

/** PSS (KiB) of a running container's own processes (those in its init's pid namespace) and of
 *  what the host runs for it (its monitor): the memory the runtime adds to the guest's. */
async function debianOverhead(d: TestDaemon, name: string): Promise<{ guest: number; monitor: number }> {
  const init = (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.pid as number;
  const ns = readlinkSync(`/proc/${init}/ns/pid`);
  let guest = 0;
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number)) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/pid`) === ns) guest += rollup(pid).pss;
    } catch { /* gone meanwhile */ }
  }
  // The monitor is init's parent.
  const stat = readFileSync(`/proc/${init}/stat`, "utf8");
  const monitor = rollup(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])).pss;
  return { guest, monitor };
}

/** Debian with systemd: launch until `systemctl is-system-running` settles, then a clean stop. */
async function systemdGuest(d: TestDaemon) {
  const cli = lxd(d);
  await importDebian(d);
  // The first launch unpacks the image into the pool: not what is measured.
  await cli("init", "debian", "warmup");
  await cli("delete", "warmup");
  const t = { boot: [] as number[], stop: [] as number[] };
  const states = new Set<string>();
  const overhead: { guest: number; monitor: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const name = `s${i}`;
    t.boot.push(await timed(async () => {
      await cli("launch", "debian", name);
      states.add(await waitSystemd(d, name));
    }));
    if (i === 0) {
      await Bun.sleep(5000);
      overhead.push(await debianOverhead(d, name));
    }
    t.stop.push(await timed(() => cli("stop", name)));
    await cli("delete", name);
  }
  const [o] = overhead;
  rows.push(
    {
      key: "systemd-memory",
      what: "idle debian: host-side PSS (monitor) over the guest's own",
      ours: `${mib(o.monitor)} over ${mib(o.guest)} (${((o.monitor / o.guest) * 100).toFixed(1)}%)`, floor: "",
    },
    { key: "systemd-boot", what: `launch debian to systemd ${[...states].join("/")}`, ours: ms(t.boot), floor: "" },
    { key: "systemd-stop", what: "stop debian (clean systemd shutdown)", ours: ms(t.stop), floor: "" },
  );
}

async function manyInstances(d: TestDaemon, root: string) {
  const cli = lxd(d);
  const names = Array.from({ length: INSTANCES }, (_, i) => `m${i}`);
  const before = memAvailableKiB();
  await pool(names, 4, (n) => cli("launch", "busybox", n));
  await Bun.sleep(3000);
  const after = memAvailableKiB();
  const monitors = monitorPids(d).map(rollup);
  // What each container's own cgroup is charged (its processes, page cache, kernel memory).
  const charged = await Promise.all(names.map(async (n) => (await d.api("GET", `/1.0/instances/${n}/state`)).body.metadata.memory.usage as number));
  const list: number[] = [];
  const lxcLists: number[] = [];
  for (let i = 0; i < RUNS; i++) list.push(await timed(() => cli("list")));
  for (let i = 0; i < RUNS; i++) lxcLists.push(await timed(() => lxcList(d)));
  await pool(names, 4, (n) => cli("delete", n, "--force"));

  const floorBefore = memAvailableKiB();
  const floors: FloorContainer[] = [];
  for (let i = 0; i < INSTANCES; i++) floors.push(await startFloor(root));
  await Bun.sleep(3000);
  const floorDelta = (floorBefore - memAvailableKiB()) / INSTANCES;
  const floorPss = median(floors.map((c) => rollup(c.unsharePid).pss));
  for (const c of floors) c.kill();
  await Promise.all(floors.map((c) => c.exited));

  const perContainer = (before - after) / INSTANCES;
  rows.push(
    { key: `list${INSTANCES}`, what: `list, ${INSTANCES} running`, ours: ms(list), floor: "" },
    { key: `lxclist${INSTANCES}`, what: `lxc list (LXD's client), ${INSTANCES} running`, ours: ms(lxcLists), floor: "" },
    { key: "memory", what: "host memory per idle container (MemAvailable delta)", ours: mib(perContainer), floor: mib(floorDelta) },
    { key: "charged", what: "container cgroup memory usage (median)", ours: mib(median(charged) / 1024), floor: "" },
    {
      key: "monitor",
      what: "monitor PSS / RSS (median)",
      ours: monitors.length ? `${mib(median(monitors.map((m) => m.pss)))} / ${mib(median(monitors.map((m) => m.rss)))}` : "no monitor found",
      floor: `${mib(floorPss)} (unshare PSS)`,
    },
  );
}

function printTable() {
  console.log("\nMemAvailable deltas are only meaningful on an otherwise idle machine.");
  const header = ["operation", "lxd (median)", "bare kernel", "LXD 5.0.2"];
  const body = rows.map((r) => [r.what, r.ours, r.floor, LXD_502[r.key] ?? ""]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(`\n${RUNS} runs each, ${INSTANCES} instances for the scale rows\n`);
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const b of body) console.log(line(b));
  for (const n of notes) console.log(`\n${n}`);
}

/** Requests answered per second by `fetchOne`, run on `width` loops for `seconds`. */
async function throughput(width: number, seconds: number, fetchOne: () => Promise<Response>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (performance.now() < end) {
      const res = await fetchOne();
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET /1.0/instances answered ${res.status}`);
      done++;
    }
  }));
  return done / seconds;
}

/** The same CLI operations over HTTPS (a remote added with a join token, on loopback) beside
 *  the unix socket, and authenticated keep-alive API requests per second on both. */
async function remoteAccess(d: TestDaemon) {
  const cli = lxd(d);
  const port = freePort();
  await cli("config", "set", "core.https_address", `127.0.0.1:${port}`);
  const conf = `${d.clientHome}/lxd-bench-remote`;
  const token = (await cli("config", "trust", "add", "--name", "bench")).trim().split("\n").at(-1)!;
  const remote = async (...args: string[]) => {
    const r = await d.lxdWith({ env: { LXD_CONF: conf } }, ...args);
    if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  };
  await remote("remote", "add", "bench", token);
  await cli("launch", "busybox", "h1");
  const t = { list: [] as number[], listTls: [] as number[], exec: [] as number[], execTls: [] as number[] };
  await remote("list", "bench:"); // warm-up
  for (let i = 0; i < RUNS; i++) {
    t.list.push(await timed(() => cli("list")));
    t.listTls.push(await timed(() => remote("list", "bench:")));
    t.exec.push(await timed(() => cli("exec", "h1", "--", "true")));
    t.execTls.push(await timed(() => remote("exec", "bench:h1", "--", "true")));
  }
  const tls = { cert: readFileSync(`${conf}/client.crt`, "utf8"), key: readFileSync(`${conf}/client.key`, "utf8"), rejectUnauthorized: false };
  const url = `https://127.0.0.1:${port}/1.0/instances`;
  const overTls = await throughput(4, 2, () => fetch(url, { tls } as RequestInit));
  const overUnix = await throughput(4, 2, () => fetch("http://lxd/1.0/instances", { unix: d.socket }));
  await cli("delete", "h1", "--force");
  await cli("config", "unset", "core.https_address");
  const vsUnix = (tlsTimes: number[], unixTimes: number[]) => `${ms(tlsTimes)} (${(median(tlsTimes) / median(unixTimes)).toFixed(2)}x unix)`;
  rows.push(
    { key: "list1-unix", what: "list, 1 running, unix socket", ours: ms(t.list), floor: "" },
    { key: "list1-https", what: "list, 1 running, HTTPS remote", ours: vsUnix(t.listTls, t.list), floor: "" },
    { key: "exec-unix", what: "exec c -- true, unix socket", ours: ms(t.exec), floor: "" },
    { key: "exec-https", what: "exec c -- true, HTTPS remote", ours: vsUnix(t.execTls, t.exec), floor: "" },
    { key: "get-unix", what: "GET /1.0/instances/s, unix (4 keep-alive conns, 2 s)", ours: `${overUnix.toFixed(0)}/s`, floor: "" },
    { key: "get-https", what: "GET /1.0/instances/s, HTTPS + client cert (same)", ours: `${overTls.toFixed(0)}/s`, floor: "" },
  );
}

// The density rows read the helper's per-phase trace and CPU time from the daemon's debug log.
const d = await startDaemon(DENSITY ? { env: { LXD_HELPER_TRACE: "1" } } : {});
const root = makeRootfs();
try {
  await lxd(d)("init", "--auto");
  await importBusybox(d);
  if (!ONLY && !STORAGE_ONLY) {
    await singleInstance(d, root);
    await manyInstances(d, root);
  }
  if (!ONLY) {
    Object.assign(LXD_502, LXD_502_STORAGE);
    for (const r of await storageTimings(d, RUNS)) rows.push({ key: r.key, what: r.what, ours: ms(r.times), floor: "" });
    Object.assign(LXD_502, LXD_502_BTRFS);
    for (const driver of ["dir", "btrfs"] as const) {
      for (const r of await bigImageTimings(d, RUNS, await busyboxImage(), driver)) rows.push({ key: r.key, what: r.what, ours: ms(r.times), floor: "" });
    }
  }
  if (!ONLY && !STORAGE_ONLY) {
    for (const r of await networkTimings(d, RUNS)) rows.push({ key: r.key, what: r.what, ours: ms(r.times), floor: "" });
    await remoteAccess(d);
    for (const r of await remoteImageTimings(d, RUNS)) {
      rows.push({ key: r.key, what: r.what, ours: ms(r.times), floor: r.floor.length ? `${ms(r.floor)} (file transfer only)` : "" });
    }
    if (DEBIAN) await systemdGuest(d);
  }
  if (ONLY === "launch") await singleInstance(d, root);
  if (ONLY === "systemd") await systemdGuest(d);
  if (ONLY === "cli") rows.push(...cliStartTimings(d, RUNS));
  if (ONLY === "density") rows.push(...await densityTimings(d, DENSITY, RUNS));
  if (!STORAGE_ONLY && (!ONLY || ONLY === "cluster")) {
    for (const r of await clusterTimings(Math.min(RUNS, 5))) rows.push({ key: r.key, what: r.what, ours: ms(r.times), floor: ms(r.floor) });
    // Targets: failover <= 1 s, join <= 3 s, list <= 2x and launch <= 1.5x the standalone floor.
    for (const r of await clusterMemberTimings(Math.min(RUNS, 5), INSTANCES)) {
      const ratio = r.floor.length ? ` (${(median(r.times) / median(r.floor)).toFixed(2)}x)` : "";
      rows.push({ key: r.key, what: r.what, ours: `${ms(r.times)}${ratio}`, floor: ms(r.floor) });
    }
  }
  if (!STORAGE_ONLY && (!ONLY || ONLY === "exec")) {
    const r = await execTimings(d, RUNS);
    for (const row of r.rows) rows.push({ key: row.key, what: row.what, ours: ms(row.times), floor: row.floor ? `${ms(row.floor)} (nsenter --all)` : "" });
    notes.push(...r.phases);
  }
  if (!STORAGE_ONLY && (!ONLY || ONLY === "migration")) {
    // Target: within 1.5x of the rsync floor, and at least 3x faster than LXD 5.0.2 between two LXD daemons.
    for (const r of await migrationTimings(d, Math.min(RUNS, 5), await busyboxImage())) {
      const ratio = (median(r.times) / median(r.floor)).toFixed(2);
      rows.push({ key: r.key, what: r.what, ours: `${ms(r.times)} (${ratio}x the floor)`, floor: `${ms(r.floor)} (rsync -a, local)` });
      LXD_502[r.key] = r.lxd5.length ? `${ms(r.lxd5)} (same run; ${(median(r.lxd5) / median(r.times)).toFixed(1)}x ours)` : "not installed";
    }
  }
  if (!STORAGE_ONLY && (!ONLY || ONLY === "criu")) {
    for (const r of await criuTimings(Math.min(RUNS, 7))) {
      const floor = r.key.startsWith("criu-move") ? "(the ticker's longest gap, no move)" : "(criu dump by hand)";
      rows.push({ key: r.key, what: r.what, ours: ms(r.times), floor: r.floor.length ? `${ms(r.floor)} ${floor}` : "" });
    }
  }
  if (!STORAGE_ONLY && (!ONLY || ONLY === "ui")) {
    // With the minimum: on a shared, loaded machine it is the better estimate of the cost itself.
    for (const r of await uiTimings(d, RUNS, INSTANCES)) rows.push({ key: r.key, what: r.what, ours: `${ms(r.times)} (min ${Math.min(...r.times).toFixed(0)} ms)`, floor: "" });
  }
  if (!STORAGE_ONLY && (!ONLY || ONLY === "images")) {
    // The floor column is `tar -xzf` of the same file; the ratio is tar's time over ours (speed relative to tar).
    for (const r of await imageTimings(d, Math.min(RUNS, 3))) {
      rows.push({ key: r.key, what: r.what, ours: `${ms(r.times)} (${((median(r.floor) / median(r.times)) * 100).toFixed(0)}% of tar's speed)`, floor: `${ms(r.floor)} (tar -xzf)` });
    }
  }
} finally {
  // Also after a failure: the rows measured so far are still worth seeing.
  printTable();
  removeRootfs(root);
  await d.stop();
}
