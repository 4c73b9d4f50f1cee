// Storage pools and networks on a cluster, as LXD has them: each member first gets its own
// definition (`--target m1`: a Pending entry with its member-specific keys), then one request
// without a target creates the pool or network on every member, each with its own keys. The member
// that takes the request does its part and sends the same request to every other member (LXD's
// notifier: marked as coming from a member, so each does only its own part).
import { ApiError } from "../api/error.ts";
import type { NetworkManager } from "../network/manager.ts";
import type { StoragePools } from "../storage/pools.ts";
import type { ClusterManager } from "./manager.ts";
import { peerJson } from "./peer.ts";

type StringMap = Record<string, string>;
type PoolRequest = { name: string; driver: string; description?: string; config?: StringMap | null };

export class MemberResources {
  constructor(
    private readonly cluster: ClusterManager,
    private readonly pools: StoragePools,
    private readonly networks: NetworkManager,
  ) {}

  get enabled(): boolean {
    return this.cluster.enabled;
  }

  /** A target member must exist (offline ones were already refused by forwarding). */
  checkTarget(target: string): void {
    this.cluster.row(target);
  }

  private members(): string[] {
    return [this.cluster.name!, ...this.cluster.peers().map((m) => m.name)].sort();
  }

  /**
   * `local` here, then `method path body` on every other member in parallel. Each failure is named
   * by its member; `what` starts the sentence ("Failed to create storage pool "p1"").
   */
  private async everywhere(what: string, local: () => Promise<void>, method: string, path: string, body?: unknown): Promise<void> {
    const failures: string[] = [];
    const attempt = async (member: string, run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (err) {
        failures.push(`on member "${member}": ${(err as Error).message}`);
      }
    };
    await attempt(this.cluster.name!, local);
    await Promise.all(this.cluster.peers().map((m) => attempt(m.name, () => this.cluster.online(m)
      ? peerJson(this.cluster.identity(), m.address, path, method, body, 300_000)
      : Promise.reject(new Error(`Cluster member "${m.name}" is offline`)))));
    if (failures.length) throw new ApiError(500, `${what} ${failures.join("; ")}`);
  }

  // ---- storage pools ----------------------------------------------------------------------------

  async createPool(req: PoolRequest): Promise<void> {
    this.pools.beginClusterCreate(req, this.members());
    const pool = this.pools.get(req.name);
    let ok = false;
    try {
      await this.everywhere(`Failed to create storage pool "${req.name}"`, () => this.pools.createLocal(req.name), "POST", "/1.0/storage-pools",
        { name: pool.name, driver: pool.driver, description: pool.description, config: {} });
      ok = true;
    } finally {
      this.pools.finishClusterCreate(req.name, ok);
    }
  }

  async deletePool(name: string): Promise<void> {
    const pool = this.pools.get(name);
    if (pool.status !== "Pending") {
      await this.everywhere(`Failed to delete storage pool "${name}"`, () => this.pools.deleteLocal(name), "DELETE", `/1.0/storage-pools/${encodeURIComponent(name)}`);
    }
    this.pools.forget(name);
  }

  // ---- networks ---------------------------------------------------------------------------------

  async createNetwork(name: string, type: string, description: string, config: StringMap, project: string): Promise<void> {
    await this.networks.beginClusterCreate(name, type, description, config, this.members());
    let ok = false;
    try {
      await this.everywhere(`Failed to create network "${this.networks.apiName(name)}"`, () => this.networks.createLocal(name), "POST",
        `/1.0/networks?project=${encodeURIComponent(project)}`, { name: this.networks.apiName(name), type, config: {} });
      ok = true;
    } finally {
      this.networks.finishClusterCreate(name, ok);
    }
  }

  /** A changed network is brought up again on every member (the same request, sent on). */
  async updateNetwork(name: string, local: () => Promise<void>, method: string, path: string, body: unknown): Promise<void> {
    await this.everywhere(`Failed to update network "${this.networks.apiName(name)}"`, local, method, path, body);
  }

  async deleteNetwork(name: string, path: string): Promise<void> {
    const row = this.networks.get(name);
    if (row.status !== "Pending") {
      await this.everywhere(`Failed to delete network "${this.networks.apiName(name)}"`, () => this.networks.deleteLocal(name), "DELETE", path);
    }
    this.networks.forget(name);
  }

  // ---- joining ----------------------------------------------------------------------------------

  /** What a joiner answers for (`GET /1.0/cluster`'s member_config), as LXD words it. */
  memberConfig(): { entity: string; name: string; key: string; value: string; description: string }[] {
    return [
      ...this.pools.memberKeys().map((k) => ({ entity: "storage-pool", ...k, value: "", description: `"${k.key}" property for storage pool "${k.name}"` })),
      ...this.networks.memberKeys().map((k) => ({ entity: "network", ...k, value: "", description: `"${k.key}" property for network "${k.name}"` })),
    ];
  }

  /** A member that just joined makes the cluster's pools and networks with its answers. */
  async prepareJoined(answers: { entity: string; name: string; key: string; value: string }[]): Promise<void> {
    const of = (entity: string) => (name: string) =>
      Object.fromEntries(answers.filter((a) => a.entity === entity && a.name === name && a.value !== "").map((a) => [a.key, a.value]));
    await this.pools.joinLocal(of("storage-pool"));
    await this.networks.joinLocal(of("network"));
  }
}
