// The database schema: the single source of truth for persisted state.
// JSON columns hold LXD's free-form maps (config, devices) exactly as the API shows them.
import { sqliteTable, text, integer } from "drizzle-orm/sqlite-core";

type StringMap = Record<string, string>;
type Devices = Record<string, StringMap>;

export const instances = sqliteTable("instances", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
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
});

export const images = sqliteTable("images", {
  fingerprint: text("fingerprint").primaryKey(),
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
});

export const imageAliases = sqliteTable("image_aliases", {
  name: text("name").primaryKey(),
  fingerprint: text("fingerprint").notNull().references(() => images.fingerprint, { onDelete: "cascade" }),
  description: text("description").notNull().default(""),
  type: text("type").notNull().default("container"),
});

export const profiles = sqliteTable("profiles", {
  name: text("name").primaryKey(),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  devices: text("devices", { mode: "json" }).$type<Devices>().notNull().default({}),
});

export const storagePools = sqliteTable("storage_pools", {
  name: text("name").primaryKey(),
  driver: text("driver").notNull(),
  description: text("description").notNull().default(""),
  config: text("config", { mode: "json" }).$type<StringMap>().notNull().default({}),
  status: text("status").notNull().default("Created"),
});

// Server configuration (`lxd config set core.https_address ...`).
export const config = sqliteTable("config", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
