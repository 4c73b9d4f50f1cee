// `project create|list|show|edit|set|unset|get|rename|delete|switch|info`, as lxc has them. The
// current project is per remote in the client config (`project:` under the remote), as lxc keeps it;
// `--project` on any command overrides it for that command (client/config.ts).
import { Command, Option } from "clipanion";
import type { LxdClient } from "../client/client.ts";
import { currentProject, loadConfig, saveConfig, selectedRemoteName } from "../client/config.ts";
import type { Project, ProjectState } from "../api/project.ts";
import { bytesIEC, isTrue } from "../config/values.ts";
import { LxdCommand, parseKeyValues, parseSetArgs, unsetKey } from "./base.ts";
import { readYamlStdin, stringMaps } from "./config.ts";
import { parseFormat, renderTable, toYaml } from "./format.ts";

const url = (name: string) => `/1.0/projects/${encodeURIComponent(name)}`;
/** Sizes as lxc shows them: whole values without decimals (0B, 512MiB, 1GiB). */
const iec = (n: number) => bytesIEC(n).replace(/\.00(?=[A-Z])/, "");

/** Read-modify-write of a project guarded by its ETag. */
async function editProject(client: LxdClient, name: string, change: (p: { config: Record<string, string>; description: string }) => void) {
  const reply = await client.request<Project>("GET", url(name));
  const put = { config: { ...(reply.metadata.config ?? {}) }, description: reply.metadata.description ?? "" };
  change(put);
  await client.put(url(name), put, { etag: reply.etag });
}

export class ProjectCreateCommand extends LxdCommand {
  static override paths = [["project", "create"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Create projects",
    details: "A new project has its own images, profiles and storage volumes unless `-c features.X=false` says otherwise.",
    examples: [["A project sharing default's profiles", "$0 project create p1 -c features.profiles=false"]],
  });

  name = Option.String({ name: "project" });
  config = Option.Array("-c,--config", [], { description: "Config key/value to apply to the new project" });
  description = Option.String("--description", "", { description: "Project description" });

  protected async run(): Promise<void> {
    await this.client.post("/1.0/projects", { name: this.name, description: this.description, config: parseKeyValues(this.config) });
    this.print(`Project ${this.name} created`);
  }
}

export class ProjectListCommand extends LxdCommand {
  static override paths = [["project", "list"], ["project", "ls"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "List projects",
    examples: [["Every project, the current one marked", "$0 project list"]],
  });

  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const projects = await this.client.get<Project[]>("/1.0/projects?recursion=1");
    const current = currentProject();
    const yes = (p: Project, key: string) => (isTrue(p.config[key]) ? "YES" : "NO");
    const rows = projects.map((p) => [
      p.name === current ? `${p.name} (current)` : p.name,
      yes(p, "features.images"), yes(p, "features.profiles"), yes(p, "features.storage.volumes"), yes(p, "features.networks"),
      p.description ?? "", String(p.used_by?.length ?? 0),
    ]);
    this.context.stdout.write(renderTable(format, ["NAME", "IMAGES", "PROFILES", "STORAGE VOLUMES", "NETWORKS", "DESCRIPTION", "USED BY"], rows, projects));
  }
}

export class ProjectShowCommand extends LxdCommand {
  static override paths = [["project", "show"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Show project options",
    examples: [["A project as YAML", "$0 project show p1"]],
  });

  name = Option.String({ name: "project" });

  protected async run(): Promise<void> {
    const p = await this.client.get<Project>(url(this.name));
    this.context.stdout.write(toYaml({ config: p.config ?? {}, description: p.description ?? "", name: p.name, used_by: p.used_by ?? [] }));
  }
}

export class ProjectEditCommand extends LxdCommand {
  static override paths = [["project", "edit"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Replace a project's description and config with YAML read from stdin",
    examples: [["Apply an edited project", "$0 project show p1 > p.yaml && $0 project edit p1 < p.yaml"]],
  });

  name = Option.String({ name: "project" });

  protected async run(): Promise<void> {
    const doc = stringMaps(await readYamlStdin(this.context.stdin));
    const { etag } = await this.client.request("GET", url(this.name));
    await this.client.put(url(this.name), { config: doc.config ?? {}, description: doc.description ?? "" }, { etag });
  }
}

export class ProjectGetCommand extends LxdCommand {
  static override paths = [["project", "get"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Get values for project configuration keys",
    examples: [["A project's instance limit", "$0 project get p1 limits.instances"]],
  });

  name = Option.String({ name: "project" });
  key = Option.String({ name: "key" });

  protected async run(): Promise<void> {
    this.print((await this.client.get<Project>(url(this.name))).config?.[this.key] ?? "");
  }
}

export class ProjectSetCommand extends LxdCommand {
  static override paths = [["project", "set"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Set project configuration keys",
    examples: [
      ["At most five instances", "$0 project set p1 limits.instances 5"],
      ["Several keys", "$0 project set p1 limits.memory=4GiB restricted=true"],
    ],
  });

  name = Option.String({ name: "project" });
  args = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    const values = parseSetArgs(this.args);
    await editProject(this.client, this.name, (p) => Object.assign(p.config, values));
  }
}

export class ProjectUnsetCommand extends LxdCommand {
  static override paths = [["project", "unset"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Unset project configuration keys",
    examples: [["Drop the instance limit", "$0 project unset p1 limits.instances"]],
  });

  name = Option.String({ name: "project" });
  key = Option.String({ name: "key" });

  protected async run(): Promise<void> {
    await editProject(this.client, this.name, (p) => {
      unsetKey(p.config, this.key);
    });
  }
}

export class ProjectRenameCommand extends LxdCommand {
  static override paths = [["project", "rename"], ["project", "mv"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Rename projects (only empty ones)",
    examples: [["Rename p1", "$0 project rename p1 p2"]],
  });

  name = Option.String({ name: "project" });
  to = Option.String({ name: "new-name" });

  protected async run(): Promise<void> {
    await this.client.post(url(this.name), { name: this.to });
    this.print(`Project ${this.name} renamed to ${this.to}`);
  }
}

export class ProjectDeleteCommand extends LxdCommand {
  static override paths = [["project", "delete"], ["project", "rm"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Delete projects (only empty ones)",
    examples: [["Delete p1", "$0 project delete p1"]],
  });

  name = Option.String({ name: "project" });

  protected async run(): Promise<void> {
    await this.client.delete(url(this.name));
    this.print(`Project ${this.name} deleted`);
    // As lxc: a remote whose current project went away falls back to default.
    const config = loadConfig();
    const remote = config.remotes[selectedRemoteName()];
    if (remote?.project === this.name) {
      remote.project = "default";
      saveConfig(config);
    }
  }
}

export class ProjectSwitchCommand extends LxdCommand {
  static override paths = [["project", "switch"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Switch the current project (of the remote named, else the default remote)",
    examples: [["Work in p1 from now on", "$0 project switch p1"]],
  });

  name = Option.String({ name: "project" });

  protected async run(): Promise<void> {
    await this.client.get(url(this.name));
    const config = loadConfig();
    const remote = config.remotes[selectedRemoteName()];
    if (!remote) throw new Error(`The remote "${selectedRemoteName()}" doesn't exist`);
    remote.project = this.name;
    saveConfig(config);
  }
}

export class ProjectInfoCommand extends LxdCommand {
  static override paths = [["project", "info"]];
  static override usage = Command.Usage({
    category: "Projects",
    description: "Show a project's resource usage against its limits",
    examples: [["Usage of p1", "$0 project info p1"]],
  });

  name = Option.String({ name: "project" });
  format = Option.String("-f,--format", "table", { description: "Format (csv|json|table|yaml|compact)" });

  protected async run(): Promise<void> {
    const format = parseFormat(this.format);
    const state = await this.client.get<ProjectState>(`${url(this.name)}/state`);
    const bytes = (key: string, n: number) => (key === "disk" || key === "memory" ? iec(n) : String(n));
    const rows = Object.entries(state.resources).sort(([a], [b]) => a.localeCompare(b)).map(([key, r]) => [
      key.toUpperCase(), r.Limit < 0 ? "UNLIMITED" : bytes(key, r.Limit), bytes(key, r.Usage),
    ]);
    this.context.stdout.write(renderTable(format, ["RESOURCE", "LIMIT", "USAGE"], rows, state));
  }
}
