// What handlers return (or throw); server.ts turns these into LXD's JSON envelopes.
import { createHash } from "node:crypto";
import { ElysiaCustomStatusResponse } from "elysia";
import { ApiError } from "../api/error.ts";

/** A sync envelope; `location` + code 201 for "created" answers, `etag` sets the ETag header.
 *  It is an Elysia status response only so that a route's `response` schema type-checks the
 *  metadata; server.ts writes the envelope before Elysia could look at it. */
export class SyncResponse<T = unknown> extends ElysiaCustomStatusResponse<200, T, 200> {
  constructor(readonly metadata: T, readonly etag?: string, readonly location?: string, code = 200) {
    super(code as 200, metadata);
  }
}

export const sync = <T>(metadata: T, opts: { etag?: string; location?: string; code?: number } = {}): SyncResponse<T> =>
  new SyncResponse(metadata, opts.etag, opts.location, opts.code ?? (opts.location ? 201 : 200));

/** A body sent as is, outside any envelope: file and image downloads, the OpenAPI document. */
export class RawResponse {
  constructor(
    readonly body: ConstructorParameters<typeof Response>[0],
    readonly init: { status?: number; headers?: Record<string, string> } = {},
  ) {}
}

const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

export function syncEnvelope(r: SyncResponse): Response {
  const headers: Record<string, string> = {};
  if (r.etag) headers.etag = `"${r.etag}"`;
  if (r.location) headers.location = r.location;
  return json({
    type: "sync", status: "Success", status_code: 200, operation: "", error_code: 0, error: "", metadata: r.metadata ?? null,
  }, r.code, headers);
}

/** HTTP 202 for a freshly created background operation. */
export function asyncEnvelope(op: { id: string; toJSON(): unknown }): Response {
  const url = `/1.0/operations/${op.id}`;
  return json({
    type: "async", status: "Operation created", status_code: 100, operation: url, error_code: 0, error: "", metadata: op.toJSON(),
  }, 202, { location: url });
}

export function errorEnvelope(status: number, message: string): Response {
  return json({ type: "error", status: "", status_code: 0, operation: "", error_code: status, error: message, metadata: null }, status);
}

/** ETag of an object: sha256 of its JSON, as LXD computes it over the writable fields. */
export const etagOf = (obj: unknown): string => createHash("sha256").update(JSON.stringify(obj)).digest("hex");

/** Rejects a PUT/PATCH whose If-Match (quoted or not) names another version: 412. */
export function checkIfMatch(request: Request, currentEtag: string): void {
  const match = request.headers.get("if-match");
  if (!match) return;
  const given = match.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
  if (given !== currentEtag && given !== "*") {
    throw new ApiError(412, `ETag doesn't match: ${given} vs ${currentEtag}`);
  }
}
