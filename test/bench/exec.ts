// Benchmark rows for `exec c -- true`, and where its time goes: through our CLI, through Debian's
// `lxc`, and through an in-process API client that times each phase of LXD's protocol (POST,
// websocket handshakes, the daemon closing the sockets, the operation's result). The daemon's own
// phase marks come from its debug log ("Exec timing": ms since the handler got the request, on the
// helper's clock). The floor is `nsenter --all` into the same container running `true`.
import { existsSync, readFileSync } from "node:fs";
import type { TestDaemon } from "../helpers/daemon.ts";
import { cliOf, timed } from "./timing.ts";
import { cannedDaemon, lxcExecGaps } from "./lxc-floor.ts";

export interface ExecRow {
  key: string;
  what: string;
  times: number[];
  floor?: number[];
}

/** One exec over the raw API: phase ends in ms since the POST was sent. */
async function apiExec(d: TestDaemon, name: string): Promise<Record<string, number>> {
  const t0 = performance.now();
  const at: Record<string, number> = {};
  const post = await fetch(`http://lxd/1.0/instances/${name}/exec`, {
    unix: d.socket, method: "POST",
    body: JSON.stringify({ command: ["true"], "wait-for-websocket": true, interactive: false, environment: {} }),
  } as RequestInit);
  const op = ((await post.json()) as any).metadata;
  at.post = performance.now() - t0;
  const fds = op.metadata.fds as Record<string, string>;
  const sockets = await Promise.all(["control", "0", "1", "2"].map((k) => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws+unix://${d.socket}:/1.0/operations/${op.id}/websocket?secret=${fds[k]}`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`websocket ${k} failed`));
  })));
  at.websockets = performance.now() - t0;
  const closed = new Promise<void>((resolve) => sockets[0].addEventListener("close", () => resolve()));
  sockets[1].send(""); // stdin's end (LXD's barrier)
  await closed;
  at.closed = performance.now() - t0;
  const done = (await (await fetch(`http://lxd/1.0/operations/${op.id}/wait`, { unix: d.socket } as RequestInit)).json()) as any;
  at.result = performance.now() - t0;
  if (done.metadata?.metadata?.return !== 0) throw new Error(`exec true returned ${JSON.stringify(done.metadata)}`);
  for (const ws of sockets) ws.close();
  return at;
}

/** The daemon's "Exec timing" debug lines written since byte `from` of its log. */
function daemonPhases(d: TestDaemon, from: number): Record<string, number>[] {
  const text = readFileSync(d.logFile, "utf8").slice(from);
  return text.split("\n").filter((l) => l.includes("Exec timing")).map((l) =>
    Object.fromEntries([...l.matchAll(/ (\w+)=([\d.]+)/g)].map((m) => [m[1], Number(m[2])])));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Medians of each phase over `runs` (phases in the order of their first run's values). */
function phaseMedians(runs: Record<string, number>[]): string {
  if (!runs.length) return "";
  const keys = Object.keys(runs[0]).sort((a, b) => runs[0][a] - runs[0][b]);
  return keys.map((k) => `${k} ${median(runs.map((r) => r[k] ?? NaN)).toFixed(2)}`).join(", ");
}

/** Per-step medians in the steps' own order, and the median total. */
function gapMedians(runs: Record<string, number>[]): string {
  const steps = Object.keys(runs[0]).map((k) => `${k} ${median(runs.map((r) => r[k])).toFixed(2)}`);
  return `${steps.join(", ")}; total ${median(runs.map((r) => Object.values(r).reduce((a, b) => a + b, 0))).toFixed(1)}`;
}

export async function execTimings(d: TestDaemon, runs: number): Promise<{ rows: ExecRow[]; phases: string[] }> {
  const cli = cliOf(d);
  await cli("launch", "busybox", "ex1");
  const init = (await d.api("GET", "/1.0/instances/ex1/state")).body.metadata.pid as number;
  const lxc = async () => {
    const r = await d.lxc("exec", "ex1", "--", "true");
    if (r.code !== 0) throw new Error(`lxc exec failed (${r.code}): ${r.stderr}`);
  };
  const floor = async () => {
    const p = Bun.spawn(["nsenter", `--target=${init}`, "--all", "true"], { stdout: "ignore", stderr: "pipe" });
    if ((await p.exited) !== 0) throw new Error(`nsenter failed: ${await new Response(p.stderr).text()}`);
  };
  const haveLxc = existsSync("/usr/bin/lxc");
  // lxc's own part: the same command against a daemon that answers at once, and lxc's start alone.
  const canned = haveLxc ? cannedDaemon(JSON.stringify((await d.api("GET", "/1.0")).body)) : undefined;
  const lxcEnv = (dir: string) => ({ ...process.env, LXD_DIR: dir, HOME: d.clientHome, LXD_CONF: `${d.clientHome}/.config/lxc` }) as Record<string, string>;
  const lxcAt = async (dir: string, ...args: string[]) => {
    const p = Bun.spawn(["/usr/bin/lxc", ...args], { env: lxcEnv(dir), stdout: "ignore", stderr: "pipe" });
    if ((await p.exited) !== 0) throw new Error(`lxc ${args.join(" ")} failed: ${await new Response(p.stderr).text()}`);
  };
  // Warm-up: page cache, the helper installed, the client's certificate for lxc made.
  await cli("exec", "ex1", "--", "true");
  if (haveLxc) await lxc();
  await apiExec(d, "ex1");
  if (canned) await lxcAt(canned.dir, "exec", "ex1", "--", "true");
  const gaps = { ours: [] as Record<string, number>[], canned: [] as Record<string, number>[] };
  const t = { lxcCanned: [] as number[], lxcVersion: [] as number[], lxcQuery: [] as number[], cli: [] as number[], lxc: [] as number[], api: [] as Record<string, number>[], idle: [] as number[], floor: [] as number[] };
  // The API runs first and alone: the daemon's trace lines are theirs, not disturbed by a CLI starting.
  const logFrom = readFileSync(d.logFile, "utf8").length;
  for (let i = 0; i < runs; i++) t.api.push(await apiExec(d, "ex1"));
  await Bun.sleep(50); // the last trace line is written after the operation ends
  const daemon = daemonPhases(d, logFrom);
  // After a pause, as a person typing commands: what a cgroup move costs shows only then (the
  // kernel's RCU grace period; back-to-back moves share one).
  for (let i = 0; i < runs; i++) {
    await Bun.sleep(200);
    t.idle.push((await apiExec(d, "ex1")).result);
  }
  for (let i = 0; i < runs; i++) {
    t.cli.push(await timed(() => cli("exec", "ex1", "--", "true")));
    if (canned) {
      t.lxc.push(await timed(lxc));
      t.lxcCanned.push(await timed(() => lxcAt(canned.dir, "exec", "ex1", "--", "true")));
      t.lxcQuery.push(await timed(() => lxcAt(d.dir, "query", "/1.0")));
      t.lxcVersion.push(await timed(() => lxcAt(d.dir, "--version")));
      const ours = await lxcExecGaps(lxcEnv(d.dir), ["ex1", "--", "true"]);
      const cannedGaps = await lxcExecGaps(lxcEnv(canned.dir), ["ex1", "--", "true"]);
      if (ours && cannedGaps) {
        gaps.ours.push(ours);
        gaps.canned.push(cannedGaps);
      }
    }
    t.floor.push(await timed(floor));
  }
  canned?.stop();
  await cli("delete", "ex1", "--force");
  return {
    rows: [
      { key: "exec-daemon", what: "exec c -- true, daemon's part (API: POST to result)", times: t.api.map((a) => a.result), floor: t.floor },
      { key: "exec-idle", what: "exec c -- true, daemon's part, 200 ms after the last", times: t.idle, floor: t.floor },
      { key: "exec-cli", what: "exec c -- true, our CLI", times: t.cli, floor: t.floor },
      ...(haveLxc ? [
        { key: "exec-lxc", what: "exec c -- true, Debian's lxc", times: t.lxc, floor: t.floor },
        { key: "exec-lxc-canned", what: "exec c -- true, Debian's lxc against canned answers (lxc's own time)", times: t.lxcCanned },
        { key: "lxc-query", what: "lxc query /1.0", times: t.lxcQuery },
        { key: "lxc-version", what: "lxc --version (the Go client's start)", times: t.lxcVersion },
      ] : []),
    ],
    phases: [
      ...(gaps.ours.length ? [
        `lxc exec timeline against this daemon (ms per step between lxc's connects, medians; strace stops lxc only there): ${gapMedians(gaps.ours)}`,
        `lxc exec timeline against canned answers (lxc's own time, same run): ${gapMedians(gaps.canned)}`,
      ] : []),
      `exec client phases (ms since POST sent): ${phaseMedians(t.api)}`,
      `exec daemon phases (ms since the handler got the POST): ${phaseMedians(daemon)}`,
    ],
  };
}
