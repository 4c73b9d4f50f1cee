// `remote add|list|remove|rename|switch|get-default|set-url`: the servers this client talks to,
// kept in $LXD_CONF/config.yml (or ~/.config/lxd/) with each HTTPS server's certificate pinned.
import { existsSync, renameSync } from "node:fs";
import { Command, Option } from "clipanion";
import { LxdClient } from "../client/client.ts";
import {
  LOCAL_REMOTE, type Remote, confDir, loadConfig, readServerCert, removeServerCert, saveConfig, saveServerCert, serverCertPath,
} from "../client/config.ts";
import { TlsTransport, certFingerprint, clientIdentity, fetchServerCertificate, httpsUrl } from "../client/tls.ts";
import { decodeToken } from "../tls/token.ts";
import { LxdCommand } from "./base.ts";
import { parseFormat, renderTable } from "./format.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkName(name: string) {
  if (!NAME.test(name)) throw new Error(`Invalid remote name "${name}" (letters, digits, "-", "_" and "." only)`);
}

export class RemoteAddCommand extends LxdCommand {
  static override paths = [["remote", "add"]];
  static override usage = Command.Usage({
    category: "Remotes",
    description: "Add a remote server (HTTPS, client-certificate trust)",
    details: "Join with a token from `lxd config trust add` on the server (`remote add NAME TOKEN` or `remote add NAME HOST --token TOKEN`): the token pins the server's certificate. Without a token the server must already trust this client's certificate and `--accept-certificate` pins whatever certificate it presents.",
    examples: [
      ["Join with a token", "$0 remote add prod eyJjbGllbnRfbmFtZSI6..."],
      ["By address and token", "$0 remote add prod 10.0.0.5:8443 --token eyJjbGllbnRfbmFtZSI6..."],
    ],
  });

  token = Option.String("--token", { description: "Join token issued by the server" });
  password = Option.String("--password", { description: "Remote admin password (the server's core.trust_password)" });
  acceptCertificate = Option.Boolean("--accept-certificate", false, { description: "Pin the server's certificate without a token" });
  protocol = Option.String("--protocol", "lxd", { description: "Server protocol (lxd or simplestreams)" });
  public = Option.Boolean("--public", false, { description: "Public image server: no authentication" });
  name = Option.String({ name: "name" });
  addr = Option.String({ required: false, name: "host[:port]|token" });

  protected async run(): Promise<void> {
    checkName(this.name);
    const dir = confDir();
    const config = loadConfig(dir);
    if (config.remotes[this.name]) throw new Error(`Remote ${this.name} exists as <${config.remotes[this.name].addr}>`);
    if (this.protocol !== "lxd" && this.protocol !== "simplestreams") throw new Error(`Invalid protocol "${this.protocol}" (lxd or simplestreams)`);
    if (this.protocol === "simplestreams" || this.public) {
      if (!this.addr) throw new Error("Missing the server URL");
      if (this.token) throw new Error("Public remotes take no join token");
      config.remotes[this.name] = await addPublicRemote(this.name, this.addr, this.protocol, this.acceptCertificate, dir);
      saveConfig(config, dir);
      return;
    }
    let tokenText = this.token;
    let addr = this.addr;
    if (!tokenText && addr && decodeToken(addr)) [tokenText, addr] = [addr, undefined];
    const token = tokenText ? decodeToken(tokenText) : undefined;
    if (tokenText && !token) throw new Error("Invalid join token");
    if (!addr && !token) throw new Error("Missing the server address (or a join token)");

    const identity = await clientIdentity(dir);
    const { url, pem } = token ? await this.pickAddress(addr ? [addr] : token.addresses, token.fingerprint) : await this.firstContact(addr!);
    const client = new LxdClient(new TlsTransport(url, identity, pem));
    let server = await client.server();
    if (server.auth !== "trusted") {
      // Without a token, as lxc: the trust password, from --password or asked for on a terminal.
      const password = tokenText ? undefined
        : this.password ?? ((this.context.stdin as NodeJS.ReadStream).isTTY ? await askPassword(this.context.stdout, `Admin password (or token) for ${this.name}: `) : undefined);
      if (!tokenText && !password) throw new Error(`The server at ${url} does not trust this client: add it with a join token (--token) or its trust password (--password)`);
      await client.post("/1.0/certificates", tokenText
        ? { type: "client", password: tokenText, trust_token: tokenText }
        : { type: "client", password });
      server = await client.server();
      if (server.auth !== "trusted") throw new Error(`The server at ${url} still does not trust this client after joining`);
    }
    saveServerCert(this.name, pem, dir);
    config.remotes[this.name] = { addr: url, auth_type: "tls", project: "default", protocol: "lxd", public: false };
    saveConfig(config, dir);
  }

  /** The first of the token's addresses that answers with the certificate the token names. */
  private async pickAddress(addresses: string[], fingerprint: string): Promise<{ url: string; pem: string }> {
    const problems: string[] = [];
    for (const a of addresses) {
      const url = httpsUrl(a);
      try {
        const pem = await fetchServerCertificate(url);
        if (certFingerprint(pem) === fingerprint) return { url, pem };
        problems.push(`${url}: certificate fingerprint ${certFingerprint(pem)} is not the token's ${fingerprint}`);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    throw new Error(`No address from the token reached the server:\n  ${problems.join("\n  ") || "(the token lists no addresses)"}`);
  }

  private async firstContact(addr: string): Promise<{ url: string; pem: string }> {
    const url = httpsUrl(addr);
    const pem = await fetchServerCertificate(url);
    if (!this.acceptCertificate) {
      throw new Error(`Certificate fingerprint: ${certFingerprint(pem)}\nVerify it out of band, then rerun with --accept-certificate (or join with --token)`);
    }
    return { url, pem };
  }
}

/** Reads one line from the terminal without echoing it. */
async function askPassword(out: NodeJS.WritableStream, prompt: string): Promise<string> {
  out.write(prompt);
  const stty = (arg: string) => Bun.spawnSync(["stty", arg], { stdin: "inherit" });
  stty("-echo");
  try {
    for await (const line of console) return line;
    return "";
  } finally {
    stty("echo");
    out.write("\n");
  }
}

/**
 * A public image server: a simplestreams tree (http or https) or an LXD server whose public
 * images need no trust. Its index (or API) must answer before it is added. A self-signed https
 * server's certificate is pinned with --accept-certificate.
 */
async function addPublicRemote(name: string, addr: string, protocol: string, accept: boolean, dir: string): Promise<Remote> {
  const url = protocol === "simplestreams" ? (/^https?:\/\//.test(addr) ? addr.replace(/\/+$/, "") : `https://${addr.replace(/\/+$/, "")}`) : httpsUrl(addr);
  let pem: string | undefined;
  if (url.startsWith("https:") && (accept || protocol === "lxd")) {
    const u = new URL(url);
    pem = await fetchServerCertificate(`https://${u.hostname}:${u.port || 443}`);
    if (!accept) throw new Error(`Certificate fingerprint: ${certFingerprint(pem)}\nVerify it out of band, then rerun with --accept-certificate`);
  }
  const { getJson } = await import("../image/download.ts");
  try {
    if (protocol === "simplestreams") {
      const { INDEX_PATH, productsPath } = await import("../image/simplestreams.ts");
      productsPath(await getJson(`${url}/${INDEX_PATH}`, { certificate: pem }));
    } else {
      await getJson(`${url}/1.0`, { certificate: pem });
    }
  } catch (err) {
    throw new Error(`${url} is not a usable ${protocol} server: ${(err as Error).message}`);
  }
  if (pem) saveServerCert(name, pem, dir);
  if (protocol === "lxd") await clientIdentity(dir);
  return protocol === "simplestreams" ? { addr: url, protocol, public: true } : { addr: url, auth_type: "tls", protocol, public: true };
}

export class RemoteListCommand extends LxdCommand {
  static override paths = [["remote", "list"], ["remote", "ls"]];
  static override usage = Command.Usage({
    category: "Remotes",
    description: "List the remotes",
    examples: [["All remotes", "$0 remote list"]],
  });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const config = loadConfig();
    const rows = Object.entries(config.remotes).sort(([a], [b]) => a.localeCompare(b)).map(([name, r]) => [
      name === config["default-remote"] ? `${name} (current)` : name,
      r.addr,
      r.protocol ?? "lxd",
      r.addr.startsWith("unix:") ? "file access" : r.auth_type ?? "tls",
      r.public ? "YES" : "NO",
      name === LOCAL_REMOTE ? "YES" : "NO",
    ]);
    this.context.stdout.write(renderTable(format, ["NAME", "URL", "PROTOCOL", "AUTH TYPE", "PUBLIC", "STATIC"], rows, config.remotes));
  }
}

export class RemoteRemoveCommand extends LxdCommand {
  static override paths = [["remote", "remove"], ["remote", "rm"]];
  static override usage = Command.Usage({
    category: "Remotes",
    description: "Remove a remote",
    examples: [["Forget a server", "$0 remote remove prod"]],
  });

  name = Option.String({ name: "name" });

  protected async run(): Promise<void> {
    const config = loadConfig();
    if (!config.remotes[this.name]) throw new Error(`Remote ${this.name} doesn't exist`);
    if (this.name === LOCAL_REMOTE) throw new Error(`Remote ${this.name} is static and cannot be removed`);
    if (config["default-remote"] === this.name) throw new Error("Can't remove the default remote");
    delete config.remotes[this.name];
    saveConfig(config);
    removeServerCert(this.name);
  }
}

export class RemoteRenameCommand extends LxdCommand {
  static override paths = [["remote", "rename"], ["remote", "mv"]];
  static override usage = Command.Usage({
    category: "Remotes",
    description: "Rename a remote",
    examples: [["New name", "$0 remote rename prod production"]],
  });

  from = Option.String({ name: "old" });
  to = Option.String({ name: "new" });

  protected async run(): Promise<void> {
    checkName(this.to);
    const config = loadConfig();
    if (!config.remotes[this.from]) throw new Error(`Remote ${this.from} doesn't exist`);
    if (this.from === LOCAL_REMOTE) throw new Error(`Remote ${this.from} is static and cannot be renamed`);
    if (config.remotes[this.to]) throw new Error(`Remote ${this.to} already exists`);
    config.remotes[this.to] = config.remotes[this.from];
    delete config.remotes[this.from];
    if (config["default-remote"] === this.from) config["default-remote"] = this.to;
    if (existsSync(serverCertPath(this.from))) renameSync(serverCertPath(this.from), serverCertPath(this.to));
    saveConfig(config);
  }
}

export class RemoteSwitchCommand extends LxdCommand {
  static override paths = [["remote", "switch"]];
  static override usage = Command.Usage({
    category: "Remotes",
    description: "Make a remote the default",
    examples: [["Work against prod by default", "$0 remote switch prod"]],
  });

  name = Option.String({ name: "name" });

  protected async run(): Promise<void> {
    const config = loadConfig();
    if (!config.remotes[this.name]) throw new Error(`Remote ${this.name} doesn't exist`);
    config["default-remote"] = this.name;
    saveConfig(config);
  }
}

export class RemoteGetDefaultCommand extends LxdCommand {
  static override paths = [["remote", "get-default"]];
  static override usage = Command.Usage({
    category: "Remotes",
    description: "Show the default remote",
    examples: [["Which one", "$0 remote get-default"]],
  });

  protected async run(): Promise<void> {
    this.print(loadConfig()["default-remote"]);
  }
}

export class RemoteSetUrlCommand extends LxdCommand {
  static override paths = [["remote", "set-url"]];
  static override usage = Command.Usage({
    category: "Remotes",
    description: "Change a remote's address (its pinned certificate must still match)",
    examples: [["Moved server", "$0 remote set-url prod 10.0.0.6:8443"]],
  });

  name = Option.String({ name: "name" });
  url = Option.String({ name: "url" });

  protected async run(): Promise<void> {
    const config = loadConfig();
    const remote = config.remotes[this.name];
    if (!remote) throw new Error(`Remote ${this.name} doesn't exist`);
    if (this.name === LOCAL_REMOTE) throw new Error(`Remote ${this.name} is static and cannot be modified`);
    remote.addr = this.url.startsWith("unix:") ? this.url : httpsUrl(this.url);
    if (remote.addr.startsWith("https:") && !readServerCert(this.name)) throw new Error(`Remote ${this.name} has no pinned certificate`);
    saveConfig(config);
  }
}
