// Caps a hostile client cannot exceed: requests in flight, operations running and websockets open
// per client (a 429 naming the limit, freed as they end, never leaked by refused requests), other
// clients unaffected; and logs that rotate instead of filling the disk: the daemon's own, the
// monitors', dnsmasq's.
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";

// A non-interactive exec needs 4 websockets (stdin, stdout, stderr, control).
const LIMITS = { requests: 12, operations: 4, websockets: 6 };
const LOG_MAX = 64 * 1024;

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon({
    env: {
      LXD_LIMIT_REQUESTS: String(LIMITS.requests), LXD_LIMIT_OPERATIONS: String(LIMITS.operations),
      LXD_LIMIT_WEBSOCKETS: String(LIMITS.websockets), LXD_LOG_MAX_BYTES: String(LOG_MAX), LXD_LOG_CHECK_MS: "300",
    },
  });
  await d.ok("launch", "busybox", "c1");
});

afterAll(async () => {
  await d?.stop();
});

/** A long-running operation: `sleep 60` in c1, cancelled by the test. */
async function longOp(): Promise<{ status: number; id?: string; error?: string }> {
  const r = await d.api("POST", "/1.0/instances/c1/exec", { command: ["sleep", "60"], "wait-for-websocket": false, interactive: false });
  return { status: r.status, id: r.body.metadata?.id, error: r.body.error };
}
const cancel = (id: string) => d.api("DELETE", `/1.0/operations/${id}`);

/** `sleep 60` processes in c1, seen from the host through their cgroup. */
function sleepsInC1(): number {
  const tag = createHash("sha256").update(d.dir).digest("hex").slice(0, 8);
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8") === "sleep\x0060\x00" && readFileSync(`/proc/${pid}/cgroup`, "utf8").includes(`lxd.payload.${tag}/c1`);
    } catch {
      return false;
    }
  }).length;
}

/** Opens an events websocket by hand over the unix socket; resolves with the status line's code
 *  and a function that closes the connection. */
function openEvents(): Promise<{ status: number; close: () => void }> {
  return new Promise((resolve, reject) => {
    let text = "";
    Bun.connect({
      unix: d.socket,
      socket: {
        open(s) {
          s.write("GET /1.0/events HTTP/1.1\r\nHost: lxd\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        },
        data(s, data) {
          text += Buffer.from(data).toString("latin1");
          const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
          if (m && text.includes("\r\n\r\n")) resolve({ status: Number(m[1]), close: () => s.end() });
        },
        close() { reject(new Error(`closed before an answer: ${text}`)); },
        error(_s, err) { reject(err); },
      },
    }).catch(reject);
  });
}

describe("per-client caps", () => {
  test("operations running: the one past the cap gets 429 and starts nothing; a finished one frees its place", async () => {
    const ops = [];
    for (let i = 0; i < LIMITS.operations; i++) {
      const op = await longOp();
      expect(op.status).toBe(202);
      ops.push(op.id!);
    }
    const refused = await longOp();
    expect(refused.status).toBe(429);
    expect(refused.error).toContain(`Too many operations running for this client (limit ${LIMITS.operations})`);
    try {
      // (An exec to look would be one operation too many: the host looks into c1's cgroup.)
      const until = Date.now() + 10_000;
      while (sleepsInC1() < LIMITS.operations && Date.now() < until) await Bun.sleep(50);
      expect(sleepsInC1()).toBe(LIMITS.operations);
    } finally {
      await cancel(ops.pop()!);
    }
    await d.api("GET", "/1.0/operations?recursion=1");
    const deadline = Date.now() + 10_000;
    let again = await longOp();
    while (again.status === 429 && Date.now() < deadline) {
      await Bun.sleep(100);
      again = await longOp();
    }
    expect(again.status).toBe(202);
    ops.push(again.id!);
    for (const id of ops) await cancel(id);
  });

  test("requests in flight: the one past the cap gets 429; a TLS client is counted apart", async () => {
    const port = freePort();
    await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
    const op = await longOp();
    expect(op.status).toBe(202);
    // Long polls hold their request open (and give up by themselves after 4 s).
    const waits = Array.from({ length: LIMITS.requests }, () => d.api("GET", `/1.0/operations/${op.id}/wait?timeout=4`));
    try {
      const deadline = Date.now() + 3_000;
      let r = await d.api("GET", "/1.0");
      while (r.status !== 429 && Date.now() < deadline) {
        await Bun.sleep(20);
        r = await d.api("GET", "/1.0");
      }
      expect(r.status).toBe(429);
      expect(r.body.error).toBe(`Too many requests in flight for this client (limit ${LIMITS.requests})`);
      // Another client (over HTTPS, untrusted: the public view) still gets answers meanwhile.
      const remote = await fetch(`https://127.0.0.1:${port}/1.0`, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(remote.status).toBe(200);
    } finally {
      await Promise.all(waits);
      await cancel(op.id!);
      await d.ok("config", "unset", "core.https_address");
    }
    expect((await d.api("GET", "/1.0")).status).toBe(200);
  });

  test("refused and failed requests never leak their place", async () => {
    const bodies: [string, string, unknown][] = [
      ["GET", "/1.0/instances/nope", undefined], ["GET", "/1.0/instances?project=nosuch", undefined],
      ["POST", "/1.0/profiles", "{bad json"], ["POST", "/1.0/profiles", { name: 5 }], ["DELETE", "/1.0", undefined],
      ["GET", "/no/such/route", undefined], ["PUT", "/1.0/instances/c1", { config: "notamap" }],
    ];
    for (let i = 0; i < LIMITS.requests * 3; i++) {
      const [method, path, body] = bodies[i % bodies.length];
      const r = await d.api(method, path, body);
      expect(r.status).not.toBe(429);
    }
    // A body over the size limit is refused before it is counted, and so is its neighbour.
    const big = await fetch("http://lxd/1.0/profiles", { unix: d.socket, method: "POST", headers: { "Content-Type": "application/json" }, body: "x".repeat(5 * 1024 * 1024) } as RequestInit);
    expect(big.status).toBe(413);
    expect((await d.api("GET", "/1.0")).status).toBe(200);
  });

  test("websockets open: the one past the cap gets 429; closing one frees its place", async () => {
    const open = [];
    for (let i = 0; i < LIMITS.websockets; i++) {
      const ws = await openEvents();
      expect(ws.status).toBe(101);
      open.push(ws);
    }
    expect((await openEvents()).status).toBe(429);
    open.pop()!.close();
    const deadline = Date.now() + 10_000;
    let again = await openEvents();
    while (again.status !== 101 && Date.now() < deadline) {
      await Bun.sleep(100);
      again = await openEvents();
    }
    expect(again.status).toBe(101);
    for (const ws of [...open, again]) ws.close();
  });
});

describe("logs rotate instead of filling the disk", () => {
  test("the daemon's own log", async () => {
    // Every request is a debug line (the harness runs the daemon with --debug).
    for (let i = 0; i < 800; i++) await d.api("GET", `/1.0/instances/c1?n=${"x".repeat(100)}`);
    expect(existsSync(`${d.logFile}.1`)).toBe(true);
    expect(statSync(d.logFile).size).toBeLessThanOrEqual(LOG_MAX + 4096);
    expect(statSync(`${d.logFile}.1`).size).toBeLessThanOrEqual(LOG_MAX + 4096);
  });

  test("a container's monitor log and a network's dnsmasq log, written by other processes", async () => {
    const files = [join(d.dir, "containers", "c1", "monitor.log"), join(d.dir, "networks", "lxdbr0", "dnsmasq.log")];
    for (const f of files) appendFileSync(f, "y".repeat(LOG_MAX * 2));
    for (const f of files) {
      const deadline = Date.now() + 10_000;
      while (statSync(f).size > LOG_MAX && Date.now() < deadline) await Bun.sleep(100);
      expect({ f, size: statSync(f).size <= LOG_MAX, rotated: existsSync(`${f}.1`) }).toEqual({ f, size: true, rotated: true });
    }
    // The monitor still writes to its (emptied) log, and the container still works.
    await d.ok("restart", "c1", "--force");
    expect((await d.ok("exec", "c1", "--", "echo", "alive")).trim()).toBe("alive");
  });
});
