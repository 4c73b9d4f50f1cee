// CRIU rows of `npm run bench` (`-- --only criu`): stateful snapshot and restore of an idle
// busybox container, stateful stop and start, the same for a container holding a 200 MB process,
// and the downtime of a live move between two daemons (HTTPS on loopback) of both. The floor of
// the snapshot is `criu dump --leave-running` of the same container run by hand with the daemon's
// flags; the downtime is what the container itself sees: the longest gap in a loop that reads
// /proc/uptime every 20 ms, beside the longest gap over as long without a move (the floor).
import { statSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { criuWrapper } from "../helpers/criu.ts";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startPair, stopPair } from "../helpers/migration.ts";
import { until } from "../helpers/until.ts";
import { cliOf, timed } from "./timing.ts";

export interface CriuRow { key: string; what: string; times: number[]; floor: number[] }

/** busybox's own inittab (the console shell included) with `extra` as one more service. */
const inittab = (extra: string) => `::sysinit:/etc/init.d/rcS\n::respawn:-/bin/sh\n::respawn:${extra}\n`;

async function prepare(d: TestDaemon, name: string, service: string): Promise<void> {
  const cli = cliOf(d);
  await cli("launch", "busybox", name);
  const file = join(d.dir, `inittab-${name}`);
  writeFileSync(file, inittab(service));
  await cli("file", "push", file, `${name}/etc/inittab`);
  await cli("restart", name, "--force");
}

/** Records every gap above 50 ms between its 20 ms ticks (in centiseconds) to /run/gaps. */
const TICKER = `: > /run/gaps; p=; while :; do read u _ </proc/uptime; u=\${u%.*}\${u#*.}; [ -n "$p" ] && [ $((u-p)) -gt 5 ] && echo $((u-p)) >> /run/gaps; p=$u; usleep 20000; done`;

/** The longest gap the ticker saw since the last call, in ms (then forgets them). */
async function longestGap(d: TestDaemon, name: string): Promise<number> {
  const out = await cliOf(d)("exec", name, "--", "sh", "-c", "cat /run/gaps 2>/dev/null; : > /run/gaps");
  return Math.max(0, ...out.split("\n").filter(Boolean).map(Number)) * 10;
}

/** Downtime of live moves back and forth between two daemons, and the ticker's gaps without. */
async function liveMoves(criu: string, runs: number): Promise<CriuRow[]> {
  const pair = await startPair({ env: { LXD_CRIU: criu } });
  const { a, b, clients } = pair;
  try {
    const rows: CriuRow[] = [];
    for (const [name, extra, what] of [
      ["idle", "", "idle busybox (target ≤300 ms)"],
      ["big", "v=$(head -c 200000000 /dev/zero | tr '\\0' a); ", "200 MB process (target ≤1 s)"],
    ] as const) {
      const file = join(a.dir, `ticker-${name}`);
      writeFileSync(file, `${extra}${TICKER}\n`);
      await prepare(a, name, "/bin/sh /ticker");
      await cliOf(a)("file", "push", file, `${name}/ticker`);
      await cliOf(a)("restart", name, "--force");
      await until(async () => (await a.lxd("exec", name, "--", "test", "-e", "/run/gaps")).code === 0, "the ticker runs", 60_000);
      const times: number[] = [];
      const floor: number[] = [];
      let here = a;
      for (let i = 0; i < runs; i++) {
        const [from, to] = here === a ? ["a", "b"] : ["b", "a"];
        await longestGap(here, name);
        const took = await timed(() => clients.ok(clients.lxd("move", `${from}:${name}`, `${to}:${name}`), "lxd move"));
        here = here === a ? b : a;
        times.push(await longestGap(here, name));
        await Bun.sleep(took);
        floor.push(await longestGap(here, name));
      }
      rows.push({ key: `criu-move-${name}`, what: `live move downtime, ${what}`, times, floor });
      await here.ok("delete", name, "--force");
    }
    return rows;
  } finally {
    await stopPair(pair);
  }
}

/** `criu dump --leave-running` of `name` by hand: what the daemon adds on top of CRIU itself. */
async function rawDump(d: TestDaemon, criu: string, name: string, dir: string): Promise<void> {
  const pid = (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.pid as number;
  const key = (dev: string) => {
    const st = statSync(`/proc/${pid}/root/dev/${dev}`, { bigint: true });
    return `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`;
  };
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  const p = Bun.spawn([criu, "dump", "-t", String(pid), "-D", dir, "--leave-running", "--manage-cgroups=full", "--network-lock", "nftables",
    "--ext-mount-map", "auto", "--enable-external-sharing", "--enable-external-masters", "--file-locks", "--link-remap",
    "--external", key("console"), "--external", key("tty"), "--external", "mnt[/dev/console]:console", "--external", "mnt[/dev]:dev"],
  { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  if ((await p.exited) !== 0) throw new Error("criu dump by hand failed");
}

export async function criuTimings(runs: number): Promise<CriuRow[]> {
  const criu = await criuWrapper();
  const d = await startInitializedDaemon({ env: { LXD_CRIU: criu } });
  const cli = cliOf(d);
  try {
    await prepare(d, "idle", "/bin/sh -c 'while sleep 3600; do :; done'");
    // 200 MB in a shell variable (ash keeps it in its heap).
    await prepare(d, "big", "/bin/sh -c 'v=$(head -c 200000000 /dev/zero | tr \"\\\\0\" a); while sleep 3600; do :; done'");
    // The variable is filled once `sleep` runs.
    await until(async () => (await d.lxd("exec", "big", "--", "pidof", "sleep")).code === 0, "200 MB held", 60_000);
    const t = { snap: [] as number[], restore: [] as number[], stop: [] as number[], start: [] as number[], bigStop: [] as number[], bigStart: [] as number[], floor: [] as number[] };
    for (let i = 0; i < runs; i++) {
      t.floor.push(await timed(() => rawDump(d, criu, "idle", join(d.dir, "raw-dump"))));
      t.snap.push(await timed(() => cli("snapshot", "idle", `s${i}`, "--stateful")));
      t.restore.push(await timed(() => cli("restore", "idle", `s${i}`, "--stateful")));
      t.stop.push(await timed(() => cli("stop", "idle", "--stateful")));
      t.start.push(await timed(() => cli("start", "idle")));
      t.bigStop.push(await timed(() => cli("stop", "big", "--stateful")));
      t.bigStart.push(await timed(() => cli("start", "big")));
    }
    return [
      { key: "criu-snapshot", what: "snapshot --stateful, idle busybox (target ≤250 ms)", times: t.snap, floor: t.floor },
      { key: "criu-restore", what: "restore --stateful, idle busybox (target ≤300 ms)", times: t.restore, floor: [] },
      { key: "criu-stop", what: "stop --stateful, idle busybox", times: t.stop, floor: t.floor },
      { key: "criu-start", what: "start from a stateful stop, idle busybox", times: t.start, floor: [] },
      { key: "criu-stop-200m", what: "stop --stateful, 200 MB process", times: t.bigStop, floor: [] },
      { key: "criu-start-200m", what: "start from a stateful stop, 200 MB process", times: t.bigStart, floor: [] },
      ...(await liveMoves(criu, runs)),
    ];
  } finally {
    await d.stop();
  }
}
