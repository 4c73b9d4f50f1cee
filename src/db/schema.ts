// The database schema: the single source of truth for persisted state.
// JSON columns hold LXD's free-form maps (config, devices) exactly as the API shows them.
import { sqliteTable, text, integer, uniqueIndex, primaryKey, foreignKey } from "drizzle-orm/sqlite-core";

type StringMap = Record<string, string>;
type Devices = Record<string, StringMap>;

/** Every row below that belongs to a project names it; rows from before projects are `default`'s. */
const project = () => text("project").notNull().default("default");

// Projects (`lxd project create p1`): `default` always exists (a row is made at start when missing).
export const projects = sqliteTable("projects", {
  name: text("name").primaryKey(),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
});

// `name` is the instance's storage name, unique on the host: its name in `default`, and
// `<project>_<name>` in any other project (LXD's naming for volumes, cgroups and monitors; neither
// instance nor project names may contain `_`), so paths never collide across projects.
export const instances = sqliteTable("instances", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  project: project(),
  type: text("type").notNull().default("container"),
  architecture: text("architecture").notNull(),
  description: text("description").notNull().default(""),
  ephemeral: integer("ephemeral", { mode: "boolean" }).notNull().default(false),
  stateful: integer("stateful", { mode: "boolean" }).notNull().default(false),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  devices: text("devices", { mode: "json" }).$type<Devices>().notNull().default({}),
  profiles: text("profiles", { mode: "json" }).$type<string[]>().notNull().default([]),
  createdAt: text("created_at").notNull(),
  lastUsedAt: text("last_used_at").notNull(),
  /** The cluster member that runs it ("none" on a standalone server, as LXD shows it). */
  location: text("location").notNull().default("none"),
});

// An image is a row per project that has it (`features.images`); the files are shared by fingerprint.
export const images = sqliteTable("images", {
  fingerprint: text("fingerprint").notNull(),
  project: project(),
  filename: text("filename").notNull().default(""),
  size: integer("size").notNull(),
  architecture: text("architecture").notNull(),
  type: text("type").notNull().default("container"),
  public: integer("public", { mode: "boolean" }).notNull().default(false),
  autoUpdate: integer("auto_update", { mode: "boolean" }).notNull().default(false),
  cached: integer("cached", { mode: "boolean" }).notNull().default(false),
  properties: text("properties", { mode: "json" }).$type<StringMap>().notNull().default({}),
  profiles: text("profiles", { mode: "json" }).$type<string[]>().notNull().default(["default"]),
  createdAt: text("created_at").notNull(),
  uploadedAt: text("uploaded_at").notNull(),
  lastUsedAt: text("last_used_at").notNull(),
  expiresAt: text("expires_at").notNull(),
  updateSource: text("update_source", { mode: "json" }).$type<StringMap | null>(),
}, (table) => [primaryKey({ columns: [table.project, table.fingerprint] })]);

export const imageAliases = sqliteTable("image_aliases", {
  name: text("name").notNull(),
  project: project(),
  fingerprint: text("fingerprint").notNull(),
  description: text("description").notNull().default(""),
  type: text("type").notNull().default("container"),
}, (table) => [
  primaryKey({ columns: [table.project, table.name] }),
  foreignKey({ columns: [table.project, table.fingerprint], foreignColumns: [images.project, images.fingerprint] }).onDelete("cascade"),
]);

// Profiles of a project with `features.profiles`; the others use default's.
export const profiles = sqliteTable("profiles", {
  name: text("name").notNull(),
  project: project(),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  devices: text("devices", { mode: "json" }).$type<Devices>().notNull().default({}),
}, (table) => [primaryKey({ columns: [table.project, table.name] })]);

export const storagePools = sqliteTable("storage_pools", {
  name: text("name").primaryKey(),
  driver: text("driver").notNull(),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  status: text("status").notNull().default("Created"),
});

// Clustering: a storage pool's member-specific keys (source, size, ...) on each member and whether
// it is created there (Pending, Created, Errored). A standalone server has no rows.
export const storagePoolMembers = sqliteTable("storage_pool_members", {
  pool: text("pool").notNull(),
  member: text("member").notNull(),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  status: text("status").notNull().default("Pending"),
}, (table) => [primaryKey({ columns: [table.pool, table.member] })]);

// Server configuration (`lxd config set core.https_address ...`).
export const config = sqliteTable("config", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

// Instance snapshots: a frozen copy of an instance's config next to its storage snapshot
// (`lxd snapshot c1 snap0`). Rows go with their instance.
export const instanceSnapshots = sqliteTable("instance_snapshots", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  instanceId: integer("instance_id").notNull().references(() => instances.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  stateful: integer("stateful", { mode: "boolean" }).notNull().default(false),
  createdAt: text("created_at").notNull(),
  /** "" when the snapshot never expires. */
  expiresAt: text("expires_at").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  devices: text("devices", { mode: "json" }).$type<Devices>().notNull().default({}),
  profiles: text("profiles", { mode: "json" }).$type<string[]>().notNull().default([]),
}, (table) => [uniqueIndex("instance_snapshots_instance_name").on(table.instanceId, table.name)]);

// Managed networks (`lxd network create`): a bridge per row, brought up again at daemon start.
// A project with `features.networks` has its own; their host interfaces get a per-project name.
export const networks = sqliteTable("networks", {
  name: text("name").notNull(),
  project: project(),
  type: text("type").notNull().default("bridge"),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  /** Pending while defined on some cluster members only, then Created (or Errored), as LXD. */
  status: text("status").notNull().default("Created"),
}, (table) => [primaryKey({ columns: [table.project, table.name] })]);

// Clustering: a network's member-specific keys on each member (by the network's storage name) and
// whether it is created there. A standalone server has no rows.
export const networkMembers = sqliteTable("network_members", {
  network: text("network").notNull(),
  member: text("member").notNull(),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  status: text("status").notNull().default("Pending"),
}, (table) => [primaryKey({ columns: [table.network, table.member] })]);

// The trust store: client certificates allowed in over HTTPS (`lxd config trust ...`).
export const certificates = sqliteTable("certificates", {
  fingerprint: text("fingerprint").primaryKey(),
  type: text("type").notNull().default("client"),
  name: text("name").notNull(),
  /** PEM */
  certificate: text("certificate").notNull(),
  restricted: integer("restricted", { mode: "boolean" }).notNull().default(false),
  projects: text("projects", { mode: "json" }).$type<string[]>().notNull().default([]),
});

// Custom storage volumes (`lxd storage volume create POOL NAME`): filesystem trees in a pool,
// attached to instances as disk devices. Rows go with their pool's name; snapshots with their volume.
export const storageVolumes = sqliteTable("storage_volumes", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  pool: text("pool").notNull().references(() => storagePools.name),
  name: text("name").notNull(),
  /** A project with `features.storage.volumes` has its own custom volumes; the others use default's. */
  project: project(),
  type: text("type").notNull().default("custom"),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  createdAt: text("created_at").notNull(),
  /** The cluster member whose local pool holds it ("none" on a standalone server, as LXD shows it):
   *  on a cluster the same name may exist once per member. */
  location: text("location").notNull().default("none"),
}, (table) => [uniqueIndex("storage_volumes_pool_project_name_location").on(table.pool, table.project, table.name, table.location)]);

export const storageVolumeSnapshots = sqliteTable("storage_volume_snapshots", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  volumeId: integer("volume_id").notNull().references(() => storageVolumes.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  createdAt: text("created_at").notNull(),
  /** "" when the snapshot never expires. */
  expiresAt: text("expires_at").notNull().default(""),
}, (table) => [uniqueIndex("storage_volume_snapshots_volume_name").on(table.volumeId, table.name)]);

// Instance backups (`lxd export`, /1.0/instances/{name}/backups): the tarball lives in
// LXD_DIR/backups/instances/<instance>/<name>; rows go with their instance.
export const instanceBackups = sqliteTable("instance_backups", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  instanceId: integer("instance_id").notNull().references(() => instances.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  createdAt: text("created_at").notNull(),
  /** "" when the backup never expires. */
  expiresAt: text("expires_at").notNull().default(""),
  instanceOnly: integer("instance_only", { mode: "boolean" }).notNull().default(false),
  optimizedStorage: integer("optimized_storage", { mode: "boolean" }).notNull().default(false),
}, (table) => [uniqueIndex("instance_backups_instance_name").on(table.instanceId, table.name)]);

// Custom volume backups (`lxd storage volume export`): the tarball lives in
// LXD_DIR/backups/custom/<pool>/<volume>/<name>; rows go with their volume.
export const storageVolumeBackups = sqliteTable("storage_volume_backups", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  volumeId: integer("volume_id").notNull().references(() => storageVolumes.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  createdAt: text("created_at").notNull(),
  /** "" when the backup never expires. */
  expiresAt: text("expires_at").notNull().default(""),
  volumeOnly: integer("volume_only", { mode: "boolean" }).notNull().default(false),
  optimizedStorage: integer("optimized_storage", { mode: "boolean" }).notNull().default(false),
}, (table) => [uniqueIndex("storage_volume_backups_volume_name").on(table.volumeId, table.name)]);

// Cluster members (global: every member sees the same rows). The id is the member's Raft node id
// in dqlite; `heartbeat` is when the leader last reached it (ms since the epoch).
export const clusterMembers = sqliteTable("cluster_members", {
  id: integer("id").primaryKey(),
  name: text("name").notNull().unique(),
  /** host:port of its HTTPS API (cluster.https_address). */
  address: text("address").notNull(),
  /** host:port of its dqlite node. */
  raftAddress: text("raft_address").notNull(),
  description: text("description").notNull().default(""),
  architecture: text("architecture").notNull(),
  /** "online" or "evacuated" (OFFLINE follows from the heartbeat). */
  state: text("state").notNull().default("online"),
  heartbeat: integer("heartbeat").notNull(),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
});

// Warnings (LXD's `warnings` extension, /1.0/warnings): one row per condition (type, entity and
// project), kept across restarts with its status, count and dates as LXD keeps them.
export const warnings = sqliteTable("warnings", {
  uuid: text("uuid").primaryKey(),
  type: text("type").notNull(),
  /** "" for the host itself. */
  entityUrl: text("entity_url").notNull().default(""),
  project: text("project").notNull().default(""),
  severity: text("severity").notNull(),
  /** new, acknowledged or resolved. */
  status: text("status").notNull(),
  count: integer("count").notNull().default(1),
  firstSeenAt: text("first_seen_at").notNull(),
  lastSeenAt: text("last_seen_at").notNull(),
  /** When the status or the count last changed (resolved ones are pruned a day after). */
  updatedAt: text("updated_at").notNull(),
  lastMessage: text("last_message").notNull(),
}, (table) => [uniqueIndex("warnings_condition").on(table.type, table.entityUrl, table.project)]);
