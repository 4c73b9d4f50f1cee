// The REST API directly: envelopes, recursion, ETags, operations, and bad input that must be
// refused with a clear 4xx while changing nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
let fingerprint: string;

beforeAll(async () => {
  d = await startDaemon();
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  fingerprint = await importBusybox(d);
});

afterAll(async () => {
  await d?.stop();
});

const waitOp = async (opUrl: string) => (await d.api("GET", `${opUrl}/wait?timeout=30`)).body.metadata;

async function create(name: string, start = true) {
  const r = await d.api("POST", "/1.0/instances", { name, source: { type: "image", fingerprint }, start });
  expect(r.status).toBe(202);
  expect(r.body.type).toBe("async");
  const op = await waitOp(r.body.operation);
  expect(op.status).toBe("Success");
}

describe("server", () => {
  test("GET / and GET /1.0", async () => {
    const root = await d.api("GET", "/");
    expect(root.body).toMatchObject({ type: "sync", status_code: 200, metadata: ["/1.0"] });
    const server = await d.api("GET", "/1.0");
    const env = server.body.metadata.environment;
    expect(server.body.metadata.api_version).toBe("1.0");
    expect(env.kernel_version).toBe(require("node:os").release());
    expect(env.architectures.length).toBeGreaterThan(0);
    expect(server.body.metadata.api_extensions).toContain("instances");
  });

  test("OpenAPI document lists every route with schemas", async () => {
    const r = await fetch("http://lxd/1.0/openapi.json", { unix: d.socket } as RequestInit);
    const doc = (await r.json()) as { paths: Record<string, any> };
    const paths = Object.keys(doc.paths);
    expect(paths.length).toBeGreaterThan(15);
    for (const p of ["/1.0/instances", "/1.0/instances/{name}/exec", "/1.0/images", "/1.0/operations/{id}/wait"]) {
      expect(paths).toContain(p);
    }
    expect(doc.paths["/1.0/instances"].post.requestBody).toBeDefined();
  });
});

describe("instances", () => {
  test("create with start:true, recursion 0/1/2", async () => {
    await create("a1");
    const r0 = await d.api("GET", "/1.0/instances");
    expect(r0.body.metadata).toEqual(["/1.0/instances/a1"]);
    const r1 = await d.api("GET", "/1.0/instances?recursion=1");
    expect(r1.body.metadata[0]).toMatchObject({ name: "a1", status: "Running", status_code: 103, type: "container" });
    expect(r1.body.metadata[0].state).toBeUndefined();
    const r2 = await d.api("GET", "/1.0/instances?recursion=2");
    expect(r2.body.metadata[0].state.pid).toBeGreaterThan(0);
    expect(r2.body.metadata[0].state.network.lo).toBeDefined();
  });

  test("ETag: PUT with a stale If-Match is refused with 412", async () => {
    const r = await d.api("GET", "/1.0/instances/a1");
    const etag = r.headers.get("etag")!;
    expect(etag).toBeTruthy();
    const body = { ...r.body.metadata, config: { ...r.body.metadata.config, "user.note": "x" } };
    const stale = await d.api("PUT", "/1.0/instances/a1", body, { "If-Match": "not-the-etag" });
    expect(stale.status).toBe(412);
    const fresh = await d.api("PUT", "/1.0/instances/a1", body, { "If-Match": etag });
    expect(fresh.status).toBe(202);
    await waitOp(fresh.body.operation);
    expect((await d.api("GET", "/1.0/instances/a1")).body.metadata.config["user.note"]).toBe("x");
  });

  test("PATCH merges config", async () => {
    const r = await d.api("PATCH", "/1.0/instances/a1", { config: { "user.other": "y" } });
    expect(r.status).toBe(200);
    const cfg = (await d.api("GET", "/1.0/instances/a1")).body.metadata.config;
    expect(cfg["user.note"]).toBe("x");
    expect(cfg["user.other"]).toBe("y");
  });

  test("freeze and unfreeze", async () => {
    for (const [action, status] of [["freeze", "Frozen"], ["unfreeze", "Running"]]) {
      const r = await d.api("PUT", "/1.0/instances/a1/state", { action });
      expect((await waitOp(r.body.operation)).status).toBe("Success");
      expect((await d.api("GET", "/1.0/instances/a1")).body.metadata.status).toBe(status);
    }
  });

  test("stop through the API, then delete", async () => {
    const r = await d.api("PUT", "/1.0/instances/a1/state", { action: "stop", force: true });
    expect((await waitOp(r.body.operation)).status).toBe("Success");
    const del = await d.api("DELETE", "/1.0/instances/a1");
    expect((await waitOp(del.body.operation)).status).toBe("Success");
    expect((await d.api("GET", "/1.0/instances/a1")).status).toBe(404);
  });

  test("operations are listed and waitable", async () => {
    const r = await d.api("POST", "/1.0/instances", { name: "a2", source: { type: "image", fingerprint } });
    const op = await waitOp(r.body.operation);
    expect(op).toMatchObject({ class: "task", status: "Success", status_code: 200 });
    expect(op.resources.instances).toContain("/1.0/instances/a2");
    const one = await d.api("GET", r.body.operation);
    expect(one.body.metadata.id).toBe(op.id);
    await waitOp((await d.api("DELETE", "/1.0/instances/a2")).body.operation);
  });
});

describe("websockets", () => {
  test("/1.0/events streams lifecycle and operation events", async () => {
    const ws = new WebSocket(`ws+unix://${d.socket}:/1.0/events?type=lifecycle,operation`);
    const events: { type: string; metadata: Record<string, unknown> }[] = [];
    ws.onmessage = (m) => events.push(JSON.parse(String(m.data)));
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    await create("ev1", false);
    await waitOp((await d.api("DELETE", "/1.0/instances/ev1")).body.operation);
    await Bun.sleep(100);
    ws.close();
    const actions = events.filter((e) => e.type === "lifecycle").map((e) => e.metadata.action);
    expect(actions).toContain("instance-created");
    expect(actions).toContain("instance-deleted");
    expect(events.some((e) => e.type === "operation" && e.metadata.status === "Success")).toBe(true);
  });

  test("interactive exec: pty, window-resize on control, exit code in metadata.return", async () => {
    await create("ws1");
    const r = await d.api("POST", "/1.0/instances/ws1/exec", {
      command: ["sh", "-c", "read line; stty size; exit 7"], interactive: true,
      "wait-for-websocket": true, width: 80, height: 24,
    });
    expect(r.status).toBe(202);
    const { fds } = r.body.metadata.metadata;
    const open = (secret: string) => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws+unix://${d.socket}:${r.body.operation}/websocket?secret=${secret}`);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => resolve(ws);
      ws.onerror = reject;
    });
    const control = await open(fds.control);
    const data = await open(fds["0"]);
    let out = "";
    data.onmessage = (m) => (out += typeof m.data === "string" ? m.data : new TextDecoder().decode(m.data));
    control.send(JSON.stringify({ command: "window-resize", args: { width: "132", height: "43" } }));
    await Bun.sleep(200);
    data.send(new TextEncoder().encode("go\r"));
    const op = await waitOp(r.body.operation);
    expect(op.metadata.return).toBe(7);
    expect(out).toContain("43 132");
    expect(await open("wrong").then(() => "connected", () => "refused")).toBe("refused");
    await waitOp((await d.api("DELETE", "/1.0/instances/ws1?force=1")).body.operation);
  });
});

describe("bad input is refused and changes nothing", () => {
  const count = async () => (await d.api("GET", "/1.0/instances")).body.metadata.length;

  test("invalid instance names", async () => {
    const before = await count();
    for (const name of ["-bad", "1abc", "a_b", "a/b", "x".repeat(64), "bad-", "sp ace"]) {
      const r = await d.api("POST", "/1.0/instances", { name, source: { type: "image", fingerprint } });
      expect(r.status).toBe(400);
      expect(r.body.type).toBe("error");
      expect(r.body.error).toMatch(/name/i);
    }
    expect(await count()).toBe(before);
  });

  test("malformed JSON", async () => {
    const r = await fetch("http://lxd/1.0/instances", {
      method: "POST", body: "{not json", headers: { "Content-Type": "application/json" }, unix: d.socket,
    } as RequestInit);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { type: string }).type).toBe("error");
  });

  test("oversized bodies are refused with 413", async () => {
    const body = JSON.stringify({ name: "big", source: { type: "image", fingerprint }, description: "x".repeat(65 * 1024 * 1024) });
    const r = await fetch("http://lxd/1.0/instances", {
      method: "POST", body, headers: { "Content-Type": "application/json" }, unix: d.socket,
    } as RequestInit);
    expect(r.status).toBe(413);
    expect(await count()).toBe(0);
  });

  test("unknown image, unknown instance, unknown route", async () => {
    const img = await d.api("POST", "/1.0/instances", { name: "x1", source: { type: "image", alias: "nope" } });
    expect(img.status).toBe(404);
    expect(img.body.error).toMatch(/nope/);
    expect((await d.api("GET", "/1.0/instances/ghost")).status).toBe(404);
    expect((await d.api("PUT", "/1.0/instances/ghost/state", { action: "start" })).status).toBe(404);
    expect((await d.api("GET", "/1.0/no-such-thing")).status).toBe(404);
    expect(await count()).toBe(0);
  });

  test("duplicate name", async () => {
    await create("dup", false);
    const r = await d.api("POST", "/1.0/instances", { name: "dup", source: { type: "image", fingerprint } });
    expect(r.status).toBe(409);
    expect(await count()).toBe(1);
    await waitOp((await d.api("DELETE", "/1.0/instances/dup")).body.operation);
  });

  test("bad config keys and values at create", async () => {
    for (const config of [{ "bogus.key": "1" }, { "limits.memory": "lots" }, { "security.privileged": "maybe" }]) {
      const r = await d.api("POST", "/1.0/instances", { name: "cfg", source: { type: "image", fingerprint }, config });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/config/i);
    }
    expect(await count()).toBe(0);
  });

  test("bad state action", async () => {
    await create("st", false);
    const r = await d.api("PUT", "/1.0/instances/st/state", { action: "explode" });
    expect(r.status).toBe(400);
    const stop = await d.api("PUT", "/1.0/instances/st/state", { action: "stop" });
    expect((await waitOp(stop.body.operation)).err).toMatch(/already stopped/);
    await waitOp((await d.api("DELETE", "/1.0/instances/st")).body.operation);
  });
});
