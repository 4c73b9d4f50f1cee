// /1.0/profiles and /1.0/profiles/{name}: list, create, show, replace, merge, rename, delete.
import { Elysia, t } from "elysia";
import { Profile, ProfileName, ProfilePost, ProfilePut, ProfilesPost } from "../api/profile.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/profiles.ts";
import { getInstance } from "../db/instances.ts";
import { expandDevices, rootDisk, validateDevices, validateInstanceConfig, validateProfileName } from "../instance/config.ts";
import { checkIfMatch, etagOf, sync, SyncResponse } from "./response.ts";
import { ApiError } from "../api/error.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface ProfilesContext {
  db: Db;
  events: { send(type: "lifecycle", metadata: Record<string, unknown>): void };
}

type StringMap = Record<string, string>;
type Devices = Record<string, StringMap>;

const url = (name: string) => `/1.0/profiles/${name}`;
const Query = t.Object({ recursion: t.Optional(t.String()), project: t.Optional(t.String()) });

/** LXD's profile ETag covers the writable fields. */
const etag = (p: q.ProfileRow) => etagOf({ config: p.config, description: p.description, devices: p.devices });

/** Empty values mean "unset": LXD never stores them. */
const dropEmpty = (config: StringMap): StringMap => Object.fromEntries(Object.entries(config).filter(([, v]) => v !== ""));

function mustGet(db: Db, name: string): q.ProfileRow {
  const row = q.getProfile(db, name);
  if (!row) throw new ApiError(404, `Profile "${name}" not found`);
  return row;
}

function checkContent(config: StringMap, devices: Devices): void {
  const configError = validateInstanceConfig(config, { profile: true });
  if (configError) throw new ApiError(400, `Invalid config: ${configError}`);
  const deviceError = validateDevices(devices);
  if (deviceError) throw new ApiError(400, `Invalid devices: ${deviceError}`);
}

/** A changed profile must still give every instance using it a root disk on some pool. */
function checkUsers(db: Db, name: string, devices: Devices): void {
  for (const instName of q.instancesUsingProfile(db, name)) {
    const inst = getInstance(db, instName);
    if (!inst) continue;
    const profileDevices = inst.profiles.map((p) => (p === name ? devices : q.getProfile(db, p)?.devices ?? {}));
    if (!rootDisk(expandDevices(profileDevices, inst.devices))) {
      throw new ApiError(400, `Instance "${instName}" would have no root disk device (a disk with path=/ and a pool)`);
    }
  }
}

function update(ctx: ProfilesContext, name: string, fields: q.ProfileFields): SyncResponse {
  const config = dropEmpty(fields.config);
  checkContent(config, fields.devices);
  checkUsers(ctx.db, name, fields.devices);
  q.updateProfile(ctx.db, name, { ...fields, config });
  ctx.events.send("lifecycle", { action: "profile-updated", source: url(name), context: {} });
  return sync({});
}

export const profilesRoutes = (ctx: ProfilesContext) =>
  new Elysia({ name: "profiles" })
    .get("/1.0/profiles", ({ query }) => {
      const rows = q.listProfiles(ctx.db);
      if ((Number.parseInt(query.recursion ?? "0", 10) || 0) === 0) return sync(rows.map((r) => url(r.name)));
      return sync(rows.map((r) => q.profileToApi(ctx.db, r)));
    }, {
      query: Query,
      response: t.Union([t.Array(t.String()), t.Array(Profile)], { description: "URLs (recursion=0) or Profile objects (recursion=1)" }),
      detail: { summary: "List profiles", tags: ["profiles"] },
    })

    .post("/1.0/profiles", ({ body }) => {
      const nameError = validateProfileName(body.name);
      if (nameError) throw new ApiError(400, `Invalid profile name "${body.name}": ${nameError}`);
      if (q.getProfile(ctx.db, body.name)) throw new ApiError(409, `Profile "${body.name}" already exists`);
      const config = dropEmpty(body.config ?? {});
      const devices = body.devices ?? {};
      checkContent(config, devices);
      q.createProfile(ctx.db, body.name, { description: body.description ?? "", config, devices });
      ctx.events.send("lifecycle", { action: "profile-created", source: url(body.name), context: {} });
      return sync({}, { location: url(body.name) });
    }, {
      body: ProfilesPost,
      detail: { summary: "Create a profile", tags: ["profiles"] },
    })

    .get("/1.0/profiles/:name", ({ params }) => {
      const row = mustGet(ctx.db, params.name);
      return sync(q.profileToApi(ctx.db, row), { etag: etag(row) });
    }, {
      params: ProfileName, query: Query,
      response: Profile,
      detail: { summary: "Show a profile", tags: ["profiles"] },
    })

    .put("/1.0/profiles/:name", ({ params, body, request }) => {
      const row = mustGet(ctx.db, params.name);
      checkIfMatch(request, etag(row));
      return update(ctx, params.name, { description: body.description ?? "", config: body.config ?? {}, devices: body.devices ?? {} });
    }, {
      params: ProfileName, body: ProfilePut,
      detail: { summary: "Replace a profile's description, config and devices", tags: ["profiles"] },
    })

    .patch("/1.0/profiles/:name", ({ params, body, request }) => {
      const row = mustGet(ctx.db, params.name);
      checkIfMatch(request, etag(row));
      return update(ctx, params.name, {
        description: body.description ?? row.description,
        config: { ...row.config, ...(body.config ?? {}) },
        devices: { ...row.devices, ...(body.devices ?? {}) },
      });
    }, {
      params: ProfileName, body: ProfilePut,
      detail: { summary: "Merge changes into a profile (config by key, devices by name)", tags: ["profiles"] },
    })

    .post("/1.0/profiles/:name", ({ params, body }) => {
      mustGet(ctx.db, params.name);
      if (params.name === "default") throw new ApiError(403, `The "default" profile cannot be renamed`);
      const nameError = validateProfileName(body.name);
      if (nameError) throw new ApiError(400, `Invalid profile name "${body.name}": ${nameError}`);
      if (q.getProfile(ctx.db, body.name)) throw new ApiError(409, `Name "${body.name}" already in use`);
      q.renameProfile(ctx.db, params.name, body.name);
      ctx.events.send("lifecycle", { action: "profile-renamed", source: url(body.name), context: { old_name: params.name } });
      return sync({}, { location: url(body.name) });
    }, {
      params: ProfileName, body: ProfilePost,
      detail: { summary: "Rename a profile (instances using it follow)", tags: ["profiles"] },
    })

    .delete("/1.0/profiles/:name", ({ params }) => {
      mustGet(ctx.db, params.name);
      if (params.name === "default") throw new ApiError(403, `The "default" profile cannot be deleted`);
      if (q.instancesUsingProfile(ctx.db, params.name).length) throw new ApiError(400, "Profile is currently in use");
      q.deleteProfile(ctx.db, params.name);
      ctx.events.send("lifecycle", { action: "profile-deleted", source: url(params.name), context: {} });
      return sync({});
    }, {
      params: ProfileName,
      detail: { summary: "Delete a profile (refused for default and while instances use it)", tags: ["profiles"] },
    });
