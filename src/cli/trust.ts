// `config trust add|add-certificate|list|remove|show`: the server's trust store and join tokens.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { Command, Option } from "clipanion";
import type { Certificate } from "../api/certificate.ts";
import type { LxdClient } from "../client/client.ts";
import type { Operation } from "../api/operation.ts";
import { encodeToken } from "../tls/token.ts";
import { LxdCommand } from "./base.ts";
import { formatDate, parseFormat, renderTable, toYaml } from "./format.ts";

export class TrustAddCommand extends LxdCommand {
  static override paths = [["config", "trust", "add"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Issue a single-use join token for a new client, or trust a certificate file",
    details: "The client joins with `lxd remote add NAME TOKEN` (or `lxc remote add NAME --token TOKEN`). The token expires after core.remote_token_expiry (default 1d). With a FILE, that certificate is trusted at once (as `add-certificate`); `--type metrics` makes it one that may only read /1.0/metrics.",
    examples: [["A token for a laptop", "$0 config trust add --name laptop"], ["A Prometheus scraper's certificate", "$0 config trust add prometheus.crt --type metrics"]],
  });

  name = Option.String("--name", { description: "Name the client will have in the trust store" });
  type = Option.String("--type", "client", { description: "Certificate type: client or metrics" });
  restricted = Option.Boolean("--restricted", false, { description: "Restrict the client to --projects" });
  projects = Option.String("--projects", { description: "Comma-separated projects a restricted client may use" });
  file = Option.String({ name: "file", required: false });

  protected async run(): Promise<void> {
    const projects = this.projects ? this.projects.split(",").map((p) => p.trim()).filter(Boolean) : [];
    if (this.file) return addCertificateFile(this.client, this.file, { name: this.name, type: this.type, restricted: this.restricted, projects });
    if (this.type !== "client") throw new Error("Join tokens are for client certificates: give the certificate FILE for --type metrics");
    const reply = await this.client.post<Operation>("/1.0/certificates", { name: this.name ?? "", type: "client", token: true, restricted: this.restricted, projects });
    const meta = (reply.metadata.metadata ?? {}) as Record<string, unknown>;
    const request = (meta.request ?? {}) as { name?: string };
    const token = encodeToken({
      client_name: request.name ?? "",
      fingerprint: String(meta.fingerprint ?? ""),
      addresses: (meta.addresses as string[] | undefined) ?? [],
      secret: String(meta.secret ?? ""),
      // LXD 5.0.2 sets no expiry and decodes this field as a Go time: the zero time, never "".
      expires_at: String(meta.expiresAt || "0001-01-01T00:00:00Z"),
    });
    this.print(`Client ${request.name ?? ""} certificate add token:\n${token}`);
  }
}

export class TrustAddCertificateCommand extends LxdCommand {
  static override paths = [["config", "trust", "add-certificate"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Trust a client certificate (PEM file)",
    examples: [["Trust a certificate", "$0 config trust add-certificate ./client.crt --name ci"]],
  });

  name = Option.String("--name", { description: "Name in the trust store (default: the certificate's common name)" });
  type = Option.String("--type", "client", { description: "Certificate type: client or metrics (may only read /1.0/metrics)" });
  restricted = Option.Boolean("--restricted", false, { description: "Restrict the certificate to --projects" });
  projects = Option.String("--projects", { description: "Comma-separated projects a restricted certificate may use" });
  file = Option.String({ name: "file" });

  protected async run(): Promise<void> {
    await addCertificateFile(this.client, this.file, {
      name: this.name, type: this.type, restricted: this.restricted,
      projects: this.projects ? this.projects.split(",").map((p) => p.trim()).filter(Boolean) : [],
    });
  }
}

/** Trusts the PEM certificate in `file`. */
async function addCertificateFile(client: LxdClient, file: string, opts: { name?: string; type: string; restricted?: boolean; projects?: string[] }) {
  if (opts.type !== "client" && opts.type !== "metrics") throw new Error(`Invalid --type "${opts.type}" (client or metrics)`);
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`Failed to read certificate ${file}: ${(err as Error).message}`);
  }
  const der = new X509Certificate(pem).raw;
  await client.post("/1.0/certificates", {
    type: opts.type, name: opts.name ?? "", certificate: der.toString("base64"),
    restricted: opts.restricted ?? false, projects: opts.projects ?? [],
  });
}

const dates = (pem: string) => {
  try {
    const x = new X509Certificate(pem);
    return { cn: /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1] ?? "", from: new Date(x.validFrom).toISOString(), to: new Date(x.validTo).toISOString() };
  } catch {
    return { cn: "", from: "", to: "" };
  }
};

export class TrustListCommand extends LxdCommand {
  static override paths = [["config", "trust", "list"], ["config", "trust", "ls"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "List trusted client certificates",
    examples: [["The trust store", "$0 config trust list"]],
  });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const certs = await this.client.get<Certificate[]>("/1.0/certificates?recursion=1");
    const rows = certs.map((c) => {
      const d = dates(c.certificate);
      return [c.type, c.name, d.cn, c.fingerprint.slice(0, 12), formatDate(d.from), formatDate(d.to)];
    });
    this.context.stdout.write(renderTable(format, ["TYPE", "NAME", "COMMON NAME", "FINGERPRINT", "ISSUE DATE", "EXPIRY DATE"], rows, certs));
  }
}

export class TrustRemoveCommand extends LxdCommand {
  static override paths = [["config", "trust", "remove"], ["config", "trust", "rm"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Remove a certificate from the trust store",
    examples: [["By fingerprint (a unique prefix is enough)", "$0 config trust remove 2c5e3d1a9f0b"]],
  });

  fingerprint = Option.String({ name: "fingerprint" });

  protected async run(): Promise<void> {
    await this.client.delete(`/1.0/certificates/${encodeURIComponent(this.fingerprint)}`);
  }
}

export class TrustShowCommand extends LxdCommand {
  static override paths = [["config", "trust", "show"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Show a trusted certificate",
    examples: [["One certificate as YAML", "$0 config trust show 2c5e3d1a9f0b"]],
  });

  fingerprint = Option.String({ name: "fingerprint" });

  protected async run(): Promise<void> {
    const cert = await this.client.get<Certificate>(`/1.0/certificates/${encodeURIComponent(this.fingerprint)}`);
    this.print(toYaml(cert));
  }
}
