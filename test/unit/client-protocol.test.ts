// LxdClient against a fake daemon on a temp unix socket: envelopes, errors, operations, websockets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { LxdClient } from "../../src/client/client.ts";
import { LxdError } from "../../src/client/errors.ts";
import { UnixTransport } from "../../src/client/transport.ts";
import type { Event as LxdEvent } from "../../src/api/event.ts";
import { runExec } from "../../src/cli/exec.ts";
import { error, FakeLxd, sync } from "./client-fake-server.ts";

let fake: FakeLxd;
let client: LxdClient;

beforeAll(() => {
  fake = new FakeLxd();
  client = new LxdClient(new UnixTransport(fake.socket));
  fake.routes.push((req, url) => {
    if (url.pathname === "/1.0") return sync({ api_extensions: [], config: {}, environment: { server_version: "5.0.2" } }, { ETag: "srv-etag" });
    if (url.pathname === "/1.0/instances/missing") return error(404, "Instance not found");
    if (url.pathname === "/1.0/images/aliases/busybox") return sync({ name: "busybox", target: "abcdef0123", description: "", type: "container" });
    if (url.pathname === "/1.0/images/aliases/nope" || url.pathname === "/1.0/images/nope") return error(404, "not found");
    if (url.pathname === "/1.0/images/abcdef0123") return sync({ fingerprint: "abcdef0123", aliases: [] });
    if (url.pathname === "/1.0/instances/fails/state") {
      const { res, op } = fake.operation("task");
      op.finish("Failure", {}, "Failed to start: no init");
      return res;
    }
    if (url.pathname === "/1.0/instances/c1/state" && req.method === "PUT") {
      const { res, op } = fake.operation("task");
      setTimeout(() => op.finish("Success"), 20);
      return res;
    }
    return undefined;
  });
});

afterAll(() => fake.stop());

describe("requests", () => {
  test("sync metadata and ETag", async () => {
    const reply = await client.request<{ environment: { server_version: string } }>("GET", "/1.0");
    expect(reply.type).toBe("sync");
    expect(reply.metadata.environment.server_version).toBe("5.0.2");
    expect(reply.etag).toBe("srv-etag");
  });

  test("error envelopes become LxdError with the server's message and code", async () => {
    const err = await client.instance("missing").catch((e) => e);
    expect(err).toBeInstanceOf(LxdError);
    expect(err.message).toBe("Instance not found");
    expect(err.code).toBe(404);
    expect(err.notFound).toBe(true);
  });

  test("JSON bodies and If-Match are sent", async () => {
    await client.put("/1.0/profiles/default", { config: {} }, { etag: "e1" }).catch(() => {});
    const rec = fake.requests.findLast((r) => r.path === "/1.0/profiles/default")!;
    expect(rec.method).toBe("PUT");
    expect(rec.headers.get("if-match")).toBe("e1");
    expect(rec.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(rec.body)).toEqual({ config: {} });
  });

  test("a missing socket gives the daemon-not-running message", async () => {
    const offline = new LxdClient(new UnixTransport("/nonexistent/lxd/unix.socket"));
    await expect(offline.server()).rejects.toThrow("LXD daemon isn't running (no socket at /nonexistent/lxd/unix.socket)");
    await expect(offline.websocket("/1.0/events")).rejects.toThrow("LXD daemon isn't running");
  });
});

describe("operations", () => {
  test("async replies are waited on through /wait?timeout=-1", async () => {
    const op = await client.setInstanceState("c1", { action: "start", timeout: -1, force: false, stateful: false });
    expect(op?.status).toBe("Success");
    expect(fake.requests.some((r) => /^\/1\.0\/operations\/op-\d+\/wait\?timeout=-1$/.test(r.path))).toBe(true);
  });

  test("a bounded wait returns the still-running operation", async () => {
    const { op } = fake.operation("task");
    const current = await client.waitOperation(op.id, 0);
    expect(current.status).toBe("Running");
    op.finish("Success");
  });

  test("a failed operation surfaces its err", async () => {
    await expect(client.setInstanceState("fails", { action: "start" })).rejects.toThrow("Failed to start: no init");
  });

  test("images resolve through aliases, then fingerprints", async () => {
    expect((await client.resolveImage("busybox")).fingerprint).toBe("abcdef0123");
    fake.routes.unshift((_req, url) => (url.pathname === "/1.0/images" ? sync([{ fingerprint: "abcdef0123" }, { fingerprint: "ff00" }]) : undefined));
    expect((await client.resolveImage("abcd")).fingerprint).toBe("abcdef0123");
    await expect(client.resolveImage("nope")).rejects.toThrow("Image not found: nope");
    fake.routes.shift();
  });
});

function capture() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

describe("exec", () => {
  const req = (interactive: boolean) => ({
    command: ["sh"], environment: {}, interactive, "wait-for-websocket": true, "record-output": false,
    width: 0, height: 0, user: 0, group: 0, cwd: "",
  });

  test("non-interactive: stdin until the barrier, stdout/stderr apart, exit code propagated", async () => {
    fake.execScript = async ({ stdin, out, err }) => {
      const input = new TextDecoder().decode(await stdin());
      out(input.toUpperCase());
      err("warning\n");
      return 3;
    };
    const stdin = new PassThrough();
    const out = capture();
    const err = capture();
    stdin.end("hello\n");
    const code = await runExec(client, "c1", req(false), {
      stdin: stdin as never, stdout: out.stream as never, stderr: err.stream as never, disableStdin: false,
    });
    expect(code).toBe(3);
    expect(out.text()).toBe("HELLO\n");
    expect(err.text()).toBe("warning\n");
  });

  test("--disable-stdin sends the barrier at once; control is closed only after completion", async () => {
    let controlAtEnd: string[] = [];
    let control: string[] = [];
    fake.execScript = async (io) => {
      control = io.control;
      expect((await io.stdin()).length).toBe(0);
      controlAtEnd = [...io.control];
      io.out("done");
      return 0;
    };
    const out = capture();
    const code = await runExec(client, "c1", req(false), {
      stdin: new PassThrough() as never, stdout: out.stream as never, stderr: capture().stream as never, disableStdin: true,
    });
    expect(code).toBe(0);
    expect(out.text()).toBe("done");
    expect(controlAtEnd).not.toContain("<closed>");
    await Bun.sleep(50);
    expect(control).toContain("<closed>");
  });

  test("interactive: one bidirectional stream", async () => {
    fake.execScript = async ({ interactive, stdin, out }) => {
      expect(interactive).toBe(true);
      out(`got ${new TextDecoder().decode(await stdin())}`);
      return 130;
    };
    const stdin = new PassThrough();
    stdin.end("ls\n");
    const out = capture();
    const code = await runExec(client, "c1", req(true), {
      stdin: stdin as never, stdout: out.stream as never, stderr: capture().stream as never, disableStdin: false,
    });
    expect(code).toBe(130);
    expect(out.text()).toBe("got ls\n");
  });
});

test("events stream delivers parsed events", async () => {
  fake.events = [{ type: "lifecycle", timestamp: "2026-01-01T00:00:00Z", metadata: { action: "instance-started", source: "/1.0/instances/c1" } }];
  const got: LxdEvent[] = [];
  const stream = await client.events(["lifecycle"], (e) => got.push(e));
  for (let i = 0; i < 50 && !got.length; i++) await Bun.sleep(10);
  stream.close();
  await stream.closed;
  expect(got[0]?.metadata).toMatchObject({ action: "instance-started" });
  expect(fake.requests.some((r) => r.path === "/1.0/events?type=lifecycle")).toBe(true);
});
