// One API across members: a request about an instance on another member is relayed to it over TLS
// with the cluster certificate, new instances go where placement says, `?target=` names the member
// that must answer, the instance list is gathered from every member, and operations started on
// another member are found there. Requests between members (LXD's notifier user agent) are always
// answered locally.
import { ApiError } from "../api/error.ts";
import type { ClusterManager } from "../cluster/manager.ts";
import { PEER_USER_AGENT, fromPeer, peerFetch, peerWebSocket, type ClusterIdentity } from "../cluster/peer.ts";
import type { ClusterLinks } from "./context.ts";
import { membersWithCounts, type MemberRow } from "../db/cluster-members.ts";
import { listInstances } from "../db/instances.ts";
import { instanceUrl, nameInProject, storageName } from "../api/project-names.ts";
import { isTrue } from "../config/values.ts";
import type { Db } from "../db/index.ts";
import type { OperationManager } from "./operations.ts";
import { requestUrl } from "./request-url.ts";
import { errorEnvelope } from "./response.ts";
import { volumeHome } from "./cluster-volumes.ts";
import { PEER_HEADER } from "./tls/proxy.ts";

export interface ForwardDeps {
  cluster: ClusterManager;
  db: Db;
  ops: OperationManager;
  identity(): ClusterIdentity;
}

const INSTANCE_PATH = /^\/1\.0\/(?:instances|containers)\/([^/]+)(\/.*)?$/;
const MEMBER_STATE_PATH = /^\/1\.0\/cluster\/members\/([^/]+)\/state$/;
const MEMBER_PART_PATH = /^\/1\.0\/(?:storage-pools|networks)(?:\/[^/]+)?$/;
/** A pool's volume lists: `?target=` there lists that member's volumes (read by the member). */
const VOLUME_LIST_PATH = /^\/1\.0\/storage-pools\/[^/]+\/volumes(?:\/[^/]+)?$/;
const VOLUME_PATH = /^\/1\.0\/storage-pools\/([^/]+)\/volumes\/custom\/([^/]+)(?:\/.*)?$/;
const OPERATION_PATH = /^\/1\.0\/operations\/([^/]+)(\/wait)?$/;
const HOP_HEADERS = ["host", "connection", "transfer-encoding", "keep-alive", PEER_HEADER, "user-agent"];

/** The request sent on to `address` as it came (body streamed), its answer returned as is. */
async function relay(deps: ForwardDeps, address: string, request: Request, path: string): Promise<Response> {
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => { if (!HOP_HEADERS.includes(k)) headers[k] = v; });
  let res: Response;
  try {
    res = await peerFetch(deps.identity(), address, path, { method: request.method, headers, body: request.body, timeoutMs: 24 * 3600_000 });
  } catch (err) {
    return errorEnvelope(503, `Failed to reach cluster member at ${address}: ${(err as Error).message}`);
  }
  // An operation it started runs there: its wait and websockets go straight to it.
  const started = /^\/1\.0\/operations\/([^/?]+)$/.exec(res.headers.get("location") ?? "")?.[1];
  if (started) remember(started, address);
  const out = new Headers(res.headers);
  out.delete("content-encoding");
  out.delete("content-length");
  return new Response(res.body, { status: res.status, headers: out });
}

/** Members running the operations this member forwarded requests for, most recent last. */
const operationHomes = new Map<string, string>();
const REMEMBERED_OPERATIONS = 4096;

function remember(id: string, address: string): void {
  operationHomes.set(id, address);
  if (operationHomes.size > REMEMBERED_OPERATIONS) operationHomes.delete(operationHomes.keys().next().value!);
}

const offline = (member: string) => errorEnvelope(503, `Cluster member "${member}" is offline`);

export function clusterForwarder(deps: ForwardDeps) {
  const { cluster } = deps;
  return async (request: Request, local: (r: Request) => Promise<Response>): Promise<Response | undefined> => {
    if (!cluster.enabled || fromPeer(request)) return undefined;
    // Websocket upgrades are answered where they arrive.
    if (request.headers.get("upgrade")) return undefined;
    const url = requestUrl(request);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    // A member's state is its own to report and change.
    const target = url.searchParams.get("target") ?? (MEMBER_STATE_PATH.exec(path)?.[1] && decodeURIComponent(MEMBER_STATE_PATH.exec(path)![1]));
    const instance = INSTANCE_PATH.exec(path);
    try {
      if (instance) {
        // The path names the storage name (`<project>_<name>`, see server.ts): the member is
        // asked with the name in its project, as a client would ask it.
        const stored = decodeURIComponent(instance[1]);
        const home = cluster.instanceHome(stored);
        if (!home) return undefined;
        const project = url.searchParams.get("project") || "default";
        const path = `/1.0/instances/${encodeURIComponent(nameInProject(project, stored))}${instance[2] ?? ""}`;
        return home.online ? relay(deps, home.address, request, path + url.search) : offline(home.member);
      }
      // A custom volume is served by the member whose pool holds it.
      const volume = target ? null : VOLUME_PATH.exec(path);
      if (volume) {
        const home = volumeHome(cluster, deps.db, decodeURIComponent(volume[1]!), decodeURIComponent(volume[2]!));
        if (home) return cluster.online(home) ? relay(deps, home.address, request, url.pathname + url.search) : offline(home.name);
      }
      // `lxd publish` of another member's instance is made there (the image then lives on it).
      if (path === "/1.0/images" && request.method === "POST" && !target) {
        const home = await publishHome(cluster, request, url);
        if (home) return home.online ? relay(deps, home.address, request, url.pathname + url.search) : offline(home.member);
      }
      if ((path === "/1.0/instances" || path === "/1.0/containers") && request.method === "POST") {
        const member = cluster.place(target ?? undefined);
        url.searchParams.delete("target");
        if (member.name === cluster.name) return undefined;
        return relay(deps, member.address, request, url.pathname + url.search);
      }
      if ((path === "/1.0/instances" || path === "/1.0/containers") && request.method === "GET" && !target) return gather(deps, request, url, local);
      if (path === "/1.0/operations" && request.method === "GET" && !target) return gatherOperations(deps, request, url, local);
      const op = OPERATION_PATH.exec(path);
      if (op && !deps.ops.get(op[1])) return findOperation(deps, request, url);
      if (target && target !== cluster.name) {
        const member = cluster.row(target);
        if (!cluster.online(member)) return offline(member.name);
        // Pools, networks and volume lists read the target there too: it asks for that member's own part.
        const memberPart = MEMBER_PART_PATH.test(path) || (request.method === "GET" && VOLUME_LIST_PATH.test(path));
        if (!memberPart) url.searchParams.delete("target");
        return relay(deps, member.address, request, url.pathname + url.search);
      }
    } catch (err) {
      if (err instanceof ApiError) return errorEnvelope(err.status, err.message);
      throw err;
    }
    return undefined;
  };
}

/** The member holding the instance a publish (POST /1.0/images from an instance or a snapshot)
 *  names; undefined for uploads, other sources and instances of this member. */
async function publishHome(cluster: ClusterManager, request: Request, url: URL) {
  if (!(request.headers.get("content-type") ?? "").includes("json")) return undefined;
  const body = (await request.clone().json().catch(() => undefined)) as { source?: { type?: string; name?: string } } | undefined;
  const source = body?.source;
  if (!source?.name || !["instance", "container", "snapshot"].includes(source.type ?? "")) return undefined;
  return cluster.instanceHome(storageName(url.searchParams.get("project") || "default", source.name.split("/")[0]!));
}

/** GET /1.0/instances across the cluster: each online member lists its own, asked before this
 *  member lists its own so that all lists are made at the same time; an offline member's
 *  instances are shown from the database with status Error. */
async function gather(deps: ForwardDeps, request: Request, url: URL, local: (r: Request) => Promise<Response>): Promise<Response> {
  const { cluster } = deps;
  const recursive = (url.searchParams.get("recursion") ?? "0") !== "0";
  const project = isTrue(url.searchParams.get("all-projects")) ? undefined : url.searchParams.get("project") || "default";
  const online = cluster.onlineTest();
  // Members without instances are not asked (one query counts them all).
  const holders = membersWithCounts(deps.db).filter((m) => m.name !== cluster.name && m.instances > 0);
  const parts = Promise.all(holders.map(async (m): Promise<unknown[]> => {
    if (online(m)) {
      try {
        const res = await peerFetch(deps.identity(), m.address, url.pathname + url.search, { timeoutMs: 30_000 });
        if (res.ok) return ((await res.json()) as { metadata: unknown[] }).metadata;
      } catch {
        // Unreachable since the last heartbeat: shown as below.
      }
    }
    const theirs = listInstances(deps.db, m.name).filter((r) => project === undefined || r.project === project);
    return theirs.map((r) => (recursive ? errorView(r, m) : instanceUrl(r.name)));
  }));
  const headers = new Headers(request.headers);
  headers.set("user-agent", PEER_USER_AGENT);
  const mine = await local(new Request(request.url, { headers }));
  if (!mine.ok) {
    parts.catch(() => {});
    return mine;
  }
  const envelope = (await mine.json()) as { metadata: unknown[] };
  envelope.metadata = [...envelope.metadata, ...(await parts).flat()];
  return new Response(JSON.stringify(envelope), { status: 200, headers: { "content-type": "application/json" } });
}

/** GET /1.0/operations across the cluster, as LXD 5.0 merges them: every online member's own,
 *  grouped by status (each operation says its member in `location`); an unreachable member's are left out. */
async function gatherOperations(deps: ForwardDeps, request: Request, url: URL, local: (r: Request) => Promise<Response>): Promise<Response> {
  const headers = new Headers(request.headers);
  headers.set("user-agent", PEER_USER_AGENT);
  const mine = await local(new Request(request.url, { headers }));
  if (!mine.ok) return mine;
  const envelope = (await mine.json()) as { metadata: Record<string, unknown[]> | null };
  const merged: Record<string, unknown[]> = { ...(envelope.metadata ?? {}) };
  const theirs = await Promise.all(deps.cluster.onlinePeers().map((m) =>
    peerFetch(deps.identity(), m.address, url.pathname + url.search, { timeoutMs: 10_000 })
      .then(async (res) => (res.ok ? ((await res.json()) as { metadata: Record<string, unknown[]> | null }).metadata ?? {} : {}), () => ({}))));
  for (const groups of theirs) for (const [status, list] of Object.entries(groups)) merged[status] = [...(merged[status] ?? []), ...list];
  envelope.metadata = merged;
  return new Response(JSON.stringify(envelope), { status: 200, headers: { "content-type": "application/json" } });
}

/** An instance whose member cannot be reached, as LXD lists it: status Error. */
function errorView(r: ReturnType<typeof listInstances>[number], m: MemberRow) {
  return {
    name: nameInProject(r.project, r.name), type: r.type, architecture: r.architecture, description: r.description, ephemeral: r.ephemeral, stateful: r.stateful,
    config: r.config, devices: r.devices, profiles: r.profiles, expanded_config: r.config, expanded_devices: r.devices,
    created_at: r.createdAt, last_used_at: r.lastUsedAt, location: m.name, project: r.project, status: "Error", status_code: 112,
    state: null, snapshots: null, backups: null,
  };
}

/** The member running an operation this one does not know (it ran where its request went). */
async function operationHome(deps: ForwardDeps, id: string): Promise<string | undefined> {
  const known = operationHomes.get(id);
  if (known) return known;
  const found = await Promise.all(deps.cluster.onlinePeers().map((m) =>
    peerFetch(deps.identity(), m.address, `/1.0/operations/${id}`, { timeoutMs: 10_000 })
      .then((r) => (r.status === 200 ? m.address : undefined), () => undefined)));
  return found.find((a) => a !== undefined);
}

async function findOperation(deps: ForwardDeps, request: Request, url: URL): Promise<Response | undefined> {
  const id = OPERATION_PATH.exec(url.pathname.replace(/\/+$/, ""))![1];
  const home = await operationHome(deps, id);
  return home ? relay(deps, home, request, url.pathname + url.search) : undefined;
}

/** Websockets across members: events from all of them, operations' streams where they run. */
export function clusterLinks(deps: ForwardDeps): ClusterLinks {
  return {
    peerSockets: (request, path) => (!deps.cluster.enabled || fromPeer(request) ? []
      : deps.cluster.onlinePeers().map((m) => peerWebSocket(deps.identity(), m.address, path))),
    operationSocket: async (request, id, path) => {
      if (!deps.cluster.enabled || fromPeer(request)) return undefined;
      const home = await operationHome(deps, id);
      return home ? peerWebSocket(deps.identity(), home, path) : undefined;
    },
  };
}
