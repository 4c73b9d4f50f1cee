// /1.0/images/aliases and /1.0/images/aliases/{name}: list, create, show, replace, merge,
// rename, delete. Names may contain "/" (e.g. "debian/12"), so the single-alias routes take the
// rest of the path, URL-encoded or not.
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { ImageAliasesEntry, ImageAliasesEntryPost, ImageAliasesEntryPut, ImageAliasesPost } from "../api/image.ts";
import { aliasUrl, ImageAliases } from "../image/aliases.ts";
import type { ImageAliasRow, ImageStore } from "../image/store.ts";
import { SyncResponse, checkIfMatch, etagOf, sync } from "./response.ts";
import { ApiError } from "../api/error.ts";
import { projectOf } from "./project.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface ImageAliasesContext {
  images: ImageStore;
  events: { send(type: "lifecycle", metadata: Record<string, unknown>): void };
  /** Remote clients without trust see aliases of public images only. */
  serverInfo?: { trusted?(request: Request): boolean };
  /** Whose images a project uses (absent: default's only). */
  projects?: { effective(project: string, feature: "images"): string };
}


function aliasName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, `Invalid alias name "${raw}"`);
  }
}

export const imageAliasesRoutes = (ctx: ImageAliasesContext) => {
  const entry = (a: ImageAliasRow) => ctx.images.aliasToApi(a);
  const etag = (a: ImageAliasRow) => etagOf(entry(a));
  /** The request project's aliases (default's without features.images). */
  const at = (query: { project?: string }) => {
    const images = ctx.images.in(ctx.projects?.effective(projectOf(query), "images") ?? "default");
    const visible = (request: Request, a: ImageAliasRow) =>
      (ctx.serverInfo?.trusted?.(request) ?? true) || Boolean(images.get(a.fingerprint)?.public);
    return { images, visible, aliases: new ImageAliases(images, ctx.events) };
  };

  return new Elysia({ name: "image-aliases" })
    .get("/1.0/images/aliases", ({ query, request }) => {
      const { images, visible } = at(query);
      const rows = images.listAliases().filter((a) => visible(request, a));
      if (recursionLevel(query) === 0) return sync(rows.map((a) => aliasUrl(a.name)));
      return sync(rows.map(entry));
    }, {
      query: RecursionQuery,
      response: UrlsOr(ImageAliasesEntry, "ImageAliasesEntry"),
      detail: { summary: "List image aliases", tags: ["images"] },
    })

    .post("/1.0/images/aliases", ({ body, query }) => {
      const { aliases } = at(query);
      if (!body.name || !body.target) throw new ApiError(400, "name and target are required");
      const a = aliases.create(body.name, body.target, body.description ?? "");
      return new SyncResponse({}, undefined, aliasUrl(a.name), 201);
    }, {
      body: ImageAliasesPost,
      response: Empty,
      detail: { summary: "Create an image alias", tags: ["images"] },
    })

    .get("/1.0/images/aliases/:name", ({ params, request, query }) => {
      const { images, visible } = at(query);
      const a = images.mustGetAlias(aliasName(params.name));
      if (!visible(request, a)) throw new ApiError(404, `Image alias "${a.name}" not found`);
      return sync(entry(a), { etag: etag(a) });
    }, {
      query: RecursionQuery,
      response: ImageAliasesEntry,
      detail: { summary: "Show an image alias", tags: ["images"] },
    })

    .put("/1.0/images/aliases/:name", ({ params, body, request, query }) => {
      const { images, aliases } = at(query);
      const name = aliasName(params.name);
      if (!body.target) throw new ApiError(400, "The target field is required");
      checkIfMatch(request, etag(images.mustGetAlias(name)));
      aliases.update(name, { target: body.target, description: body.description ?? "" });
      return sync({});
    }, {
      body: ImageAliasesEntryPut,
      response: Empty,
      detail: { summary: "Replace an image alias's target and description", tags: ["images"] },
    })

    .patch("/1.0/images/aliases/:name", ({ params, body, request, query }) => {
      const { images, aliases } = at(query);
      const name = aliasName(params.name);
      checkIfMatch(request, etag(images.mustGetAlias(name)));
      aliases.update(name, { target: body.target, description: body.description });
      return sync({});
    }, {
      body: ImageAliasesEntryPut,
      response: Empty,
      detail: { summary: "Change an image alias's target and/or description", tags: ["images"] },
    })

    .post("/1.0/images/aliases/:name", ({ params, body, query }) => {
      const { aliases } = at(query);
      const name = aliasName(params.name);
      aliases.rename(name, body.name);
      return new SyncResponse({}, undefined, aliasUrl(body.name), 201);
    }, {
      body: ImageAliasesEntryPost,
      response: Empty,
      detail: { summary: "Rename an image alias", tags: ["images"] },
    })

    .delete("/1.0/images/aliases/:name", ({ params, query }) => {
      const { aliases } = at(query);
      const name = aliasName(params.name);
      aliases.delete(name);
      return sync({});
    }, {
      response: Empty,
      detail: { summary: "Delete an image alias", tags: ["images"] },
    });
};
