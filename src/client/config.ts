// The client's configuration, in LXD's layout: `$LXD_CONF` (or ~/.config/lxd/) holds config.yml
// (remotes and the default one), client.crt/client.key (this client's identity) and
// servercerts/<remote>.crt (each HTTPS remote's pinned certificate).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { socketPath } from "../paths.ts";
import { UnixTransport, type Transport } from "./transport.ts";

export interface Remote {
  /** "unix://" (the local daemon, socket from LXD_DIR), "unix:///path/to/socket" or "https://host:port" */
  addr: string;
  auth_type?: string;
  project?: string;
  protocol?: string;
  public?: boolean;
}

export interface ClientConfig {
  "default-remote": string;
  remotes: Record<string, Remote>;
  aliases: Record<string, string>;
}

export const LOCAL_REMOTE = "local";

export function confDir(): string {
  return process.env.LXD_CONF || join(process.env.HOME || os.homedir(), ".config", "lxd");
}

export const serverCertPath = (remote: string, dir = confDir()) => join(dir, "servercerts", `${remote}.crt`);

const defaults = (): ClientConfig => ({
  "default-remote": LOCAL_REMOTE,
  remotes: { [LOCAL_REMOTE]: { addr: "unix://", public: false } },
  aliases: {},
});

const scalar = (raw: string): string | boolean => {
  const v = raw.trim();
  if (v === "true" || v === "false") return v === "true";
  if (/^".*"$/.test(v)) return JSON.parse(v) as string;
  if (/^'.*'$/.test(v)) return v.slice(1, -1).replaceAll("''", "'");
  return v;
};

/** Reads config.yml: the few shapes LXD writes (top-level scalars, `remotes` as a map of maps,
 *  `aliases` as a map), which is all this file ever holds. */
export function parseConfig(text: string): ClientConfig {
  const config = defaults();
  config.remotes = {};
  let section = "";
  let remote: Remote | undefined;
  for (const line of text.split("\n")) {
    if (!line.trim() || line.trimStart().startsWith("#")) continue;
    const indent = line.length - line.trimStart().length;
    const m = /^\s*("[^"]*"|'[^']*'|[^:]+):(?:\s+(.*))?$/.exec(line);
    if (!m) throw new Error(`Invalid line in config.yml: ${line.trim()}`);
    const key = String(scalar(m[1]));
    const value = m[2]?.trim() ?? "";
    if (indent === 0) {
      section = key;
      remote = undefined;
      if (key === "default-remote") config["default-remote"] = String(scalar(value));
    } else if (section === "remotes" && indent <= 2) {
      remote = config.remotes[key] = { addr: "" };
    } else if (section === "remotes" && remote) {
      (remote as unknown as Record<string, unknown>)[key] = scalar(value);
    } else if (section === "aliases") {
      config.aliases[key] = String(scalar(value));
    }
  }
  config.remotes[LOCAL_REMOTE] ??= { addr: "unix://", public: false };
  return config;
}

const yamlString = (s: string) => (/^[A-Za-z0-9_./:@[\]-]+$/.test(s) && !/^(true|false|null|~)$/.test(s) ? s : JSON.stringify(s));

export function formatConfig(config: ClientConfig): string {
  const lines = [`default-remote: ${yamlString(config["default-remote"])}`, "remotes:"];
  for (const [name, r] of Object.entries(config.remotes).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${yamlString(name)}:`);
    for (const [k, v] of Object.entries(r)) if (v !== undefined) lines.push(`    ${k}: ${typeof v === "boolean" ? v : yamlString(String(v))}`);
  }
  const aliases = Object.entries(config.aliases);
  lines.push(aliases.length ? "aliases:" : "aliases: {}");
  for (const [k, v] of aliases) lines.push(`  ${yamlString(k)}: ${yamlString(v)}`);
  return `${lines.join("\n")}\n`;
}

export function loadConfig(dir = confDir()): ClientConfig {
  const path = join(dir, "config.yml");
  if (!existsSync(path)) return defaults();
  try {
    return parseConfig(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`Failed to read ${path}: ${(err as Error).message}`);
  }
}

export function saveConfig(config: ClientConfig, dir = confDir()): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, "config.yml");
  writeFileSync(`${path}.tmp`, formatConfig(config), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function saveServerCert(remote: string, pem: string, dir = confDir()): void {
  mkdirSync(join(dir, "servercerts"), { recursive: true, mode: 0o700 });
  writeFileSync(serverCertPath(remote, dir), pem, { mode: 0o644 });
}

export function removeServerCert(remote: string, dir = confDir()): void {
  rmSync(serverCertPath(remote, dir), { force: true });
}

export function readServerCert(remote: string, dir = confDir()): string | undefined {
  const path = serverCertPath(remote, dir);
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

/** "remote:name" -> [remote, name] when `remote` is a configured remote; otherwise the default
 *  remote and the whole argument (names never contain ":"). */
export function splitRemote(arg: string, config: ClientConfig): [string, string] {
  const colon = arg.indexOf(":");
  if (colon >= 0) {
    const remote = arg.slice(0, colon);
    if (!config.remotes[remote]) throw new Error(`The remote "${remote}" doesn't exist`);
    return [remote, arg.slice(colon + 1)];
  }
  return [config["default-remote"], arg];
}

/** The transport for a configured remote: its unix socket, or HTTPS with our certificate and the
 *  pinned server certificate. */
export function remoteTransport(name: string, config = loadConfig(), dir = confDir()): Transport {
  const remote = config.remotes[name];
  if (!remote) throw new Error(`The remote "${name}" doesn't exist`);
  if (remote.protocol === "simplestreams") {
    throw new Error(`Remote "${name}" is a simplestreams image server: use it with \`image list ${name}:\`, \`image copy ${name}:IMAGE\` or \`launch ${name}:IMAGE\``);
  }
  if (remote.addr.startsWith("unix:")) {
    const path = remote.addr.replace(/^unix:(\/\/)?/, "");
    return inProject(new UnixTransport(path || socketPath()), projectFlag ?? remote.project);
  }
  if (!remote.addr.startsWith("https:")) throw new Error(`Remote "${name}" has an unsupported address ${remote.addr}`);
  const serverCert = readServerCert(name, dir);
  const certPath = join(dir, "client.crt");
  if (!serverCert || !existsSync(certPath)) throw new Error(`Remote "${name}" has no pinned certificate: add it again with \`lxd remote add\``);
  const identity = { cert: readFileSync(certPath, "utf8"), key: readFileSync(join(dir, "client.key"), "utf8") };
  return inProject(new LazyTransport(remote.addr, async () => new (await import("./tls.ts")).TlsTransport(remote.addr, identity, serverCert)), projectFlag ?? remote.project);
}

/** This invocation's `--project`, taken off the command line by selectProject. */
let projectFlag: string | undefined;

/** Takes `--project NAME` (or `--project=NAME`) off the arguments before `--`: lxc accepts it on
 *  every command, and every request of the command then names that project. */
export function selectProject(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (arg === "--project" && i + 1 < argv.length) projectFlag = argv[++i];
    else if (arg.startsWith("--project=")) projectFlag = arg.slice("--project=".length);
    else out.push(arg);
  }
  return out;
}

/** The project this invocation works in: `--project`, else the remote's current one, else default. */
export function currentProject(dir = confDir()): string {
  if (projectFlag) return projectFlag;
  if (!existsSync(join(dir, "config.yml"))) return "default";
  return loadConfig(dir).remotes[selectedRemoteName(dir)]?.project || "default";
}

/** Sends `project=` with every API request (websockets too) unless the path names one already. */
function inProject(transport: Transport, project: string | undefined): Transport {
  if (!project || project === "default") return transport;
  const withProject = (path: string) =>
    !path.startsWith("/1.0") || /[?&]project=/.test(path) ? path : `${path}${path.includes("?") ? "&" : "?"}project=${encodeURIComponent(project)}`;
  return {
    get target() { return transport.target; },
    fetch: (path, init) => transport.fetch(withProject(path), init),
    websocket: (path) => transport.websocket(withProject(path)),
  };
}

/** Loads the TLS client (node:crypto, the X.509 code) only when a command really talks HTTPS:
 *  most commands go to the unix socket and should not pay for it at start-up. */
class LazyTransport implements Transport {
  private inner?: Promise<Transport>;

  constructor(readonly target: string, private readonly make: () => Promise<Transport>) {}

  private get transport(): Promise<Transport> {
    return (this.inner ??= this.make());
  }

  async fetch(path: string, init?: RequestInit): Promise<Response> {
    return (await this.transport).fetch(path, init);
  }

  async websocket(path: string): Promise<WebSocket> {
    return (await this.transport).websocket(path);
  }
}

/** This invocation's remote: set from a REMOTE: prefix on the command line, else the default. */
let selected: string | undefined;
/** Commands about the daemon on this host, which never go to a remote whatever the default. */
const LOCAL_ONLY = new Set(["serve", "daemon", "waitready", "shutdown", "sql", "activateifneeded"]);
let localOnly = false;
/** Commands whose arguments may name two remotes (a source and a target): they split the
 *  prefixes themselves. */
const CROSS_REMOTE = new Set(["copy", "cp", "move", "mv", "rename", "storage volume copy", "storage volume move"]);

/** Takes REMOTE: prefixes off the arguments before `--` (LXD's `lxd list test:`, `lxd exec
 *  test:c1 -- true`) and selects that remote for the command. A prefix counts only when it names
 *  a configured remote; all prefixes must name the same one. */
export function selectRemote(argv: string[], dir = confDir()): string[] {
  localOnly = LOCAL_ONLY.has(argv[0] ?? "");
  if (localOnly || argv[0] === "remote" || CROSS_REMOTE.has(argv[0] ?? "") || CROSS_REMOTE.has(argv.slice(0, 3).join(" ")) || !existsSync(join(dir, "config.yml")) && !argv.some((a) => /^[A-Za-z0-9_.-]+:/.test(a))) return argv;
  const config = loadConfig(dir);
  const out: string[] = [];
  let found: string | undefined;
  let rest = false;
  const imageArg = imageArgIndex(argv);
  for (const [i, arg] of argv.entries()) {
    if (i === imageArg) {
      out.push(arg);
      continue;
    }
    if (rest || arg === "--") {
      rest = true;
      out.push(arg);
      continue;
    }
    const m = /^([A-Za-z0-9_.-]+):(.*)$/s.exec(arg);
    if (!m || arg.startsWith("-") || !config.remotes[m[1]]) {
      out.push(arg);
      continue;
    }
    if (found !== undefined && found !== m[1]) throw new Error(`Commands across two remotes ("${found}" and "${m[1]}") are not supported`);
    found = m[1];
    if (m[2] !== "") out.push(m[2]);
  }
  selected = found;
  return out;
}

/** The name of the remote this invocation talks to. */
export function selectedRemoteName(dir = confDir()): string {
  if (localOnly) return LOCAL_REMOTE;
  return selected ?? loadConfig(dir)["default-remote"];
}

/** Commands whose first positional argument names an image that may sit on another remote
 *  (`launch images:alpine c1`): that prefix says where the image comes from, not which daemon
 *  runs the command. The value is how many words the command's name has. */
const IMAGE_SOURCE_COMMANDS: Record<string, number> = { launch: 1, init: 1, create: 1, "image copy": 2, "image cp": 2 };
/** Options of those commands that take a separate value. */
const VALUE_OPTIONS = new Set(["-c", "--config", "-p", "--profile", "-s", "--storage", "-n", "--network", "-t", "--type", "--target", "--project", "--alias", "-d", "--device"]);

function imageArgIndex(argv: string[]): number {
  const words = IMAGE_SOURCE_COMMANDS[argv[0] ?? ""] ?? IMAGE_SOURCE_COMMANDS[`${argv[0]} ${argv[1]}`];
  if (!words) return -1;
  for (let i = words; i < argv.length; i++) {
    if (argv[i] === "--") return -1;
    if (argv[i].startsWith("-")) {
      if (VALUE_OPTIONS.has(argv[i])) i++;
      continue;
    }
    return i;
  }
  return -1;
}

/** The transport commands use: the selected remote's, or the default remote's. */
export function defaultTransport(dir = confDir()): Transport {
  if (localOnly || (selected === undefined && !existsSync(join(dir, "config.yml")))) return inProject(new UnixTransport(socketPath()), projectFlag);
  const config = loadConfig(dir);
  return remoteTransport(selected ?? config["default-remote"], config, dir);
}
