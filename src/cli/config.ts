// `config get|set|unset|show|edit`: instance config, or server config when no instance is named
// (decided by the argument shapes, as lxc does).
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import type { Instance } from "../api/instance.ts";
import { LxdCommand, parseSetArgs, unsetKey } from "./base.ts";
import { toYaml } from "./format.ts";

export type ConfigTarget = { kind: "server" } | { kind: "instance"; name: string };

/** Decodes `config set` arguments: [NAME] KEY VALUE, or [NAME] KEY=VALUE... */
export function parseConfigSetArgs(args: string[]): { target: ConfigTarget; values: Record<string, string> } {
  if (args.length === 0) throw new Error("Missing key and value");
  // "KEY=VALUE ..." or exactly "KEY VALUE" (no "=" anywhere) address the server.
  if (args[0]!.includes("=") || (args.length === 2 && !args[1]!.includes("="))) {
    return { target: { kind: "server" }, values: parseSetArgs(args) };
  }
  if (args.length < 2) throw new Error(`Missing value for ${args[0]}`);
  return { target: { kind: "instance", name: args[0]! }, values: parseSetArgs(args.slice(1)) };
}

/** The writable part of an instance (what `config show` prints and PUT accepts), in lxc's order. */
export function instancePut(inst: Instance, expanded = false) {
  return {
    architecture: inst.architecture,
    config: (expanded ? inst.expanded_config : inst.config) ?? {},
    devices: (expanded ? inst.expanded_devices : inst.devices) ?? {},
    ephemeral: inst.ephemeral,
    profiles: inst.profiles ?? [],
    stateful: inst.stateful,
    description: inst.description ?? "",
  };
}

/** Applies config changes (null value = unset) with If-Match, to an instance or the server. */
export async function updateConfig(client: LxdClient, target: ConfigTarget, changes: Record<string, string | null>): Promise<void> {
  const apply = (config: Record<string, string>) => {
    const next = { ...config };
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) {
        unsetKey(next, key);
      } else next[key] = value;
    }
    return next;
  };
  if (target.kind === "server") {
    const { server, etag } = await client.serverWithEtag();
    await client.put("/1.0", { config: apply(server.config ?? {}) }, { etag });
    return;
  }
  const { instance, etag } = await client.instanceWithEtag(target.name);
  const put = instancePut(instance);
  await client.updateInstance(target.name, { ...put, config: apply(put.config) }, etag);
}

export class ConfigSetCommand extends LxdCommand {
  static override paths = [["config", "set"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Set instance or server configuration keys",
    details: "Forms: `config set NAME KEY VALUE`, `config set NAME KEY=VALUE...`, and for the server `config set KEY VALUE` or `config set KEY=VALUE...`.",
    examples: [
      ["Limit a container's memory", "$0 config set c1 limits.memory 256MiB"],
      ["Several keys at once", "$0 config set c1 limits.cpu=2 user.role=web"],
      ["Expose the API over HTTPS", "$0 config set core.https_address :8443"],
    ],
  });

  args = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    const { target, values } = parseConfigSetArgs(this.args);
    await updateConfig(this.client, target, values);
  }
}

export class ConfigUnsetCommand extends LxdCommand {
  static override paths = [["config", "unset"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Unset instance or server configuration keys",
    examples: [
      ["Drop a container's memory limit", "$0 config unset c1 limits.memory"],
      ["Stop listening on HTTPS", "$0 config unset core.https_address"],
    ],
  });

  first = Option.String({ name: "instance-or-key" });
  key = Option.String({ name: "key", required: false });

  protected async run(): Promise<void> {
    const target: ConfigTarget = this.key ? { kind: "instance", name: this.first } : { kind: "server" };
    await updateConfig(this.client, target, { [this.key ?? this.first]: null });
  }
}

export class ConfigGetCommand extends LxdCommand {
  static override paths = [["config", "get"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Get values for instance or server configuration keys",
    examples: [
      ["A container's memory limit", "$0 config get c1 limits.memory"],
      ["The server's HTTPS address", "$0 config get core.https_address"],
    ],
  });

  first = Option.String({ name: "instance-or-key" });
  key = Option.String({ name: "key", required: false });
  expanded = Option.Boolean("-e,--expanded", false, { description: "Access the expanded configuration" });

  protected async run(): Promise<void> {
    if (!this.key) {
      const server = await this.client.server();
      this.print(server.config?.[this.first] ?? "");
      return;
    }
    const inst = await this.client.instance(this.first);
    const config = (this.expanded ? inst.expanded_config : inst.config) ?? {};
    this.print(config[this.key] ?? "");
  }
}

export class ConfigShowCommand extends LxdCommand {
  static override paths = [["config", "show"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Show instance or server configurations",
    examples: [
      ["A container's configuration as YAML", "$0 config show c1"],
      ["Including values inherited from profiles", "$0 config show c1 --expanded"],
      ["Server configuration", "$0 config show"],
    ],
  });

  name = Option.String({ name: "instance", required: false });
  expanded = Option.Boolean("-e,--expanded", false, { description: "Show the expanded configuration" });

  protected async run(): Promise<void> {
    if (!this.name) {
      const server = await this.client.server();
      this.context.stdout.write(toYaml({ config: server.config ?? {} }));
      return;
    }
    this.context.stdout.write(toYaml(instancePut(await this.client.instance(this.name), this.expanded)));
  }
}

/** All of stdin as text. */
export async function readStdinText(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads a YAML document from stdin (no editor support: `edit` is for scripts). */
export async function readYamlStdin(stdin: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<Record<string, unknown>> {
  if (stdin.isTTY) throw new Error("Interactive editing is not supported; pipe the new YAML on stdin");
  const doc = Bun.YAML.parse(await readStdinText(stdin));
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new Error("Expected a YAML mapping on stdin");
  return doc as Record<string, unknown>;
}

/** YAML may type config values as numbers/booleans; the API wants strings, as Go's map[string]string decoding gives. */
export function stringMaps(doc: Record<string, unknown>): Record<string, unknown> {
  const strings = (m: unknown) =>
    Object.fromEntries(Object.entries((m ?? {}) as Record<string, unknown>).map(([k, v]) => [k, v === null ? "" : String(v)]));
  const out = { ...doc };
  if (doc.config !== undefined) out.config = strings(doc.config);
  if (doc.devices !== undefined) {
    out.devices = Object.fromEntries(Object.entries((doc.devices ?? {}) as Record<string, unknown>).map(([k, v]) => [k, strings(v)]));
  }
  return out;
}

export class ConfigEditCommand extends LxdCommand {
  static override paths = [["config", "edit"]];
  static override usage = Command.Usage({
    category: "Configuration",
    description: "Replace instance or server configurations with YAML read from stdin",
    examples: [["Apply an edited configuration", "$0 config show c1 > c1.yaml && $0 config edit c1 < c1.yaml"]],
  });

  name = Option.String({ name: "instance", required: false });

  protected async run(): Promise<void> {
    const doc = stringMaps(await readYamlStdin(this.context.stdin));
    if (!this.name) {
      const { etag } = await this.client.serverWithEtag();
      await this.client.put("/1.0", { config: doc.config ?? {} }, { etag });
      return;
    }
    const { etag } = await this.client.instanceWithEtag(this.name);
    await this.client.updateInstance(this.name, doc, etag);
  }
}
