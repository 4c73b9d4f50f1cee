// `network create|list|show|get|set|unset|edit|rename|delete|info|list-leases`: managed bridges.
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import { LxdCommand, parseKeyValues, parseSetArgs } from "./base.ts";
import { readYamlStdin, stringMaps } from "./config.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";
import { bytesIEC } from "../config/values.ts";

interface Network {
  name: string; description: string; type: string; managed: boolean; config: Record<string, string>;
  status: string; used_by: string[] | null; locations: string[] | null;
}
interface Lease { hostname: string; hwaddr: string; address: string; type: string }
interface NetState {
  addresses: { family: string; address: string; netmask: string; scope: string }[];
  counters: { bytes_received: number; bytes_sent: number; packets_received: number; packets_sent: number };
  hwaddr: string; mtu: number; state: string; type: string;
}

const targetQuery = (target?: string) => (target ? `?target=${encodeURIComponent(target)}` : "");
/** A network's path; with a cluster member, that member's own part. */
const path = (name: string, target?: string) => `/1.0/networks/${encodeURIComponent(name)}${targetQuery(target)}`;
const targetOption = () => Option.String("--target", { description: "Cluster member name" });

async function withEtag(client: LxdClient, name: string, target?: string): Promise<{ net: Network; etag?: string }> {
  const reply = await client.request<Network>("GET", path(name, target));
  return { net: reply.metadata, etag: reply.etag };
}

async function patchConfig(client: LxdClient, name: string, config: Record<string, string>, target?: string): Promise<void> {
  const { etag } = await withEtag(client, name, target);
  await client.patch(path(name, target), { config }, { etag });
}

const category = "Networks";

export class NetworkCreateCommand extends LxdCommand {
  static override paths = [["network", "create"]];
  static override usage = Command.Usage({
    category, description: "Create new managed bridge networks",
    details: "Without `ipv4.address` a free private /24 is picked (`auto`) with NAT; `ipv4.address=none` makes a bridge without an address.",
    examples: [
      ["A bridge with an automatic subnet and NAT", "$0 network create lxdbr1"],
      ["A fixed subnet without NAT", "$0 network create br1 ipv4.address=10.20.0.1/24 ipv4.nat=false"],
      ["On a cluster: defined on each member, then created everywhere", "$0 network create br1 --target m1\n$0 network create br1 --target m2\n$0 network create br1"],
    ],
  });

  name = Option.String({ name: "network" });
  type = Option.String("-t,--type", "bridge", { description: "Network type (bridge)" });
  description = Option.String("--description", "", { description: "Network description" });
  target = targetOption();
  props = Option.Rest();

  protected async run(): Promise<void> {
    await this.client.post(`/1.0/networks${targetQuery(this.target)}`, {
      name: this.name, type: this.type, description: this.description, config: parseKeyValues(this.props),
    });
    this.print(this.target ? `Network ${this.name} pending on member ${this.target}` : `Network ${this.name} created`);
  }
}

export class NetworkListCommand extends LxdCommand {
  static override paths = [["network", "list"], ["network", "ls"]];
  static override usage = Command.Usage({ category, description: "List available networks", examples: [["All networks", "$0 network list"]] });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const nets = await this.client.get<Network[]>("/1.0/networks?recursion=1");
    const rows = nets.map((n) => [
      n.name, n.type, n.managed ? "YES" : "NO", n.config["ipv4.address"] ?? "", n.config["ipv6.address"] ?? "",
      n.description, String(n.used_by?.length ?? 0), n.status.toUpperCase(),
    ]);
    this.context.stdout.write(renderTable(format, ["NAME", "TYPE", "MANAGED", "IPV4", "IPV6", "DESCRIPTION", "USED BY", "STATE"], rows, nets));
  }
}

export class NetworkShowCommand extends LxdCommand {
  static override paths = [["network", "show"]];
  static override usage = Command.Usage({ category, description: "Show network configurations", examples: [["The default bridge", "$0 network show lxdbr0"]] });

  name = Option.String({ name: "network" });
  target = targetOption();

  protected async run(): Promise<void> {
    const n = await this.client.get<Network>(path(this.name, this.target));
    this.context.stdout.write(toYaml({
      config: n.config, description: n.description, name: n.name, type: n.type,
      used_by: n.used_by ?? [], managed: n.managed, status: n.status, locations: n.locations ?? [],
    }));
  }
}

export class NetworkGetCommand extends LxdCommand {
  static override paths = [["network", "get"]];
  static override usage = Command.Usage({ category, description: "Get values for network configuration keys", examples: [["The bridge address", "$0 network get lxdbr0 ipv4.address"]] });

  name = Option.String({ name: "network" });
  key = Option.String({ name: "key" });
  target = targetOption();

  protected async run(): Promise<void> {
    const n = await this.client.get<Network>(path(this.name, this.target));
    this.print(n.config[this.key] ?? "");
  }
}

export class NetworkSetCommand extends LxdCommand {
  static override paths = [["network", "set"]];
  static override usage = Command.Usage({
    category, description: "Set network configuration keys",
    examples: [["Turn NAT off", "$0 network set lxdbr0 ipv4.nat false"], ["Several keys", "$0 network set lxdbr0 ipv4.nat=true dns.domain=lab"]],
  });

  name = Option.String({ name: "network" });
  args = Option.Rest({ required: 1 });
  target = targetOption();

  protected async run(): Promise<void> {
    const values = parseSetArgs(this.args);
    await patchConfig(this.client, this.name, values, this.target);
  }
}

export class NetworkUnsetCommand extends LxdCommand {
  static override paths = [["network", "unset"]];
  static override usage = Command.Usage({ category, description: "Unset network configuration keys", examples: [["Back to the default domain", "$0 network unset lxdbr0 dns.domain"]] });

  name = Option.String({ name: "network" });
  key = Option.String({ name: "key" });
  target = targetOption();

  protected async run(): Promise<void> {
    const { net, etag } = await withEtag(this.client, this.name, this.target);
    const config = { ...net.config };
    delete config[this.key];
    await this.client.put(path(this.name, this.target), { description: net.description, config }, { etag });
  }
}

export class NetworkEditCommand extends LxdCommand {
  static override paths = [["network", "edit"]];
  static override usage = Command.Usage({ category, description: "Edit network configurations as YAML (read from stdin)", examples: [["Replace from a file", "$0 network edit lxdbr0 < net.yaml"]] });

  name = Option.String({ name: "network" });

  protected async run(): Promise<void> {
    const doc = stringMaps(await readYamlStdin(this.context.stdin));
    const { etag } = await withEtag(this.client, this.name);
    await this.client.put(path(this.name), { description: doc.description ?? "", config: doc.config ?? {} }, { etag });
  }
}

export class NetworkRenameCommand extends LxdCommand {
  static override paths = [["network", "rename"]];
  static override usage = Command.Usage({ category, description: "Rename networks", examples: [["Rename", "$0 network rename br1 br2"]] });

  name = Option.String({ name: "network" });
  to = Option.String({ name: "new-name" });

  protected async run(): Promise<void> {
    await this.client.post(path(this.name), { name: this.to });
    this.print(`Network ${this.name} renamed to ${this.to}`);
  }
}

export class NetworkDeleteCommand extends LxdCommand {
  static override paths = [["network", "delete"], ["network", "rm"]];
  static override usage = Command.Usage({ category, description: "Delete networks", examples: [["Delete a bridge nobody uses", "$0 network delete br1"]] });

  names = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    for (const name of this.names) {
      await this.client.delete(path(name));
      this.print(`Network ${name} deleted`);
    }
  }
}

export class NetworkListLeasesCommand extends LxdCommand {
  static override paths = [["network", "list-leases"]];
  static override usage = Command.Usage({ category, description: "List DHCP leases", examples: [["Leases on the default bridge", "$0 network list-leases lxdbr0"]] });

  name = Option.String({ name: "network" });
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const leases = await this.client.get<Lease[]>(`${path(this.name)}/leases`);
    const rows = leases.map((l) => [l.hostname, l.hwaddr, l.address, l.type.toUpperCase()]);
    this.context.stdout.write(renderTable(parseFormat(this.format), ["HOSTNAME", "MAC ADDRESS", "IP ADDRESS", "TYPE"], rows, leases));
  }
}

export class NetworkInfoCommand extends LxdCommand {
  static override paths = [["network", "info"]];
  static override usage = Command.Usage({ category, description: "Get runtime information on networks", examples: [["Addresses and counters", "$0 network info lxdbr0"]] });

  name = Option.String({ name: "network" });

  protected async run(): Promise<void> {
    const s = await this.client.get<NetState>(`${path(this.name)}/state`);
    const leases = await this.client.get<Lease[]>(`${path(this.name)}/leases`).catch(() => [] as Lease[]);
    const lines = [
      `Name: ${this.name}`, `MAC address: ${s.hwaddr}`, `MTU: ${s.mtu}`, `State: ${s.state}`, `Type: ${s.type}`, "",
      "IP addresses:", ...s.addresses.map((a) => `  ${a.family}\t${a.address}/${a.netmask} (${a.scope})`), "",
      "Network usage:",
      `  Bytes received: ${bytesIEC(s.counters.bytes_received)}`, `  Bytes sent: ${bytesIEC(s.counters.bytes_sent)}`,
      `  Packets received: ${s.counters.packets_received}`, `  Packets sent: ${s.counters.packets_sent}`, "",
      "DHCP leases:", ...leases.map((l) => `  ${l.hostname || "-"}\t${l.hwaddr}\t${l.address}\t${l.type}`),
    ];
    this.print(lines.join("\n"));
  }
}
