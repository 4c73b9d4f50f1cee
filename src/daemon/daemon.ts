// `lxd serve`: opens the state, finds running containers, and serves the REST API on the unix socket.
import { createHash } from "node:crypto";
import { chmod, mkdir } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freshDatabase, openDatabase, seedDefaults, type Db } from "../db/index.ts";
import { ImageStore } from "../image/store.ts";
import { ImageManager } from "../image/manager.ts";
import { CertificateManager } from "../tls/certificates.ts";
import { InstanceManager } from "../instance/manager.ts";
import { phases } from "../instance/phases.ts";
import { registerDeviceDriver } from "../instance/devices.ts";
import { nicDriver } from "../instance/nic.ts";
import { unixDeviceDriver } from "../instance/unix-device.ts";
import { proxyDriver } from "../instance/proxy.ts";
import { diskDriver } from "../instance/disk.ts";
import { CustomVolumes } from "../storage/volumes.ts";
import { projectsWithOwn } from "../db/projects.ts";
import { projectOfStored, storageName } from "../api/project-names.ts";
import { diskOnVolume } from "../db/storage-volumes.ts";
import { VolumeBackups } from "../instance/volume-backups.ts";
import { NetworkManager } from "../network/manager.ts";
import { Cgroups } from "../kernel/cgroup.ts";
import { lockExclusive } from "../kernel/lock.ts";
import { dbPath, lxdDir, socketPath } from "../paths.ts";
import type { DaemonContext } from "./context.ts";
import { EventHub } from "../events/hub.ts";
import { Warnings } from "../events/warnings.ts";
import { hostConditions } from "../kernel/host-checks.ts";
import { probeCriu } from "../kernel/criu.ts";
import { configureLog, log } from "../log.ts";
import { OperationManager } from "./operations.ts";
import { logStrayErrors } from "./stray-errors.ts";
import { createServer, listenUnix } from "./server.ts";
import { apiRoutes } from "./routes.ts";
import { startImageMaintenance } from "./image-refresh.ts";
import { startLogRotation } from "./log-rotation.ts";
import { openRemoteAccess, startHttps, withRemoteAccess } from "./tls/remote.ts";
import { getServerConfig, replaceServerConfig } from "../db/server-config.ts";
import { ProfileManager } from "../profile/manager.ts";
import { StoragePools } from "../storage/pools.ts";
import type { ServerInfoSource } from "./server-info.ts";
import type { RemoteAccess } from "./certificates.ts";
import { ClusterManager } from "../cluster/manager.ts";
import { MemberResources } from "../cluster/resources.ts";
import { LocalStore, MEMBER_KEYS } from "../cluster/local.ts";
import { clusterRoutes } from "./cluster.ts";
import { clusterForwarder, clusterLinks } from "./cluster-forward.ts";
import { remoteVolumeSource, sourceMember } from "./cluster-volumes.ts";
import { evacuate } from "./cluster-evacuate.ts";
import { clusterMove } from "./cluster-move.ts";
import { fingerprintOf, fromPem } from "../tls/x509.ts";
import { hostArchitecture, readClusterCertificate } from "./cluster-host.ts";

export interface DaemonOptions { logfile?: string; debug?: boolean }

/** Seconds each container gets to shut down cleanly on `lxd shutdown` before it is killed. */
const SHUTDOWN_TIMEOUT = 30;

export async function startDaemon(opts: DaemonOptions = {}): Promise<void> {
  await mkdir(lxdDir(), { recursive: true, mode: 0o711 });
  lockStateDir();
  // As LXD: whatever mode the directory was made with (mktemp -d makes 0700), the unprivileged
  // helpers need to traverse it: dnsmasq (user nobody) re-reads its hosts file under
  // networks/, and containers' root uids reach their rootfs under storage-pools/.
  await chmod(lxdDir(), 0o711);
  // `criu check` (about 0.1 s) runs while the daemon starts; its outcome is a host condition.
  const criuProbe = probeCriu();
  const events = new EventHub();
  configureLog({ logfile: opts.logfile, debug: opts.debug, events });
  logStrayErrors();
  const db = openDatabase();
  const local = new LocalStore(lxdDir());
  // Filled in below; the cluster reaches them only once the daemon runs.
  let remote!: RemoteAccess;
  let ctx!: DaemonContext;
  const cluster = new ClusterManager({
    db, stateDir: lxdDir(), local, architecture: hostArchitecture(),
    identity: () => ({ cert: remote.certificate.certificate, key: remote.certificate.key, fingerprint: remote.certificate.fingerprint }),
    adoptCertificate: (pair, member) => {
      Object.assign(remote.certificate, { certificate: pair.cert, key: pair.key, fingerprint: fingerprintOf(fromPem(pair.cert)) });
      remote.trust.clusterFingerprint = member ? remote.certificate.fingerprint : undefined;
      ctx.identity = { cert: pair.cert, key: pair.key };
      remote.https.restart();
    },
    listen: (address) => remote.https.apply(address),
    instanceCount: () => ctx.instances.list().length,
    prepareJoined: (answers) => ctx.memberResources!.prepareJoined(answers),
    shareResources: (member) => {
      ctx.pools.shareWith(member);
      ctx.networks.shareWith(member);
    },
    freshDatabase: () => freshDatabase(dbPath()),
    serverCertificate: () => ({ cert: readFileSync(join(lxdDir(), "server.crt"), "utf8"), key: readFileSync(join(lxdDir(), "server.key"), "utf8") }),
  });
  // A member's database is the cluster's: its node runs before anything reads state.
  await cluster.resume();
  seedDefaults(db);
  // Derived from the state directory so a restarted daemon finds its own cgroups again
  // and two daemons on one host never share them.
  const tag = createHash("sha256").update(lxdDir()).digest("hex").slice(0, 8);
  const cgroups = await Cgroups.init(tag);
  const ops = new OperationManager(events);
  ops.location = () => cluster.location();
  const images = new ImageStore(db);
  await images.removeLeftovers();
  const pools = new StoragePools(db, events);
  pools.member = () => cluster.name;
  const instances = new InstanceManager(db, images, cgroups, events, pools);
  instances.location = () => cluster.location();
  events.location = () => cluster.location();
  images.onDelete((fp) => instances.onImageDeleted(fp));
  images.fetchMissing = (fp, dest) => cluster.fetchImage(fp, dest);
  // Bridges, firewall and DHCP come up before containers are found or restarted.
  const networks = new NetworkManager(db, (level, msg, c) => log[level](msg, c), events);
  networks.member = () => cluster.name;
  registerDeviceDriver("nic", nicDriver(networks));
  registerDeviceDriver("unix-char", unixDeviceDriver("unix-char"));
  registerDeviceDriver("unix-block", unixDeviceDriver("unix-block"));
  registerDeviceDriver("proxy", proxyDriver());
  const projects = instances.projects;
  const volumes = new CustomVolumes(db, events, (pool, volume) => {
    const own = projectsWithOwn(db, "storage.volumes");
    return instances.list().filter((r) => instances.isRunning(r.name) && Object.values(instances.expanded(r).devices)
      .some(diskOnVolume(pool, volume, r.project, own))).map((r) => r.name);
  }, pools);
  // `<project>_<name>` is a project's volume only while that project has its own volumes.
  volumes.location = () => cluster.location();
  volumes.ownerOf = (stored) => {
    const project = projectOfStored(stored);
    return project !== "default" && projects.effective(project, "storage.volumes") === project ? project : "default";
  };
  networks.ownerOf = (stored) => {
    const project = projectOfStored(stored);
    return project !== "default" && projects.effective(project, "networks") === project ? project : "default";
  };
  networks.networksOf = (project) => projects.effective(project, "networks");
  // A disk device names a volume of its instance's project's volumes (default's without the feature).
  registerDeviceDriver("disk", diskDriver((instance, pool, volume) =>
    volumes.path(pool, storageName(projects.effective(projectOfStored(instance), "storage.volumes"), volume))));
  const volumeBackups = new VolumeBackups(db, volumes, pools, events);
  instances.snapshots.everyMinute((now) => instances.backups.prune(now));
  instances.snapshots.everyMinute((now) => volumeBackups.prune(now));
  instances.snapshots.everyMinute((now) => volumes.tick(now));
  const t = phases();
  await networks.startAll();
  t.mark("networks");
  await instances.reconcile();
  t.mark("reconcile");

  const certificates = new CertificateManager(db, events);
  remote = await openRemoteAccess(certificates, lxdDir(), socketPath());
  // The other members' trust stores follow a change made here (as LXD's cluster notifications).
  certificates.onChange(() => cluster.notifyPeers("/internal/trust/reload"));
  if (cluster.enabled) {
    // Members serve and dial with the cluster's certificate.
    const pair = readClusterCertificate(lxdDir());
    if (pair) Object.assign(remote.certificate, pair);
    remote.trust.clusterFingerprint = remote.certificate.fingerprint;
  }
  const warnings = new Warnings(db, events);
  const checkedAt = new Date();
  await criuProbe;
  for (const c of hostConditions()) {
    warnings.raise(c.type, c.message, c.severity);
    log.warn(c.type, { detail: c.message });
  }
  // As LXD: what this start's checks did not see again is resolved.
  warnings.resolveOlderThan(checkedAt);
  instances.snapshots.everyMinute(async (now) => warnings.pruneResolved(now));

  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  ctx = {
    db, ops, events, instances, images, imageManager: new ImageManager(db, images, events), certificates, cgroups, networks, pools, profiles: new ProfileManager(db, events, instances.projects), projects: instances.projects, volumes, volumeBackups, warnings,
    startedAt: new Date(), shutdown: () => shutdown(),
    identity: { cert: remote.certificate.certificate, key: remote.certificate.key },
    serverInfo: { ...withRemoteAccess(serverInfoSource(db, pools, cluster, local), remote), memberName: () => cluster.name },
  };
  const forwardDeps = { cluster, db, ops, identity: () => cluster.identity() };
  const forward = clusterForwarder(forwardDeps);
  ctx.clusterLinks = clusterLinks(forwardDeps);
  ctx.moveToMember = (name, target, newName, live) => clusterMove(ctx, cluster, name, target, newName, live);
  ctx.clusterVolumes = {
    sourceMember: (pool, stored, named) => sourceMember(cluster, db, pool, stored, named),
    remoteSource: (member, pool, stored, volumeOnly) => remoteVolumeSource(cluster, member, pool, stored, volumeOnly),
  };
  ctx.memberResources = new MemberResources(cluster, pools, networks);
  const routes = [...apiRoutes(ctx, remote), clusterRoutes({
    cluster, ops, evacuate: (action, op) => evacuate(ctx, cluster, action, op), memberConfig: () => ctx.memberResources!.memberConfig(),
  })];
  const server = await listenUnix(createServer(routes, { authorize: (r) => remote.trust.authorize(r), projects: instances.projects, forward }), socketPath());
  startHttps(remote, serverInfoSource(db, pools, cluster, local).config()["core.https_address"]);
  const stopImageMaintenance = startImageMaintenance(ctx);
  const stopLogRotation = startLogRotation();
  void instances.autostart();
  log.info("Daemon started", { socket: socketPath(), cgroups: cgroups.layout, pid: process.pid, running: instances.runningCount(), ...t.fields() });

  let closing = false;
  // `lxd shutdown` stops every container cleanly (as LXD does); SIGTERM only stops the daemon,
  // leaving containers running under their monitors for the next daemon to find.
  async function shutdown(stopInstances = true) {
    if (closing) return;
    closing = true;
    log.info("Daemon stopping", { stopInstances });
    cluster.stopping();
    if (stopInstances) await instances.stopAll(SHUTDOWN_TIMEOUT);
    stopImageMaintenance();
    stopLogRotation();
    instances.stopTimers();
    // Leave the daemon's cgroup subtree, bridges and firewall rules only if no container still needs them.
    // Networks go before the API socket closes: `lxd shutdown` returns once it stops answering.
    const idle = instances.runningCount() === 0;
    await networks.shutdown(idle).catch((err) => log.warn("Network shutdown failed", { err: (err as Error).message }));
    remote.https.stop();
    server.stop(true);
    if (idle) await cgroups.destroy().catch(() => {});
    db.$client.close();
    await cluster.stop();
    local.close();
    stop();
  }
  process.on("SIGTERM", () => shutdown(false));
  process.on("SIGINT", () => shutdown(false));
  process.on("SIGPWR", () => shutdown(true));
  await stopped;
}

/** Takes the state directory for this daemon before anything in it is touched: a second
 *  `lxd serve` on a live directory must leave the first one's dnsmasq, firewall and sockets alone. */
function lockStateDir(): void {
  try {
    lockExclusive(join(lxdDir(), ".lock"));
  } catch (err) {
    if ((err as { held?: boolean }).held) {
      throw new Error(`Another lxd daemon is already running on ${lxdDir()} (it holds ${join(lxdDir(), ".lock")})`);
    }
    throw err;
  }
}

/** The server object's config and storage facts, backed by the database; on a cluster member the
 *  member's own keys (its listen addresses) come from its local database. */
function serverInfoSource(db: Db, pools: StoragePools, cluster: ClusterManager, local: LocalStore): ServerInfoSource {
  const memberKeys = (config: Record<string, string>, member: boolean) =>
    Object.fromEntries(Object.entries(config).filter(([k]) => MEMBER_KEYS.has(k) === member));
  return {
    config: () => {
      if (!cluster.enabled) return getServerConfig(db);
      const own = Object.fromEntries([...MEMBER_KEYS].map((k) => [k, local.get(k)]).filter(([, v]) => v !== undefined));
      return { ...memberKeys(getServerConfig(db), false), ...own };
    },
    setConfig: (config) => {
      if (!cluster.enabled) return replaceServerConfig(db, config);
      for (const k of MEMBER_KEYS) local.set(k, config[k]);
      replaceServerConfig(db, memberKeys(config, false));
    },
    storageDrivers: () => {
      const used = new Set(pools.list().map((p) => p.driver));
      return pools.supportedDrivers().map((name) => ({ name, version: "1", remote: false, inUse: used.has(name) }));
    },
  };
}
