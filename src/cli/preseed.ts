// `lxd init --preseed` (a YAML document on stdin in LXD's preseed schema: config, storage_pools,
// networks, profiles, cluster) applied through the API, and `lxd init --dump`, which prints the server's
// current setup in the same schema (so a dump fed back as a preseed changes nothing).
import type { LxdClient } from "../client/client.ts";
import { LxdError } from "../client/errors.ts";
import { stringMaps } from "./config.ts";
import { toYaml } from "./format.ts";

type StringMap = Record<string, string>;
interface Entity { name: string; description?: string; config?: StringMap }
interface PreseedDoc {
  config?: StringMap;
  storage_pools?: (Entity & { driver: string })[];
  networks?: (Entity & { type?: string })[];
  profiles?: (Entity & { devices?: Record<string, StringMap> })[];
  cluster?: ClusterSection;
}

/** LXD's `cluster:` section: a first member (server_name, enabled) or a joiner (with a token). */
interface ClusterSection {
  enabled?: boolean;
  server_name?: string;
  server_address?: string;
  cluster_address?: string;
  cluster_token?: string;
  cluster_password?: string;
  member_config?: { entity: string; name: string; key: string; value: string }[];
}

const enc = encodeURIComponent;
const KNOWN = new Set(["config", "storage_pools", "networks", "profiles", "projects", "cluster"]);

/** The entity, or undefined when the server has none of that name. */
async function existing<T>(client: LxdClient, path: string): Promise<T | undefined> {
  try {
    return await client.get<T>(path);
  } catch (err) {
    if (err instanceof LxdError && err.notFound) return undefined;
    throw err;
  }
}

function parse(text: string): PreseedDoc {
  const doc = Bun.YAML.parse(text) ?? {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new Error("Invalid preseed: expected a YAML mapping");
  for (const key of Object.keys(doc)) if (!KNOWN.has(key)) throw new Error(`Invalid preseed: unknown key "${key}"`);
  const d = doc as Record<string, unknown>;
  if (d.cluster !== undefined && (typeof d.cluster !== "object" || Array.isArray(d.cluster))) throw new Error('Invalid preseed: "cluster" must be a mapping');
  const list = (key: string) => {
    const v = d[key] ?? [];
    if (!Array.isArray(v)) throw new Error(`Invalid preseed: "${key}" must be a list`);
    return v.map((e, i) => {
      if (!e || typeof e !== "object" || typeof (e as { name?: unknown }).name !== "string") throw new Error(`Invalid preseed: ${key}[${i}] needs a name`);
      return stringMaps(e as Record<string, unknown>);
    });
  };
  return {
    config: d.config === undefined ? undefined : (stringMaps({ config: d.config }).config as StringMap),
    storage_pools: list("storage_pools") as unknown as PreseedDoc["storage_pools"],
    networks: list("networks") as unknown as PreseedDoc["networks"],
    profiles: list("profiles") as unknown as PreseedDoc["profiles"],
    cluster: (d.cluster ?? undefined) as ClusterSection | undefined,
  };
}

/** Applies a preseed: server config, then pools, networks and profiles (which may use both), each
 *  created or, when it exists, updated with the given keys. */
export async function applyPreseed(client: LxdClient, text: string): Promise<void> {
  const doc = parse(text);
  if (doc.config && Object.keys(doc.config).length) await client.patch("/1.0", { config: doc.config });
  const cluster = doc.cluster;
  const token = cluster?.cluster_token || cluster?.cluster_password;
  if (cluster?.enabled && token) {
    // A joiner takes the cluster's pools, networks and profiles; its own listen address comes first.
    await client.run("PUT", "/1.0/cluster", {
      server_name: cluster.server_name ?? "", enabled: true, server_address: cluster.server_address ?? "",
      cluster_address: cluster.cluster_address ?? "", cluster_token: token, member_config: cluster.member_config ?? [],
    });
    return;
  }
  for (const p of doc.storage_pools ?? []) {
    const path = `/1.0/storage-pools/${enc(p.name)}`;
    if (await existing(client, path)) await client.patch(path, { description: p.description, config: p.config ?? {} });
    else await client.post("/1.0/storage-pools", { name: p.name, driver: p.driver, description: p.description ?? "", config: p.config ?? {} });
  }
  for (const n of doc.networks ?? []) {
    const path = `/1.0/networks/${enc(n.name)}`;
    if (await existing(client, path)) await client.patch(path, { description: n.description, config: n.config ?? {} });
    else await client.post("/1.0/networks", { name: n.name, type: n.type || "bridge", description: n.description ?? "", config: n.config ?? {} });
  }
  for (const p of doc.profiles ?? []) {
    const path = `/1.0/profiles/${enc(p.name)}`;
    const current = await existing<{ description: string; config: StringMap; devices: Record<string, StringMap> }>(client, path);
    if (current) {
      await client.put(path, {
        description: p.description ?? current.description,
        config: { ...current.config, ...(p.config ?? {}) },
        devices: { ...current.devices, ...(p.devices ?? {}) },
      });
    } else {
      await client.post("/1.0/profiles", { name: p.name, description: p.description ?? "", config: p.config ?? {}, devices: p.devices ?? {} });
    }
  }
  if (cluster?.enabled) await client.run("PUT", "/1.0/cluster", { server_name: cluster.server_name ?? "", enabled: true });
}

/** The server's setup as a preseed document. */
export async function dumpPreseed(client: LxdClient): Promise<string> {
  const server = await client.server();
  const pools = await client.get<(Entity & { driver: string })[]>("/1.0/storage-pools?recursion=1");
  const networks = (await client.get<(Entity & { type: string; managed: boolean })[]>("/1.0/networks?recursion=1")).filter((n) => n.managed);
  const profiles = await client.get<(Entity & { devices: Record<string, StringMap> })[]>("/1.0/profiles?recursion=1");
  const clustered = (server.environment as { server_clustered?: boolean; server_name?: string });
  return toYaml({
    ...(clustered.server_clustered ? { cluster: { enabled: true, server_name: clustered.server_name } } : {}),
    config: server.config ?? {},
    networks: networks.map((n) => ({ config: n.config, description: n.description, name: n.name, type: n.type })),
    storage_pools: pools.map((p) => ({ config: p.config, description: p.description, name: p.name, driver: p.driver })),
    profiles: profiles.map((p) => ({ config: p.config, description: p.description, devices: p.devices, name: p.name })),
  });
}
