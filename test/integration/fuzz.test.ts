// A seeded fuzzer against a real daemon's REST API, for a bounded time (LXD_FUZZ_SECONDS, 30 by
// default): random valid and invalid bodies, names, query parameters, and header and framing
// combinations (chunked, huge, slow, truncated, duplicated). Invariants: no 5xx, an answer within
// the request timeout, the daemon alive, nothing changed by a refused request, memory bounded.
// A failure names the seed (LXD_FUZZ_SEED=N replays it) and the request.
import { readFileSync } from "node:fs";
import type { Socket } from "bun";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

const SEED = Number(process.env.LXD_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SECONDS = Number(process.env.LXD_FUZZ_SECONDS ?? 30);
const REQUEST_TIMEOUT_MS = 15_000;

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await d.ok("init", "busybox", "f1");
  await d.ok("profile", "create", "p1");
  await d.ok("storage", "volume", "create", "default", "vol1");
  await d.ok("snapshot", "f1", "s0");
});

afterAll(async () => {
  await d?.stop();
});

/** mulberry32: small, seedable, good enough to pick cases. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const NAMES = ["f1", "p1", "vol1", "s0", "default", "lxdbr0", "new1", "", ".", "..", "../../etc", "a/b", "%2e%2e", "x".repeat(300),
  "ünï", "-lead", "with space", "%00", "f1%2Fs0", "*", "c1;rm", "\u202e"] as const;
const PATHS = [
  "/1.0", "/1.0/instances", "/1.0/instances/{n}", "/1.0/instances/{n}/state", "/1.0/instances/{n}/snapshots",
  "/1.0/instances/{n}/snapshots/{n}", "/1.0/instances/{n}/files", "/1.0/instances/{n}/logs", "/1.0/instances/{n}/exec",
  "/1.0/profiles", "/1.0/profiles/{n}", "/1.0/networks", "/1.0/networks/{n}", "/1.0/networks/{n}/leases",
  "/1.0/storage-pools", "/1.0/storage-pools/{n}", "/1.0/storage-pools/default/volumes/custom", "/1.0/storage-pools/default/volumes/custom/{n}",
  "/1.0/storage-pools/default/volumes/custom/{n}/snapshots", "/1.0/images", "/1.0/images/{n}", "/1.0/images/aliases",
  "/1.0/images/aliases/{n}", "/1.0/operations", "/1.0/operations/{n}", "/1.0/operations/{n}/wait", "/1.0/events",
  "/1.0/certificates", "/1.0/certificates/{n}", "/1.0/resources", "/nope", "/1.0/instances/{n}/console",
] as const;
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
const QUERY_KEYS = ["project", "recursion", "filter", "force", "all-projects", "target", "timeout", "path", "type", "secret", "zz"] as const;
const QUERY_VALUES = ["default", "nosuch", "", "1", "2", "-1", "2;fields=state", "name eq f1", "true", "x".repeat(2000), "%ff", "0x10", "1e309"] as const;
const CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "application/octet-stream"] as const;

/** A JSON value of a random shape; sometimes one LXD bodies use, mutated. */
function value(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 4 ? 5 : 9)) {
    case 0: return r.pick(NAMES);
    case 1: return r.int(3) === 0 ? -1 : r.int(1e6);
    case 2: return r.chance(0.5);
    case 3: return null;
    case 4: return r.chance(0.1) ? "y".repeat(r.int(300_000)) : r.pick(["start", "stop", "image", "copy", "none", "disk", "nic", "bridged"]);
    case 5: return Array.from({ length: r.int(4) }, () => value(r, depth + 1));
    default: return object(r, depth + 1);
  }
}

const FIELDS = ["name", "description", "config", "devices", "profiles", "source", "type", "action", "force", "timeout", "ephemeral",
  "stateful", "expires_at", "restore", "architecture", "public", "aliases", "target", "certificate", "password", "token", "projects",
  "restricted", "properties", "command", "environment", "interactive", "wait-for-websocket", "path", "mode", "volume_only", "start"] as const;

function object(r: Rng, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = r.int(5); i > 0; i--) out[r.pick(FIELDS)] = value(r, depth);
  if (r.chance(0.2)) out.config = { [`user.${r.int(100)}`]: String(value(r, 9)), "limits.memory": r.pick(["64MiB", "lots", ""]) };
  if (r.chance(0.1)) out.devices = { root: { type: "disk", path: "/", pool: r.pick(["default", "nosuch"]) } };
  return out;
}

function body(r: Rng): string | undefined {
  switch (r.int(8)) {
    case 0: return undefined;
    case 1: return "";
    case 2: return JSON.stringify(object(r)).slice(0, r.int(40)); // truncated JSON
    case 3: return r.pick(["{", "[]", "null", "\"x\"", "{\"a\":}", "\u0000", "{\"name\":\"\\ud800\"}", "[".repeat(5000)]);
    default: return JSON.stringify(object(r));
  }
}

interface Request {
  method: string;
  path: string;
  headers: [string, string][];
  body?: string;
  /** How the body is framed on the wire. */
  framing: "length" | "chunked" | "slow" | "truncated" | "lying-length";
}

function request(r: Rng): Request {
  let path = r.pick(PATHS).replaceAll("{n}", () => encodeURIComponent(r.pick(NAMES)).replace(/%25/g, "%"));
  const params = Array.from({ length: r.int(4) }, () => `${r.pick(QUERY_KEYS)}=${encodeURIComponent(r.pick(QUERY_VALUES))}`);
  if (params.length) path += `?${params.join("&")}`;
  const method = r.pick(METHODS);
  const headers: [string, string][] = [];
  const type = r.pick(CONTENT_TYPES);
  if (type) headers.push(["Content-Type", type]);
  if (r.chance(0.1)) headers.push(["Content-Type", r.pick(CONTENT_TYPES) || "text/html"]);
  if (r.chance(0.1)) headers.push(["If-Match", r.pick(['"abc"', "*", "", "W/\"x\""])]);
  if (r.chance(0.05)) headers.push(["X-Junk", "v".repeat(r.int(20_000))]);
  if (r.chance(0.05)) headers.push(["Upgrade", "websocket"], ["Connection", "Upgrade"]);
  return { method, path, headers, body: method === "GET" || method === "HEAD" ? undefined : body(r), framing: r.pick(["length", "length", "length", "chunked", "slow", "truncated", "lying-length"]) };
}

const describe = (q: Request) => `${q.method} ${q.path.slice(0, 200)} [${q.framing}] headers=${JSON.stringify(q.headers.map(([k, v]) => [k, v.slice(0, 40)]))} body=${JSON.stringify(q.body?.slice(0, 200))}`;

/** Sends one request on a fresh unix-socket connection, framed as asked; resolves with the HTTP
 *  status of the answer, "closed" when the server hung up without one (a truncated request), or
 *  "timeout". */
function send(q: Request): Promise<number | "closed" | "timeout"> {
  const enc = new TextEncoder();
  const payload = q.body === undefined ? undefined : enc.encode(q.body);
  const lines = [`${q.method} ${q.path} HTTP/1.1`, "Host: lxd", "Connection: close", ...q.headers.map(([k, v]) => `${k}: ${v}`)];
  const parts: Uint8Array[] = [];
  if (payload) {
    if (q.framing === "chunked" || q.framing === "slow") {
      lines.push("Transfer-Encoding: chunked");
      const pieces = q.framing === "slow" ? 4 : 1;
      const size = Math.ceil(payload.length / pieces) || 1;
      for (let i = 0; i < payload.length; i += size) {
        const chunk = payload.subarray(i, i + size);
        parts.push(enc.encode(`${chunk.length.toString(16)}\r\n`), chunk, enc.encode("\r\n"));
      }
      parts.push(enc.encode("0\r\n\r\n"));
    } else if (q.framing === "truncated") {
      lines.push(`Content-Length: ${payload.length + 100}`);
      parts.push(payload);
    } else if (q.framing === "lying-length") {
      lines.push(`Content-Length: ${payload.length}`, `Content-Length: ${payload.length + 1}`);
      parts.push(payload);
    } else {
      lines.push(`Content-Length: ${payload.length}`);
      parts.push(payload);
    }
  }
  const head = enc.encode(`${lines.join("\r\n")}\r\n\r\n`);
  return new Promise((resolve) => {
    let answer = "";
    let done = false;
    const finish = (v: number | "closed" | "timeout") => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    const status = () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
      return m ? Number(m[1]) : undefined;
    };
    const timer = setTimeout(() => finish(status() ?? "timeout"), REQUEST_TIMEOUT_MS);
    // A socket write may take only part of the bytes: the rest waits for drain.
    let drained: (() => void) | undefined;
    const write = async (s: Socket<undefined>, bytes: Uint8Array) => {
      let rest = bytes;
      while (rest.length && !done) {
        const n = Math.max(0, s.write(rest));
        rest = rest.subarray(n);
        if (rest.length) await new Promise<void>((r) => (drained = r));
      }
    };
    Bun.connect({
      unix: d.socket,
      socket: {
        async open(s) {
          for (const p of [head, ...parts]) {
            await write(s, p);
            if (q.framing === "slow") await Bun.sleep(30);
          }
          // A truncated request's sender goes away: the server sees the body end early.
          if (q.framing === "truncated") setTimeout(() => s.end(), 50);
        },
        drain() {
          const r = drained;
          drained = undefined;
          r?.();
        },
        data(s, data) {
          answer += Buffer.from(data).toString("latin1");
          const st = status();
          // The status line is what the invariants need; an event stream never ends by itself.
          if (st !== undefined && answer.includes("\r\n\r\n")) {
            finish(st);
            s.end();
          }
        },
        close() {
          finish(status() ?? "closed");
          drained?.();
        },
        error() { finish(status() ?? "closed"); },
        connectError() { finish("closed"); },
      },
    }).catch(() => finish("closed"));
  });
}

/** What a refused request must not change: every object as listed with recursion, minus fields
 *  that move by themselves. */
async function stateSnapshot(): Promise<string> {
  const paths = ["/1.0/instances?recursion=1", "/1.0/profiles?recursion=1", "/1.0/networks?recursion=1",
    "/1.0/storage-pools?recursion=1", "/1.0/storage-pools/default/volumes?recursion=1", "/1.0/images?recursion=1",
    "/1.0/images/aliases?recursion=1", "/1.0/instances/f1/snapshots?recursion=1", "/1.0/certificates?recursion=1"];
  const parts = await Promise.all(paths.map(async (p) => {
    const r = await d.api("GET", p);
    return r.status === 404 ? null : r.body.metadata;
  }));
  const server = (await d.api("GET", "/1.0")).body.metadata.config;
  return JSON.stringify([parts, server], (k, v) => (k === "last_used_at" || k === "used_by" || k === "status" || k === "status_code" ? undefined : v));
}

const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, "utf8"))![1]);

test(`fuzz the REST API for ${SECONDS} s (seed ${SEED})`, async () => {
  console.log(`[fuzz] seed ${SEED} (LXD_FUZZ_SEED=${SEED} replays it), ${SECONDS} s`);
  const r = rng(SEED);
  const deadline = Date.now() + SECONDS * 1000;
  const rssBefore = rssKb();
  let before = await stateSnapshot();
  let count = 0;
  const outcomes = new Map<string, number>();
  while (Date.now() < deadline) {
    const q = request(r);
    const where = `seed ${SEED}, request #${count}: ${describe(q)}`;
    const status = await send(q);
    count++;
    outcomes.set(String(status), (outcomes.get(String(status)) ?? 0) + 1);
    expect(typeof status === "number" && status >= 500 ? `${status} for ${where}` : "no 5xx").toBe("no 5xx");
    expect(status === "timeout" ? `no answer within ${REQUEST_TIMEOUT_MS} ms for ${where}` : "answered").toBe("answered");
    expect(d.pid ? "alive" : `daemon died after ${where}\n${d.log().slice(-3000)}`).toBe("alive");
    // Let an accepted operation (a delete, a rename) finish before the state is compared.
    if (typeof status === "number" && status < 400) {
      await d.api("GET", "/1.0/operations?recursion=1").then(async (ops) => {
        for (const id of ((ops.body.metadata?.running ?? []) as { id: string }[]).map((o) => o.id)) await d.api("GET", `/1.0/operations/${id}/wait?timeout=20`);
      });
      before = await stateSnapshot();
    } else {
      const after = await stateSnapshot();
      expect(after === before ? "unchanged" : `state changed by refused ${where}`).toBe("unchanged");
    }
  }
  console.log(`[fuzz] ${count} requests: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  expect(count).toBeGreaterThan(50);
  // Bounded memory: nothing a request sent is kept (bodies of up to 4 MiB come and go).
  expect(rssKb() - rssBefore).toBeLessThan(256 * 1024);
}, (SECONDS + 60) * 1000);
