// Cluster membership: turning a standalone server into the first member (its database moves into
// dqlite), join tokens, accepting and joining members, Raft roles as LXD assigns them, heartbeats
// from the leader, and where an instance lives. Per-member facts stay in LocalStore.
import { randomBytes, timingSafeEqual, createHash } from "node:crypto";
import { rmSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "../api/error.ts";
import { applyMigrations, copyRows, seedDefaults, type OpenDb, type SqliteClient, type SwitchableClient } from "../db/index.ts";
import * as members from "../db/cluster-members.ts";
import { volumesAt } from "../db/storage-volumes.ts";
import { getServerConfigValue } from "../db/server-config.ts";
import { imageProjects } from "../db/images.ts";
import { parseExpiry } from "../tls/token.ts";
import { DqliteUnavailableError, startDqliteNode, type DqliteNode } from "../kernel/dqlite.ts";
import { log } from "../log.ts";
import { DqliteClient, DqliteConnectionError } from "./dqlite/client.ts";
import { SyncDqlite } from "./dqlite/sync.ts";
import type { LocalStore, RaftNode } from "./local.ts";
import { peerFetch, peerJson, type ClusterIdentity } from "./peer.ts";

export interface ClusterDeps {
  db: OpenDb;
  stateDir: string;
  local: LocalStore;
  /** The certificate this daemon serves and dials with. */
  identity(): ClusterIdentity;
  /** Makes `pair` the daemon's certificate from now on (`member`: the cluster's, trusted from peers). */
  adoptCertificate(pair: { cert: string; key: string }, member: boolean): void;
  /** Moves the HTTPS listener (a joiner listens where its server_address says). */
  listen(address: string): void;
  /** Instances on this server (a joiner must have none). */
  instanceCount(): number;
  /** Makes the storage pools and networks of the cluster exist on this member (with its answers). */
  prepareJoined(answers: MemberConfigAnswer[]): Promise<void>;
  /** The server's pools and networks become the cluster's, their member-specific keys `member`'s. */
  shareResources(member: string): void;
  /** A fresh, empty standalone database (the schema applied, nothing else): a removed member's. */
  freshDatabase(): SqliteClient;
  /** The server's own certificate pair (server.crt/key), served again once it left the cluster. */
  serverCertificate(): { cert: string; key: string };
  architecture: string;
}

export interface MemberView {
  server_name: string;
  url: string;
  database: boolean;
  status: "Online" | "Offline" | "Evacuated";
  message: string;
  architecture: string;
  failure_domain: string;
  description: string;
  roles: string[];
  config: Record<string, string>;
  groups: string[];
}

export interface AcceptRequest { name: string; address: string; raft_address: string; secret: string; architecture: string }
export interface AcceptReply { id: number; raft_nodes: RaftNode[]; private_key: string; certificate: string }
/** One `member_config` answer of a join (`entity`: storage-pool or network). */
export interface MemberConfigAnswer { entity: string; name: string; key: string; value: string }
export interface JoinRequest { server_name: string; server_address: string; cluster_token: string; member_config?: MemberConfigAnswer[] }

interface JoinToken { server_name: string; fingerprint: string; addresses: string[]; secret: string; expires_at: string }

const DEFAULT_THRESHOLD_S = 20;
/** One-way latency dqlite is tuned for: leader heartbeats and elections scale with it. */
const RAFT_LATENCY_MS = Number(process.env.LXD_DQLITE_LATENCY_MS) || 10;
const DEFAULT_TOKEN_EXPIRY_S = 3 * 3600;
const STOPPING_TIMEOUT_MS = 2000;
/** How often a member checks whether a heartbeat round is due. */
const HEARTBEAT_CHECK_MS = 1000;

export const decodeJoinToken = (text: string): JoinToken | undefined => {
  try {
    const v = JSON.parse(Buffer.from(text.trim(), "base64").toString("utf8")) as JoinToken;
    return typeof v.secret === "string" && typeof v.fingerprint === "string" && Array.isArray(v.addresses) ? v : undefined;
  } catch {
    return undefined;
  }
};

export const encodeJoinToken = (t: JoinToken): string => Buffer.from(JSON.stringify(t)).toString("base64");

/** A port nobody listens on now, on `host`: where this member's dqlite node will listen. */
function freePort(host: string): number {
  const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

const hostOf = (address: string) => address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");

export class ClusterManager {
  private node?: DqliteNode;
  private admin?: DqliteClient;
  /** Every database connection goes through this member's own node process, which dials the
   *  others over TLS with the cluster certificate. */
  private readonly relay = (): string => {
    if (!this.node) throw new DqliteConnectionError("this member's dqlite node is not running");
    return this.node.relay;
  };
  private timer?: ReturnType<typeof setInterval>;
  private lastRound = 0;
  private ticking = false;
  private roles = new Map<number, string>();
  private leaderId = 0;
  private rebalancing = false;
  private readonly tokens = new Map<string, { name: string; expiresAt: number; done: (used: boolean) => void }>();

  constructor(private readonly deps: ClusterDeps) {}

  /** This member's name, or undefined on a standalone server. */
  get name(): string | undefined {
    return this.deps.local.get("name");
  }

  /** What `location` says for instances here ("none" when standalone, as LXD). */
  location(): string {
    return this.name ?? "none";
  }

  /** The certificate members serve and dial with. */
  identity(): ClusterIdentity {
    return this.deps.identity();
  }

  getLocal(key: string): string | undefined {
    return this.deps.local.get(key);
  }

  setLocal(key: string, value: string | undefined): void {
    this.deps.local.set(key, value);
  }

  get enabled(): boolean {
    return this.name !== undefined;
  }

  private get client(): SwitchableClient {
    return this.deps.db.$client as unknown as SwitchableClient;
  }

  private config(key: string): string | undefined {
    return getServerConfigValue(this.deps.db, key);
  }

  private thresholdMs(): number {
    return (Number(this.config("cluster.offline_threshold")) || DEFAULT_THRESHOLD_S) * 1000;
  }

  // ---- start-up ------------------------------------------------------------------------

  /** A member restarting: its node runs again and the database is the cluster's. */
  async resume(): Promise<void> {
    if (!this.enabled) return;
    const raftAddress = this.deps.local.get("raft_address")!;
    await this.startNode(BigInt(this.deps.local.get("raft_id")!), raftAddress);
    const addresses = [raftAddress, ...this.deps.local.raftNodes().map((n) => n.address).filter((a) => a !== raftAddress)];
    this.useGlobal(addresses);
    // Removed while it was down (`cluster remove --force`): nobody could tell it, the list does.
    if (this.removedFromCluster()) {
      log.warn("This member was removed from the cluster while it was down", { member: this.name });
      // Before the listener exists: it starts with server.crt, cluster.crt being gone.
      return this.leave(false);
    }
    this.startHeartbeats();
    log.info("Rejoined the cluster", { member: this.name, raft: raftAddress });
  }

  /** removedFromCluster for a running daemon: asked without blocking its thread (the admin
   *  client is asynchronous), so a cluster without quorum cannot stall a member's heartbeat check. */
  private async goneFromMembers(): Promise<boolean> {
    try {
      const found = await this.admin!.query("SELECT 1 FROM cluster_members WHERE id = ?", [Number(this.deps.local.get("raft_id"))]);
      return found.rows.length === 0;
    } catch (err) {
      log.debug("Could not read the member list", { err: (err as Error).message });
      return false;
    }
  }

  /** The cluster's member list no longer has this member's Raft id (false when it can't be read). */
  private removedFromCluster(): boolean {
    const id = Number(this.deps.local.get("raft_id"));
    try {
      return !members.listMembers(this.deps.db).some((m) => m.id === id);
    } catch (err) {
      log.debug("Could not read the member list", { err: (err as Error).message });
      return false;
    }
  }

  private async startNode(id: bigint, address: string): Promise<void> {
    try {
      const { stateDir } = this.deps;
      this.node = await startDqliteNode({
        id, address, dir: join(stateDir, "database", "global"), cert: join(stateDir, "cluster.crt"), key: join(stateDir, "cluster.key"), latencyMs: RAFT_LATENCY_MS,
        // A peer without the cluster certificate is worth a warning; a member that is down is not.
        onLog: (line) => (line.startsWith("refused") ? log.warn : log.debug)("dqlite node", { message: line }),
      });
      const node = this.node;
      void node.exited.then((code) => {
        if (this.node === node) log.error("The dqlite node stopped on its own", { code });
      });
    } catch (err) {
      if (err instanceof DqliteUnavailableError) throw new ApiError(400, `This server can't be clustered: ${err.message}`);
      throw err;
    }
  }

  /** Points the daemon's database at dqlite (the schema brought up to date there). */
  private useGlobal(addresses: string[], copyFromCurrent = false): void {
    const sync = new SyncDqlite(addresses, { relay: this.relay, timeoutMs: 15_000 });
    applyMigrations(sync);
    if (copyFromCurrent) copyRows(this.client.current, sync);
    sync.run("PRAGMA foreign_keys = ON");
    this.client.switchTo(sync).close();
    this.admin = new DqliteClient(addresses, { relay: this.relay, timeoutMs: 10_000 });
  }

  // ---- forming -------------------------------------------------------------------------

  /** `lxd cluster enable NAME`: this server becomes the first member. */
  async enable(name: string): Promise<void> {
    if (this.enabled) throw new ApiError(400, "This server is already clustered");
    if (!name) throw new ApiError(400, "A server name is required to enable clustering");
    const address = this.config("cluster.https_address") || this.config("core.https_address");
    if (!address || /^:|^\[::\]|^0\.0\.0\.0/.test(address)) {
      throw new ApiError(400, "This LXD server isn't available on the network: set core.https_address to a specific address first");
    }
    const raftAddress = `${hostOf(address).includes(":") ? `[${hostOf(address)}]` : hostOf(address)}:${freePort(hostOf(address))}`;
    // The server's certificate becomes the cluster's: members trust each other by it, their
    // dqlite nodes included, so it is in place before the node starts.
    const identity = this.deps.identity();
    this.writeClusterCertificate(identity);
    const local = this.deps.local;
    try {
      await this.startNode(1n, raftAddress);
      this.useGlobal([raftAddress], true);
    } catch (err) {
      await this.stopNode();
      for (const file of ["cluster.crt", "cluster.key"]) rmSync(join(this.deps.stateDir, file), { force: true });
      if (err instanceof ApiError) throw err;
      throw new ApiError(500, `Failed to move the database into dqlite: ${(err as Error).message}`);
    }
    const db = this.deps.db;
    members.insertMember(db, { id: 1, name, address, raftAddress, architecture: this.deps.architecture, heartbeat: Date.now() });
    members.claimInstances(db, name);
    this.deps.shareResources(name);
    this.deps.adoptCertificate(identity, true);
    local.set("name", name);
    local.set("raft_id", "1");
    local.set("raft_address", raftAddress);
    local.set("cluster.https_address", address);
    local.set("core.https_address", this.config("core.https_address"));
    local.setRaftNodes([{ id: 1, address: raftAddress, role: "voter", name }]);
    this.roles.set(1, "voter");
    this.leaderId = 1;
    this.startHeartbeats();
    log.info("Clustering enabled", { member: name, raft: raftAddress });
  }

  private writeClusterCertificate(pair: { cert: string; key: string }): void {
    for (const [file, text, mode] of [["cluster.key", pair.key, 0o600], ["cluster.crt", pair.cert, 0o644]] as const) {
      const path = join(this.deps.stateDir, file);
      writeFileSync(`${path}.tmp`, text, { mode });
      renameSync(`${path}.tmp`, path);
    }
  }

  /** POST /1.0/cluster/members: a join token for `name` (LXD's format), and the promise it is used. */
  issueToken(name: string, addresses: string[]): { token: JoinToken; used: Promise<void>; revoke(): void } {
    if (!this.enabled) throw new ApiError(400, "This server is not clustered");
    if (!name) throw new ApiError(400, "A server name is required");
    if (members.getMember(this.deps.db, name)) throw new ApiError(409, `The cluster already has a member with name: ${name}`);
    for (const t of this.tokens.values()) if (t.name === name) throw new ApiError(409, `A join token for "${name}" already exists`);
    const seconds = parseExpiry(this.config("cluster.join_token_expiry") ?? "") ?? DEFAULT_TOKEN_EXPIRY_S;
    const expiresAt = Date.now() + seconds * 1000;
    const secret = randomBytes(32).toString("hex");
    let done!: (used: boolean) => void;
    const used = new Promise<void>((resolve, reject) => {
      done = (ok) => (ok ? resolve() : reject(new Error("Join token expired")));
    });
    const timer = setTimeout(() => {
      this.tokens.delete(secret);
      done(false);
    }, seconds * 1000);
    timer.unref?.();
    this.tokens.set(secret, { name, expiresAt, done: (ok) => { clearTimeout(timer); done(ok); } });
    const token = { server_name: name, fingerprint: this.deps.identity().fingerprint, addresses, secret, expires_at: new Date(expiresAt).toISOString() };
    return { token, used, revoke: () => { if (this.tokens.delete(secret)) { clearTimeout(timer); done(true); } } };
  }

  /** Whether `secret` is that of a join token still waiting (not used up by asking). */
  tokenPending(secret: string): boolean {
    const given = createHash("sha256").update(secret).digest();
    return [...this.tokens].some(([s, t]) => timingSafeEqual(createHash("sha256").update(s).digest(), given) && Date.now() <= t.expiresAt);
  }

  private redeem(secret: string, name: string): boolean {
    const given = createHash("sha256").update(secret).digest();
    for (const [s, t] of this.tokens) {
      if (!timingSafeEqual(createHash("sha256").update(s).digest(), given)) continue;
      this.tokens.delete(s);
      if (t.name !== name || Date.now() > t.expiresAt) return false;
      t.done(true);
      return true;
    }
    return false;
  }

  /** POST /internal/cluster/accept on a member: the joiner's token checked, its node added. */
  async accept(req: AcceptRequest): Promise<AcceptReply> {
    if (!this.enabled || !this.admin) throw new ApiError(400, "This server is not clustered");
    if (!this.redeem(req.secret, req.name)) throw new ApiError(403, "The join token is invalid, expired, already used or for another name");
    const db = this.deps.db;
    if (members.getMember(db, req.name)) throw new ApiError(409, `The cluster already has a member with name: ${req.name}`);
    const id = Math.max(0, ...members.listMembers(db).map((m) => m.id)) + 1;
    await this.membershipChange(() => this.admin!.add(BigInt(id), req.raft_address));
    members.insertMember(db, { id, name: req.name, address: req.address, raftAddress: req.raft_address, architecture: req.architecture, heartbeat: Date.now() });
    const nodes = await this.raftNodes();
    this.admin.setAddresses(nodes.map((n) => n.address));
    // The new node catches up once it runs; roles are rebalanced then (the heartbeat does it too).
    setTimeout(() => void this.rebalance(), 200);
    const identity = this.deps.identity();
    return { id, raft_nodes: nodes, private_key: identity.key, certificate: identity.cert };
  }

  /** PUT /1.0/cluster with a token on the joining server. */
  async join(req: JoinRequest): Promise<void> {
    if (this.enabled) throw new ApiError(400, "This server is already clustered");
    const token = decodeJoinToken(req.cluster_token);
    if (!token) throw new ApiError(400, "Invalid cluster join token");
    const unknown = (req.member_config ?? []).find((a) => a.entity !== "storage-pool" && a.entity !== "network");
    if (unknown) throw new ApiError(400, `Unknown member_config entity "${unknown.entity}" (storage-pool or network)`);
    if (!req.server_address) throw new ApiError(400, "server_address is required to join a cluster");
    if (this.deps.instanceCount() > 0) throw new ApiError(400, "The server must have no instances to join a cluster");
    const name = req.server_name || token.server_name;
    this.deps.listen(req.server_address);
    const host = hostOf(req.server_address);
    const raftAddress = `${host.includes(":") ? `[${host}]` : host}:${freePort(host)}`;
    const own = this.deps.identity();
    let reply: AcceptReply | undefined;
    let lastError: Error | undefined;
    for (const address of token.addresses) {
      try {
        reply = await peerJson<AcceptReply>({ ...own, fingerprint: token.fingerprint }, address, "/internal/cluster/accept", "POST",
          { name, address: req.server_address, raft_address: raftAddress, secret: token.secret, architecture: this.deps.architecture }, 30_000);
        break;
      } catch (err) {
        lastError = err as Error;
      }
    }
    if (!reply) throw new ApiError(400, `Failed to join the cluster: ${lastError?.message ?? "no address in the token"}`);
    this.writeClusterCertificate({ cert: reply.certificate, key: reply.private_key });
    this.deps.adoptCertificate({ cert: reply.certificate, key: reply.private_key }, true);
    await this.startNode(BigInt(reply.id), raftAddress);
    const addresses = [...reply.raft_nodes.map((n) => n.address).filter((a) => a !== raftAddress), raftAddress];
    this.useGlobal(addresses);
    const local = this.deps.local;
    local.set("name", name);
    local.set("raft_id", String(reply.id));
    local.set("raft_address", raftAddress);
    local.set("cluster.https_address", req.server_address);
    local.set("core.https_address", req.server_address);
    local.setRaftNodes(reply.raft_nodes);
    this.startHeartbeats();
    log.info("Joined the cluster", { member: name, raft: raftAddress });
    // A member now either way: a pool or network that fails here is Errored on it, and says why.
    await this.deps.prepareJoined(req.member_config ?? []);
  }

  /**
   * A Raft configuration change, asked again when leadership moved while it was in flight (just
   * after a failover the old leader's connection says so); dqlite applies one change at a time.
   */
  private async membershipChange(change: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await change();
      } catch (err) {
        // Transient while Raft elects (just after a leader was lost): try again shortly.
        if (attempt >= 5 || !/leadership|not leader|no dqlite leader|configuration change in progress/i.test((err as Error).message)) throw err;
        this.admin!.close();
        await Bun.sleep(200 * attempt);
      }
    }
  }

  // ---- members -------------------------------------------------------------------------

  private async raftNodes(): Promise<RaftNode[]> {
    const names = new Map(members.listMembers(this.deps.db).map((m) => [m.id, m.name]));
    const nodes = await this.admin!.cluster();
    return nodes.map((n) => ({ id: Number(n.id), address: n.address, role: n.role, name: names.get(Number(n.id)) ?? "" }));
  }

  /** Is the member reachable as far as heartbeats tell? */
  online(row: members.MemberRow): boolean {
    return this.onlineTest()(row);
  }

  /** online() for a loop over members: the threshold (a database read) is read once. */
  onlineTest(): (row: members.MemberRow) => boolean {
    const [self, threshold, now] = [this.name, this.thresholdMs(), Date.now()];
    return (row) => row.name === self || now - row.heartbeat <= threshold;
  }

  /** Other members that answered heartbeats (fan-out: lists, events, image fetches). */
  onlinePeers(): members.MemberRow[] {
    const online = this.onlineTest();
    return this.peers().filter(online);
  }

  async list(): Promise<MemberView[]> {
    if (!this.enabled) throw new ApiError(404, "Server isn't part of a cluster");
    await this.refreshRoles();
    const online = this.onlineTest();
    return members.listMembers(this.deps.db).map((m) => this.view(m, online(m)));
  }

  async get(name: string): Promise<MemberView> {
    const row = this.row(name);
    await this.refreshRoles();
    return this.view(row);
  }

  /** Roles and leader as Raft has them now (a round trip to the leader). */
  private async refreshRoles(): Promise<void> {
    try {
      for (const n of await this.raftNodes()) this.roles.set(n.id, n.role);
      this.leaderId = Number((await DqliteClient.leaderOf(this.relay, this.deps.local.get("raft_address")!)).id);
    } catch (err) {
      log.debug("Could not read the Raft configuration", { err: (err as Error).message });
    }
  }

  /** Copies an image another member holds (its unified tarball) to `dest`; false if none has it. */
  async fetchImage(fingerprint: string, dest: string): Promise<boolean> {
    // Asked in a project that lists it (an image may exist in project p1 only).
    const project = imageProjects(this.deps.db, fingerprint)[0] ?? "default";
    const path = `/1.0/images/${fingerprint}/export${project === "default" ? "" : `?project=${encodeURIComponent(project)}`}`;
    for (const m of this.onlinePeers()) {
      try {
        const res = await peerFetch(this.identity(), m.address, path, { timeoutMs: 600_000 });
        if (!res.ok || /multipart/.test(res.headers.get("content-type") ?? "")) continue;
        await Bun.write(dest, res);
        const sum = new Bun.CryptoHasher("sha256").update(await Bun.file(dest).bytes()).digest("hex");
        if (sum === fingerprint) return true;
      } catch (err) {
        log.debug("Image fetch from member failed", { member: m.name, err: (err as Error).message });
      }
    }
    return false;
  }

  row(name: string): members.MemberRow {
    if (!this.enabled) throw new ApiError(404, "Server isn't part of a cluster");
    const row = members.getMember(this.deps.db, name);
    if (!row) throw new ApiError(404, `Cluster member "${name}" not found`);
    return row;
  }

  private view(m: members.MemberRow, online = this.online(m)): MemberView {
    const role = this.roles.get(m.id);
    const roles = role === "voter" ? ["database", ...(m.id === this.leaderId ? ["database-leader"] : [])] : role === "standby" ? ["database-standby"] : [];
    const status = !online ? "Offline" : m.state === "evacuated" ? "Evacuated" : "Online";
    const silent = Math.round((Date.now() - m.heartbeat) / 1000);
    return {
      server_name: m.name, url: `https://${m.address}`, database: role === "voter", status,
      message: status === "Online" ? "Fully operational" : status === "Evacuated" ? "Unavailable due to maintenance" : `No heartbeat for ${silent}s`,
      architecture: m.architecture, failure_domain: "default", description: m.description, roles, config: m.config, groups: ["default"],
    };
  }

  update(name: string, fields: { description?: string; config?: Record<string, string> }): void {
    this.row(name);
    members.updateMember(this.deps.db, name, { description: fields.description ?? "", config: fields.config ?? {} });
  }

  rename(from: string, to: string): void {
    this.row(from);
    if (!to) throw new ApiError(400, "A new name is required");
    if (members.getMember(this.deps.db, to)) throw new ApiError(409, `The cluster already has a member with name: ${to}`);
    members.renameMember(this.deps.db, from, to);
    if (from === this.name) this.deps.local.set("name", to);
  }

  /** `lxd cluster remove`: out of Raft and the member list; with instances only when forced. */
  async remove(name: string, force: boolean): Promise<void> {
    const row = this.row(name);
    if (name === this.name) throw new ApiError(400, "A member can't remove itself: run the command on another member");
    const count = members.instanceCounts(this.deps.db).get(name) ?? 0;
    if (count && !force) throw new ApiError(400, `Member "${name}" still has ${count} instance(s): move or delete them first, or use --force`);
    const volumes = volumesAt(this.deps.db, name);
    if (volumes.length && !force) {
      throw new ApiError(400, `Member "${name}" still has custom volume(s) ${volumes.join(", ")}: move or delete them first, or use --force`);
    }
    // As LXD: a leader hands leadership over before it goes, so no election follows the removal
    // with statements in flight on a node that is about to stop.
    const leader = await DqliteClient.leaderOf(this.relay, this.deps.local.get("raft_address")!).catch(() => undefined);
    if (leader && Number(leader.id) === row.id) {
      await this.membershipChange(() => this.admin!.transfer(0n)).catch((err) => log.warn("Leadership transfer failed", { err: (err as Error).message }));
    }
    try {
      await this.membershipChange(() => this.admin!.remove(BigInt(row.id)));
    } catch (err) {
      // A first attempt cut by a leadership change may have gone through: then the node is gone.
      if ((await this.raftNodes()).some((n) => n.id === row.id)) throw err;
    }
    members.forgetInstancesAt(this.deps.db, name);
    members.deleteMember(this.deps.db, name);
    this.roles.delete(row.id);
    // The member itself becomes a standalone server again (if it can be reached; LXD wipes it too).
    await peerJson(this.identity(), row.address, "/internal/cluster/leave", "POST", {}, 10_000)
      .catch((err) => log.warn("Removed member could not be told to leave", { member: name, err: (err as Error).message }));
    void this.rebalance();
  }

  /**
   * POST /internal/cluster/leave, from the member that removed this one: its node stops, its
   * Raft data and cluster facts go, and it runs standalone on a fresh database with its own
   * certificate, as a server that never joined (`serving`: the HTTPS listener switches to it now).
   */
  async leave(serving = true): Promise<void> {
    if (!this.enabled) return;
    log.info("Removed from the cluster: running standalone again", { member: this.name });
    clearInterval(this.timer);
    this.client.switchTo(this.deps.freshDatabase()).close();
    seedDefaults(this.deps.db);
    this.admin?.close();
    this.admin = undefined;
    await this.stopNode();
    rmSync(join(this.deps.stateDir, "database", "global"), { recursive: true, force: true });
    for (const key of ["name", "raft_id", "raft_address", "cluster.https_address"]) this.deps.local.set(key, undefined);
    this.deps.local.setRaftNodes([]);
    for (const file of ["cluster.crt", "cluster.key"]) rmSync(join(this.deps.stateDir, file), { force: true });
    if (serving) this.deps.adoptCertificate(this.deps.serverCertificate(), false);
  }

  /** Where requests about `instance` must go: the member's address, or undefined when it is here. */
  instanceHome(instance: string): { member: string; address: string; online: boolean } | undefined {
    if (!this.enabled) return undefined;
    const m = members.memberOfInstance(this.deps.db, instance);
    if (!m || m.name === this.name) return undefined;
    return { member: m.name, address: m.address, online: this.online(m) };
  }

  /** The member a new instance goes to: the one asked for, or the online one with the fewest instances. */
  place(target: string | undefined): members.MemberRow {
    if (target) {
      const row = this.row(target);
      if (!this.online(row)) throw new ApiError(503, `Cluster member "${target}" is offline`);
      if (row.state === "evacuated") throw new ApiError(400, `Cluster member "${target}" is evacuated`);
      return row;
    }
    // One query: the members with their instance counts (not every instance row).
    const online = this.onlineTest();
    const candidates = members.membersWithCounts(this.deps.db).filter((m) => online(m) && m.state !== "evacuated");
    if (!candidates.length) throw new ApiError(503, "No online cluster member can take the instance");
    const fewest = Math.min(...candidates.map((m) => m.instances));
    const tied = candidates.filter((m) => m.instances === fewest);
    return tied[Math.floor(Math.random() * tied.length)];
  }

  /** Tells every online member about a change it must act on (POST `path`, no body), without
   *  waiting; a member that misses it catches up by its own means (e.g. the trust store's re-read). */
  notifyPeers(path: string): void {
    for (const m of this.onlinePeers()) {
      peerFetch(this.identity(), m.address, path, { method: "POST", timeoutMs: 10_000 })
        .then((res) => { if (!res.ok) log.debug("Member notification refused", { member: m.name, path, status: res.status }); })
        .catch((err) => log.debug("Member notification failed", { member: m.name, path, err: (err as Error).message }));
    }
  }

  /** Other members, for fan-out (list, events). */
  peers(): members.MemberRow[] {
    if (!this.enabled) return [];
    return members.listMembers(this.deps.db).filter((m) => m.name !== this.name);
  }

  // ---- heartbeats and roles --------------------------------------------------------------

  private startHeartbeats(): void {
    clearInterval(this.timer);
    // A short check cadence: a round starts once half of the threshold (read each time, so a
    // changed cluster.offline_threshold applies at once) has passed since the last one.
    this.timer = setInterval(() => {
      if (this.ticking) return;
      let threshold: number;
      try {
        threshold = this.thresholdMs();
      } catch (err) {
        // The database is unreachable for now (no quorum, a leader change): the next check retries.
        log.debug("Heartbeat check failed", { err: (err as Error).message });
        return;
      }
      if (Date.now() - this.lastRound < threshold / 2) return;
      this.ticking = true;
      this.lastRound = Date.now();
      void this.tick()
        .catch((err) => log.debug("Heartbeat round failed", { err: (err as Error).message }))
        .finally(() => { this.ticking = false; });
    }, HEARTBEAT_CHECK_MS);
    this.timer.unref?.();
  }

  /** One round: every member asks its node who leads; the leader heartbeats the others and rebalances roles. */
  private async tick(): Promise<void> {
    const raftAddress = this.deps.local.get("raft_address");
    if (!raftAddress || !this.admin) return;
    if (await this.goneFromMembers()) {
      log.warn("This member was removed from the cluster while it could not be told", { member: this.name });
      return this.leave();
    }
    const leader = await DqliteClient.leaderOf(this.relay, raftAddress);
    this.leaderId = Number(leader.id);
    if (leader.address !== raftAddress) return;
    const started = performance.now();
    const nodes = await this.raftNodes();
    for (const n of nodes) this.roles.set(n.id, n.role);
    const identity = this.deps.identity();
    const others = this.peers();
    // Only the database's holders travel (at most max_voters + max_standby): what a member needs to
    // find the cluster again, so a round costs O(members), not O(members^2).
    const holders = nodes.filter((n) => n.role !== "spare");
    const reached = await Promise.all(others.map((m) =>
      peerJson(identity, m.address, "/internal/database", "PUT", { raft_nodes: holders, leader: this.leaderId }, this.thresholdMs() / 2)
        .then(() => m.name, () => undefined)));
    // Removed meanwhile (left, database switched): nothing of this round is the cluster's any more.
    if (!this.admin) return;
    const now = Date.now();
    this.deps.db.transaction((tx) => {
      for (const name of [this.name!, ...reached.filter((n): n is string => !!n)]) members.updateMember(tx as unknown as OpenDb, name, { heartbeat: now });
    });
    this.deps.local.setRaftNodes(nodes);
    log.debug("Heartbeat round", { members: others.length + 1, reached: reached.filter(Boolean).length + 1, ms: Math.round(performance.now() - started) });
    await this.rebalance();
  }

  /** PUT /internal/database: the leader's heartbeat, with the Raft nodes to remember. */
  heartbeat(body: { raft_nodes: RaftNode[]; leader: number }): void {
    if (!this.enabled) throw new ApiError(400, "This server is not clustered");
    // The holders of the database, and this member's own node (a spare finds itself there too).
    const own = Number(this.deps.local.get("raft_id"));
    const self = this.deps.local.raftNodes().find((n) => n.id === own);
    this.deps.local.setRaftNodes([...body.raft_nodes.filter((n) => n.id !== own), ...(self ? [self] : [])]);
    for (const n of body.raft_nodes) this.roles.set(n.id, n.role);
    this.leaderId = body.leader;
  }

  /**
   * Roles as LXD gives them: one voter until three members exist, then up to cluster.max_voters
   * voters and cluster.max_standby standbys among online members (lowest ids first); an offline
   * voter or standby is replaced and becomes a spare.
   */
  private async rebalance(): Promise<void> {
    if (this.rebalancing || !this.admin) return;
    this.rebalancing = true;
    try {
      const nodes = await this.raftNodes();
      const rows = new Map(members.listMembers(this.deps.db).map((m) => [m.id, m]));
      const maxVoters = Number(this.config("cluster.max_voters")) || 3;
      const maxStandby = Number(this.config("cluster.max_standby") ?? 2);
      const wantVoters = nodes.length >= 3 ? maxVoters : 1;
      const online = this.onlineTest();
      const isOnline = (id: number) => { const r = rows.get(id); return !!r && online(r); };
      const by = (role: string) => nodes.filter((n) => n.role === role && isOnline(n.id));
      const changes: [number, "voter" | "standby" | "spare"][] = [];
      let voters = by("voter").length;
      let standbys = by("standby").length;
      for (const n of [...by("standby"), ...by("spare")]) {
        if (voters >= wantVoters) break;
        changes.push([n.id, "voter"]);
        voters++;
        if (n.role === "standby") standbys--;
      }
      for (const n of by("spare").filter((s) => !changes.some(([id]) => id === s.id))) {
        if (standbys >= maxStandby) break;
        changes.push([n.id, "standby"]);
        standbys++;
      }
      // Offline members give their seat up once a replacement holds one.
      for (const n of nodes) if (n.role !== "spare" && !isOnline(n.id) && changes.length) changes.push([n.id, "spare"]);
      for (const [id, role] of changes) {
        await this.membershipChange(() => this.admin!.assign(BigInt(id), role));
        this.roles.set(id, role);
        log.info("Cluster role changed", { id, role });
      }
      for (const n of await this.raftNodes()) this.roles.set(n.id, n.role);
    } catch (err) {
      log.debug("Role rebalance failed", { err: (err as Error).message });
    } finally {
      this.rebalancing = false;
    }
  }

  /** The daemon is stopping: statements wait briefly (a cluster without quorum would hold it). */
  stopping(): void {
    clearInterval(this.timer);
    const current = this.client.current;
    if (current instanceof SyncDqlite) current.timeoutMs = STOPPING_TIMEOUT_MS;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.admin?.close();
    await this.stopNode();
  }

  /** Stops this member's node on purpose (so its exit is not reported as a failure). */
  private async stopNode(): Promise<void> {
    const node = this.node;
    this.node = undefined;
    await node?.stop();
  }
}
