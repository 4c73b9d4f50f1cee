// The HTTP server: mounts the resource modules and maps whatever handlers return or throw onto
// LXD's envelopes, in one place. Also listens on the unix socket.
import { clientOf, enterClient, requestsInFlight } from "./limits.ts";
import { chmodSync, chownSync, existsSync, readFileSync, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { Elysia, ElysiaCustomStatusResponse, type AnyElysia } from "elysia";
import { debugEnabled, log } from "../log.ts";
import { openApiRoutes } from "./openapi.ts";
import { Operation } from "./operations.ts";
import { instancePath, PROJECT_NOT_FOUND, type ProjectLookup, ownedPath, unknownProject } from "./project.ts";
import { pathOf, requestUrl } from "./request-url.ts";
import { RawResponse, SyncResponse, asyncEnvelope, errorEnvelope, syncEnvelope } from "./response.ts";
import { ApiError } from "../api/error.ts";
import { validationMessage } from "./validate.ts";

/** Whether every string in a parsed body (keys included) is well-formed Unicode. */
function wellFormed(v: unknown): boolean {
  if (typeof v === "string") return v.isWellFormed();
  if (Array.isArray(v)) return v.every(wellFormed);
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.entries(v).every(([k, x]) => k.isWellFormed() && wellFormed(x));
  }
  return true;
}

export interface ServerOptions {
  /** Largest JSON request body accepted (bytes); bigger ones get 413. Uploads with other content
   *  types (octet-stream, multipart) are not limited here: their handlers stream them. */
  jsonBodyLimit?: number;
  /** Runs first on every request, whichever listener it came from: a Response refuses it. */
  authorize?: (request: Request) => Response | undefined;
  /** Runs after the body is read: a Response answers for another cluster member (cluster-forward.ts);
   *  `local` re-enters this app. */
  forward?: (request: Request, local: (request: Request) => Promise<Response>) => Promise<Response | undefined>;
  /** The projects that exist (absent: only default). */
  projects?: ProjectLookup;
}

/** Bodies are JSON objects of config and descriptions (fields are capped in src/api/fields.ts):
 *  a few MiB is far beyond any real one. */
export const DEFAULT_JSON_BODY_LIMIT = 4 * 1024 * 1024;

class BodyTooLarge extends Error {}

/** Reads a body stream, counting the bytes actually received (chunked bodies have no length to
 *  trust), and stops as soon as it passes `limit`. */
async function readLimited(body: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const RELEASE = Symbol("release in-flight count");

/** LXD 5.0 still serves its pre-VM paths: every /1.0/containers* is the same /1.0/instances*
 *  (pylxd 2.2 knows no other path for containers). */
const LEGACY_CONTAINERS = /^\/1\.0\/containers(?=\/|$)/;

/** Maps a handler's return value onto a Response. A Response passes through, and undefined
 *  too (a websocket upgrade answered by Bun); any other plain value is sync metadata. */
export function toResponse(value: unknown): Response | undefined {
  if (value instanceof SyncResponse) return syncEnvelope(value);
  if (value instanceof Operation) return asyncEnvelope(value);
  if (value instanceof RawResponse) return new Response(value.body, value.init);
  if (value === undefined || value instanceof Response) return undefined;
  if (value instanceof ElysiaCustomStatusResponse) {
    const code = Number(value.code);
    return code >= 400 ? errorEnvelope(code, String(value.response)) : syncEnvelope(new SyncResponse(value.response, undefined, undefined, code));
  }
  return syncEnvelope(new SyncResponse(value));
}

/** LXD decodes every API body as JSON whatever its declared type; tools like curl send none,
 *  text/plain or a form type. Uploads (octet-stream, multipart) are the exceptions. */
const isJson = (contentType: string | null) =>
  !contentType || /^(application\/json|text\/plain|application\/x-www-form-urlencoded)\b/i.test(contentType);

/** Path templates (`/1.0/instances/:name`) as regexes, to tell 405 from 404. */
const templateRegex = (path: string) =>
  new RegExp(`^${path.split("/").map((seg) => (seg.startsWith(":") ? "[^/]+" : seg === "*" ? ".*" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/")}/?$`);

export function createServer(routes: AnyElysia[], opts: ServerOptions = {}) {
  const limit = opts.jsonBodyLimit ?? DEFAULT_JSON_BODY_LIMIT;
  const authorize = opts.authorize;
  /** Requests already moved to an instance's storage name (see project.ts). */
  const rewritten = new WeakSet<Request>();
  let templates: { method: string; re: RegExp }[] | undefined;
  /** The app itself, for requests re-entered under another path. */
  let handle: (request: Request) => Promise<Response> = () => { throw new Error("server not built"); };

  // TypeBox's own cleaning before validation: Elysia's default (exact mirror) turns a string
  // where a map belongs into {"0": "n", ...} and an array into {}, so {"config": "notamap"} passed.
  const app = new Elysia({ name: "lxd-daemon", normalize: "typebox" })
    .onRequest(async (context) => {
      const { request } = context;
      const url = requestUrl(request);
      if (debugEnabled()) {
        // Websocket secrets are credentials: keep them out of logs and logging events.
        log.debug("Handling API request", { method: request.method, url: (url.pathname + url.search).replace(/([?&]secret=)[^&]*/, "$1…") });
      }
      const refused = authorize?.(request);
      if (refused) return refused;
      if (unknownProject(url.searchParams, opts.projects) !== undefined) return errorEnvelope(404, PROJECT_NOT_FOUND);
      if (!rewritten.has(request)) {
        const project = url.searchParams.get("project") || "default";
        const instance = instancePath(url.pathname, project);
        const path = instance === undefined ? ownedPath(url.pathname, project, opts.projects) : instance;
        if (path === null) return errorEnvelope(404, "Instance not found");
        if (path !== undefined) {
          const moved = new Request(`http://localhost${path}${url.search}`, request);
          rewritten.add(moved);
          return handle(moved);
        }
      }
      if (!BODY_METHODS.has(request.method) || !request.body) return;
      // Re-entered under /1.0/instances (below), where the body is checked.
      if (LEGACY_CONTAINERS.test(url.pathname)) return;
      // An image upload is told from JSON by its body, not its type (images.ts reads it itself).
      if (request.method === "POST" && url.pathname.replace(/\/$/, "") === "/1.0/images") return;
      const type = request.headers.get("content-type");
      if (!isJson(type)) return;
      const tooLarge = () => errorEnvelope(413, `Request body too large (limit ${limit} bytes)`);
      if (Number(request.headers.get("content-length") ?? "0") > limit) return tooLarge();
      // The body is read here, by bytes received, so no framing (chunked, a lying length) can
      // make the parser buffer more than the limit; the handler gets the bytes already read.
      let bytes: Uint8Array;
      try {
        bytes = await readLimited(request.body, limit);
      } catch (err) {
        if (err instanceof BodyTooLarge) return tooLarge();
        return errorEnvelope(400, `Failed to read request body: ${(err as Error).message}`);
      }
      const headers = new Headers(request.headers);
      headers.delete("transfer-encoding");
      headers.set("content-length", String(bytes.length));
      if (!/^application\/json\b/i.test(type ?? "")) headers.set("content-type", "application/json");
      context.request = new Request(request.url, { method: request.method, headers, body: bytes });
    })
    .onRequest(async (context) => {
      if (opts.forward) return await opts.forward(context.request, (r) => handle(r));
    })
    // Last of the request hooks, after every early refusal: the request now counts against its
    // client until its answer is sent (or its websocket is up).
    .onRequest((context) => {
      const client = clientOf(context.request);
      enterClient(client);
      try {
        (context as { [RELEASE]?: () => void })[RELEASE] = requestsInFlight.claim(client);
      } catch (err) {
        return errorEnvelope((err as ApiError).status, (err as Error).message);
      }
    })
    // A lone surrogate (JSON's "\ud800") is no text: it cannot be stored faithfully, nor named in a
    // header, so no handler sees one.
    .onBeforeHandle({ as: "global" }, ({ body }) => {
      if (!wellFormed(body)) return errorEnvelope(400, "Request body has text that is not valid Unicode");
    })
    .onAfterResponse({ as: "global" }, (context) => {
      (context as { [RELEASE]?: () => void })[RELEASE]?.();
    })
    .onAfterHandle({ as: "global" }, ({ responseValue }) => toResponse(responseValue))
    .onError({ as: "global" }, ({ code, error, request }) => {
      if (error instanceof ApiError) return errorEnvelope(error.status, error.message);
      if (error instanceof ElysiaCustomStatusResponse) return toResponse(error);
      switch (code) {
        case "VALIDATION":
          return errorEnvelope(400, validationMessage(error));
        case "PARSE": {
          const cause = (error as { cause?: unknown }).cause;
          const detail = cause instanceof Error ? `: ${cause.message}` : "";
          const what = isJson(request.headers.get("content-type")) ? "Malformed JSON in request body" : "Failed to parse request body";
          return errorEnvelope(400, `${what}${detail}`);
        }
        case "NOT_FOUND": {
          templates ??= app.routes.map((r) => ({ method: r.method, re: templateRegex(r.path) }));
          const path = pathOf(request).pathname;
          const other = templates.some((t) => t.method !== request.method && t.re.test(path));
          return other ? errorEnvelope(405, "method not allowed") : errorEnvelope(404, "not found");
        }
      }
      const status = (error as { status?: unknown }).status;
      if (typeof status === "number" && status >= 400 && status < 500) return errorEnvelope(status, (error as Error).message);
      log.error("Request failed", { method: request.method, url: request.url, err: error, stack: (error as Error).stack });
      return errorEnvelope(500, (error as Error).message || String(error));
    });

  for (const r of routes) app.use(r);
  // The body stays unread here: the request is handled again, whole, under its /1.0/instances path.
  const legacy = ({ request }: { request: Request }) => {
    const url = pathOf(request);
    // Elysia's own router finds the path after the 11th character: a short host would cut it.
    const path = url.pathname.replace(LEGACY_CONTAINERS, "/1.0/instances");
    return handle(new Request(`http://localhost${path}${url.search}`, request));
  };
  const hidden = { parse: "none" as const, detail: { hide: true } };
  // One route per method and depth (…/c1/snapshots/s0/…): Bun's own router serves these; Elysia's
  // fallback for `all` and wildcards misreads paths under short hosts such as "lxd".
  for (const path of ["", "/:a", "/:a/:b", "/:a/:b/:c", "/:a/:b/:c/:d"].map((p) => `/1.0/containers${p}`)) {
    app.get(path, legacy, hidden).post(path, legacy, hidden).put(path, legacy, hidden).patch(path, legacy, hidden).delete(path, legacy, hidden);
  }
  app.use(openApiRoutes(app));
  handle = (request) => app.handle(request);
  return app;
}

/** Is something answering on this unix socket? */
const socketAlive = (path: string) =>
  new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });

/** The gid of group "lxd", whose members may use the socket (as with LXD). */
function lxdGroup(): number | undefined {
  try {
    const line = readFileSync("/etc/group", "utf8").split("\n").find((l) => l.startsWith("lxd:"));
    const gid = Number(line?.split(":")[2]);
    return Number.isInteger(gid) ? gid : undefined;
  } catch {
    return undefined;
  }
}

/** Serves the app on a unix socket (mode 0660, group lxd if it exists), replacing a stale
 *  socket file but refusing to steal one a live daemon answers on. */
export async function listenUnix(app: ReturnType<typeof createServer>, path: string) {
  if (existsSync(path)) {
    if (await socketAlive(path)) throw new Error(`Another daemon is already listening on ${path}`);
    unlinkSync(path);
  }
  app.listen({
    unix: path,
    // Waits (GET .../wait?timeout=-1) and exec streams may be silent for a long time.
    idleTimeout: 0,
    // Image and file uploads are streamed by their handlers; JSON is capped in onRequest.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  } as unknown as Parameters<typeof app.listen>[0]);
  const server = app.server;
  if (!server) throw new Error(`Failed to listen on ${path}`);
  chmodSync(path, 0o660);
  const gid = lxdGroup();
  if (gid !== undefined) {
    try {
      chownSync(path, process.getuid?.() ?? 0, gid);
    } catch (err) {
      log.warn("Could not give the socket to group lxd", { path, err });
    }
  }
  return server;
}
