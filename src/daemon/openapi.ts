// The OpenAPI 3.1 document, generated from the registered routes' own schemas (the same TypeBox
// schemas Elysia validates with), plus an offline docs page that renders it.
import { Elysia, type AnyElysia, type TSchema } from "elysia";
import { AsyncEnvelope, ErrorEnvelope, SyncEnvelope } from "../api/envelope.ts";
import type { KeyInfo } from "../config/values.ts";
import { DEVICE_KEYS, INSTANCE_KEYS } from "../instance/config.ts";
import { NETWORK_KEYS } from "../network/config.ts";
import { poolConfigKeys } from "../storage/pools.ts";
import { VOLUME_KEYS } from "../storage/volumes.ts";
import { RawResponse } from "./response.ts";
import { SERVER_KEYS } from "./server-config.ts";
import pkg from "../../package.json" with { type: "json" };

export const OPENAPI_PATH = "/1.0/openapi.json";
export const DOCS_PATH = "/docs";

interface RouteDetail { summary?: string; description?: string; tags?: string[]; hide?: boolean; responses?: Record<string, unknown> }

/** Elysia's t.Integer/t.Numeric also accept numeric strings (for query strings): in the document
 *  show just the number. */
function tidy(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidy);
  if (!node || typeof node !== "object") return node;
  const n = node as Record<string, unknown>;
  const alt = n.anyOf as Record<string, unknown>[] | undefined;
  if (alt?.length === 2 && alt[0].type === "string" && (alt[0].format === "integer" || alt[0].format === "numeric")) {
    const { anyOf: _, ...rest } = n;
    return tidy({ ...alt[1], ...rest });
  }
  return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, tidy(v)]));
}

/** TypeBox schemas are JSON Schema plus symbol keys; a JSON round trip keeps the former. */
const plain = (schema: unknown): Record<string, unknown> => tidy(JSON.parse(JSON.stringify(schema ?? {}))) as Record<string, unknown>;

const properties = (schema: unknown): [string, Record<string, unknown>, boolean][] => {
  const s = plain(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, p]) => [name, p, s.required?.includes(name) ?? false]);
};

const json = (schema: unknown) => ({ "application/json": { schema: plain(schema) } });

/** Route `response` schemas describe metadata; answers travel in LXD envelopes. */
function responses(hooks: { response?: unknown; detail?: RouteDetail }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const declared = hooks.response as Record<string, TSchema> | TSchema | undefined;
  const byStatus: Record<string, TSchema> = !declared
    ? {}
    : typeof (declared as TSchema).type === "string" || (declared as TSchema).anyOf || Symbol.for("TypeBox.Kind") in declared
      ? { 200: declared as TSchema }
      : (declared as Record<string, TSchema>);
  for (const [status, schema] of Object.entries(byStatus)) {
    out[status] = status === "202"
      ? { description: "Background operation created", content: json(AsyncEnvelope) }
      : { description: "Success", content: json(SyncEnvelope(schema)) };
  }
  if (!Object.keys(out).length && !hooks.detail?.responses) {
    out["200"] = { description: "Success", content: json(SyncEnvelope(plain({}) as TSchema)) };
  }
  out.default = { description: "Error (HTTP status = error_code)", content: json(ErrorEnvelope) };
  return { ...out, ...(hooks.detail?.responses ?? {}) };
}

const described = (table: Readonly<Record<string, KeyInfo>>) =>
  Object.fromEntries(Object.entries(table).map(([name, info]) => [name, info.description]));

/** The config keys of each family, from the same tables that validate them. */
export const configKeys = () => ({
  server: described(SERVER_KEYS),
  instance: described(INSTANCE_KEYS),
  device: Object.fromEntries(Object.entries(DEVICE_KEYS).map(([type, keys]) => [type, Object.keys(keys)])),
  network: described(NETWORK_KEYS),
  "storage-pool": poolConfigKeys(),
  "storage-volume": described(VOLUME_KEYS),
});

export function buildOpenApi(app: AnyElysia): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of app.routes) {
    const hooks = route.hooks as { body?: unknown; query?: unknown; params?: unknown; headers?: unknown; response?: unknown; detail?: RouteDetail };
    if (hooks.detail?.hide) continue;
    const method = route.method.toLowerCase();
    if (!["get", "put", "post", "patch", "delete", "head", "options"].includes(method)) continue;
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
    const declaredParams = new Map(properties(hooks.params).map(([n, s]) => [n, s]));
    const parameters = [
      ...pathParams.map((name) => ({ name, in: "path", required: true, schema: declaredParams.get(name) ?? { type: "string" } })),
      ...properties(hooks.query).map(([name, schema, required]) => ({ name, in: "query", required, schema })),
      ...properties(hooks.headers).map(([name, schema, required]) => ({ name, in: "header", required, schema })),
    ];
    const op: Record<string, unknown> = {
      operationId: `${method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase())}`,
      summary: hooks.detail?.summary ?? `${route.method} ${path}`,
      tags: hooks.detail?.tags ?? [path.split("/")[2] || "server"],
      parameters,
      responses: responses(hooks),
    };
    if (hooks.detail?.description) op.description = hooks.detail.description;
    if (hooks.body) op.requestBody = { required: true, content: json(hooks.body) };
    (paths[path] ??= {})[method] = op;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "lxd REST API",
      version: pkg.version,
      description: "LXD-compatible REST API 1.0 served over the daemon's unix socket. Every JSON answer is an envelope: sync (200/201), async (202, an Operation) or error (HTTP status = error_code). " +
        "The config keys each family accepts (besides user.*) are listed under x-lxd-config-keys.",
    },
    paths,
    "x-lxd-config-keys": configKeys(),
  };
}

const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lxd REST API</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
details{border:1px solid #ddd;border-radius:4px;margin:.3em 0}summary{padding:.4em;cursor:pointer}
.m{display:inline-block;width:5em;font-weight:bold;font-family:monospace}.get{color:#0a6}.post{color:#06c}
.put{color:#a60}.patch{color:#a0a}.delete{color:#c00}code{font-family:monospace}
pre{background:#f6f6f6;padding:.6em;overflow:auto;margin:.3em .6em}h3{margin:.6em .6em .2em}
</style></head><body><h1>lxd REST API</h1><p id="info">Loading <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a>…</p><div id="paths"></div>
<script>
const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
const block = (title, value) => value === undefined ? "" : "<h3>" + title + "</h3><pre>" + esc(JSON.stringify(value, null, 2)) + "</pre>";
fetch("${OPENAPI_PATH}").then((r) => r.json()).then((doc) => {
  document.getElementById("info").innerHTML = esc(doc.info.description) + ' (<a href="${OPENAPI_PATH}">OpenAPI ' + esc(doc.openapi) + "</a>)";
  const out = [];
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    out.push("<details><summary><span class='m " + method + "'>" + method.toUpperCase() + "</span><code>" + esc(path) +
      "</code> — " + esc(op.summary) + "</summary>" + (op.description ? "<p>" + esc(op.description) + "</p>" : "") +
      (op.parameters.length ? block("Parameters", op.parameters) : "") +
      block("Request body", op.requestBody && op.requestBody.content["application/json"].schema) +
      block("Responses", op.responses) + "</details>");
  }
  document.getElementById("paths").innerHTML = out.join("");
});
</script></body></html>`;

/** GET /1.0/openapi.json and GET /docs, describing every route of `app`. */
export const openApiRoutes = (app: AnyElysia) => {
  let cached: string | undefined;
  return new Elysia({ name: "openapi" })
    .get(OPENAPI_PATH, () => {
      cached ??= JSON.stringify(buildOpenApi(app));
      return new RawResponse(cached, { headers: { "content-type": "application/json" } });
    }, { detail: { summary: "This OpenAPI document", tags: ["server"], responses: { 200: { description: "OpenAPI 3.1 document (not enveloped)" } } } })
    .get(DOCS_PATH, () => new RawResponse(DOCS_HTML, { headers: { "content-type": "text/html; charset=utf-8" } }),
      { detail: { summary: "Browsable API documentation (offline)", tags: ["server"], responses: { 200: { description: "HTML page" } } } });
};
