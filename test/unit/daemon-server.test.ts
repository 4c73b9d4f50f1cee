import { describe, expect, test } from "bun:test";
import { Elysia, t } from "elysia";
import { AsyncResponse } from "../../src/api/envelope.ts";
import { EventHub } from "../../src/events/hub.ts";
import { configureLog } from "../../src/log.ts";
import { eventsRoutes } from "../../src/daemon/events-api.ts";
import { buildOpenApi } from "../../src/daemon/openapi.ts";
import { OperationManager } from "../../src/daemon/operations.ts";
import { operationsRoutes } from "../../src/daemon/operations-api.ts";
import { checkIfMatch, etagOf, RawResponse, sync } from "../../src/daemon/response.ts";
import { ApiError } from "../../src/api/error.ts";
import { createServer } from "../../src/daemon/server.ts";
import { serverInfoRoutes, type ServerInfoSource } from "../../src/daemon/server-info.ts";

function setup() {
  const events = new EventHub();
  configureLog({ quiet: true });
  const ops = new OperationManager(events, { retainMs: 50 });
  let config: Record<string, string> = {};
  const serverInfo: ServerInfoSource = {
    config: () => config,
    setConfig: (c) => { config = c; },
    storageDrivers: () => [{ name: "dir", version: "1", remote: false, inUse: true }, { name: "btrfs", version: "6.2", remote: false, inUse: false }],
  };
  let things: Record<string, { description: string }> = { a: { description: "first" } };
  const demo = new Elysia({ name: "demo" })
    .get("/1.0/things/:name", ({ params }) => {
      const thing = things[params.name];
      if (!thing) throw new ApiError(404, `Thing "${params.name}" not found`);
      return sync(thing, { etag: etagOf(thing) });
    }, { params: t.Object({ name: t.String() }), response: t.Object({ description: t.String() }) })
    .put("/1.0/things/:name", ({ params, body, request }) => {
      checkIfMatch(request, etagOf(things[params.name]));
      things = { ...things, [params.name]: body };
      return sync({});
    }, { params: t.Object({ name: t.String() }), body: t.Object({ description: t.String() }) })
    .post("/1.0/things", ({ body }) => ops.create({
      class: "task", description: "Creating thing",
      run: async () => { await Bun.sleep(body.ms ?? 0); if (body.fail) throw new Error("no space left"); return { made: true }; },
    }), { body: t.Object({ ms: t.Optional(t.Integer()), fail: t.Optional(t.Boolean()) }), response: AsyncResponse })
    .get("/1.0/things/:name/raw", () => new RawResponse("bytes", { headers: { "content-type": "application/octet-stream", "x-lxd-mode": "0644" } }))
    .get("/1.0/boom", () => { throw new Error("kaboom"); })
    .get("/1.0/plain", () => ({ just: "an object" }))
    .get("/1.0/teapot", ({ status }) => status(418, "short and stout"));
  const app = createServer([serverInfoRoutes({ serverInfo }), operationsRoutes({ ops }), eventsRoutes({ events }), demo], { jsonBodyLimit: 1024 });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      init.body = text;
      // As on the wire (a Request built in memory has no Content-Length).
      Object.assign(init.headers as Record<string, string>, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
    }
    const res = await app.handle(new Request(`http://localhost${path}`, init));
    const text = await res.text();
    let json: any;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, json, text };
  };
  return { app, call, ops, getConfig: () => config };
}

const ERROR_KEYS = ["type", "status", "status_code", "operation", "error_code", "error", "metadata"];

describe("envelopes", () => {
  test("GET / and GET /1.0 are sync envelopes with LXD's exact fields", async () => {
    const { call } = setup();
    const root = await call("GET", "/");
    expect(root.status).toBe(200);
    expect(root.json).toEqual({ type: "sync", status: "Success", status_code: 200, operation: "", error_code: 0, error: "", metadata: ["/1.0"] });
    const server = await call("GET", "/1.0");
    expect(server.json.metadata).toMatchObject({ api_version: "1.0", auth: "trusted", public: false, auth_methods: ["tls"] });
    const env = server.json.metadata.environment;
    expect(env.server_pid).toBe(process.pid);
    expect(env.storage).toBe("dir");
    expect(env.storage_supported_drivers).toEqual([{ Name: "dir", Version: "1", Remote: false }, { Name: "btrfs", Version: "6.2", Remote: false }]);
    expect(env.kernel_version).toBe(require("node:os").release());
    expect(server.json.metadata.api_extensions).toContain("etag");
    expect(server.headers.get("etag")).toMatch(/^"[0-9a-f]{64}"$/);
  });

  test("an Operation becomes HTTP 202 with Location and the async envelope", async () => {
    const { call } = setup();
    const res = await call("POST", "/1.0/things", { ms: 10 });
    expect(res.status).toBe(202);
    const id = res.json.metadata.id;
    expect(res.headers.get("location")).toBe(`/1.0/operations/${id}`);
    expect(res.json).toMatchObject({ type: "async", status: "Operation created", status_code: 100, operation: `/1.0/operations/${id}`, error_code: 0, error: "" });
    expect(Object.keys(res.json.metadata)).toEqual(["id", "class", "description", "created_at", "updated_at", "status", "status_code", "resources", "metadata", "may_cancel", "err", "location"]);
  });

  test("errors: ApiError, unknown route, wrong method, unexpected exception", async () => {
    const { call } = setup();
    const missing = await call("GET", "/1.0/things/zz");
    expect(missing.status).toBe(404);
    expect(Object.keys(missing.json)).toEqual(ERROR_KEYS);
    expect(missing.json).toEqual({ type: "error", status: "", status_code: 0, operation: "", error_code: 404, error: 'Thing "zz" not found', metadata: null });
    expect((await call("GET", "/1.0/nothing-here")).json).toMatchObject({ error_code: 404, error: "not found" });
    expect((await call("DELETE", "/1.0")).json).toMatchObject({ error_code: 405 });
    const boom = await call("GET", "/1.0/boom");
    expect(boom.status).toBe(500);
    expect(boom.json.error).toBe("kaboom");
  });

  test("validation errors are 400 naming the field; malformed JSON is 400; big bodies 413", async () => {
    const { call } = setup();
    const bad = await call("PUT", "/1.0/things/a", { description: 5 });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('Invalid request body "description": expected string');
    const broken = await call("PUT", "/1.0/things/a", '{"description":');
    expect(broken.status).toBe(400);
    expect(broken.json.error).toStartWith("Malformed JSON in request body");
    const big = await call("PUT", "/1.0/things/a", { description: "x".repeat(2000) });
    expect(big.status).toBe(413);
    expect(big.json.error_code).toBe(413);
  });

  test("bodies without a JSON content type are still read as JSON (as LXD does)", async () => {
    const { call } = setup();
    const res = await call("PUT", "/1.0/things/a", '{"description":"plain"}', { "content-type": "application/x-www-form-urlencoded" });
    expect(res.status).toBe(200);
    expect((await call("GET", "/1.0/things/a")).json.metadata).toEqual({ description: "plain" });
  });

  test("ETag round trip; stale If-Match is 412", async () => {
    const { call } = setup();
    const got = await call("GET", "/1.0/things/a");
    const etag = got.headers.get("etag")!;
    expect(etag).toBe(`"${etagOf({ description: "first" })}"`);
    expect((await call("PUT", "/1.0/things/a", { description: "second" }, { "if-match": etag })).status).toBe(200);
    const stale = await call("PUT", "/1.0/things/a", { description: "third" }, { "if-match": etag });
    expect(stale.status).toBe(412);
    expect(stale.json.error).toStartWith("ETag doesn't match");
  });

  test("plain return values and Elysia status() still come out as envelopes", async () => {
    const { call } = setup();
    expect((await call("GET", "/1.0/plain")).json).toMatchObject({ type: "sync", metadata: { just: "an object" } });
    const teapot = await call("GET", "/1.0/teapot");
    expect(teapot.status).toBe(418);
    expect(teapot.json).toMatchObject({ type: "error", error_code: 418, error: "short and stout" });
  });

  test("RawResponse passes body and headers through", async () => {
    const { call } = setup();
    const res = await call("GET", "/1.0/things/a/raw");
    expect(res.text).toBe("bytes");
    expect(res.headers.get("x-lxd-mode")).toBe("0644");
  });
});

describe("operations API", () => {
  test("list by recursion, show, wait for success and failure", async () => {
    const { call } = setup();
    const ok = (await call("POST", "/1.0/things", { ms: 30 })).json.metadata.id;
    const list0 = await call("GET", "/1.0/operations");
    expect(list0.json.metadata).toEqual({ running: [`/1.0/operations/${ok}`] });
    const list1 = await call("GET", "/1.0/operations?recursion=1&project=default");
    expect(list1.json.metadata.running[0]).toMatchObject({ id: ok, status: "Running" });
    expect((await call("GET", `/1.0/operations/${ok}`)).json.metadata.id).toBe(ok);

    const waited = await call("GET", `/1.0/operations/${ok}/wait?timeout=-1`);
    expect(waited.json.type).toBe("sync");
    expect(waited.json.metadata).toMatchObject({ id: ok, status: "Success", status_code: 200, metadata: { made: true } });

    const failing = (await call("POST", "/1.0/things", { fail: true })).json.metadata.id;
    const failed = await call("GET", `/1.0/operations/${failing}/wait`);
    expect(failed.status).toBe(200);
    expect(failed.json.metadata).toMatchObject({ status: "Failure", status_code: 400, err: "no space left" });
    expect((await call("GET", "/1.0/operations")).json.metadata).toEqual({
      success: [`/1.0/operations/${ok}`], failure: [`/1.0/operations/${failing}`],
    });
  });

  test("wait with a timeout returns the still-running operation", async () => {
    const { call } = setup();
    const id = (await call("POST", "/1.0/things", { ms: 300 })).json.metadata.id;
    const started = performance.now();
    const res = await call("GET", `/1.0/operations/${id}/wait?timeout=0.05`);
    expect(performance.now() - started).toBeLessThan(250);
    expect(res.json.metadata.status).toBe("Running");
    expect((await call("GET", `/1.0/operations/${id}/wait?timeout=abc`)).status).toBe(400);
  });

  test("DELETE cancels only cancelable operations; unknown id is 404", async () => {
    const { call, ops } = setup();
    const id = (await call("POST", "/1.0/things", { ms: 100 })).json.metadata.id;
    const refused = await call("DELETE", `/1.0/operations/${id}`);
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe("This operation can't be cancelled");
    const token = ops.create({ class: "token", description: "Join token" });
    const del = await call("DELETE", `/1.0/operations/${token.id}`);
    expect(del.json).toMatchObject({ type: "sync", metadata: {} });
    expect(token.status).toBe("Cancelled");
    expect((await call("GET", "/1.0/operations/00000000-0000-4000-8000-000000000000")).status).toBe(404);
  });

  test("websocket endpoint without upgrade shows the operation", async () => {
    const { call, ops } = setup();
    const op = ops.create({ class: "websocket", description: "Exec", metadata: { fds: { "0": "s" } }, run: () => Bun.sleep(20) });
    const res = await call("GET", `/1.0/operations/${op.id}/websocket?secret=whatever`);
    expect(res.json.metadata).toMatchObject({ id: op.id, class: "websocket" });
  });

  test("events without upgrade and with an unknown type are 400", async () => {
    const { call } = setup();
    expect((await call("GET", "/1.0/events")).status).toBe(400);
    expect((await call("GET", "/1.0/events?type=bogus")).json.error).toContain('"bogus"');
  });
});

describe("server config", () => {
  test("PUT/PATCH /1.0 validate keys; core.https_address is stored; unknown keys are 400", async () => {
    const { call, getConfig } = setup();
    expect((await call("PUT", "/1.0", { config: { "core.https_address": ":8443" } })).status).toBe(200);
    expect(getConfig()).toEqual({ "core.https_address": ":8443" });
    await call("PUT", "/1.0", { config: { "core.https_address": "" } });
    expect(getConfig()).toEqual({});
    await call("PUT", "/1.0", { config: { "core.https_address": "127.0.0.1:8443" } });
    const unknown = await call("PATCH", "/1.0", { config: { "core.nonsense": "1" } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toContain("core.nonsense");
    expect((await call("PATCH", "/1.0", { config: { "core.https_address": "[::]:99999" } })).status).toBe(400);
    const etag = (await call("GET", "/1.0")).headers.get("etag")!;
    expect((await call("PATCH", "/1.0", { config: { "core.https_address": "" } }, { "if-match": etag })).status).toBe(200);
    expect(getConfig()).toEqual({});
    expect((await call("PUT", "/1.0", { config: {} }, { "if-match": etag })).status).toBe(412);
  });
});

describe("OpenAPI", () => {
  test("lists every route with parameters, bodies and enveloped responses", async () => {
    const { app, call } = setup();
    const res = await call("GET", "/1.0/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.json;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    for (const route of app.routes) {
      // The legacy /1.0/containers* aliases are served but not documented twice.
      if ((route.hooks as { detail?: { hide?: boolean } }).detail?.hide) continue;
      const path = route.path.replace(/:(\w+)/g, "{$1}");
      expect(doc.paths[path]?.[route.method.toLowerCase()]).toBeDefined();
    }
    const put = doc.paths["/1.0/things/{name}"].put;
    expect(put.requestBody.content["application/json"].schema.properties.description.type).toBe("string");
    expect(put.parameters).toContainEqual(expect.objectContaining({ name: "name", in: "path", required: true }));
    const get = doc.paths["/1.0/things/{name}"].get.responses["200"].content["application/json"].schema;
    expect(get.properties.type.const).toBe("sync");
    expect(get.properties.metadata.properties.description.type).toBe("string");
    const create = doc.paths["/1.0/things"].post.responses["202"].content["application/json"].schema;
    expect(create.properties.type.const).toBe("async");
    expect(create.properties.metadata.properties.status_code.type).toBe("integer");
    expect(doc.paths["/1.0/operations/{id}/wait"].get.parameters.map((p: { name: string }) => p.name)).toContain("timeout");
    expect(buildOpenApi(app)).toEqual(doc);
    const docs = await call("GET", "/docs");
    expect(docs.text).toContain("/1.0/openapi.json");
    expect(docs.text).not.toMatch(/<script[^>]+src=/);
  });
});
