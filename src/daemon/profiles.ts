// /1.0/profiles and /1.0/profiles/{name}: list, create, show, replace, merge, rename, delete.
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Profile, ProfileName, ProfilePost, ProfilePut, ProfilesPost } from "../api/profile.ts";
import { profileUrl, type ProfileManager, type ProfileRow } from "../profile/manager.ts";
import { ApiError } from "../api/error.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface ProfilesContext {
  profiles: ProfileManager;
  /** Applies a changed profile to the running instances using it (absent in unit tests). */
  instances?: { profileChanged(profile: string): Promise<string[]> };
}

/** LXD's profile ETag covers the writable fields. */
const etag = (p: ProfileRow) => etagOf({ config: p.config, description: p.description, devices: p.devices });

export const profilesRoutes = ({ profiles, instances }: ProfilesContext) => {
  /** As LXD, a changed profile reaches running instances at once (limits, devices). */
  const applyLive = async (name: string) => {
    const failed = await instances?.profileChanged(name) ?? [];
    if (failed.length) throw new ApiError(400, `Profile "${name}" was saved, but applying it to running instances failed: ${failed.join("; ")}`);
    return sync({});
  };
  return new Elysia({ name: "profiles" })
    .get("/1.0/profiles", ({ query }) => {
      const rows = profiles.list();
      if (recursionLevel(query) === 0) return sync(rows.map((r) => profileUrl(r.name)));
      return sync(rows.map((r) => profiles.toApi(r)));
    }, {
      query: RecursionQuery,
      response: UrlsOr(Profile, "Profile"),
      detail: { summary: "List profiles", tags: ["profiles"] },
    })

    .post("/1.0/profiles", ({ body }) => {
      const row = profiles.create(body);
      return sync({}, { location: profileUrl(row.name) });
    }, {
      body: ProfilesPost,
      response: Empty,
      detail: { summary: "Create a profile", tags: ["profiles"] },
    })

    .get("/1.0/profiles/:name", ({ params }) => {
      const row = profiles.get(params.name);
      return sync(profiles.toApi(row), { etag: etag(row) });
    }, {
      params: ProfileName, query: RecursionQuery,
      response: Profile,
      detail: { summary: "Show a profile", tags: ["profiles"] },
    })

    .put("/1.0/profiles/:name", ({ params, body, request }) => {
      checkIfMatch(request, etag(profiles.get(params.name)));
      profiles.update(params.name, body, false);
      return applyLive(params.name);
    }, {
      params: ProfileName, body: ProfilePut,
      response: Empty,
      detail: { summary: "Replace a profile's description, config and devices", tags: ["profiles"] },
    })

    .patch("/1.0/profiles/:name", ({ params, body, request }) => {
      checkIfMatch(request, etag(profiles.get(params.name)));
      profiles.update(params.name, body, true);
      return applyLive(params.name);
    }, {
      params: ProfileName, body: ProfilePut,
      response: Empty,
      detail: { summary: "Merge changes into a profile (config by key, devices by name)", tags: ["profiles"] },
    })

    .post("/1.0/profiles/:name", ({ params, body }) => {
      profiles.rename(params.name, body.name);
      return sync({}, { location: profileUrl(body.name) });
    }, {
      params: ProfileName, body: ProfilePost,
      response: Empty,
      detail: { summary: "Rename a profile (instances using it follow)", tags: ["profiles"] },
    })

    .delete("/1.0/profiles/:name", ({ params }) => {
      profiles.delete(params.name);
      return sync({});
    }, {
      params: ProfileName,
      response: Empty,
      detail: { summary: "Delete a profile (refused for default and while instances use it)", tags: ["profiles"] },
    });
};
