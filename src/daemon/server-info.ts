// GET / and GET/PUT/PATCH /1.0: API versions, the server object (with the real host environment),
// and the server configuration.
import { criuStatus } from "../kernel/criu.ts";
import { lxcfsDir } from "../kernel/lxcfs.ts";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { Elysia } from "elysia";
import { Empty } from "../api/envelope.ts";
import { ApiVersions, Server, ServerPut } from "../api/server.ts";
import { apiExtensions } from "../api/extensions.ts";
import pkg from "../../package.json" with { type: "json" };
import { describeLayout, parseCgroupMounts } from "../kernel/cgroup.ts";
import { SERVER_KEYS } from "./server-config.ts";
import { checkIfMatch, etagOf, sync, syncEnvelope, SyncResponse } from "./response.ts";
import { ApiError } from "../api/error.ts";
import { projectOf } from "./project.ts";

export interface StorageDriverInfo { name: string; version: string; remote: boolean; inUse: boolean }

/** What this module needs from the daemon (the lead wires it to the database and storage). */
export interface ServerInfoSource {
  config(): Record<string, string>;
  /** Stores the complete new config (already validated). */
  setConfig(config: Record<string, string>): void | Promise<void>;
  storageDrivers(): StorageDriverInfo[];
  /** Network addresses the API really listens on ([] for unix socket only). */
  addresses?(): string[];
  /** The server's TLS certificate (PEM) and its fingerprint. */
  certificate?(): { certificate: string; fingerprint: string };
  /** false for remote clients whose certificate is not trusted: they get the public view. */
  trusted?(request: Request): boolean;
  /** This member's name when clustered. */
  memberName?(): string | undefined;
}

export interface ServerInfoContext { serverInfo: ServerInfoSource }

export const SERVER_VERSION: string = pkg.version;


function validateConfig(config: Record<string, string>): void {
  for (const [key, value] of Object.entries(config)) {
    const check = SERVER_KEYS[key]?.validate;
    if (!check) throw new ApiError(400, `Unknown server configuration key "${key}"`);
    const err = typeof value === "string" ? check(value) : "expected a string";
    if (err) throw new ApiError(400, `Invalid value for "${key}": ${err}`);
  }
}

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

/** "6.18.44-fc" >= "5.12"? */
export function kernelAtLeast(release: string, min: string): boolean {
  const have = release.split(/[^0-9]+/).map(Number);
  const want = min.split(".").map(Number);
  for (let i = 0; i < want.length; i++) {
    if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) > want[i];
  }
  return true;
}

function osRelease(): { name: string; version: string } {
  const fields = Object.fromEntries(read("/etc/os-release").split("\n").map((l) => {
    const i = l.indexOf("=");
    return [l.slice(0, i), l.slice(i + 1).replace(/^"(.*)"$/, "$1")];
  }));
  return { name: fields.NAME ?? "", version: fields.VERSION_ID ?? "" };
}

/** Kernel names of the personalities this host runs. */
function architectures(machine: string): string[] {
  if (machine === "x86_64") return ["x86_64", "i686"];
  if (machine === "aarch64") return ["aarch64", "armv7l"];
  return [machine];
}


const onPath = (cmd: string) => ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].some((d) => existsSync(`${d}/${cmd}`));

/** Host facts that cannot change while the daemon runs, gathered once. */
function detectHost() {
  const release = os.release();
  const machine = os.machine();
  const at = (v: string) => String(kernelAtLeast(release, v));
  const { name, version } = osRelease();
  const cgroups = describeLayout(parseCgroupMounts(read("/proc/self/mountinfo")));
  return {
    cgroup_layout: cgroups,
    architectures: architectures(machine),
    firewall: onPath("nft") ? "nftables" : onPath("iptables") ? "xtables" : "",
    kernel: os.type(),
    kernel_architecture: machine,
    kernel_features: {
      // Containers get no AppArmor profile from this runtime: say whether the host could confine them.
      apparmor: String(read("/sys/module/apparmor/parameters/enabled").trim() === "Y"),
      idmapped_mounts: at("5.12"),
      netnsid_getifaddrs: at("4.20"),
      seccomp_listener: at("5.0"),
      seccomp_listener_continue: at("5.5"),
      shiftfs: String(/\bshiftfs\b/.test(read("/proc/filesystems"))),
      uevent_injection: at("4.18"),
      unpriv_fscaps: at("4.14"),
    },
    kernel_version: release,
    // Features of the container runtime (ours, not liblxc), as far as they exist on this host.
    lxc_features: {
      cgroup2: String(cgroups === "unified"),
      devpts_fd: at("5.1"),
      idmapped_mounts_v2: at("5.12"),
      pidfd: at("5.3"),
    },
    os_name: name,
    os_version: version,
  };
}

let host: ReturnType<typeof detectHost> | undefined;

function criuFeatures(): Record<string, string> {
  const criu = criuStatus();
  return criu.version ? { criu: String(criu.available), criu_version: criu.version } : { criu: String(criu.available) };
}

/** `project`: the request's, which LXD reports back in `environment.project`. */
export function serverObject(source: ServerInfoSource, project = "default") {
  host ??= detectHost();
  const drivers = source.storageDrivers();
  const used = drivers.filter((d) => d.inUse);
  return {
    config: source.config(),
    api_extensions: apiExtensions,
    api_status: "stable",
    api_version: "1.0",
    auth: "trusted",
    public: false,
    auth_methods: ["tls"],
    environment: {
      addresses: source.addresses?.() ?? [],
      architectures: host.architectures,
      cgroup_layout: host.cgroup_layout,
      certificate: source.certificate?.().certificate ?? "",
      certificate_fingerprint: source.certificate?.().fingerprint ?? "",
      driver: "lxd-native",
      driver_version: SERVER_VERSION,
      firewall: host.firewall,
      kernel: host.kernel,
      kernel_architecture: host.kernel_architecture,
      kernel_features: host.kernel_features,
      kernel_version: host.kernel_version,
      // Live: LXCFS may be started or stopped while the daemon runs (see kernel/lxcfs.ts).
      // criu: whether stateful snapshots and live migration can work here (`criu check` at start).
      lxc_features: { ...host.lxc_features, lxcfs: String(lxcfsDir() !== undefined), ...criuFeatures() },
      os_name: host.os_name,
      os_version: host.os_version,
      project,
      server: "lxd",
      server_clustered: !!source.memberName?.(),
      server_event_mode: "full-mesh",
      server_name: source.memberName?.() ?? os.hostname(),
      server_pid: process.pid,
      server_version: SERVER_VERSION,
      storage: used.map((d) => d.name).join(" | "),
      storage_version: used.map((d) => d.version).join(" | "),
      storage_supported_drivers: drivers.map((d) => ({ Name: d.name, Version: d.version, Remote: d.remote })),
    },
  };
}

/** What an untrusted client may learn (LXD's api.ServerUntrusted): enough to pick an API and
 *  see that it must authenticate. */
export const publicServerObject = () => ({
  api_extensions: apiExtensions,
  api_status: "stable",
  api_version: "1.0",
  auth: "untrusted",
  public: false,
  auth_methods: ["tls"],
  config: {},
  environment: {},
});

export const serverInfoRoutes = (ctx: ServerInfoContext) =>
  new Elysia({ name: "server-info" })
    .get("/", () => sync(["/1.0"]), {
      response: ApiVersions,
      detail: { summary: "Supported API versions", tags: ["server"] },
    })

    .get("/1.0", ({ request, query }) => {
      if (ctx.serverInfo.trusted?.(request) === false) return syncEnvelope(new SyncResponse(publicServerObject()));
      const server = serverObject(ctx.serverInfo, projectOf(query));
      return sync(server, { etag: etagOf(server.config) });
    }, {
      response: Server,
      detail: { summary: "Server environment, configuration and API extensions", tags: ["server"] },
    })

    .put("/1.0", async ({ body, request }) => {
      checkIfMatch(request, etagOf(ctx.serverInfo.config()));
      // An empty value means unset (that is how `lxc config unset` sends it).
      const given: Record<string, string> = body.config ?? {};
      const config = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== ""));
      validateConfig(config);
      await ctx.serverInfo.setConfig(config);
      return sync({});
    }, {
      body: ServerPut,
      response: Empty,
      detail: { summary: "Replace the server configuration", tags: ["server"] },
    })

    .patch("/1.0", async ({ body, request }) => {
      const current = ctx.serverInfo.config();
      checkIfMatch(request, etagOf(current));
      const changes: Record<string, string> = body.config ?? {};
      validateConfig(Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== "")));
      const next = { ...current };
      for (const [key, value] of Object.entries(changes)) {
        if (value === "") delete next[key];
        else next[key] = value;
      }
      await ctx.serverInfo.setConfig(next);
      return sync({});
    }, {
      body: ServerPut,
      response: Empty,
      detail: { summary: "Merge changes into the server configuration (empty value unsets)", tags: ["server"] },
    });
