// Every REST route declares its response (and the OpenAPI document therefore describes it):
// walks the daemon's route table, built over a stand-in context (only mounting happens, no request).
import { describe, expect, test } from "bun:test";
import type { DaemonContext } from "../../src/daemon/context.ts";
import type { RemoteAccess } from "../../src/daemon/certificates.ts";
import { apiRoutes } from "../../src/daemon/routes.ts";

/** Any property, any call: itself. */
const anything: unknown = new Proxy(() => {}, { get: (_, key) => (key === "then" ? undefined : anything), apply: () => anything });
const routes = apiRoutes(anything as DaemonContext, anything as RemoteAccess).flatMap((app) => app.routes);

describe("route table", () => {
  test("mounts the REST API", () => {
    expect(routes.length).toBeGreaterThan(80);
  });

  test("every route declares a response schema (or documents its raw answer)", () => {
    const missing = routes
      .filter((r) => {
        const hooks = r.hooks as { response?: unknown; detail?: { responses?: unknown } };
        return !hooks.response && !hooks.detail?.responses;
      })
      .map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });

  /** Routes that take no JSON body Elysia could validate, and why. */
  const withoutBodySchema: Record<string, string> = {
    "POST /1.0/instances/:name/files": "the body is the file's content",
    "POST /1.0/images": "a file upload, or JSON checked against ImagesPost by the handler",
    "POST /1.0/images/:fingerprint/refresh": "takes no body",
    "POST /1.0/images/:fingerprint/secret": "takes no body",
    "PUT /internal/shutdown": "takes no body",
    "POST /internal/trust/reload": "takes no body (a member's notice that the trust store changed)",
  };

  test("every route that takes a JSON body declares its schema", () => {
    const missing = routes
      .filter((r) => ["POST", "PUT", "PATCH"].includes(r.method) && !(r.hooks as { body?: unknown }).body)
      .map((r) => `${r.method} ${r.path}`)
      .filter((route) => !(route in withoutBodySchema));
    expect(missing).toEqual([]);
  });
});
