// /1.0/cluster and its members, in LXD's shapes (shared/api/cluster.go).
import { t, type Static } from "elysia";

export const MemberConfigKey = t.Object({
  entity: t.String(),
  name: t.String(),
  key: t.String(),
  value: t.String(),
  description: t.Optional(t.String()),
});

export const Cluster = t.Object({
  server_name: t.String(),
  enabled: t.Boolean(),
  member_config: t.Array(MemberConfigKey),
});
export type Cluster = Static<typeof Cluster>;

/** PUT /1.0/cluster: enable clustering (server_name alone) or join (with a token). */
export const ClusterPut = t.Object({
  server_name: t.Optional(t.String()),
  enabled: t.Optional(t.Boolean()),
  member_config: t.Optional(t.Array(MemberConfigKey)),
  cluster_address: t.Optional(t.String()),
  cluster_certificate: t.Optional(t.String()),
  server_address: t.Optional(t.String()),
  /** LXD 5.0's client sends the join token here. */
  cluster_password: t.Optional(t.String()),
  cluster_token: t.Optional(t.String()),
});
export type ClusterPut = Static<typeof ClusterPut>;

export const ClusterMember = t.Object({
  server_name: t.String(),
  url: t.String(),
  database: t.Boolean(),
  status: t.String({ description: "Online, Offline or Evacuated" }),
  message: t.String(),
  architecture: t.String(),
  failure_domain: t.String(),
  description: t.String(),
  roles: t.Array(t.String(), { description: "database, database-leader, database-standby" }),
  config: t.Record(t.String(), t.String()),
  groups: t.Array(t.String()),
});
export type ClusterMember = Static<typeof ClusterMember>;

export const ClusterMemberPut = t.Object({
  description: t.Optional(t.String()),
  config: t.Optional(t.Record(t.String(), t.String())),
  failure_domain: t.Optional(t.String()),
  roles: t.Optional(t.Array(t.String())),
  groups: t.Optional(t.Array(t.String())),
});

export const ClusterMemberPost = t.Object({ server_name: t.String() });

export const ClusterMemberState = t.Object({ action: t.String({ description: "evacuate or restore" }) });

export const ClusterAccept = t.Object({
  name: t.String(),
  address: t.String(),
  raft_address: t.String(),
  secret: t.String(),
  architecture: t.String(),
});

export const RaftNode = t.Object({ id: t.Number(), address: t.String(), role: t.String(), name: t.String() });

export const Heartbeat = t.Object({ raft_nodes: t.Array(RaftNode), leader: t.Number() });
