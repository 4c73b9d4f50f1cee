// LXD's three response envelopes (sync, async, error) as schemas. Route `response` schemas describe
// only the metadata; the OpenAPI generator wraps them with these.
import { t, type TSchema } from "elysia";
import { Operation } from "./operation.ts";

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

/** Query parameter shared by collection endpoints. */
export const RecursionQuery = t.Object({
  recursion: t.Optional(t.String({ description: "0: URLs, 1: objects" })),
  project: t.Optional(t.String()),
});
