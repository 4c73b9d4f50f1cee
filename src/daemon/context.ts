// Everything a REST resource handler may reach: built once by daemon.ts and passed to each module.
import type { Db } from "../db/index.ts";
import type { Operation, OperationManager } from "./operations.ts";
import type { EventHub } from "../events/hub.ts";
import type { InstanceManager } from "../instance/manager.ts";
import type { ImageStore } from "../image/store.ts";
import type { ImageManager } from "../image/manager.ts";
import type { Cgroups } from "../kernel/cgroup.ts";
import type { ServerInfoSource } from "./server-info.ts";
import type { NetworkManager } from "../network/manager.ts";
import type { ProfileManager } from "../profile/manager.ts";
import type { ProjectManager } from "../project/manager.ts";
import type { StoragePools } from "../storage/pools.ts";
import type { CustomVolumes } from "../storage/volumes.ts";
import type { Warnings } from "../events/warnings.ts";
import type { CertificateManager } from "../tls/certificates.ts";
import type { VolumeBackups } from "../instance/volume-backups.ts";
import type { MemberResources } from "../cluster/resources.ts";
import type { StorageVolume } from "../api/storage.ts";

/** What a cluster member's handlers reach the other members through (absent when standalone). */
export interface ClusterLinks {
  /** Websockets to the same path on every other online member (events from all of them). */
  peerSockets(request: Request, path: string): WebSocket[];
  /** A websocket to the operation's own member, for an operation this member does not run. */
  operationSocket(request: Request, id: string, path: string): Promise<WebSocket | undefined>;
}

/** Custom volumes of other members (absent when standalone). */
export interface ClusterVolumes {
  /** The member holding a copy's source volume (`named`: the request's `source.location`). */
  sourceMember(pool: string, stored: string, named?: string): string;
  /** That member sends the volume; its description and config come along. */
  remoteSource(member: string, pool: string, stored: string, volumeOnly: boolean): Promise<{ peer: { operation: string; certificate: string; secrets: Record<string, string> }; volume: StorageVolume }>;
}

export interface DaemonContext {
  db: Db;
  ops: OperationManager;
  events: EventHub;
  instances: InstanceManager;
  images: ImageStore;
  /** The image rules and lifecycle events behind the image API. */
  imageManager: ImageManager;
  cgroups: Cgroups;
  networks: NetworkManager;
  pools: StoragePools;
  profiles: ProfileManager;
  projects: ProjectManager;
  volumes: CustomVolumes;
  /** Conditions the daemon noticed (/1.0/warnings). */
  warnings: Warnings;
  volumeBackups: VolumeBackups;
  serverInfo: ServerInfoSource;
  /** The trust store behind /1.0/certificates. */
  certificates: CertificateManager;
  /** The server certificate and key: what this daemon presents when it dials a migration peer. */
  identity?: { cert: string; key: string };
  startedAt: Date;
  clusterLinks?: ClusterLinks;
  /** Storage pools and networks defined per member and created on every member (a cluster's). */
  memberResources?: MemberResources;
  /** On a cluster: where a copy's source volume is, and a pull source on another member. */
  clusterVolumes?: ClusterVolumes;
  /** A cluster member moving one of its instances to another member (an operation). */
  moveToMember?(name: string, target: string, newName?: string, live?: boolean): Operation;
  /** Stops the daemon (PUT /internal/shutdown); containers keep running under their monitors. */
  shutdown(): void;
}
