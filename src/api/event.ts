// `/1.0/events`: one JSON text message per event, shaped like LXD's api.Event.
import { t, type Static } from "elysia";

export const EventType = t.Union([t.Literal("lifecycle"), t.Literal("operation"), t.Literal("logging")]);

export const Event = t.Object({
  type: EventType,
  timestamp: t.String({ description: "RFC 3339 timestamp" }),
  metadata: t.Unknown({ description: "operation: an Operation; lifecycle: LifecycleMetadata; logging: LoggingMetadata" }),
  location: t.String({ description: 'Cluster member; always "none"' }),
  project: t.Optional(t.String()),
});
export type Event = Static<typeof Event>;

export const LifecycleMetadata = t.Object({
  action: t.String({ description: 'e.g. "instance-started"' }),
  source: t.String({ description: 'e.g. "/1.0/instances/c1"' }),
  context: t.Record(t.String(), t.Unknown()),
});

export type LifecycleMetadata = Static<typeof LifecycleMetadata>;

export const LoggingMetadata = t.Object({
  message: t.String(),
  level: t.Union([t.Literal("debug"), t.Literal("info"), t.Literal("warning"), t.Literal("error")]),
  context: t.Record(t.String(), t.String()),
});
export type LoggingMetadata = Static<typeof LoggingMetadata>;

export const EventsQuery = t.Object({
  type: t.Optional(t.String({ description: "Comma-separated event types (default: all): lifecycle,operation,logging" })),
  project: t.Optional(t.String()),
  "all-projects": t.Optional(t.String()),
});
