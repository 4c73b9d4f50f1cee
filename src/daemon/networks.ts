// /1.0/networks, /1.0/networks/{name} (+ /state, /leases): managed bridge networks; the host's
// other interfaces are listed and shown as unmanaged ones, as LXD does.
import { Elysia, t } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Network, NetworkLease, NetworkName, NetworkPost, NetworkPut, NetworksPost, NetworkState } from "../api/network.ts";
import type { NetworkRow } from "../db/networks.ts";
import { storageName } from "../api/project-names.ts";
import type { NetworkManager } from "../network/manager.ts";
import { ApiError } from "../api/error.ts";
import type { MemberResources } from "../cluster/resources.ts";
import { fromPeer } from "../cluster/peer.ts";
import { projectOf } from "./project.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";

/** What this module needs from the daemon (DaemonContext satisfies it). */
export interface NetworksContext {
  networks: NetworkManager;
  /** Whose networks a project uses, and its limits (absent: default's, none). */
  projects?: { effective(project: string, feature: "networks"): string; checkNetworkCreate(project: string): void };
  /** A cluster's networks: defined per member (`?target=`), then created on every member. */
  memberResources?: MemberResources;
}

const ProjectQuery = t.Object({ project: t.Optional(t.String()), target: t.Optional(t.String()) }, { additionalProperties: true });

const etag = (n: NetworkRow) => etagOf({ name: n.name, description: n.description, config: n.config });
/** Empty values unset keys, as with every LXD config map. */
const clean = (config: Record<string, string> | null | undefined) =>
  Object.fromEntries(Object.entries(config ?? {}).filter(([, v]) => v !== ""));

export const networksRoutes = (ctx: NetworksContext) => {
  // Network paths come here under their storage names (the server rewrites them); names in bodies
  // are the project's and become storage names here.
  const owner = (query: { project?: string }) => ctx.projects?.effective(projectOf(query), "networks") ?? "default";
  const url = (stored: string) => ctx.networks.url(stored);
  const cluster = () => (ctx.memberResources?.enabled ? ctx.memberResources : undefined);
  /** The same change on every member of a cluster (a member's own request: here only). */
  const everywhere = (request: Request, name: string, body: unknown, local: () => Promise<void>) => {
    const members = cluster();
    if (!members || fromPeer(request)) return local();
    return members.updateNetwork(name, local, request.method, url(name), body);
  };
  return new Elysia({ name: "networks" })
    .get("/1.0/networks", ({ query }) => {
      const managed = ctx.networks.list(owner(query));
      const all = [...managed.map((r) => ctx.networks.toApi(r, !!query.target)), ...ctx.networks.unmanaged()];
      if (recursionLevel(query) === 0) return sync([...managed.map((r) => url(r.name)), ...ctx.networks.unmanaged().map((n) => `/1.0/networks/${n.name}`)]);
      return sync(all);
    }, {
      query: RecursionQuery,
      response: UrlsOr(Network, "Network"),
      detail: { summary: "List managed networks and the host's other interfaces (managed: false)", tags: ["networks"] },
    })

    .post("/1.0/networks", async ({ body, query, request }) => {
      const name = storageName(owner(query), body.name);
      ctx.networks.checkOwner(name, owner(query));
      const members = cluster();
      if (!members) {
        ctx.projects?.checkNetworkCreate(projectOf(query));
        await ctx.networks.create(name, body.type || "bridge", body.description ?? "", clean(body.config));
      } else if (query.target) {
        members.checkTarget(query.target);
        ctx.projects?.checkNetworkCreate(projectOf(query));
        await ctx.networks.definePending(name, body.type || "bridge", body.description ?? "", clean(body.config), query.target);
      } else if (fromPeer(request)) {
        await ctx.networks.createLocal(name);
      } else {
        await members.createNetwork(name, body.type || "bridge", body.description ?? "", clean(body.config), owner(query));
      }
      return sync({}, { location: url(name) });
    }, {
      body: NetworksPost, query: ProjectQuery,
      response: Empty,
      detail: { summary: "Create a managed bridge (ipv4.address=auto picks a free subnet)", tags: ["networks"] },
    })

    .get("/1.0/networks/:name", ({ params, query }) => {
      const host = ctx.networks.list().some((r) => r.name === params.name) ? undefined : ctx.networks.unmanaged().find((n) => n.name === params.name);
      if (host) return sync(host);
      const row = ctx.networks.get(params.name);
      return sync(ctx.networks.toApi(row, !!query.target), { etag: etag(row) });
    }, { params: NetworkName, query: RecursionQuery, response: Network, detail: { summary: "Show a network", tags: ["networks"] } })

    .put("/1.0/networks/:name", async ({ params, body, query, request }) => {
      const row = ctx.networks.get(params.name);
      checkIfMatch(request, etag(row));
      if (query.target) ctx.networks.checkMemberUpdate(row, clean(body.config));
      await everywhere(request, row.name, body, () => ctx.networks.update(row.name, body.description ?? "", clean(body.config)));
      return sync({});
    }, { params: NetworkName, body: NetworkPut, query: ProjectQuery, response: Empty, detail: { summary: "Replace a network's description and config", tags: ["networks"] } })

    .patch("/1.0/networks/:name", async ({ params, body, query, request }) => {
      const row = ctx.networks.get(params.name);
      checkIfMatch(request, etag(row));
      if (query.target) ctx.networks.checkMemberUpdate(row, clean(body.config));
      await everywhere(request, row.name, body, () => ctx.networks.update(row.name, body.description ?? row.description, clean({ ...row.config, ...(body.config ?? {}) })));
      return sync({});
    }, { params: NetworkName, body: NetworkPut, query: ProjectQuery, response: Empty, detail: { summary: "Merge changes into a network's config", tags: ["networks"] } })

    .post("/1.0/networks/:name", async ({ params, body, query }) => {
      if (cluster()) throw new ApiError(400, "Renaming clustered network not supported");
      const to = storageName(owner(query), body.name);
      ctx.networks.checkOwner(to, owner(query));
      await ctx.networks.rename(params.name, to);
      return sync({}, { location: url(to) });
    }, { params: NetworkName, body: NetworkPost, query: ProjectQuery, response: Empty, detail: { summary: "Rename a network (refused while in use)", tags: ["networks"] } })

    .delete("/1.0/networks/:name", async ({ params, request }) => {
      const members = cluster();
      if (!members) await ctx.networks.delete(params.name);
      else if (fromPeer(request)) await ctx.networks.deleteLocal(params.name);
      else await members.deleteNetwork(params.name, url(params.name));
      return sync({});
    }, { params: NetworkName, response: Empty, detail: { summary: "Delete a network (refused while in use)", tags: ["networks"] } })

    .get("/1.0/networks/:name/state", async ({ params }) => sync(await ctx.networks.state(params.name)), {
      params: NetworkName, response: NetworkState, detail: { summary: "Live state of a network's bridge", tags: ["networks"] },
    })

    .get("/1.0/networks/:name/leases", async ({ params }) => sync(await ctx.networks.leases(params.name)), {
      params: NetworkName, query: RecursionQuery, response: t.Array(NetworkLease), detail: { summary: "DHCP leases on a network", tags: ["networks"] },
    });
};
