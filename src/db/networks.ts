// Queries on the networks table, and which instances and profiles use a network.
import { and, eq } from "drizzle-orm";
import type { Db } from "./index.ts";
import { deviceExpander, projectsWithOwn } from "./projects.ts";
import { instanceUrl, profileUrl, storageName } from "../api/project-names.ts";
import { instances, networkMembers, networks, profiles } from "./schema.ts";

export type NetworkRow = typeof networks.$inferSelect;
export type NewNetworkRow = typeof networks.$inferInsert;
type Device = Record<string, string>;

/** A network's `name` column is its storage name: `<project>_<name>` in a project with its own networks. */
export const listNetworks = (db: Db, project?: string): NetworkRow[] =>
  db.select().from(networks).where(and(project === undefined ? undefined : eq(networks.project, project))).orderBy(networks.name).all();

export const getNetwork = (db: Db, name: string): NetworkRow | undefined =>
  db.select().from(networks).where(eq(networks.name, name)).get();

export const insertNetwork = (db: Db, row: NewNetworkRow): NetworkRow => db.insert(networks).values(row).returning().get();

export function updateNetwork(db: Db, name: string, fields: Partial<NewNetworkRow>): void {
  db.update(networks).set(fields).where(eq(networks.name, name)).run();
  if (fields.name && fields.name !== name) db.update(networkMembers).set({ network: fields.name }).where(eq(networkMembers.network, name)).run();
}

export function deleteNetwork(db: Db, name: string): void {
  db.delete(networkMembers).where(eq(networkMembers.network, name)).run();
  db.delete(networks).where(eq(networks.name, name)).run();
}

export type NetworkMemberRow = typeof networkMembers.$inferSelect;

/** Every member's entry for a network (clustered only). */
export const networkMemberRows = (db: Db, network: string): NetworkMemberRow[] =>
  db.select().from(networkMembers).where(eq(networkMembers.network, network)).orderBy(networkMembers.member).all();

/** One member's entries, by network. */
export const memberNetworks = (db: Db, member: string): Map<string, NetworkMemberRow> =>
  new Map(db.select().from(networkMembers).where(eq(networkMembers.member, member)).all().map((r) => [r.network, r]));

export function putNetworkMember(db: Db, row: typeof networkMembers.$inferInsert): void {
  db.insert(networkMembers).values(row)
    .onConflictDoUpdate({ target: [networkMembers.network, networkMembers.member], set: { config: row.config ?? {}, status: row.status ?? "Pending" } }).run();
}

/** The managed network a nic device is on (by storage name): `network=NAME` of the networks of
 *  `netProject` (the project whose networks the nic's instance or profile uses), or a bridged nic
 *  whose parent is one (a host interface: default's). */
export function nicNetwork(dev: Device, netProject = "default"): string | undefined {
  if (dev.type !== "nic") return undefined;
  if (dev.network) return storageName(netProject, dev.network);
  if ((dev.nictype ?? "bridged") === "bridged" && dev.parent) return dev.parent;
  return undefined;
}

export interface NicUse {
  instance: string;
  device: string;
  dev: Device;
  config: Record<string, string>;
  /** The managed network (storage name) it is on, if any. */
  network?: string;
}

/** Every nic of every instance (after profile expansion), with the instance's own config. */
export function instanceNics(db: Db): NicUse[] {
  const expand = deviceExpander(db);
  const own = projectsWithOwn(db, "networks");
  const out: NicUse[] = [];
  for (const inst of db.select().from(instances).orderBy(instances.name).all()) {
    const devices = expand(inst);
    for (const [device, dev] of Object.entries(devices)) {
      if (dev.type === "nic") out.push({ instance: inst.name, device, dev, config: inst.config, network: nicNetwork(dev, own.has(inst.project) ? inst.project : "default") });
    }
  }
  return out;
}

/** URLs of the instances, then profiles, with a nic on the network (LXD's `used_by`). */
export function networkUsedBy(db: Db, name: string): string[] {
  const used = new Set<string>();
  const own = projectsWithOwn(db, "networks");
  for (const n of instanceNics(db)) if (n.network === name) used.add(instanceUrl(n.instance));
  for (const p of db.select().from(profiles).orderBy(profiles.name).all()) {
    if (Object.values(p.devices).some((d) => nicNetwork(d, own.has(p.project) ? p.project : "default") === name)) used.add(profileUrl(p.project, p.name));
  }
  return [...used];
}
