// The daemon core on a real unix socket: websockets (events, operation sockets) and the real
// `lxc` client when installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Elysia } from "elysia";
import { EventHub } from "../../src/events/hub.ts";
import { eventsRoutes } from "../../src/daemon/events-api.ts";
import { configureLog, log } from "../../src/log.ts";
import { OperationManager } from "../../src/daemon/operations.ts";
import { operationsRoutes } from "../../src/daemon/operations-api.ts";
import { createServer, listenUnix } from "../../src/daemon/server.ts";
import { serverInfoRoutes } from "../../src/daemon/server-info.ts";

const dir = mkdtempSync(join(tmpdir(), "lxd-core-"));
const sock = join(dir, "unix.socket");
const events = new EventHub();
const ops = new OperationManager(events, { retainMs: 60_000 });

/** Polls `done` every 10 ms for up to 10 s (a loaded CI host can be slow to deliver). */
async function until(done: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 10_000; !done() && Date.now() < deadline;) await Bun.sleep(10);
}
let server: Awaited<ReturnType<typeof listenUnix>>;

const demo = new Elysia({ name: "demo" })
  .post("/1.0/demo", () => ops.create({ class: "task", description: "Demo task", run: async () => { await Bun.sleep(20); return { answer: 42 }; } }))
  .post("/1.0/echo", () => ops.create({
    class: "websocket", description: "Echo",
    metadata: { fds: { "0": "a".repeat(64), control: "b".repeat(64) } },
    connect: (_op, _secret, ws) => ws.onMessage((data) => ws.send(typeof data === "string" ? `text:${data}` : data)),
    run: () => Bun.sleep(2000),
  }));

const api = (path: string, init: RequestInit = {}) =>
  fetch(`http://unix.socket${path}`, { ...init, unix: sock } as RequestInit).then((r) => r.json() as Promise<any>);

const open = (path: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws+unix://${sock}:${path}`);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message ?? "websocket error"));
  });

beforeAll(async () => {
  configureLog({ events, quiet: true });
  const app = createServer([
    serverInfoRoutes({ serverInfo: { config: () => ({}), setConfig: () => {}, storageDrivers: () => [] } }),
    operationsRoutes({ ops }), eventsRoutes({ events }), demo,
  ]);
  server = await listenUnix(app, sock);
});

afterAll(() => {
  server.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

describe("unix socket", () => {
  test("socket mode is 0660 and a live socket is not stolen", async () => {
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    const again = createServer([]);
    expect(listenUnix(again, sock)).rejects.toThrow("already listening");
  });

  test("a stale socket file (its daemon died) is replaced", async () => {
    const stale = join(dir, "stale.socket");
    const dead = Bun.spawnSync([process.execPath, "-e", `Bun.listen({ unix: ${JSON.stringify(stale)}, socket: { data() {} } }); process.exit(0)`]);
    expect(dead.exitCode).toBe(0);
    expect(existsSync(stale)).toBe(true);
    const server = await listenUnix(createServer([]), stale);
    const res = await fetch("http://unix.socket/", { unix: stale } as RequestInit).then((r) => r.json()) as any;
    expect(res.error_code).toBe(404);
    server.stop(true);
  });

  test("GET /1.0/events streams operation events in LXD's shape", async () => {
    const ws = await open("/1.0/events?type=operation");
    const got: any[] = [];
    ws.onmessage = (m) => got.push(JSON.parse(m.data as string));
    const created = await api("/1.0/demo", { method: "POST" });
    const id = created.metadata.id;
    await until(() => got.some((e) => e.metadata.status === "Success"));
    ws.close();
    const mine = got.filter((e) => e.metadata.id === id);
    expect(mine.map((e) => e.metadata.status)).toEqual(["Pending", "Running", "Success"]);
    expect(Object.keys(mine[0])).toEqual(["type", "timestamp", "metadata", "location", "project"]);
    expect(mine[2]).toMatchObject({ type: "operation", location: "none", project: "default", metadata: { metadata: { answer: 42 } } });
  });

  test("logging events reach listeners; type filter holds", async () => {
    const ws = await open("/1.0/events?type=logging");
    const got: any[] = [];
    ws.onmessage = (m) => got.push(JSON.parse(m.data as string));
    log.info("Hello from the test", { instance: "c1", n: 3 });
    await api("/1.0/demo", { method: "POST" });
    await until(() => got.length > 0);
    await Bun.sleep(30);
    ws.close();
    expect(got[0]).toMatchObject({ type: "logging", metadata: { message: "Hello from the test", level: "info", context: { instance: "c1", n: "3" } } });
    expect(got.every((e) => e.type === "logging")).toBe(true);
  });

  test("operation websockets: raw text and binary frames both ways; wrong secret is 403", async () => {
    const op = (await api("/1.0/echo", { method: "POST" })).metadata;
    await expect(open(`/1.0/operations/${op.id}/websocket?secret=nope`)).rejects.toThrow("403");
    const ws = await open(`/1.0/operations/${op.id}/websocket?secret=${op.metadata.fds["0"]}`);
    const got: (string | number[])[] = [];
    ws.onmessage = (m) => got.push(typeof m.data === "string" ? m.data : [...new Uint8Array(m.data as ArrayBuffer)]);
    ws.send("123");
    ws.send('{"command":"signal","signal":15}');
    ws.send(new Uint8Array([0, 1, 255]));
    await until(() => got.length >= 3);
    ws.close();
    expect(got).toEqual(["text:123", 'text:{"command":"signal","signal":15}', [0, 1, 255]]);
  });

  test.skipIf(!Bun.which("lxc"))("the real lxc client talks to it (query, operation list, monitor)", async () => {
    // The server runs in this process: spawn asynchronously so it can answer.
    const env = { ...process.env, LXD_DIR: dir };
    const run = async (...args: string[]) => {
      const p = Bun.spawn(["lxc", ...args], { env, stdout: "pipe", stderr: "pipe" });
      const [out, code] = [await new Response(p.stdout).text(), await p.exited];
      return { out, code };
    };
    const info = await run("query", "/1.0");
    expect(info.code).toBe(0);
    expect(JSON.parse(info.out).api_version).toBe("1.0");

    const listening = events.listenerCount;
    const monitor = Bun.spawn(["lxc", "monitor", "--type=operation", "--format=json"], { env, stdout: "pipe" });
    let out = "";
    const reading = (async () => { for await (const chunk of monitor.stdout) out += new TextDecoder().decode(chunk); })();
    await until(() => events.listenerCount > listening);
    const id = (await api("/1.0/demo", { method: "POST" })).metadata.id;
    const list = await run("operation", "list", "--format=csv");
    expect(list.out).toContain(id);
    await until(() => out.includes(id) && out.includes("Success"));
    monitor.kill();
    await reading;
    expect(out).toContain(id);
    expect(out).toContain("Success");
  });
});
