// Project API shapes (LXD REST API 1.0, the `projects` extension and its follow-ups).
import { t, type Static } from "elysia";
import { Description, StringMap } from "./fields.ts";

export const Project = t.Object({
  name: t.String(),
  description: Description,
  config: StringMap,
  used_by: t.Union([t.Array(t.String()), t.Null()], { description: "URLs of what the project holds (instances, profiles, images, volumes, networks)" }),
});
export type Project = Static<typeof Project>;

export const ProjectsPost = t.Object({
  name: t.String({ description: "Name of the new project" }),
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type ProjectsPost = Static<typeof ProjectsPost>;

/** PUT replaces description and config; PATCH merges the given ones (config by key). */
export const ProjectPut = t.Object({
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type ProjectPut = Static<typeof ProjectPut>;

export const ProjectPost = t.Object({
  name: t.String({ description: "New name (rename; only of an empty project)" }),
}, { additionalProperties: true });
export type ProjectPost = Static<typeof ProjectPost>;

export const ProjectName = t.Object({ name: t.String({ description: "Project name" }) });

/** One resource's use against its limit (-1: no limit), as LXD reports them. */
export const ProjectStateResource = t.Object({ Limit: t.Number(), Usage: t.Number() });

export const ProjectState = t.Object({
  resources: t.Record(t.String(), ProjectStateResource, { description: "containers, cpu, disk, instances, memory, networks, processes, virtual-machines" }),
});
export type ProjectState = Static<typeof ProjectState>;
