// /1.0/profiles and /1.0/profiles/{name}: list, create, show, replace, merge, rename, delete.
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Profile, ProfileName, ProfilePost, ProfilePut, ProfilesPost } from "../api/profile.ts";
import { profileUrl, type ProfileManager, type ProfileRow } from "../profile/manager.ts";
import { ApiError } from "../api/error.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";
import { projectOf } from "./project.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface ProfilesContext {
  profiles: ProfileManager;
  /** Applies a changed profile to the running instances using it (absent in unit tests). */
  instances?: { profileChanged(profile: string, project: string): Promise<string[]> };
}

/** LXD's profile ETag covers the writable fields. */
const etag = (p: ProfileRow) => etagOf({ config: p.config, description: p.description, devices: p.devices });

export const profilesRoutes = ({ profiles, instances }: ProfilesContext) => {
  /** As LXD, a changed profile reaches running instances at once (limits, devices). */
  const applyLive = async (name: string, project: string) => {
    const failed = await instances?.profileChanged(name, project) ?? [];
    if (failed.length) throw new ApiError(400, `Profile "${name}" was saved, but applying it to running instances failed: ${failed.join("; ")}`);
    return sync({});
  };
  return new Elysia({ name: "profiles" })
    .get("/1.0/profiles", ({ query }) => {
      const rows = profiles.list(projectOf(query));
      if (recursionLevel(query) === 0) return sync(rows.map((r) => profileUrl(r.name, r.project)));
      return sync(rows.map((r) => profiles.toApi(r)));
    }, {
      query: RecursionQuery,
      response: UrlsOr(Profile, "Profile"),
      detail: { summary: "List profiles", tags: ["profiles"] },
    })

    .post("/1.0/profiles", ({ body, query }) => {
      const row = profiles.create(body, projectOf(query));
      return sync({}, { location: profileUrl(row.name, row.project) });
    }, {
      body: ProfilesPost, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Create a profile", tags: ["profiles"] },
    })

    .get("/1.0/profiles/:name", ({ params, query }) => {
      const row = profiles.get(params.name, projectOf(query));
      return sync(profiles.toApi(row), { etag: etag(row) });
    }, {
      params: ProfileName, query: RecursionQuery,
      response: Profile,
      detail: { summary: "Show a profile", tags: ["profiles"] },
    })

    .put("/1.0/profiles/:name", ({ params, body, request, query }) => {
      const project = projectOf(query);
      checkIfMatch(request, etag(profiles.get(params.name, project)));
      profiles.update(params.name, body, false, project);
      return applyLive(params.name, project);
    }, {
      params: ProfileName, body: ProfilePut, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Replace a profile's description, config and devices", tags: ["profiles"] },
    })

    .patch("/1.0/profiles/:name", ({ params, body, request, query }) => {
      const project = projectOf(query);
      checkIfMatch(request, etag(profiles.get(params.name, project)));
      profiles.update(params.name, body, true, project);
      return applyLive(params.name, project);
    }, {
      params: ProfileName, body: ProfilePut, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Merge changes into a profile (config by key, devices by name)", tags: ["profiles"] },
    })

    .post("/1.0/profiles/:name", ({ params, body, query }) => {
      const project = projectOf(query);
      profiles.rename(params.name, body.name, project);
      return sync({}, { location: profileUrl(body.name, profiles.get(body.name, project).project) });
    }, {
      params: ProfileName, body: ProfilePost, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Rename a profile (instances using it follow)", tags: ["profiles"] },
    })

    .delete("/1.0/profiles/:name", ({ params, query }) => {
      profiles.delete(params.name, projectOf(query));
      return sync({});
    }, {
      params: ProfileName, query: RecursionQuery,
      response: Empty,
      detail: { summary: "Delete a profile (refused for default and while instances use it)", tags: ["profiles"] },
    });
};
