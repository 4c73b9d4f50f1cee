// `publish NAME[/SNAP]`: turns an instance or snapshot into an image (POST /1.0/images with a source).
import { Command, Option } from "clipanion";
import type { Operation } from "../api/operation.ts";
import { LxdCommand } from "./base.ts";
import { Progress, waitWithProgress } from "./progress.ts";

export class PublishCommand extends LxdCommand {
  static override paths = [["publish"]];
  static override usage = Command.Usage({
    category: "Images",
    description: "Publish instances as images",
    details: "The instance must be stopped (`--force` stops it and starts it again afterwards); snapshots can be published any time. " +
      "KEY=VALUE arguments set image properties, overriding those of the instance's image.",
    examples: [
      ["Publish a stopped container as 'mine'", "$0 publish c1 --alias mine"],
      ["A snapshot, xz-compressed, with a description", "$0 publish c1/snap0 --compression xz description='before upgrade'"],
    ],
  });

  source = Option.String({ name: "instance[/snapshot]" });
  properties = Option.Rest({ name: "key=value" });
  aliases = Option.Array("--alias", [], { description: "New alias to define at target" });
  public = Option.Boolean("--public", false, { description: "Make the image public" });
  force = Option.Boolean("-f,--force", false, { description: "Stop the instance if currently running" });
  compression = Option.String("--compression", "gzip", { description: "Compression algorithm: gzip, xz or none" });
  expire = Option.String("--expire", { description: "Image expiration date (RFC 3339)" });

  protected async run(): Promise<void> {
    const properties: Record<string, string> = {};
    for (const kv of this.properties) {
      const i = kv.indexOf("=");
      if (i <= 0) throw new Error(`Bad key=value pair: ${kv}`);
      properties[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const [name, snapshot] = this.source.split("/");
    let restart = false;
    if (snapshot === undefined) {
      const inst = await this.client.instance(name!);
      if (inst.status !== "Stopped") {
        if (!this.force) throw new Error(`The instance "${name}" is running; stop it first or use --force`);
        await this.client.setInstanceState(name!, { action: "stop", timeout: -1, force: true, stateful: false });
        restart = true;
      }
    }
    try {
      const reply = await this.client.post<Operation>("/1.0/images", {
        source: { type: snapshot === undefined ? "instance" : "snapshot", name: this.source },
        public: this.public,
        properties,
        aliases: this.aliases.map((a) => ({ name: a, description: "" })),
        compression_algorithm: this.compression,
        ...(this.expire ? { expires_at: this.expire } : {}),
      });
      const done = await waitWithProgress(this.client, reply.metadata, new Progress(this.context.stdout as NodeJS.WriteStream));
      this.print(`Instance published with fingerprint: ${(done.metadata as { fingerprint?: string } | null)?.fingerprint ?? ""}`);
    } finally {
      if (restart) await this.client.setInstanceState(name!, { action: "start", timeout: -1, force: false, stateful: false });
    }
  }
}
