// CRIU rows of `npm run bench` (`-- --only criu`): stateful snapshot and restore of an idle
// busybox container, stateful stop and start (the downtime of a checkpoint and restore on one
// machine), and the same for a container holding a 200 MB process. The floor is `criu dump
// --leave-running` of the same container run by hand with the daemon's flags (CRIU's own cost).
import { statSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { criuWrapper } from "../helpers/criu.ts";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { until } from "../helpers/until.ts";
import { cliOf, timed } from "./timing.ts";

export interface CriuRow { key: string; what: string; times: number[]; floor: number[] }

/** busybox with no console shell (CRIU cannot dump its /dev/tty) and `extra` as one more service. */
const inittab = (extra: string) => `::sysinit:/etc/init.d/rcS\n::respawn:${extra}\n`;

async function prepare(d: TestDaemon, name: string, service: string): Promise<void> {
  const cli = cliOf(d);
  await cli("launch", "busybox", name);
  const file = join(d.dir, `inittab-${name}`);
  writeFileSync(file, inittab(service));
  await cli("file", "push", file, `${name}/etc/inittab`);
  await cli("restart", name, "--force");
}

/** `criu dump --leave-running` of `name` by hand: what the daemon adds on top of CRIU itself. */
async function rawDump(d: TestDaemon, criu: string, name: string, dir: string): Promise<void> {
  const pid = (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.pid as number;
  const st = statSync(`/proc/${pid}/root/dev/console`, { bigint: true });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  const p = Bun.spawn([criu, "dump", "-t", String(pid), "-D", dir, "--leave-running", "--manage-cgroups=full", "--network-lock", "nftables",
    "--ext-mount-map", "auto", "--enable-external-sharing", "--enable-external-masters", "--file-locks", "--link-remap",
    "--external", `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`, "--external", "mnt[/dev/console]:console", "--external", "mnt[/dev]:dev"],
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
    ];
  } finally {
    await d.stop();
  }
}
