// Background operations (`/1.0/operations`), shaped exactly like LXD's api.Operation.
import { t, type Static } from "elysia";

export const OperationClass = t.Union([t.Literal("task"), t.Literal("websocket"), t.Literal("token")]);
export type OperationClass = Static<typeof OperationClass>;

export const OperationStatus = t.Union([
  t.Literal("Pending"), t.Literal("Running"), t.Literal("Cancelling"),
  t.Literal("Success"), t.Literal("Failure"), t.Literal("Cancelled"),
]);
export type OperationStatus = Static<typeof OperationStatus>;

export const Operation = t.Object({
  id: t.String({ description: "UUID" }),
  class: OperationClass,
  description: t.String(),
  created_at: t.String({ description: "RFC 3339 timestamp" }),
  updated_at: t.String({ description: "RFC 3339 timestamp" }),
  status: OperationStatus,
  status_code: t.Integer({ description: "105 Pending, 103 Running, 104 Cancelling, 200 Success, 400 Failure, 401 Cancelled" }),
  resources: t.Union([t.Record(t.String(), t.Array(t.String())), t.Null()], {
    description: 'Affected objects by type, e.g. {"instances": ["/1.0/instances/c1"]}',
  }),
  metadata: t.Union([t.Record(t.String(), t.Unknown()), t.Null()], {
    description: "Operation-specific data: websocket secrets (fds), progress, results (e.g. exec `return`)",
  }),
  may_cancel: t.Boolean(),
  err: t.String({ description: "Error message once the status is Failure" }),
  location: t.String({ description: 'The cluster member running it ("none" on a standalone server)' }),
});
export type Operation = Static<typeof Operation>;

export const OperationId = t.Object({ id: t.String({ description: "Operation UUID" }) });

/** recursion=0: URLs grouped by lowercase status; recursion=1: the operations themselves. */
export const OperationList = t.Union([
  t.Record(t.String(), t.Array(t.String())),
  t.Record(t.String(), t.Array(Operation)),
], { description: 'Grouped by lowercase status, e.g. {"running": [...], "success": [...]}' });

export const OperationListQuery = t.Object({
  recursion: t.Optional(t.String({ description: "0: URLs (default), 1: operation objects" })),
  project: t.Optional(t.String()),
  "all-projects": t.Optional(t.String()),
});

export const OperationWaitQuery = t.Object({
  timeout: t.Optional(t.String({ description: "Seconds to wait; -1 (default) waits until the operation ends" })),
  project: t.Optional(t.String()),
});

export const OperationWebsocketQuery = t.Object({
  secret: t.Optional(t.String({ description: "One of the secrets in the operation's metadata.fds" })),
  project: t.Optional(t.String()),
});
