// GET /1.0/events: a websocket streaming every matching event as one JSON text message.
import { isTrue } from "../config/values.ts";
import { Elysia } from "elysia";
import { Event, EventsQuery } from "../api/event.ts";
import { EVENT_TYPES, type EventHub, type EventType } from "../events/hub.ts";
import { upgradeWebSocket } from "./operations-api.ts";
import type { ClusterLinks } from "./context.ts";
import { requestUrl } from "./request-url.ts";
import { ApiError } from "../api/error.ts";

export interface EventsContext { events: EventHub; clusterLinks?: ClusterLinks }

/** A listener this far behind is dropped rather than buffered without bound. */
const MAX_BACKLOG = 16 * 1024 * 1024;

function parseTypes(value: string | undefined): EventType[] {
  const types = (value ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const type of types) {
    if (!EVENT_TYPES.includes(type as EventType)) throw new ApiError(400, `"${type}" isn't a supported event type (${EVENT_TYPES.join(", ")})`);
  }
  return types.length ? (types as EventType[]) : [...EVENT_TYPES];
}

export const eventsRoutes = (ctx: EventsContext) =>
  new Elysia({ name: "events" })
    .get("/1.0/events", ({ query, request, server }) => {
      const types = parseTypes(query.type);
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        throw new ApiError(400, "GET /1.0/events streams over a websocket: upgrade the connection");
      }
      const project = isTrue(query["all-projects"]) ? undefined : query.project || "default";
      return upgradeWebSocket(server, request, (ws) => {
        const unsubscribe = ctx.events.subscribe({ types, project }, (event) => {
          if (ws.bufferedAmount() > MAX_BACKLOG) {
            ws.close(1008, "Event listener too slow");
            return;
          }
          ws.send(JSON.stringify(event));
        });
        // On a cluster, every other member's events come through as they are (location tells whose).
        const url = requestUrl(request);
        const peers = ctx.clusterLinks?.peerSockets(request, url.pathname + url.search) ?? [];
        for (const peer of peers) {
          peer.onmessage = (e) => { if (typeof e.data === "string") ws.send(e.data); };
        }
        ws.onClose(() => {
          unsubscribe();
          for (const peer of peers) peer.close();
        });
        // Events are server -> client only; LXD ignores anything a client sends.
        ws.onMessage(() => {});
      });
    }, {
      query: EventsQuery,
      detail: {
        responses: {
          101: { description: "Websocket of Event messages", content: { "application/json": { schema: JSON.parse(JSON.stringify(Event)) } } },
        },
        summary: "Stream events over a websocket (one JSON Event per message)",
        description: "`type` filters by event type; `project` (default: default) or `all-projects=true` by project.",
        tags: ["events"],
      },
    });
