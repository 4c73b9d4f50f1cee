// /1.0/cluster, /1.0/cluster/members[/{name}[/state]] and the internal endpoints members call on
// each other (/internal/cluster/accept for joins, PUT /internal/database for heartbeats).
import os from "node:os";
import { Elysia, t, type Static } from "elysia";
import { ApiError } from "../api/error.ts";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Cluster, ClusterAccept, ClusterMember, ClusterMemberPost, ClusterMemberPut, ClusterMemberState, ClusterPut, Heartbeat } from "../api/cluster.ts";
import type { MemberConfigKey } from "../api/cluster.ts";
import type { ClusterManager } from "../cluster/manager.ts";
import { encodeJoinToken } from "../cluster/manager.ts";
import type { Operation, OperationManager } from "./operations.ts";
import { sync } from "./response.ts";

export interface ClusterContext {
  cluster: ClusterManager;
  ops: OperationManager;
  /** Runs `POST /1.0/cluster/members/{name}/state` on the member itself (it owns the instances). */
  evacuate(action: "evacuate" | "restore", op: Operation): Promise<void>;
  /** The member-specific keys a joining server answers for (its pools' sources...). */
  memberConfig(): Static<typeof MemberConfigKey>[];
}

const memberUrl = (name: string) => `/1.0/cluster/members/${name}`;

export const clusterRoutes = (ctx: ClusterContext) => {
  const { cluster } = ctx;
  return new Elysia({ name: "cluster" })
    .get("/1.0/cluster", () => sync({ server_name: cluster.name ?? "", enabled: cluster.enabled, member_config: cluster.enabled ? ctx.memberConfig() : [] }), {
      response: Cluster,
      detail: { summary: "Clustering state of this server", tags: ["cluster"] },
    })
    .put("/1.0/cluster", ({ body }) => {
      const token = body.cluster_token || body.cluster_password;
      if (body.enabled === false) throw new ApiError(400, "Disabling clustering is not supported: remove the member from the cluster instead");
      if (token) {
        return ctx.ops.create({
          class: "task", description: "Joining cluster", resources: { cluster: [] },
          run: () => cluster.join({
            server_name: body.server_name ?? "", server_address: body.server_address ?? "", cluster_token: token, member_config: body.member_config,
          }),
        });
      }
      const name = body.server_name ?? "";
      return ctx.ops.create({ class: "task", description: "Enabling clustering", resources: { cluster: [] }, run: () => cluster.enable(name) });
    }, {
      body: ClusterPut,
      detail: { summary: "Enable clustering (server_name) or join a cluster (server_address and cluster_token)", tags: ["cluster"] },
    })
    .get("/1.0/cluster/members", async ({ query }) => {
      const list = await cluster.list();
      return sync(recursionLevel(query) === 0 ? list.map((m) => memberUrl(m.server_name)) : list);
    }, {
      query: RecursionQuery,
      response: UrlsOr(ClusterMember, "ClusterMember"),
      detail: { summary: "List cluster members", tags: ["cluster"] },
    })
    .post("/1.0/cluster/members", ({ body }) => {
      const here = cluster.row(cluster.name!);
      const addresses = [here.address, ...cluster.peers().map((m) => m.address)];
      const issued = cluster.issueToken(body.server_name, addresses);
      return ctx.ops.create({
        class: "token", description: "Requesting to join the cluster", resources: { cluster: [] },
        metadata: {
          serverName: issued.token.server_name, secret: issued.token.secret, fingerprint: issued.token.fingerprint,
          addresses: issued.token.addresses, expiresAt: issued.token.expires_at, token: encodeJoinToken(issued.token),
        },
        run: () => issued.used,
        // `lxd cluster revoke-token` cancels the operation: the token is gone at once.
        cancel: () => issued.revoke(),
      });
    }, {
      body: ClusterMemberPost,
      detail: { summary: "Issue a join token for a new member (an operation of class token)", tags: ["cluster"] },
    })
    .get("/1.0/cluster/members/:name", async ({ params }) => sync(await cluster.get(params.name)), {
      response: ClusterMember,
      detail: { summary: "One cluster member", tags: ["cluster"] },
    })
    .put("/1.0/cluster/members/:name", ({ params, body }) => {
      cluster.update(params.name, body);
      return sync({});
    }, { body: ClusterMemberPut, response: Empty, detail: { summary: "Replace a member's description and config", tags: ["cluster"] } })
    .patch("/1.0/cluster/members/:name", ({ params, body }) => {
      const current = cluster.row(params.name);
      cluster.update(params.name, { description: body.description ?? current.description, config: { ...current.config, ...(body.config ?? {}) } });
      return sync({});
    }, { body: ClusterMemberPut, response: Empty, detail: { summary: "Update a member's description and config", tags: ["cluster"] } })
    .post("/1.0/cluster/members/:name", ({ params, body }) => {
      cluster.rename(params.name, body.server_name);
      return sync({}, { location: memberUrl(body.server_name) });
    }, { body: ClusterMemberPost, response: Empty, detail: { summary: "Rename a member", tags: ["cluster"] } })
    .delete("/1.0/cluster/members/:name", async ({ params, query }) => {
      await cluster.remove(params.name, query.force === "1" || query.force === "true");
      return sync({});
    }, {
      query: t.Object({ force: t.Optional(t.String()) }),
      response: Empty,
      detail: { summary: "Remove a member (force=1: with its instances)", tags: ["cluster"] },
    })
    .get("/1.0/cluster/members/:name/state", ({ params }) => {
      cluster.row(params.name);
      const [l1, l5, l15] = os.loadavg();
      return sync({
        sysinfo: {
          uptime: Math.round(os.uptime()), load_averages: [l1, l5, l15], total_ram: os.totalmem(), free_ram: os.freemem(),
          shared_ram: 0, buffered_ram: 0, total_swap: 0, free_swap: 0, processes: 0, logical_cpus: os.cpus().length,
        },
        storage_pools: {},
      });
    }, { detail: { summary: "A member's load and memory (asked on the member itself)", tags: ["cluster"] } })
    .post("/1.0/cluster/members/:name/state", ({ params, body }) => {
      cluster.row(params.name);
      if (body.action !== "evacuate" && body.action !== "restore") throw new ApiError(400, `Unknown action "${body.action}" (evacuate or restore)`);
      const action = body.action;
      return ctx.ops.create({
        class: "task", description: action === "evacuate" ? "Evacuating cluster member" : "Restoring cluster member",
        resources: { cluster: [memberUrl(params.name)] }, run: (op) => ctx.evacuate(action, op),
      });
    }, { body: ClusterMemberState, detail: { summary: "Evacuate a member or restore it (run on the member itself)", tags: ["cluster"] } })
    .post("/internal/cluster/accept", async ({ body }) => sync(await cluster.accept(body)), {
      body: ClusterAccept,
      detail: { summary: "A joining server's request (the join token's secret is its credential)", tags: ["internal"] },
    })
    .post("/internal/cluster/member-config", ({ body }) => {
      if (!cluster.enabled || !cluster.tokenPending(body.secret)) throw new ApiError(403, "The join token is invalid, expired or already used");
      return sync(ctx.memberConfig());
    }, {
      body: t.Object({ secret: t.String() }),
      detail: { summary: "What a server joining with this token must answer for (interactive `lxd init`; the token's secret is its credential)", tags: ["internal"] },
    })
    .post("/internal/cluster/leave", async () => {
      await cluster.leave();
      return sync({});
    }, { response: Empty, detail: { summary: "This member was removed from its cluster: run standalone again", tags: ["internal"] } })
    .put("/internal/database", ({ body }) => {
      cluster.heartbeat(body);
      return sync({});
    }, { body: Heartbeat, response: Empty, detail: { summary: "Heartbeat from the cluster leader", tags: ["internal"] } });
};
