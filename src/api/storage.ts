// Storage pool API shapes (LXD REST API 1.0): validation of requests and the OpenAPI document.
import { t, type Static } from "elysia";

const StringMap = t.Record(t.String(), t.String());

export const StoragePool = t.Object({
  name: t.String(),
  driver: t.String({ description: "Storage driver (dir)" }),
  description: t.String(),
  config: StringMap,
  status: t.String({ description: "Created, Pending, Errored or Unknown" }),
  locations: t.Array(t.String(), { description: "Cluster members holding the pool (\"none\" when not clustered)" }),
  used_by: t.Array(t.String(), { description: "URLs of the instances and profiles using this pool" }),
});
export type StoragePool = Static<typeof StoragePool>;

export const StoragePoolsPost = t.Object({
  name: t.String({ description: "Name of the new pool" }),
  driver: t.String({ description: "Storage driver (dir)" }),
  description: t.Optional(t.String()),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type StoragePoolsPost = Static<typeof StoragePoolsPost>;

/** PUT replaces description and config; PATCH merges config by key. */
export const StoragePoolPut = t.Object({
  description: t.Optional(t.String()),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type StoragePoolPut = Static<typeof StoragePoolPut>;

export const StoragePoolName = t.Object({ name: t.String({ description: "Storage pool name" }) });
