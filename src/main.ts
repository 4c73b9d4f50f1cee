// Entry point of the single `lxd` binary: the daemon (`lxd serve`) and an LXD-compatible client.
import { Builtins, Cli, type Command, type CommandClass } from "clipanion";
import { errorMessage } from "./cli/base.ts";
import {
  ConfigEditCommand, ConfigGetCommand, ConfigSetCommand, ConfigShowCommand, ConfigUnsetCommand,
} from "./cli/config.ts";
import { ServeCommand, ShutdownCommand, WaitReadyCommand } from "./cli/daemon.ts";
import { ExecCommand } from "./cli/exec.ts";
import { groupHelp, RootHelpCommand } from "./cli/help.ts";
import {
  ImageAliasCreateCommand, ImageAliasDeleteCommand, ImageAliasListCommand, ImageBuildBusyboxCommand,
  ImageDeleteCommand, ImageImportCommand, ImageInfoCommand, ImageListCommand, ImageShowCommand,
} from "./cli/image.ts";
import { InfoCommand } from "./cli/info.ts";
import {
  DeleteCommand, InitCommand, LaunchCommand, PauseCommand, RestartCommand, StartCommand, StopCommand,
} from "./cli/instance.ts";
import { ListCommand } from "./cli/list.ts";
import { MonitorCommand } from "./cli/monitor.ts";
import { OperationDeleteCommand, OperationListCommand, OperationShowCommand } from "./cli/operation.ts";
import {
  ProfileCreateCommand, ProfileDeleteCommand, ProfileDeviceAddCommand, ProfileDeviceRemoveCommand,
  ProfileEditCommand, ProfileGetCommand, ProfileListCommand, ProfileSetCommand, ProfileShowCommand,
  ProfileUnsetCommand,
} from "./cli/profile.ts";
import { StorageListCommand, StorageShowCommand } from "./cli/storage.ts";
import { CLIENT_VERSION, VersionCommand } from "./cli/version.ts";

const COMMANDS: CommandClass[] = [
  // The default command first: clipanion's usage() relies on that order.
  RootHelpCommand,
  ServeCommand, WaitReadyCommand, ShutdownCommand,
  LaunchCommand, InitCommand, StartCommand, StopCommand, RestartCommand, PauseCommand, DeleteCommand,
  ListCommand, InfoCommand, ExecCommand,
  ConfigSetCommand, ConfigGetCommand, ConfigUnsetCommand, ConfigShowCommand, ConfigEditCommand,
  ImageImportCommand, ImageListCommand, ImageDeleteCommand, ImageShowCommand, ImageInfoCommand,
  ImageAliasCreateCommand, ImageAliasDeleteCommand, ImageAliasListCommand, ImageBuildBusyboxCommand,
  ProfileListCommand, ProfileShowCommand, ProfileCreateCommand, ProfileDeleteCommand, ProfileGetCommand,
  ProfileSetCommand, ProfileUnsetCommand, ProfileEditCommand, ProfileDeviceAddCommand, ProfileDeviceRemoveCommand,
  OperationListCommand, OperationShowCommand, OperationDeleteCommand,
  StorageListCommand, StorageShowCommand,
  MonitorCommand, VersionCommand,
  groupHelp(["config"], "Manage instance and server configuration options", "config set c1 limits.memory 256MiB"),
  groupHelp(["image"], "Manage images", "image list"),
  groupHelp(["image", "alias"], "Manage image aliases", "image alias list"),
  groupHelp(["image", "build"], "Build images", "image build busybox"),
  groupHelp(["profile"], "Manage profiles", "profile show default"),
  groupHelp(["profile", "device"], "Manage devices of profiles", "profile device add default root disk path=/ pool=default"),
  groupHelp(["operation"], "List, show and delete background operations", "operation list"),
  groupHelp(["storage"], "Manage storage pools", "storage list"),
  Builtins.HelpCommand,
  Builtins.VersionCommand,
];

export function buildCli(): Cli {
  const cli = new Cli({ binaryName: "lxd", binaryLabel: "lxd: system containers, LXD-compatible", binaryVersion: CLIENT_VERSION, enableColors: false });
  for (const command of COMMANDS) cli.register(command);
  return cli;
}

/** A stream whose writes can be awaited: Bun writes to pipes asynchronously and process.exit() would
 *  drop what is still queued. The callback of the last write fires once everything before it is out. */
export function trackWrites(stream: NodeJS.WriteStream): { stream: NodeJS.WriteStream; flushed: () => Promise<void> } {
  let last: Promise<void> = Promise.resolve();
  const write = (chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void) => {
    const done = typeof encoding === "function" ? encoding : cb;
    let ok = true;
    last = new Promise<void>((resolve) => {
      ok = stream.write(chunk, typeof encoding === "string" ? encoding : "utf8", (err) => {
        resolve();
        done?.(err);
      });
    });
    return ok;
  };
  const proxy = new Proxy(stream, {
    get(target, prop) {
      if (prop === "write") return write;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { stream: proxy, flushed: () => last };
}

/** Parses and runs one command line; returns the exit code. Parse errors are printed like run errors. */
export async function main(argv: string[], stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Promise<number> {
  const cli = buildCli();
  const known = new Set(COMMANDS.flatMap((c) => (c.paths ?? []).map((p) => p[0])));
  if (argv[0] && !argv[0].startsWith("-") && !known.has(argv[0])) {
    stderr.write(`Error: unknown command "${argv[0]}" for "lxd"\n`);
    return 1;
  }
  let command: Command;
  try {
    command = cli.process(argv, { stdout, stderr });
  } catch (err) {
    // clipanion appends usage to some messages; the first line is the error itself.
    stderr.write(`Error: ${errorMessage(err).split("\n")[0]}\n`);
    return 1;
  }
  return cli.run(command, { stdout, stderr });
}

async function run(): Promise<never> {
  // A reader that went away (`lxd list | head -1`) is not an error worth a trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
    });
  }
  const out = trackWrites(process.stdout);
  const err = trackWrites(process.stderr);
  const code = await main(process.argv.slice(2), out.stream, err.stream);
  await Promise.all([out.flushed(), err.flushed()]);
  process.exit(code);
}

if (import.meta.main) void run();
