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
  // Instances (implemented by the instance resource modules).
  "instances", // /1.0/instances paths
  "api_filtering", // ?filter= on /1.0/instances
  "container_full", // GET /1.0/instances?recursion=2
  "instance_create_start", // POST /1.0/instances with start:true
  "container_exec_signal_handling", // exec control socket: {"command":"signal"}
  "container_exec_user_group_cwd", // exec user, group and cwd fields
];
