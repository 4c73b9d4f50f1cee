// Hardening of the REST API against careless or hostile clients: requests naming a project that
// does not exist act nowhere (REST, websockets, events, LXD's `lxc`), and no body framing nor field
// can make the daemon buffer or store more than its limits.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tlsConnect } from "node:tls";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await d.ok("init", "busybox", "c1");
});

afterAll(async () => {
  await d?.stop();
});

const instanceNames = async () => (await d.api("GET", "/1.0/instances")).body.metadata as string[];
const profileNames = async () => (await d.api("GET", "/1.0/profiles")).body.metadata as string[];

describe("an unknown project is refused everywhere, never replaced by default", () => {
  test("REST: list, create, show, delete, operations", async () => {
    for (const [method, path, body] of [
      ["GET", "/1.0/instances?project=nosuch"],
      ["GET", "/1.0/instances/c1?project=nosuch"],
      ["POST", "/1.0/instances?project=nosuch", { name: "p1", source: { type: "none" } }],
      ["DELETE", "/1.0/instances/c1?project=nosuch"],
      ["PUT", "/1.0/instances/c1/state?project=nosuch", { action: "start" }],
      ["POST", "/1.0/profiles?project=nosuch", { name: "pp" }],
      ["GET", "/1.0/operations?project=nosuch"],
      ["GET", "/1.0/images?project=nosuch"],
      // A second value cannot hide behind a first good one.
      ["GET", "/1.0/instances?project=default&project=nosuch"],
    ] as [string, string, unknown?][]) {
      const r = await d.api(method, path, body);
      expect({ path, status: r.status, error: r.body.error }).toEqual({ path, status: 404, error: "Project not found" });
    }
    expect(await instanceNames()).toEqual(["/1.0/instances/c1"]);
    expect(await profileNames()).toEqual(["/1.0/profiles/default"]);
    // default, named or empty, still works.
    expect((await d.api("GET", "/1.0/instances?project=default")).body.metadata).toEqual(["/1.0/instances/c1"]);
    expect((await d.api("GET", "/1.0/instances?project=")).status).toBe(200);
  });

  test("a copy whose source names another project is refused", async () => {
    const r = await d.api("POST", "/1.0/instances", { name: "c2", source: { type: "copy", source: "c1", project: "nosuch" } });
    expect(r.status).toBe(404);
    expect(r.body.error).toBe("Project not found");
    expect(await instanceNames()).toEqual(["/1.0/instances/c1"]);
  });

  test("websockets: events and operation sockets refuse before upgrading", async () => {
    const events = await d.api("GET", "/1.0/events?project=nosuch", undefined, { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" });
    expect(events.status).toBe(404);
    const exec = await d.api("GET", "/1.0/operations/00000000-0000-0000-0000-000000000000/websocket?secret=x&project=nosuch");
    expect(exec.status).toBe(404);
    expect(exec.body.error).toBe("Project not found");
  });

  test("lxc delete --project someotherproject c1 fails at once and c1 survives", async () => {
    const r = await d.lxcWith({ timeoutMs: 30_000 }, "delete", "--project", "someotherproject", "c1");
    expect(r.stderr).not.toContain("killed after");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Project not found");
    expect(await instanceNames()).toEqual(["/1.0/instances/c1"]);
    const list = await d.lxcWith({ timeoutMs: 30_000 }, "list", "--project", "someotherproject");
    expect(list.code).not.toBe(0);
    expect((await d.lxc("list", "--format", "csv", "-c", "n")).stdout.trim()).toBe("c1");
  });
});

/** The daemon's resident memory in KiB. */
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, "utf8"))![1]);

/** A chunked body (no Content-Length) of `total` bytes: a JSON prefix and then filler. */
function chunkedBody(total: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(1024 * 1024).fill(0x78);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === 0) {
        const head = new TextEncoder().encode('{"name":"huge","description":"');
        controller.enqueue(head);
        sent += head.length;
      } else if (sent >= total) {
        controller.close();
      } else {
        controller.enqueue(chunk);
        sent += chunk.length;
      }
    },
  });
}

/** Status of a request whose body the server may stop reading: the answer, or the connection reset. */
async function statusOf(request: Promise<Response>): Promise<number | "reset"> {
  try {
    const res = await request;
    await res.text();
    return res.status;
  } catch {
    return "reset";
  }
}

describe("bodies are limited by the bytes actually read", () => {
  test("a 100 MB chunked POST /1.0/profiles gets 413, stores nothing, memory stays bounded", async () => {
    const before = rss();
    const status = await statusOf(fetch("http://lxd/1.0/profiles", {
      unix: d.socket, method: "POST", headers: { "Content-Type": "application/json" }, body: chunkedBody(100 * 1024 * 1024),
    } as RequestInit));
    // The answer is 413; the client may instead see the connection closed under its upload.
    expect([413, "reset"]).toContain(status);
    expect(await profileNames()).toEqual(["/1.0/profiles/default"]);
    expect(rss() - before).toBeLessThan(48 * 1024);
  });

  test("a small chunked body is read and applied", async () => {
    const small = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{"name":"chunky",')); c.enqueue(new TextEncoder().encode('"description":"ok"}')); c.close(); } });
    const res = await fetch("http://lxd/1.0/profiles", { unix: d.socket, method: "POST", headers: { "Content-Type": "application/json" }, body: small } as RequestInit);
    expect(res.status).toBe(201);
    expect((await d.api("GET", "/1.0/profiles/chunky")).body.metadata.description).toBe("ok");
    expect((await d.api("DELETE", "/1.0/profiles/chunky")).status).toBe(200);
  });

  test("over HTTPS too: an untrusted client's chunked body to the one route it may POST", async () => {
    const port = freePort();
    await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
    try {
      const before = rss();
      const status = await statusOf(fetch(`https://127.0.0.1:${port}/1.0/certificates`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: chunkedBody(100 * 1024 * 1024),
        tls: { rejectUnauthorized: false },
      } as RequestInit));
      expect([413, "reset"]).toContain(status);
      expect(rss() - before).toBeLessThan(48 * 1024);
      expect((await d.api("GET", "/1.0/certificates")).body.metadata).toEqual([]);
    } finally {
      await d.ok("config", "unset", "core.https_address");
    }
  });

  test("over HTTPS, a Host header URL cannot parse (pylxd's \"localhost:None\") is not a 500", async () => {
    const port = freePort();
    await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        let text = "";
        const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
          socket.write("GET /1.0 HTTP/1.1\r\nHost: localhost:None\r\nConnection: close\r\n\r\n");
        });
        socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
        setTimeout(() => socket.destroy(new Error(`no answer: ${JSON.stringify(text)}`)), 10_000);
      });
      expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
    } finally {
      await d.ok("config", "unset", "core.https_address");
    }
  });

  test("stored fields are capped: description, config keys and values, device count", async () => {
    const cases: Record<string, unknown>[] = [
      { name: "p-desc", description: "d".repeat(9000) },
      { name: "p-value", config: { "user.big": "v".repeat(300 * 1024) } },
      { name: "p-key", config: { [`user.${"k".repeat(600)}`]: "v" } },
      { name: "p-keys", config: Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`user.k${i}`, "v"])) },
      { name: "p-devices", devices: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`d${i}`, { type: "none" }])) },
    ];
    for (const body of cases) {
      const r = await d.api("POST", "/1.0/profiles", body);
      expect({ name: body.name, status: r.status }).toEqual({ name: body.name, status: 400 });
    }
    expect((await d.api("PUT", "/1.0/instances/c1", { description: "d".repeat(9000) })).status).toBe(400);
    expect((await d.api("PATCH", "/1.0/instances/c1", { config: { "user.big": "v".repeat(300 * 1024) } })).status).toBe(400);
    expect(await profileNames()).toEqual(["/1.0/profiles/default"]);
    const c1 = (await d.api("GET", "/1.0/instances/c1")).body.metadata;
    expect(c1.description).toBe("");
    expect(c1.config["user.big"]).toBeUndefined();
  });

  test("text that is not valid Unicode (a lone surrogate) is refused before anything is stored", async () => {
    // Found by the fuzz test: the profile was stored, then naming it in the Location header failed (500).
    for (const type of ["application/json", "text/plain"]) {
      for (const body of ['{"name":"\\ud800"}', '{"name":"p-ok","description":"\\udc00"}', '{"name":"p-ok","config":{"user.\\ud800":"x"}}']) {
        const r = await d.api("POST", "/1.0/profiles", body, { "Content-Type": type });
        expect({ type, body, status: r.status }).toEqual({ type, body, status: 400 });
      }
    }
    expect(await profileNames()).toEqual(["/1.0/profiles/default"]);
  });
});
