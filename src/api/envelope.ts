// LXD's three response envelopes (sync, async, error) as schemas. Route `response` schemas describe
// only the metadata; the OpenAPI generator wraps them with these.
import { t, type Static, type TSchema } from "elysia";
import { Operation } from "./operation.ts";

/** Any of the three envelopes, as a client reads it before looking at `type`. */
export const Envelope = t.Object({
  type: t.Union([t.Literal("sync"), t.Literal("async"), t.Literal("error")]),
  status: t.String(),
  status_code: t.Integer(),
  operation: t.String(),
  error_code: t.Integer(),
  error: t.String(),
  metadata: t.Unknown(),
});
export type Envelope = Static<typeof Envelope>;

/** `{"type":"sync", ..., "metadata": <metadata>}` with HTTP 200 (or 201 with a Location header). */
export const SyncEnvelope = <T extends TSchema>(metadata: T) =>
  t.Object({
    type: t.Literal("sync"),
    status: t.Literal("Success"),
    status_code: t.Literal(200),
    operation: t.Literal(""),
    error_code: t.Literal(0),
    error: t.Literal(""),
    metadata,
  });

/** HTTP 202 with `Location: /1.0/operations/<id>`; the metadata is the operation as created. */
export const AsyncEnvelope = t.Object({
  type: t.Literal("async"),
  status: t.Literal("Operation created"),
  status_code: t.Literal(100),
  operation: t.String({ description: "URL of the operation, /1.0/operations/<uuid>" }),
  error_code: t.Literal(0),
  error: t.Literal(""),
  metadata: Operation,
});

/** Every failure: the HTTP status equals `error_code`. */
export const ErrorEnvelope = t.Object({
  type: t.Literal("error"),
  status: t.Literal(""),
  status_code: t.Literal(0),
  operation: t.Literal(""),
  error_code: t.Integer({ description: "HTTP status code: 400, 403, 404, 409, 412, 413, 500..." }),
  error: t.String(),
  metadata: t.Null(),
});

/** `response` for routes that return an Operation (HTTP 202 + async envelope). */
export const AsyncResponse = { 202: Operation };

/** Metadata of answers that carry none. */
export const Empty = t.Object({}, { description: "Empty metadata: {}" });

/** A collection by recursion: its URLs (recursion=0) or its objects (recursion=1). */
export const UrlsOr = <T extends TSchema>(item: T, what: string) =>
  t.Union([t.Array(t.String()), t.Array(item)], { description: `URLs (recursion=0) or ${what} objects (recursion=1)` });

/** OpenAPI `responses` of a route that answers outside any envelope (downloads, simplestreams). */
export const rawAnswer = (description: string, contentType = "application/octet-stream") => ({
  200: { description, content: { [contentType]: { schema: contentType === "application/json" ? {} : { type: "string" as const, format: "binary" } } } },
});

/** Query of collection and object endpoints; LXD's clients send `project` (and `target`) everywhere. */
export const RecursionQuery = t.Object({
  recursion: t.Optional(t.String({ description: "0: URLs, 1: objects, 2: objects with state (instances; `2;fields=…` accepted)" })),
  project: t.Optional(t.String()),
  target: t.Optional(t.String({ description: "Cluster member (a single server ignores it)" })),
  filter: t.Optional(t.String({ description: "LXD filter expression (instances, images)" })),
  "all-projects": t.Optional(t.String()),
});
export type RecursionQuery = Static<typeof RecursionQuery>;

/** The one reading of `?recursion=`: "2;fields=state.disk" -> 2, absent or junk -> 0. */
export const recursionLevel = (query: { recursion?: string }): number => Number.parseInt(query.recursion ?? "0", 10) || 0;
