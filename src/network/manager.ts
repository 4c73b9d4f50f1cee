// Managed networks: the database rows brought to life as bridges, one nftables table and one
// dnsmasq each. Every change is serialized; a failed create or update leaves nothing behind.
import { isTrue } from "../config/values.ts";
import { readFile, rename as renameDir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Network, NetworkLease, NetworkState } from "../api/network.ts";
import type { Db } from "../db/index.ts";
import * as q from "../db/networks.ts";
import { nameInProject } from "../api/project-names.ts";
import { ApiError } from "../api/error.ts";
import { KeyedLock } from "../lock.ts";
import { lxdDir } from "../paths.ts";
import { hostInterfaces } from "../kernel/resources.ts";
import { bridgePorts, deleteBridge, ensureBridge, linkExists, renameBridge } from "./bridge.ts";
import { parseDhcpRanges, validateNetworkConfig, validateNetworkName, withDefaults } from "./config.ts";
import { Dnsmasq, hostEntries, hostEntryName, readHostLines, removeHostEntries, syncHostEntries, writeHostEntry } from "./dnsmasq.ts";
import { bridgeHwaddr, nicHwaddr } from "./mac.ts";
import { bridgeLinkName, nftTableName, projectBridgeLinkName } from "./names.ts";
import { acceptInForeignChains } from "./foreign.ts";
import { applyRuleset, removeTable, type FirewallNetwork, type NicFilter } from "./nftables.ts";
import { dhcpRange, formatIPv4, hostSubnets, parseIPv4, overlaps, parseCidr4, pickSubnet, subnetString } from "./subnet.ts";
import { dhcpRange6, formatIPv6, hostSubnets6, overlaps6, parseCidr6, pickSubnet6, slaacAddress, subnetString6 } from "./subnet6.ts";

type StringMap = Record<string, string>;
type Log = (level: "info" | "warn", msg: string, ctx?: Record<string, unknown>) => void;
type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

export const networkUrl = (name: string) => `/1.0/networks/${name}`;

/** Keys whose values differ per cluster member (LXD's member-specific network config). */
export const NETWORK_MEMBER_KEYS: readonly string[] = ["bridge.external_interfaces", "parent"];

const DEFAULT_DOMAIN = "lxd";
const DEFAULT_LEASE = "1h";

export class NetworkManager {
  private readonly dns = new Map<string, Dnsmasq>();
  /** Per-nic filters and limits, by host-side interface (registered by the nic driver). */
  private readonly nicFilters = new Map<string, NicFilter>();
  private readonly lock = new KeyedLock();

  /** The project a network's storage name (`<project>_<name>` in a project with its own networks)
   *  belongs to: set by the daemon once projects are known (only default's without it). */
  ownerOf: (stored: string) => string = () => "default";
  /** The project whose networks `project` uses (its own with `features.networks`): set by the daemon. */
  networksOf: (project: string) => string = () => "default";
  /** This member's name on a cluster (set by the daemon): networks are then created per member. */
  member: () => string | undefined = () => undefined;

  constructor(private readonly db: Db, private readonly log: Log, private readonly events?: Events) {}

  /** A network's name in its project, from its storage name. */
  apiName(stored: string): string {
    return nameInProject(this.ownerOf(stored), stored);
  }

  /** A network's URL (`?project=` outside default), from its storage name. */
  url(stored: string): string {
    const project = this.ownerOf(stored);
    return `${networkUrl(this.apiName(stored))}${project === "default" ? "" : `?project=${project}`}`;
  }

  /** Refuses a default network name that reads as another project's storage name (`p1_br` while p1
   *  has its own networks): both would be one row. */
  checkOwner(stored: string, project: string): void {
    if (this.ownerOf(stored) !== project) throw new ApiError(400, `Invalid network name "${stored}": "${stored.slice(0, stored.indexOf("_"))}_" starts the names of project "${this.ownerOf(stored)}"'s networks`);
  }

  private lifecycle(action: string, name: string, context: Record<string, unknown> = {}): void {
    this.events?.send("lifecycle", { action, source: this.url(name), context });
  }

  /** The API view; on a cluster, `memberView` (a target member given) shows this member's status. */
  toApi(row: q.NetworkRow, memberView = false): Network {
    const api = {
      name: nameInProject(row.project, row.name), description: row.description, type: row.type, managed: true, config: row.config,
      status: row.status, used_by: q.networkUsedBy(this.db, row.name), locations: ["none"], project: row.project,
    };
    const member = this.member();
    if (!member) return api;
    const entries = q.networkMemberRows(this.db, row.name);
    const own = entries.find((e) => e.member === member);
    return {
      ...api, config: memberView ? { ...row.config, ...own?.config } : row.config,
      status: memberView ? own?.status ?? row.status : row.status, locations: entries.filter((e) => e.status === "Created").map((e) => e.member),
    };
  }

  /** The networks that exist on this host: all of them standalone, those created here on a cluster. */
  private present(): q.NetworkRow[] {
    const member = this.member();
    if (!member) return this.list();
    const own = q.memberNetworks(this.db, member);
    // A network from before per-member entries (none at all) is everyone's.
    return this.list().filter((r) => own.get(r.name)?.status === "Created" || (r.status === "Created" && !q.networkMemberRows(this.db, r.name).length));
  }

  /** The host's interfaces that are not managed networks, as LXD lists them (managed: false). */
  unmanaged(): Network[] {
    const managed = new Set(this.present().map((r) => bridgeLinkName(r.name)));
    return hostInterfaces().filter((i) => !managed.has(i.name)).map((i) => ({
      name: i.name, description: "", type: i.type, managed: false, config: {}, status: "", used_by: [], locations: ["none"], project: "default",
    }));
  }

  /** Runs changes one at a time: each sees the previous one's result. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run("networks", fn);
  }

  /** The host interface of a network (by storage name): a project's get a hashed name, so two
   *  projects' `br0` never meet on the host and the 15-byte limit holds. */
  link(name: string): string {
    return this.ownerOf(name) === "default" ? bridgeLinkName(name) : projectBridgeLinkName(name);
  }

  private dir(name: string): string {
    return join(lxdDir(), "networks", name);
  }

  get(name: string): q.NetworkRow {
    const row = q.getNetwork(this.db, name);
    if (!row) throw new ApiError(404, `Network "${this.apiName(name)}" not found`);
    return row;
  }

  /** Every network, or those of one project (the project whose networks a request's project uses). */
  list(project?: string): q.NetworkRow[] {
    return q.listNetworks(this.db, project);
  }

  /** Dnsmasq supervisor of a network (tests read its pid). */
  dnsmasq(name: string): Dnsmasq | undefined {
    return this.dns.get(name);
  }

  // ---- daemon start / stop -------------------------------------------------------------

  /** Brings every network up again (bridges survive a daemon restart; dnsmasq does not). */
  async startAll(): Promise<void> {
    for (const row of this.present()) {
      await this.up(row).catch((err) => this.log("warn", "Failed to bring up network", { network: row.name, err: (err as Error).message }));
    }
    await this.firewall().catch((err) => this.log("warn", "Failed to apply firewall rules", { err: (err as Error).message }));
  }

  /**
   * Stops every dnsmasq. With `removeAll` (`lxd shutdown`: no container runs any more) the bridges
   * and the nftables table go too; otherwise (SIGTERM) they stay so running containers keep their
   * network, and the next daemon takes them over.
   */
  async shutdown(removeAll: boolean): Promise<void> {
    await Promise.all([...this.dns.values()].map((d) => d.stop()));
    this.dns.clear();
    if (!removeAll) return;
    for (const row of this.present()) await deleteBridge(this.link(row.name));
    await removeTable(nftTableName());
    await acceptInForeignChains(nftTableName(), []).catch((err) =>
      this.log("warn", "Failed to remove accept rules from other tables' forward chains", { err: (err as Error).message }));
  }

  // ---- bringing one network up and down -----------------------------------------------

  private async up(row: q.NetworkRow): Promise<void> {
    const c = row.config;
    const cidr = parseCidr4(c["ipv4.address"] ?? "");
    const cidr6 = parseCidr6(c["ipv6.address"] ?? "");
    const link = this.link(row.name);
    await ensureBridge({
      link, ipv4: cidr ? c["ipv4.address"] : undefined, ipv6: cidr6 ? `${formatIPv6(cidr6.address)}/${cidr6.prefix}` : undefined,
      mtu: Number(c["bridge.mtu"]) || undefined, hwaddr: c["bridge.hwaddr"] || bridgeHwaddr(link),
    });
    if (cidr && isTrue(c["ipv4.nat"])) await enableForwarding("/proc/sys/net/ipv4/ip_forward", this.log);
    if (cidr6) await enableForwarding("/proc/sys/net/ipv6/conf/all/forwarding", this.log);
    await this.dns.get(row.name)?.stop();
    this.dns.delete(row.name);
    const dhcp4 = cidr && (c["ipv4.dhcp"] === undefined || isTrue(c["ipv4.dhcp"]));
    if (dhcp4 || cidr6) {
      await this.writeHosts(row.name);
      const dhcp6 = c["ipv6.dhcp"] === undefined || isTrue(c["ipv6.dhcp"]);
      const d = new Dnsmasq({
        dir: this.dir(row.name), link, gateway: cidr ? formatIPv4(cidr.address) : undefined,
        ranges: !dhcp4 ? undefined : c["ipv4.dhcp.ranges"] ? parseDhcpRanges(c["ipv4.dhcp.ranges"]) : [dhcpRange(cidr)],
        domain: c["dns.domain"] || DEFAULT_DOMAIN, leaseTime: c["ipv4.dhcp.expiry"] || DEFAULT_LEASE, noDns: c["dns.mode"] === "none",
        ipv6: cidr6 && {
          gateway: formatIPv6(cidr6.address), leaseTime: c["ipv6.dhcp.expiry"] || DEFAULT_LEASE,
          mode: !dhcp6 ? "slaac" : isTrue(c["ipv6.dhcp.stateful"]) ? { range: dhcpRange6(cidr6) } : "stateless",
        },
      }, (msg, ctx) => this.log("warn", msg, { network: row.name, ...ctx }));
      await d.start();
      this.dns.set(row.name, d);
    }
  }

  private async down(name: string): Promise<void> {
    await this.dns.get(name)?.stop();
    this.dns.delete(name);
    await deleteBridge(this.link(name));
  }

  private async firewall(): Promise<void> {
    const nets: FirewallNetwork[] = this.present().map((r) => {
      const cidr = parseCidr4(r.config["ipv4.address"] ?? "");
      const cidr6 = parseCidr6(r.config["ipv6.address"] ?? "");
      return {
        link: this.link(r.name), subnet: cidr ? subnetString(cidr) : undefined, nat: !!cidr && isTrue(r.config["ipv4.nat"]),
        subnet6: cidr6 ? subnetString6(cidr6) : undefined, nat6: !!cidr6 && isTrue(r.config["ipv6.nat"]),
        routing4: r.config["ipv4.routing"] === undefined || isTrue(r.config["ipv4.routing"]),
        routing6: r.config["ipv6.routing"] === undefined || isTrue(r.config["ipv6.routing"]),
      };
    });
    await applyRuleset(nftTableName(), nets, [...this.nicFilters.values()]);
    // Other software's chains are best effort: a failure there must not fail the network itself.
    const chains = await acceptInForeignChains(nftTableName(), nets.map((n) => n.link)).catch((err) => {
      this.log("warn", "Failed to add accept rules to other tables' forward chains", { err: (err as Error).message });
      return [];
    });
    if (chains.length && nets.length && !this.warnedForeign) {
      this.warnedForeign = true;
      this.log("info", "Added accept rules for the managed bridges to forward chains with policy drop", {
        chains: chains.map((c) => `${c.family} ${c.table} ${c.name}`).join(", "),
      });
    }
  }

  private warnedForeign = false;

  /** Installs (or with `undefined` fields, keeps) the firewall's filters and limits for one nic. */
  setNicFilter(filter: NicFilter): Promise<void> {
    return this.serial(async () => {
      this.nicFilters.set(filter.link, filter);
      await this.firewall();
    });
  }

  clearNicFilter(link: string): Promise<void> {
    return this.serial(async () => {
      if (this.nicFilters.delete(link)) await this.firewall();
    });
  }

  // ---- static DHCP entries and DNS names ----------------------------------------------

  /** Entry names in each network's hosts directory, as last written: counts without a listing. */
  private readonly hostNames = new Map<string, Set<string>>();

  /** `MAC,NAME[,IP]` for each instance nic on the network, so names resolve as NAME.<dns.domain>:
   *  all of them from the database (network start, `forget`); true when anything changed. */
  private async writeHosts(name: string): Promise<boolean> {
    const entries = new Map(q.instanceNics(this.db).filter((n) => n.network === name).map((n) => [hostEntryName(n.instance, n.device), hostLine(n)]));
    this.hostNames.set(name, new Set(entries.keys()));
    this.checkPoolSize(name, entries.size);
    return syncHostEntries(this.dir(name), entries);
  }

  private warnedPool = new Set<string>();

  /** More nics than the DHCP pool holds: the rest get no IPv4 lease and keep asking. Said once per network. */
  private checkPoolSize(name: string, nics: number) {
    const c = this.get(name).config;
    const cidr = parseCidr4(c["ipv4.address"] ?? "");
    if (!cidr || this.warnedPool.has(name)) return;
    const ranges = c["ipv4.dhcp.ranges"] ? parseDhcpRanges(c["ipv4.dhcp.ranges"]) : [dhcpRange(cidr)];
    const size = ranges.reduce((n, [from, to]) => n + parseIPv4(to)! - parseIPv4(from)! + 1, 0);
    if (nics <= size) return;
    this.warnedPool.add(name);
    const wider = `${formatIPv4(cidr.address)}/${Math.max(8, 32 - Math.ceil(Math.log2(nics + 3)))}`;
    this.log("warn", `Network "${name}" has ${nics} instance nics but its DHCP pool holds ${size} addresses: the rest get no IPv4 lease; widen the subnet (lxc network set ${name} ipv4.address ${wider})`,
      { network: name, nics, pool: size });
  }

  /**
   * Called before an instance nic comes up: its entry must be in place before it asks for a lease.
   * `plugging` is that nic, which a hot-plug has not written to the database yet.
   */
  async refreshHosts(name: string, plugging?: q.NicUse): Promise<void> {
    if (!plugging) {
      if (await this.writeHosts(name)) this.dns.get(name)?.reload();
      return;
    }
    // One file for this nic, whatever the number of instances: no database scan, no SIGHUP for a new entry.
    const entry = hostEntryName(plugging.instance, plugging.device);
    const written = await writeHostEntry(this.dir(name), entry, hostLine(plugging));
    if (written === "changed") this.dns.get(name)?.reload();
    const names = this.hostNames.get(name) ?? new Set(await hostEntries(this.dir(name)));
    this.hostNames.set(name, names.add(entry));
    if (written === "added") this.checkPoolSize(name, names.size);
  }

  /** Drops an instance's entries from every network (deleted, or renamed away). */
  async forgetHosts(instance: string): Promise<void> {
    for (const [name, names] of this.hostNames) {
      const gone = [...names].filter((n) => n.startsWith(`${instance}.`));
      for (const n of gone) names.delete(n);
      if (gone.length && (await removeHostEntries(this.dir(name), gone))) this.dns.get(name)?.reload();
    }
  }

  // ---- API operations -----------------------------------------------------------------

  /** Checks a complete config and replaces ipv4.address=auto and ipv6.address=auto by free subnets. */
  private async resolve(name: string, config: StringMap): Promise<StringMap> {
    const err = validateNetworkConfig(config);
    if (err) throw new ApiError(400, `Invalid network config: ${err}`);
    const out = { ...config };
    const link = this.link(name);
    const others6 = this.list().filter((r) => r.name !== name)
      .map((r) => ({ name: r.name, cidr: parseCidr6(r.config["ipv6.address"] ?? "") }));
    const host6 = (await hostSubnets6()).filter((s) => s.dev !== link);
    if (out["ipv6.address"] === "auto") {
      out["ipv6.address"] = pickSubnet6([...host6, ...others6.flatMap((o) => (o.cidr ? [o.cidr] : []))]);
    } else {
      const cidr6 = parseCidr6(out["ipv6.address"] ?? "");
      const clash = cidr6 && others6.find((o) => o.cidr && overlaps6(o.cidr, cidr6));
      if (cidr6 && clash) throw new ApiError(400, `IPv6 subnet ${subnetString6(cidr6)} overlaps network "${clash.name}"`);
      const route = cidr6 && host6.find((s) => overlaps6(s, cidr6));
      if (cidr6 && route) throw new ApiError(400, `IPv6 subnet ${subnetString6(cidr6)} overlaps ${subnetString6(route)} on the host's interface "${route.dev}"`);
    }
    const others = this.list().filter((r) => r.name !== name)
      .map((r) => ({ name: r.name, cidr: parseCidr4(r.config["ipv4.address"] ?? "") }));
    const host = (await hostSubnets()).filter((s) => s.dev !== link);
    if (out["ipv4.address"] === "auto") {
      out["ipv4.address"] = pickSubnet([...host, ...others.flatMap((o) => (o.cidr ? [o.cidr] : []))]);
      return out;
    }
    const cidr = parseCidr4(out["ipv4.address"] ?? "");
    if (!cidr) return out;
    const clash = others.find((o) => o.cidr && overlaps(o.cidr, cidr));
    if (clash) throw new ApiError(400, `IPv4 subnet ${subnetString(cidr)} overlaps network "${clash.name}" (${clash.cidr && subnetString(clash.cidr)})`);
    const route = host.find((s) => overlaps(s, cidr));
    if (route) throw new ApiError(400, `IPv4 subnet ${subnetString(cidr)} overlaps ${formatIPv4(route.address)}/${route.prefix} on the host's interface "${route.dev}"`);
    return out;
  }

  create(name: string, type: string, description: string, config: StringMap): Promise<void> {
    return this.serial(async () => {
      const nameError = validateNetworkName(this.apiName(name));
      if (nameError) throw new ApiError(400, nameError);
      if (type !== "bridge") throw new ApiError(400, `Network type "${type}" is not supported (only "bridge")`);
      if (q.getNetwork(this.db, name)) throw new ApiError(409, `Network "${this.apiName(name)}" already exists`);
      if (linkExists(this.link(name))) throw new ApiError(400, `An interface named "${this.link(name)}" already exists on the host`);
      const resolved = await this.resolve(name, withDefaults(config));
      const row = q.insertNetwork(this.db, { name, project: this.ownerOf(name), type, description, config: resolved });
      try {
        await this.up(row);
        await this.firewall();
      } catch (err) {
        await this.down(name);
        q.deleteNetwork(this.db, name);
        await this.firewall().catch(() => {});
        await rm(this.dir(name), { recursive: true, force: true });
        throw new ApiError(500, `Failed to create network "${name}": ${(err as Error).message}`);
      }
      this.lifecycle("network-created", name);
    });
  }

  update(name: string, description: string, config: StringMap): Promise<void> {
    return this.serial(async () => {
      const old = this.get(name);
      const resolved = await this.resolve(name, withDefaults(config));
      q.updateNetwork(this.db, name, { description, config: resolved });
      try {
        await this.up({ ...old, description, config: resolved });
        await this.firewall();
      } catch (err) {
        q.updateNetwork(this.db, name, { description: old.description, config: old.config });
        await this.up(old).catch(() => {});
        await this.firewall().catch(() => {});
        throw new ApiError(500, `Failed to update network "${name}": ${(err as Error).message}`);
      }
      this.lifecycle("network-updated", name);
    });
  }

  rename(name: string, to: string): Promise<void> {
    return this.serial(async () => {
      const row = this.get(name);
      const nameError = validateNetworkName(this.apiName(to));
      if (nameError) throw new ApiError(400, nameError);
      if (q.getNetwork(this.db, to)) throw new ApiError(409, `Network "${this.apiName(to)}" already exists`);
      if (q.networkUsedBy(this.db, name).length) throw new ApiError(400, "Cannot rename a network that is in use");
      if (linkExists(this.link(to))) throw new ApiError(400, `An interface named "${this.link(to)}" already exists on the host`);
      await this.dns.get(name)?.stop();
      this.dns.delete(name);
      await renameBridge(this.link(name), this.link(to));
      await renameDir(this.dir(name), this.dir(to)).catch(() => {});
      q.updateNetwork(this.db, name, { name: to });
      await this.up({ ...row, name: to });
      await this.firewall();
      this.lifecycle("network-renamed", to, { old_name: this.apiName(name) });
    });
  }

  /** Drops the rows of a network already taken down on every member (a cluster's delete). */
  forget(name: string): void {
    q.deleteNetwork(this.db, name);
    this.lifecycle("network-deleted", name);
  }

  delete(name: string): Promise<void> {
    return this.serial(async () => {
      this.get(name);
      if (q.networkUsedBy(this.db, name).length) throw new ApiError(400, "The network is currently in use");
      await this.down(name);
      q.deleteNetwork(this.db, name);
      await this.firewall();
      await rm(this.dir(name), { recursive: true, force: true });
      this.lifecycle("network-deleted", name);
    });
  }

  // ---- clusters: networks defined per member, then created on every member -------------------

  /** `lxd cluster enable m1`: the server's networks are m1's. */
  shareWith(member: string): void {
    for (const row of this.list()) q.putNetworkMember(this.db, { network: row.name, member, config: {}, status: row.status });
  }

  /** A change with `--target` may touch member-specific keys only (bridges here have none). */
  checkMemberUpdate(row: q.NetworkRow, config: StringMap): void {
    for (const [key, value] of Object.entries(config)) {
      if (!NETWORK_MEMBER_KEYS.includes(key) && row.config[key] !== value) throw new ApiError(400, `Config key "${key}" may not be used as cluster member specific key`);
    }
  }

  /** `POST /1.0/networks?target=m1`: m1's member-specific keys, recorded (the network Pending). */
  definePending(name: string, type: string, description: string, config: StringMap, member: string): Promise<void> {
    return this.serial(async () => {
      for (const key of Object.keys(config)) {
        if (!NETWORK_MEMBER_KEYS.includes(key)) throw new ApiError(400, `Config key "${key}" may not be used as member-specific key`);
      }
      const nameError = validateNetworkName(this.apiName(name));
      if (nameError) throw new ApiError(400, nameError);
      if (type !== "bridge") throw new ApiError(400, `Network type "${type}" is not supported (only "bridge")`);
      const invalid = validateNetworkConfig(config);
      if (invalid) throw new ApiError(400, invalid);
      const row = q.getNetwork(this.db, name);
      if (row && row.status !== "Pending") throw new ApiError(400, `The network "${this.apiName(name)}" is not pending`);
      if (row && q.networkMemberRows(this.db, name).some((e) => e.member === member)) throw new ApiError(400, `The network is already defined on member "${member}"`);
      this.db.transaction((tx) => {
        if (!row) q.insertNetwork(tx as unknown as Db, { name, project: this.ownerOf(name), type, description, config: {}, status: "Pending" });
        q.putNetworkMember(tx as unknown as Db, { network: name, member, config, status: "Pending" });
      });
    });
  }

  /**
   * `POST /1.0/networks` on a cluster: the cluster's keys (auto subnets chosen here, once) recorded
   * when every member has an entry; Errored until every member made the bridge.
   */
  beginClusterCreate(name: string, type: string, description: string, config: StringMap, members: string[]): Promise<void> {
    return this.serial(async () => {
      for (const key of Object.keys(config)) {
        if (NETWORK_MEMBER_KEYS.includes(key)) throw new ApiError(400, `Config key "${key}" is cluster member specific`);
      }
      const row = q.getNetwork(this.db, name);
      if (!row) throw new ApiError(404, "Network not pending on any node (use --target <node> first)");
      if (row.status === "Created") throw new ApiError(400, "The network is already created");
      if (type !== row.type) throw new ApiError(400, `Requested network type "${type}" doesn't match type in existing database record "${row.type}"`);
      const defined = new Set(q.networkMemberRows(this.db, name).map((e) => e.member));
      const missing = members.filter((m) => !defined.has(m));
      if (missing.length) throw new ApiError(400, `Network not defined on nodes: ${missing.join(", ")}`);
      if (row.status === "Errored") {
        if (Object.keys(config).length) throw new ApiError(400, "Network already partially created. Please do not specify any global config when re-running create");
        return;
      }
      const resolved = await this.resolve(name, withDefaults(config));
      q.updateNetwork(this.db, name, { description: description || row.description, config: resolved, status: "Errored" });
    });
  }

  /** Brings the network up on this member (already up: nothing to do). */
  createLocal(name: string): Promise<void> {
    return this.serial(async () => {
      const member = this.member()!;
      const row = this.get(name);
      const entry = q.networkMemberRows(this.db, name).find((e) => e.member === member);
      if (entry?.status === "Created") return;
      const config = entry?.config ?? {};
      try {
        if (linkExists(this.link(name))) throw new Error(`an interface named "${this.link(name)}" already exists on the host`);
        await this.up(row);
        q.putNetworkMember(this.db, { network: name, member, config, status: "Created" });
        await this.firewall();
      } catch (err) {
        await this.down(name).catch(() => {});
        q.putNetworkMember(this.db, { network: name, member, config, status: "Errored" });
        await this.firewall().catch(() => {});
        throw new ApiError(400, (err as Error).message);
      }
    });
  }

  /** The cluster-wide create ended: Created when every member made the network. */
  finishClusterCreate(name: string, ok: boolean): void {
    q.updateNetwork(this.db, name, { status: ok ? "Created" : "Errored" });
    if (ok) this.lifecycle("network-created", name);
  }

  /** A member joining: the cluster's networks made here, with its answers from `member_config`. */
  async joinLocal(answers: (network: string) => StringMap): Promise<void> {
    const member = this.member()!;
    for (const row of this.list()) {
      if (row.status === "Pending") continue;
      const config = answers(row.name);
      for (const key of Object.keys(config)) {
        if (!NETWORK_MEMBER_KEYS.includes(key)) throw new ApiError(400, `Config key "${key}" of network "${row.name}" is not member specific`);
      }
      q.putNetworkMember(this.db, { network: row.name, member, config, status: "Pending" });
      await this.createLocal(row.name).catch((err) => {
        throw new ApiError(400, `Failed to create network "${this.apiName(row.name)}": ${(err as Error).message}`);
      });
    }
  }

  /** What a joiner must answer (`GET /1.0/cluster`'s member_config): this member's own keys. */
  memberKeys(): { name: string; key: string }[] {
    const member = this.member();
    if (!member) return [];
    return [...q.memberNetworks(this.db, member).values()].sort((a, b) => (a.network < b.network ? -1 : 1))
      .flatMap((e) => Object.keys(e.config).sort().map((key) => ({ name: e.network, key })));
  }

  /** Takes the network down on this member only (its rows stay: the member deleting it drops them). */
  deleteLocal(name: string): Promise<void> {
    return this.serial(async () => {
      this.get(name);
      if (q.networkUsedBy(this.db, name).length) throw new ApiError(400, "The network is currently in use");
      await this.down(name);
      const member = this.member();
      if (member) q.putNetworkMember(this.db, { network: name, member, config: {}, status: "Pending" });
      await this.firewall();
      await rm(this.dir(name), { recursive: true, force: true });
    });
  }

  // ---- live views ---------------------------------------------------------------------

  async state(name: string): Promise<NetworkState> {
    this.get(name);
    return linkState(this.link(name));
  }

  async leases(name: string): Promise<NetworkLease[]> {
    this.get(name);
    const statics = new Map<string, string>();
    for (const line of await readHostLines(this.dir(name))) {
      const [mac, host, ip] = line.split(",");
      if (mac && ip) statics.set(mac, host);
    }
    const leases = (await this.dns.get(name)?.leases()) ?? [];
    const out: NetworkLease[] = leases.map((l) => ({
      hostname: l.hostname, hwaddr: l.hwaddr, address: l.address, type: statics.has(l.hwaddr) ? "static" : "dynamic",
      location: "none", project: this.ownerOf(name),
    }));
    // Without stateful DHCPv6 each nic's IPv6 address is its SLAAC one, known from its MAC (as LXD lists them).
    const row = this.get(name);
    const cidr6 = parseCidr6(row.config["ipv6.address"] ?? "");
    if (cidr6 && !isTrue(row.config["ipv6.dhcp.stateful"])) {
      for (const n of q.instanceNics(this.db).filter((x) => x.network === name)) {
        const mac = nicHwaddr(n.instance, n.config, n.device, n.dev);
        out.push({ hostname: n.instance, hwaddr: mac, address: slaacAddress(cidr6, mac), type: "dynamic", location: "none", project: this.ownerOf(name) });
      }
    }
    return out;
  }
}

/** IP forwarding is a host-wide sysctl: switched on (never off again) when a network needs it. */
async function enableForwarding(file: string, log: Log): Promise<void> {
  if ((await readFile(file, "utf8").catch(() => "1")).trim() === "1") return;
  await writeFile(file, "1");
  log("info", "Enabled IP forwarding for a managed network", { sysctl: file });
}

/** A host interface's state from sysfs and `ip -j addr`. */
export async function linkState(link: string): Promise<NetworkState> {
  const sys = (f: string) => readFile(`/sys/class/net/${link}/${f}`, "utf8").then((s) => s.trim()).catch(() => "");
  const num = async (f: string) => Number(await sys(f)) || 0;
  const [hwaddr, mtu, operstate, flags] = await Promise.all([sys("address"), num("mtu"), sys("operstate"), sys("flags")]);
  const addrs: NetworkState["addresses"] = [];
  const p = Bun.spawn(["ip", "-j", "addr", "show", "dev", link], { stdout: "pipe", stderr: "ignore" });
  const json = await new Response(p.stdout).text();
  await p.exited;
  try {
    for (const l of JSON.parse(json) as { addr_info?: { family: string; local: string; prefixlen: number; scope: string }[] }[]) {
      for (const a of l.addr_info ?? []) addrs.push({ family: a.family, address: a.local, netmask: String(a.prefixlen), scope: a.scope });
    }
  } catch {
    // Gone meanwhile: no addresses.
  }
  const up = (Number(flags) & 1) === 1 || operstate === "up";
  return {
    addresses: addrs,
    counters: {
      bytes_received: await num("statistics/rx_bytes"), bytes_sent: await num("statistics/tx_bytes"),
      packets_received: await num("statistics/rx_packets"), packets_sent: await num("statistics/tx_packets"),
    },
    hwaddr, mtu, state: up ? "up" : "down", type: "broadcast",
    bridge: {
      id: (await sys("bridge/bridge_id")), stp: (await sys("bridge/stp_state")) === "1",
      forward_delay: await num("bridge/forward_delay"), vlan_default: await num("bridge/default_pvid"),
      vlan_filtering: (await sys("bridge/vlan_filtering")) === "1", upper_devices: await bridgePorts(link),
    },
  };
}

/** A nic's static host line: `MAC,INSTANCE[,IPV4]`. */
function hostLine(n: q.NicUse): string {
  return [nicHwaddr(n.instance, n.config, n.device, n.dev), n.instance, n.dev["ipv4.address"]].filter(Boolean).join(",");
}
