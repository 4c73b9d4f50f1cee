// API extensions this server advertises in `GET /1.0`. Clients (notably `lxc`) switch behaviour on
// these names, so list ONLY what is actually implemented; resource owners append theirs here.
export const apiExtensions: string[] = [
  // Core envelope and object semantics.
  "etag", // ETag on GET, If-Match on PUT/PATCH -> 412
  "patch", // PATCH merges into objects
  "operation_description", // operations carry `description`
  "operation_wait", // GET /1.0/operations/{id}/wait
  // Events.
  "event_lifecycle", // lifecycle events (instance-started, ...)
  "event_location", // events carry `location`
  "event_project", // events carry `project`
  // GET /1.0 environment fields.
  "kernel_features",
  "lxc_features",
  "api_os", // os_name / os_version
  "firewall_driver", // environment.firewall
  "server_supported_storage_drivers", // environment.storage_supported_drivers
  // Hardware and pool space (src/daemon/resources.ts, src/kernel/resources.ts).
  "resources", // GET /1.0/resources
  "resources_v2", // its v2 layout (sockets, cores, threads; network cards and disks)
  "resources_cpu_socket", // CPU sockets
  "resources_system", // the system section
  "storage_api_local_volume_handling", // GET /1.0/storage-pools/{name}/resources
  "warnings", // /1.0/warnings (src/daemon/warnings.ts): host conditions noticed at start
  "metrics", // GET /1.0/metrics (OpenMetrics) and certificates of type "metrics"
  // Instances (implemented by the instance resource modules).
  "instances", // /1.0/instances paths
  "api_filtering", // ?filter= on /1.0/instances and /1.0/images
  "storage_volume_api_filtering", // ?filter= on /1.0/storage-pools/{pool}/volumes
  "container_full", // GET /1.0/instances?recursion=2
  "instance_create_start", // POST /1.0/instances with start:true
  "container_exec_signal_handling", // exec control socket: {"command":"signal"}
  "container_exec_user_group_cwd", // exec user, group and cwd fields
  "container_exec_recording", // exec record-output: output kept under /1.0/instances/{name}/logs
  "instance_get_full", // GET /1.0/instances/{name}?recursion=1: with state, snapshots and backups
  // Console and logs (src/daemon/instance-console.ts, the monitor in native/monitor.c and native/console.c).
  "console", // POST/GET/DELETE /1.0/instances/{name}/console: websocket pair, buffered output
  // Security options (src/instance/runtime.ts, src/kernel/idmap.ts, src/kernel/seccomp.ts).
  "container_syscall_filtering", // security.syscalls.deny_default, deny_compat, deny, allow
  "id_map", // security.idmap.isolated, security.idmap.size, raw.idmap
  "id_map_base", // security.idmap.base
  "id_map_current", // volatile.idmap.current
  "unix_device_rename", // unix-char/unix-block: source on the host, path in the container
  // Files (src/daemon/instance-files.ts), running instances only.
  "file_delete", // DELETE /1.0/instances/{name}/files
  "file_append", // X-LXD-write: append
  "directory_manipulation", // X-LXD-type: directory (create, list)
  "file_symlinks", // X-LXD-type: symlink on POST
  "file_get_symlink", // GET returns a symlink itself (type symlink), never its target's content
  "instance_file_head", // HEAD: the X-LXD-* headers without the content
  // Snapshots (src/daemon/instance-snapshots.ts, src/instance/snapshots.ts).
  "snapshot_expiry", // snapshots.expiry, expires_at on snapshots (PUT/PATCH)
  "snapshot_expiry_creation", // expires_at in POST /1.0/instances/{name}/snapshots
  "snapshot_scheduling", // snapshots.schedule (cron)
  "snapshot_schedule_aliases", // @hourly, @daily ... in snapshots.schedule
  "snapshots_schedule_stopped", // snapshots.schedule.stopped
  // Backups (src/daemon/instance-backups.ts, src/instance/backups.ts, backup-tarball.ts).
  "container_backup", // /1.0/instances/{name}/backups, export; POST /1.0/instances with a backup tarball
  "backup_compression", // compression of backup tarballs
  "backup_compression_algorithm", // compression_algorithm in POST …/backups (gzip, xz, none)
  "container_backup_override_pool", // X-LXD-pool on import
  "backup_override_name", // X-LXD-name on import
  "custom_volume_backup", // /1.0/storage-pools/{pool}/volumes/custom/{volume}/backups, import by POST …/volumes/custom
  // Networks (src/daemon/networks.ts).
  "network", // /1.0/networks: managed bridges
  "network_leases", // GET /1.0/networks/{name}/leases
  "network_state", // GET /1.0/networks/{name}/state
  // Instance nics and proxy devices (src/instance/nic.ts, src/instance/proxy.ts, native/proxy.c).
  "container_nic_ipfilter", // security.ipv4_filtering on bridged nics (security.ipv6_filtering is refused)
  "proxy", // type=proxy devices (tcp)
  "proxy_unix", // unix: listen and connect addresses
  "proxy_udp", // udp: listen and connect addresses
  "proxy_unix_dac_properties", // mode, uid, gid of a unix listen socket
  // Remote access (src/daemon/certificates.ts, src/daemon/tls/).
  "certificate_update", // PUT/PATCH /1.0/certificates/{fingerprint}
  "certificate_token", // POST /1.0/certificates {token: true}: join tokens
  "certificate_project", // restricted certificates limited to `projects`
  // Projects (src/project/manager.ts, src/daemon/projects.ts).
  "projects", // /1.0/projects, ?project= on every path, features.images/profiles
  "projects_limits", // limits.containers/cpu/memory/processes (and virtual-machines)
  "projects_restrictions", // restricted, restricted.containers.*, restricted.devices.*
  "projects_limits_disk", // limits.disk against root disk sizes
  "projects_networks", // features.networks, limits.networks
  "projects_limits_instances", // limits.instances
  "project_usage", // GET /1.0/projects/{name}/state
  "projects_restricted_backups_and_snapshots", // restricted.snapshots, restricted.backups
  "projects_restricted_cluster_target", // restricted.cluster.target (accepted; one server has no targets)
  "container_copy_project", // source.project of an instance copy
  "instance_all_projects", // GET /1.0/instances?all-projects=true
  // Storage (src/storage/, src/daemon/storage-pools.ts, src/daemon/storage-volumes.ts).
  "storage", // /1.0/storage-pools/{pool}/volumes: custom volumes, attached as disk devices
  "storage_btrfs_mount_options", // btrfs.mount_options on btrfs pools
  "storage_api_local_volume_handling", // copy custom volumes within and between local pools
  "storage_api_volume_snapshots", // /1.0/storage-pools/{pool}/volumes/custom/{name}/snapshots, restore
  "storage_volume_state", // GET /1.0/storage-pools/{pool}/volumes/custom/{name}/state (usage)
  "storage_api_volume_rename", // POST /1.0/storage-pools/{pool}/volumes/custom/{name} {name}: rename in the pool
  "storage_api_project", // custom volumes per project (features.storage.volumes), source.project of a copy
  "storage_volume_project_move", // POST …/volumes/custom/{name} {project}: move a volume to another project
  "storage_volumes_all_projects", // GET /1.0/storage-pools/{pool}/volumes?all-projects=true
  // Images from other servers (src/daemon/image-pull.ts, image-refresh.ts, streams.ts).
  "image_create_aliases", // aliases in POST /1.0/images (image copy)
  "image_force_refresh", // POST /1.0/images/{fingerprint}/refresh
  // Images (src/daemon/images.ts, image-publish.ts, src/image/).
  "image_compression_algorithm", // compression_algorithm in POST /1.0/images (publish: gzip, xz, none)
  "images_expiry", // expires_at editable with PUT/PATCH
  "image_profiles", // profiles on images (upload header, PUT/PATCH)
  // Migration between servers (src/migration/, src/daemon/migrations.ts): cold only, rsync streams.
  "container_push", // source.mode push: the target's operation takes the source's websockets
  "container_push_target", // POST /1.0/instances/{name} {migration, target}: the source connects to the target
  "container_only_migration", // instance_only: without snapshots
  "instance_pool_move", // POST /1.0/instances/{name} {migration, pool}: to another pool of this server
  "instance_project_move", // POST /1.0/instances/{name} {migration, project}: to another project of this server
  "container_incremental_copy", // source.refresh: an existing copy gets the snapshots it lacks and the new content
  "container_stateless_copy", // live:false copies a running instance (LXD's final sync pass)
  "instance_allow_inconsistent_copy", // allow_inconsistent: files vanishing mid-copy are not an error
  "storage_api_remote_volume_handling", // custom volumes copied and moved between servers
  "custom_volume_refresh", // source.refresh on volume copies: the snapshots the copy lacks, then the content
  // Clusters (src/cluster/, src/daemon/cluster*.ts).
  "clustering", // /1.0/cluster, members, ?target=, instance location
  "clustering_join", // PUT /1.0/cluster with server_address and a token
  "clustering_roles", // roles of members (database, database-leader, database-standby)
  "clustering_join_token", // POST /1.0/cluster/members: a join token operation
  "clustering_evacuation", // POST /1.0/cluster/members/{name}/state {action: evacuate|restore}
  "clustering_server_address", // server_address on join
];
