// Debian's `lxc` against a stand-in daemon that does no work: every answer of `lxc exec c -- true`
// is canned (the real daemon's GET /1.0 body, an exec operation whose sockets close and whose
// operation succeeds the moment the last websocket connects). What `lxc` takes against it is the
// client's own time (Go runtime start, config, its HTTP and websocket handling, seven requests
// one after another): the floor under any daemon's exec through `lxc`, measured in the same run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Server } from "bun";

interface Op { id: string; fds: Record<string, string>; conns: Map<string, Bun.ServerWebSocket<Conn>>; done?: object }
type Conn = { kind: "events" } | { kind: "fd"; op: string; secret: string | null };

export interface CannedDaemon { dir: string; stop(): void }

/** Serves `lxc exec` and `lxc query /1.0` on `<dir>/unix.socket` with `info` as GET /1.0's body. */
export function cannedDaemon(info: string): CannedDaemon {
  const dir = mkdtempSync(join(tmpdir(), "lxc-floor-"));
  const events = new Set<Bun.ServerWebSocket<Conn>>();
  const ops = new Map<string, Op>();
  let seq = 0;
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  const opJson = (op: Op) => op.done ?? {
    id: op.id, class: "websocket", description: "Executing command", status: "Running", status_code: 103,
    resources: {}, metadata: { fds: op.fds, interactive: false }, may_cancel: true, err: "", location: "none",
  };
  const server: Server<Conn> = Bun.serve<Conn>({
    unix: join(dir, "unix.socket"),
    fetch(req, srv) {
      const url = new URL(req.url);
      const path = url.pathname;
      if (path === "/1.0") return new Response(info, { headers: { "Content-Type": "application/json" } });
      if (path === "/1.0/events") return srv.upgrade(req, { data: { kind: "events" } }) ? undefined : json({}, 400);
      if (req.method === "POST" && path.endsWith("/exec")) {
        const id = `canned-${++seq}`;
        const fds = Object.fromEntries(["0", "1", "2", "control"].map((k) => [k, `${id}-${k}`]));
        const op: Op = { id, fds, conns: new Map() };
        ops.set(id, op);
        return json({ type: "async", status: "Operation created", status_code: 100, operation: `/1.0/operations/${id}`, error_code: 0, error: "", metadata: opJson(op) }, 202);
      }
      const m = /^\/1\.0\/operations\/([^/]+)(\/websocket)?$/.exec(path);
      const op = m && ops.get(m[1]);
      if (!op) return json({ type: "error", error: "not found", error_code: 404 }, 404);
      if (m[2]) return srv.upgrade(req, { data: { kind: "fd", op: op.id, secret: url.searchParams.get("secret") } }) ? undefined : json({}, 400);
      return json({ type: "sync", status: "Success", status_code: 200, operation: "", error_code: 0, error: "", metadata: opJson(op) });
    },
    websocket: {
      open(ws) {
        if (ws.data.kind === "events") return void events.add(ws);
        const op = ops.get(ws.data.op)!;
        const secret = ws.data.secret;
        const key = Object.keys(op.fds).find((k) => op.fds[k] === secret);
        if (!key) return ws.close(1008);
        op.conns.set(key, ws);
        if (op.conns.size < 4) return;
        // The command "ran": end of output (LXD's barrier), sockets closed, the operation succeeded.
        for (const k of ["1", "2"]) {
          op.conns.get(k)!.send("");
          op.conns.get(k)!.close(1000);
        }
        op.conns.get("control")!.close(1000);
        const done = { ...(opJson(op) as object), status: "Success", status_code: 200, metadata: { fds: op.fds, return: 0 } };
        op.done = done;
        const event = JSON.stringify({ type: "operation", timestamp: new Date().toISOString(), metadata: done, location: "none", project: "default" });
        for (const e of events) e.send(event);
      },
      message() {},
      close(ws) {
        events.delete(ws);
      },
    },
  });
  return {
    dir,
    stop() {
      server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What fills each gap between `lxc exec`'s (5.0.2) connects, one after another: the process start
 *  up to its first connect, then each request (with lxc's work on its answer) up to the next one;
 *  the last gap is the command itself until lxc has the output's end and the operation's result. */
const STEPS = ["start", "GET /1.0", "events", "POST exec", "ws control", "ws 0", "ws 1", "ws 2", "GET op + command + result"];

/** Gaps (ms) between `lxc exec ARGS`' connect() calls, from its execve to its exit: strace stops
 *  it only at those calls (seccomp-bpf filter), so the rest runs at full speed. Undefined without strace. */
export async function lxcExecGaps(env: Record<string, string>, args: string[]): Promise<Record<string, number> | undefined> {
  const strace = Bun.which("strace");
  if (!strace) return undefined;
  const out = join(mkdtempSync(join(tmpdir(), "lxc-trace-")), "trace");
  try {
    const p = Bun.spawn([strace, "-f", "--seccomp-bpf", "-ttt", "-e", "trace=execve,connect,exit_group", "-o", out, "/usr/bin/lxc", "exec", ...args],
      { env, stdout: "ignore", stderr: "ignore" });
    if ((await p.exited) !== 0) return undefined;
    const lines = (await Bun.file(out).text()).split("\n");
    const at = (l: string) => Number(l.split(/\s+/)[1]) * 1000;
    const start = at(lines.find((l) => l.includes("execve("))!);
    const marks = lines.filter((l) => /connect\(|exit_group\(/.test(l)).map(at);
    if (marks.length !== STEPS.length) return undefined;
    return Object.fromEntries(marks.map((t, i) => [STEPS[i], t - (i ? marks[i - 1] : start)]));
  } finally {
    rmSync(dirname(out), { recursive: true, force: true });
  }
}
