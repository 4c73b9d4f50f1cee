// `version`: client and server versions, like `lxc version`.
import { Command } from "clipanion";
import pkg from "../../package.json";
import { LxdCommand } from "./base.ts";

export const CLIENT_VERSION: string = pkg.version;

export class VersionCommand extends LxdCommand {
  static override paths = [["version"]];
  static override usage = Command.Usage({
    category: "Server",
    description: "Show local and remote versions",
    examples: [["Client and daemon versions", "$0 version"]],
  });

  protected async run(): Promise<void> {
    let server = "unreachable";
    try {
      server = String((await this.client.server()).environment?.server_version ?? "unknown");
    } catch {
      // Like lxc, the client version is still useful without a daemon.
    }
    this.print(`Client version: ${CLIENT_VERSION}\nServer version: ${server}`);
  }
}
