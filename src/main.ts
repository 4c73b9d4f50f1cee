// Entry point of the single `lxd` binary: the daemon (`lxd serve`) and an LXD-compatible client.
import { Builtins, Cli, type Command, type CommandClass } from "clipanion";
import { errorMessage, fdOutput, processStdin } from "./cli/base.ts";
import { selectRemote } from "./client/config.ts";
import {
  ConfigEditCommand, ConfigGetCommand, ConfigSetCommand, ConfigShowCommand, ConfigUnsetCommand,
} from "./cli/config.ts";
import { ExportCommand, ImportCommand, StorageVolumeExportCommand, StorageVolumeImportCommand } from "./cli/backup.ts";
import { ConsoleCommand } from "./cli/console.ts";
import { RecoverCommand } from "./cli/recover.ts";
import { CopyCommand, MoveCommand } from "./cli/copy.ts";
import { ActivateIfNeededCommand, ServeCommand, ShutdownCommand, SqlCommand, WaitReadyCommand } from "./cli/daemon.ts";
import { ConfigDeviceAddCommand, ConfigDeviceListCommand, ConfigDeviceRemoveCommand, ConfigDeviceShowCommand } from "./cli/device.ts";
import { ExecCommand } from "./cli/exec.ts";
import { FileDeleteCommand, FileEditCommand, FilePullCommand, FilePushCommand } from "./cli/file.ts";
import { groupHelp, RootHelpCommand } from "./cli/help.ts";
import {
  ImageAliasCreateCommand, ImageAliasDeleteCommand, ImageAliasListCommand, ImageBuildBusyboxCommand, ImageBuildDebianCommand,
  ImageDeleteCommand, ImageImportCommand, ImageInfoCommand, ImageListCommand, ImageShowCommand,
} from "./cli/image.ts";
import { ImageCopyCommand, ImageExportStreamsCommand, ImageRefreshCommand } from "./cli/image-streams.ts";
import { InfoCommand } from "./cli/info.ts";
import {
  DeleteCommand, InitCommand, LaunchCommand, PauseCommand, RestartCommand, StartCommand, StopCommand,
} from "./cli/instance.ts";
import { ListCommand } from "./cli/list.ts";
import { MonitorCommand } from "./cli/monitor.ts";
import { WarningAckCommand, WarningDeleteCommand, WarningListCommand, WarningShowCommand } from "./cli/warning.ts";
import {
  NetworkCreateCommand, NetworkDeleteCommand, NetworkEditCommand, NetworkGetCommand, NetworkInfoCommand, NetworkListCommand,
  NetworkListLeasesCommand, NetworkRenameCommand, NetworkSetCommand, NetworkShowCommand, NetworkUnsetCommand,
} from "./cli/network.ts";
import { OperationDeleteCommand, OperationListCommand, OperationShowCommand } from "./cli/operation.ts";
import {
  ProfileCreateCommand, ProfileDeleteCommand, ProfileDeviceAddCommand, ProfileDeviceRemoveCommand,
  ProfileEditCommand, ProfileGetCommand, ProfileListCommand, ProfileSetCommand, ProfileShowCommand,
  ProfileUnsetCommand,
} from "./cli/profile.ts";
import { RestoreCommand, SnapshotCommand } from "./cli/snapshot.ts";
import {
  RemoteAddCommand, RemoteGetDefaultCommand, RemoteListCommand, RemoteRemoveCommand, RemoteRenameCommand,
  RemoteSetUrlCommand, RemoteSwitchCommand,
} from "./cli/remote.ts";
import {
  StorageCreateCommand, StorageDeleteCommand, StorageInfoCommand, StorageListCommand, StorageSetCommand,
  StorageShowCommand, StorageUnsetCommand,
} from "./cli/storage.ts";
import {
  StorageVolumeAttachCommand, StorageVolumeCopyCommand, StorageVolumeMoveCommand, StorageVolumeCreateCommand, StorageVolumeDeleteCommand, StorageVolumeRenameCommand,
  StorageVolumeDetachCommand, StorageVolumeListCommand, StorageVolumeRestoreCommand, StorageVolumeShowCommand,
  StorageVolumeSnapshotCommand,
} from "./cli/storage-volume.ts";
import {
  TrustAddCertificateCommand, TrustAddCommand, TrustListCommand, TrustRemoveCommand, TrustShowCommand,
} from "./cli/trust.ts";
import { TopCommand } from "./cli/top.ts";
import { CLIENT_VERSION, VersionCommand } from "./cli/version.ts";
import {
  ImageAliasRenameCommand, ImageEditCommand, ImageExportCommand, ImageGetPropertyCommand, ImageSetPropertyCommand,
  ImageUnsetPropertyCommand,
} from "./cli/image-edit.ts";
import { PublishCommand } from "./cli/publish.ts";
import {
  ClusterAddCommand, ClusterEditCommand, ClusterEnableCommand, ClusterEvacuateCommand, ClusterListCommand, ClusterListTokensCommand,
  ClusterRemoveCommand, ClusterRenameCommand, ClusterRestoreCommand, ClusterRevokeTokenCommand, ClusterShowCommand,
} from "./cli/cluster.ts";
import { UiCertificateCommand, UiCommand } from "./cli/ui.ts";

const COMMANDS: CommandClass[] = [
  // The default command first: clipanion's usage() relies on that order.
  RootHelpCommand,
  ServeCommand, WaitReadyCommand, ShutdownCommand, SqlCommand, ActivateIfNeededCommand,
  LaunchCommand, InitCommand, StartCommand, StopCommand, RestartCommand, PauseCommand, DeleteCommand,
  ListCommand, InfoCommand, ExecCommand, ConsoleCommand, TopCommand,
  FilePushCommand, FilePullCommand, FileDeleteCommand, FileEditCommand,
  SnapshotCommand, RestoreCommand, CopyCommand, MoveCommand, ExportCommand, ImportCommand,
  ConfigSetCommand, ConfigGetCommand, ConfigUnsetCommand, ConfigShowCommand, ConfigEditCommand,
  ConfigDeviceAddCommand, ConfigDeviceRemoveCommand, ConfigDeviceListCommand, ConfigDeviceShowCommand,
  ImageImportCommand, ImageListCommand, ImageDeleteCommand, ImageShowCommand, ImageInfoCommand,
  ImageAliasCreateCommand, ImageAliasDeleteCommand, ImageAliasListCommand, ImageBuildBusyboxCommand, ImageBuildDebianCommand,
  ImageCopyCommand, ImageRefreshCommand, ImageExportStreamsCommand,
  ImageExportCommand, ImageEditCommand, ImageGetPropertyCommand, ImageSetPropertyCommand, ImageUnsetPropertyCommand,
  ImageAliasRenameCommand, PublishCommand,
  UiCommand, UiCertificateCommand,
  ProfileListCommand, ProfileShowCommand, ProfileCreateCommand, ProfileDeleteCommand, ProfileGetCommand,
  ProfileSetCommand, ProfileUnsetCommand, ProfileEditCommand, ProfileDeviceAddCommand, ProfileDeviceRemoveCommand,
  OperationListCommand, OperationShowCommand, OperationDeleteCommand,
  StorageListCommand, StorageShowCommand, StorageCreateCommand, StorageSetCommand, StorageUnsetCommand,
  StorageDeleteCommand, StorageInfoCommand,
  StorageVolumeListCommand, StorageVolumeCreateCommand, StorageVolumeShowCommand, StorageVolumeDeleteCommand,
  StorageVolumeAttachCommand, StorageVolumeDetachCommand, StorageVolumeSnapshotCommand, StorageVolumeRestoreCommand,
  StorageVolumeCopyCommand, StorageVolumeMoveCommand,
  StorageVolumeRenameCommand, StorageVolumeExportCommand, StorageVolumeImportCommand,
  NetworkCreateCommand, NetworkListCommand, NetworkShowCommand, NetworkGetCommand, NetworkSetCommand, NetworkUnsetCommand,
  NetworkEditCommand, NetworkRenameCommand, NetworkDeleteCommand, NetworkListLeasesCommand, NetworkInfoCommand,
  MonitorCommand, VersionCommand, RecoverCommand,
  WarningListCommand, WarningShowCommand, WarningAckCommand, WarningDeleteCommand,
  TrustAddCommand, TrustAddCertificateCommand, TrustListCommand, TrustRemoveCommand, TrustShowCommand,
  RemoteAddCommand, RemoteListCommand, RemoteRemoveCommand, RemoteRenameCommand, RemoteSwitchCommand,
  RemoteGetDefaultCommand, RemoteSetUrlCommand,
  ClusterListCommand, ClusterShowCommand, ClusterEditCommand, ClusterRenameCommand, ClusterRemoveCommand, ClusterEnableCommand,
  ClusterAddCommand, ClusterListTokensCommand, ClusterRevokeTokenCommand, ClusterEvacuateCommand, ClusterRestoreCommand,
  groupHelp(["cluster"], "Manage cluster members", "cluster list"),
  groupHelp(["config"], "Manage instance and server configuration options", "config set c1 limits.memory 256MiB"),
  groupHelp(["config", "trust"], "Manage trusted client certificates and join tokens", "config trust add --name laptop"),
  groupHelp(["remote"], "Manage the remote servers this client uses", "remote add prod <token>"),
  groupHelp(["image"], "Manage images", "image list"),
  groupHelp(["image", "alias"], "Manage image aliases", "image alias list"),
  groupHelp(["image", "build"], "Build images", "image build busybox"),
  groupHelp(["profile"], "Manage profiles", "profile show default"),
  groupHelp(["profile", "device"], "Manage devices of profiles", "profile device add default root disk path=/ pool=default"),
  groupHelp(["file"], "Manage files in instances", "file push /etc/hosts c1/etc/hosts"),
  groupHelp(["operation"], "List, show and delete background operations", "operation list"),
  groupHelp(["warning"], "List, acknowledge and delete warnings", "warning list"),
  groupHelp(["storage"], "Manage storage pools", "storage list"),
  groupHelp(["network"], "Manage and attach instances to networks", "network list"),
  groupHelp(["config", "device"], "Manage devices of instances", "config device add c1 eth1 nic network=lxdbr0"),
  Builtins.HelpCommand,
  Builtins.VersionCommand,
];

const topWord = (command: CommandClass) => (command.paths ?? []).map((p) => p[0]);

/** The commands that can match `argv`. clipanion compiles one state machine over every registered
 *  command on each run (tens of ms for all of them), so a command line naming a command group only
 *  registers that group's commands (`--version` only itself); the bare binary, `--help` and unknown
 *  flags still see everything. */
export function commandsFor(argv: string[]): CommandClass[] {
  const word = argv[0];
  if (!word) return COMMANDS;
  const matching = COMMANDS.filter((c) => topWord(c).includes(word));
  // `--version` alone needs only itself; `--help` and other flags keep every command.
  return word.startsWith("-") && (matching.length === 0 || word === "-h" || word === "--help") ? COMMANDS : matching;
}

export function buildCli(commands: CommandClass[] = COMMANDS): Cli {
  const cli = new Cli({ binaryName: "lxd", binaryLabel: "lxd: system containers, LXD-compatible", binaryVersion: CLIENT_VERSION, enableColors: false });
  for (const command of commands) cli.register(command);
  return cli;
}

/** Parses and runs one command line; returns the exit code. Parse errors are printed like run errors. */
export async function main(argv: string[], stdout: NodeJS.WriteStream = fdOutput(1, () => process.stdout), stderr: NodeJS.WriteStream = fdOutput(2, () => process.stderr)): Promise<number> {
  // rsync's remote shell during a migration: raw stdio, no CLI parsing, no client.
  if (argv[0] === "netcat") return (await import("./migration/netcat.ts")).netcat(argv.slice(1));
  try {
    argv = selectRemote(argv);
  } catch (err) {
    stderr.write(`Error: ${errorMessage(err)}\n`);
    return 1;
  }
  const commands = commandsFor(argv);
  if (commands.length === 0) {
    stderr.write(`Error: unknown command "${argv[0]}" for "lxd"\n`);
    return 1;
  }
  const cli = buildCli(commands);
  // An explicit context: clipanion's default one is the process.* streams (see appliance/build.ts).
  const context = {
    stdin: processStdin,
    stdout,
    stderr,
    env: process.env,
    colorDepth: 1,
  };
  let command: Command;
  try {
    command = cli.process(argv, context);
  } catch (err) {
    // clipanion appends usage to some messages; the first line is the error itself.
    stderr.write(`Error: ${errorMessage(err).split("\n")[0]}\n`);
    return 1;
  }
  return cli.run(command, context);
}

async function run(): Promise<never> {
  // Output goes through Bun FileSinks, which process.exit() would drop while a pipe is slow: wait for them.
  const stdout = fdOutput(1, () => process.stdout);
  const stderr = fdOutput(2, () => process.stderr);
  const code = await main(process.argv.slice(2), stdout, stderr);
  await Promise.all([stdout.flushed(), stderr.flushed()]);
  process.exit(code);
}

if (import.meta.main) void run();
