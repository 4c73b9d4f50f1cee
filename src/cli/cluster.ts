// `cluster list|show|edit|rename|remove|enable|add|list-tokens|revoke-token|evacuate|restore`, as
// `lxc cluster` (its columns, messages and the join token format).
import { Command, Option } from "clipanion";
import type { ClusterMember } from "../api/cluster.ts";
import type { Operation } from "../api/operation.ts";
import { LxdCommand } from "./base.ts";
import { readStdinText } from "./config.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";

const category = "Cluster";
const enc = encodeURIComponent;

export class ClusterListCommand extends LxdCommand {
  static override paths = [["cluster", "list"], ["cluster", "ls"]];
  static override usage = Command.Usage({ category, description: "List the cluster's members", examples: [["Every member", "$0 cluster list"]] });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const members = await this.client.get<ClusterMember[]>("/1.0/cluster/members?recursion=1");
    const rows = members.map((m) => [m.server_name, m.url, m.roles.join("\n"), m.architecture, m.failure_domain, m.description, m.status.toUpperCase(), m.message]);
    this.context.stdout.write(renderTable(format, ["NAME", "URL", "ROLES", "ARCHITECTURE", "FAILURE DOMAIN", "DESCRIPTION", "STATE", "MESSAGE"], rows, members));
  }
}

export class ClusterShowCommand extends LxdCommand {
  static override paths = [["cluster", "show"]];
  static override usage = Command.Usage({ category, description: "Show a member's details", examples: [["One member as YAML", "$0 cluster show m1"]] });

  member = Option.String({ name: "member" });

  protected async run(): Promise<void> {
    this.context.stdout.write(toYaml(await this.client.get(`/1.0/cluster/members/${enc(this.member)}`)));
  }
}

export class ClusterEditCommand extends LxdCommand {
  static override paths = [["cluster", "edit"]];
  static override usage = Command.Usage({ category, description: "Edit a member's description and config (YAML on stdin)", examples: [["From a file", "$0 cluster edit m1 < m1.yaml"]] });

  member = Option.String({ name: "member" });

  protected async run(): Promise<void> {
    const doc = (Bun.YAML.parse(await readStdinText(this.context.stdin)) ?? {}) as Partial<ClusterMember>;
    await this.client.put(`/1.0/cluster/members/${enc(this.member)}`, { description: doc.description ?? "", config: doc.config ?? {} });
  }
}

export class ClusterRenameCommand extends LxdCommand {
  static override paths = [["cluster", "rename"]];
  static override usage = Command.Usage({ category, description: "Rename a member", examples: [["m1 becomes m4", "$0 cluster rename m1 m4"]] });

  member = Option.String({ name: "member" });
  newName = Option.String({ name: "new-name" });

  protected async run(): Promise<void> {
    await this.client.post(`/1.0/cluster/members/${enc(this.member)}`, { server_name: this.newName });
    this.print(`Member ${this.member} renamed to ${this.newName}`);
  }
}

export class ClusterRemoveCommand extends LxdCommand {
  static override paths = [["cluster", "remove"], ["cluster", "rm"]];
  static override usage = Command.Usage({ category, description: "Remove a member from the cluster", examples: [["Remove m3", "$0 cluster remove m3"]] });

  member = Option.String({ name: "member" });
  force = Option.Boolean("-f,--force", false, { description: "Remove it even with instances (they are forgotten)" });

  protected async run(): Promise<void> {
    await this.client.delete(`/1.0/cluster/members/${enc(this.member)}${this.force ? "?force=1" : ""}`);
    this.print(`Member ${this.member} removed`);
  }
}

export class ClusterEnableCommand extends LxdCommand {
  static override paths = [["cluster", "enable"]];
  static override usage = Command.Usage({
    category, description: "Make this server the first member of a new cluster (core.https_address must be set)",
    examples: [["Name this member m1", "$0 cluster enable m1"]],
  });

  name = Option.String({ name: "name" });

  protected async run(): Promise<void> {
    const server = await this.client.server();
    if ((server.environment as { server_clustered?: boolean }).server_clustered) throw new Error("This LXD server is already clustered");
    await this.client.run("PUT", "/1.0/cluster", { server_name: this.name, enabled: true });
    this.print("Clustering enabled");
  }
}

export class ClusterAddCommand extends LxdCommand {
  static override paths = [["cluster", "add"]];
  static override usage = Command.Usage({ category, description: "Issue a join token for a new member", examples: [["A token for m2", "$0 cluster add m2"]] });

  name = Option.String({ name: "name" });

  protected async run(): Promise<void> {
    const reply = await this.client.post<Operation>("/1.0/cluster/members", { server_name: this.name });
    this.print(`Member ${this.name} join token:\n${tokenOf(reply.metadata)}`);
  }
}

/** The join token of a token operation (its metadata fields, encoded as LXD's client does). */
function tokenOf(op: Operation): string {
  const m = (op.metadata ?? {}) as Record<string, unknown>;
  return Buffer.from(JSON.stringify({ server_name: m.serverName, fingerprint: m.fingerprint, addresses: m.addresses, secret: m.secret, expires_at: m.expiresAt })).toString("base64");
}

const joinTokens = (ops: Operation[]) => ops.filter((o) => o.class === "token" && o.status === "Running" && (o.metadata as { serverName?: string } | null)?.serverName);

export class ClusterListTokensCommand extends LxdCommand {
  static override paths = [["cluster", "list-tokens"]];
  static override usage = Command.Usage({ category, description: "List the join tokens not used yet", examples: [["Every token", "$0 cluster list-tokens"]] });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const ops = joinTokens(await this.client.get<Operation[]>("/1.0/operations?recursion=1").then((r) => Object.values(r as unknown as Record<string, Operation[]>).flat()));
    const rows = ops.map((o) => [(o.metadata as { serverName: string }).serverName, tokenOf(o), String((o.metadata as { expiresAt?: string }).expiresAt ?? "")]);
    this.context.stdout.write(renderTable(parseFormat(this.format), ["NAME", "TOKEN", "EXPIRES AT"], rows, ops.map((o) => o.metadata)));
  }
}

export class ClusterRevokeTokenCommand extends LxdCommand {
  static override paths = [["cluster", "revoke-token"]];
  static override usage = Command.Usage({ category, description: "Revoke a member's join token", examples: [["The token for m2", "$0 cluster revoke-token m2"]] });

  name = Option.String({ name: "name" });

  protected async run(): Promise<void> {
    const ops = joinTokens(await this.client.get<Operation[]>("/1.0/operations?recursion=1").then((r) => Object.values(r as unknown as Record<string, Operation[]>).flat()));
    const op = ops.find((o) => (o.metadata as { serverName: string }).serverName === this.name);
    if (!op) throw new Error(`No cluster join token for member "${this.name}"`);
    await this.client.delete(`/1.0/operations/${op.id}`);
    this.print(`Cluster join token for ${this.name} deleted`);
  }
}

abstract class MemberStateCommand extends LxdCommand {
  member = Option.String({ name: "member" });
  force = Option.Boolean("--force", false, { description: "Do not ask for confirmation" });

  protected async change(action: "evacuate" | "restore"): Promise<void> {
    await this.client.run("POST", `/1.0/cluster/members/${enc(this.member)}/state`, { action });
  }
}

export class ClusterEvacuateCommand extends MemberStateCommand {
  static override paths = [["cluster", "evacuate"]];
  static override usage = Command.Usage({ category, description: "Stop or move a member's instances (each as its cluster.evacuate says) and keep new ones off it", examples: [["Evacuate m2", "$0 cluster evacuate m2 --force"]] });

  protected async run(): Promise<void> {
    await this.change("evacuate");
  }
}

export class ClusterRestoreCommand extends MemberStateCommand {
  static override paths = [["cluster", "restore"]];
  static override usage = Command.Usage({ category, description: "Bring an evacuated member back into service", examples: [["Restore m2", "$0 cluster restore m2 --force"]] });

  protected async run(): Promise<void> {
    await this.change("restore");
  }
}
