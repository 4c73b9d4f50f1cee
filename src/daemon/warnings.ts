// /1.0/warnings and /1.0/warnings/{uuid}: conditions the daemon noticed; acknowledge (PUT/PATCH
// status) or delete them, as with LXD's `lxc warning`.
import { Elysia, t } from "elysia";
import { Warning, WarningPut, WarningUuid } from "../api/warning.ts";
import type { Warnings } from "../events/warnings.ts";
import { Empty, recursionLevel } from "../api/envelope.ts";
import { sync } from "./response.ts";

const url = (uuid: string) => `/1.0/warnings/${uuid}`;
const Query = t.Object({ recursion: t.Optional(t.String()), project: t.Optional(t.String()), "all-projects": t.Optional(t.String()) });
const ok = (description: string, schema: object) => ({ 200: { description, content: { "application/json": { schema } } } });

export const warningsRoutes = (ctx: { warnings: Warnings }) => {
  const setStatus = (uuid: string, status: "new" | "acknowledged") => {
    ctx.warnings.setStatus(uuid, status);
    return sync({});
  };
  return new Elysia({ name: "warnings" })
    .get("/1.0/warnings", ({ query }) => {
      const all = ctx.warnings.list();
      return sync(recursionLevel(query) === 0 ? all.map((w) => url(w.uuid)) : all);
    }, {
      query: Query,
      detail: { summary: "List warnings (URLs, or objects with recursion=1)", tags: ["warnings"], responses: ok("Warnings", t.Union([t.Array(t.String()), t.Array(Warning)])) },
    })
    .get("/1.0/warnings/:uuid", ({ params }) => sync(ctx.warnings.mustGet(params.uuid)), {
      params: WarningUuid,
      detail: { summary: "Show a warning", tags: ["warnings"], responses: ok("Warning", Warning) },
    })
    .put("/1.0/warnings/:uuid", ({ params, body }) => setStatus(params.uuid, body.status), {
      params: WarningUuid, body: WarningPut, response: Empty,
      detail: { summary: "Set a warning's status (new or acknowledged)", tags: ["warnings"] },
    })
    .patch("/1.0/warnings/:uuid", ({ params, body }) => setStatus(params.uuid, body.status), {
      params: WarningUuid, body: WarningPut, response: Empty,
      detail: { summary: "Set a warning's status (new or acknowledged)", tags: ["warnings"] },
    })
    .delete("/1.0/warnings/:uuid", ({ params }) => {
      ctx.warnings.delete(params.uuid);
      return sync({});
    }, {
      params: WarningUuid, response: Empty,
      detail: { summary: "Delete a warning (it comes back if the condition is seen again)", tags: ["warnings"] },
    });
};
