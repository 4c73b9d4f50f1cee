// Help for the bare binary and for command groups ("lxd image", "lxd config"...), which clipanion
// does not provide: both list the matching commands with a few examples.
import { Command, type CommandClass } from "clipanion";

function listing(cli: Command["cli"], prefix: string): string {
  const defs = cli.definitions().filter((d) => d.path.startsWith(`${prefix} `));
  const width = Math.max(0, ...defs.map((d) => d.path.length));
  return defs
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((d) => `  ${d.path.padEnd(width)}  ${(d.description ?? "").trim()}\n`)
    .join("");
}

const ROOT_EXAMPLES = [
  ["Start the daemon", "serve"],
  ["Prepare storage and the default profile", "init --auto"],
  ["Build and import the busybox test image", "image build busybox"],
  ["Create and start a container", "launch busybox c1"],
  ["Run a command in it", "exec c1 -- uname -a"],
  ["List containers", "list"],
];

export class RootHelpCommand extends Command {
  static override paths = [Command.Default];

  async execute(): Promise<number> {
    const name = this.cli.binaryName;
    let out = `${this.cli.binaryLabel ?? name}${this.cli.binaryVersion ? ` - ${this.cli.binaryVersion}` : ""}\n\n`;
    out += `Usage:\n  ${name} <command> [flags]\n\nCommands:\n${listing(this.cli, name)}\nExamples:\n`;
    for (const [what, cmd] of ROOT_EXAMPLES) out += `  ${what}:\n    $ ${name} ${cmd}\n`;
    out += `\nUse "${name} <command> --help" for more information about a command.\n`;
    this.context.stdout.write(out);
    return 0;
  }
}

/** A command answering to a bare group path by listing the group's commands. */
export function groupHelp(group: string[], description: string, example: string): CommandClass {
  return class GroupHelpCommand extends Command {
    static override paths = [group];
    static override usage = Command.Usage({ description, examples: [[description, `$0 ${example}`]] });

    async execute(): Promise<number> {
      const prefix = `${this.cli.binaryName} ${group.join(" ")}`;
      let out = `${description}\n\nUsage:\n  ${prefix} <command> [flags]\n\nCommands:\n${listing(this.cli, prefix)}`;
      out += `\nExample:\n  $ ${this.cli.binaryName} ${example}\n`;
      this.context.stdout.write(out);
      return 0;
    }
  };
}
