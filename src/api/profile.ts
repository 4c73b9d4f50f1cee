// Profile API shapes (LXD REST API 1.0): validation of requests and the OpenAPI document.
import { t, type Static } from "elysia";
import { StringMap, Devices, Description } from "./fields.ts";


export const Profile = t.Object({
  name: t.String(),
  description: Description,
  config: StringMap,
  devices: Devices,
  used_by: t.Union([t.Array(t.String()), t.Null()], { description: "URLs of the instances using this profile" }),
  project: t.String(),
});
export type Profile = Static<typeof Profile>;

export const ProfilesPost = t.Object({
  name: t.String({ description: "Name of the new profile" }),
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
  devices: t.Optional(t.Union([Devices, t.Null()])),
}, { additionalProperties: true });
export type ProfilesPost = Static<typeof ProfilesPost>;

/** PUT replaces all three fields; PATCH merges the given ones (config by key, devices by name). */
export const ProfilePut = t.Object({
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
  devices: t.Optional(t.Union([Devices, t.Null()])),
}, { additionalProperties: true });
export type ProfilePut = Static<typeof ProfilePut>;

export const ProfilePost = t.Object({
  name: t.String({ description: "New name (rename)" }),
}, { additionalProperties: true });
export type ProfilePost = Static<typeof ProfilePost>;

export const ProfileName = t.Object({ name: t.String({ description: "Profile name" }) });
