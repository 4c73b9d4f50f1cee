// Entry point of the single `lxd` binary: the daemon (`lxd serve`) and an LXD-compatible client.
import { Builtins, Cli, type Command, type CommandClass } from "clipanion";
import { errorMessage, fdOutput, processStdin } from "./cli/base.ts";
import { selectProject, selectRemote } from "./client/config.ts";
import { groupHelp, RootHelpCommand } from "./cli/help.ts";
import { CLIENT_VERSION, VersionCommand } from "./cli/version.ts";

type Loader = () => Promise<CommandClass[]>;

/** The command modules, in the order their commands are registered (clipanion lists them so), each
 *  with the top-level words of its commands. Each module is loaded only when a command line names
 *  one of its words: it is its own chunk of the compiled binary, and evaluating every module cost
 *  each `lxd exec` about 3 ms of CPU (test/unit/cli-modules.test.ts checks the words). */
export const COMMAND_MODULES: { words: string[]; load: Loader }[] = [
  { words: ["serve", "waitready", "shutdown", "sql", "activateifneeded", "daemon"], load: () => import("./cli/daemon.ts").then((m) => [m.ServeCommand, m.WaitReadyCommand, m.ShutdownCommand, m.SqlCommand, m.ActivateIfNeededCommand]) },
  { words: ["launch", "init", "create", "start", "stop", "restart", "pause", "freeze", "delete", "rm"], load: () => import("./cli/instance.ts").then((m) => [m.LaunchCommand, m.InitCommand, m.StartCommand, m.StopCommand, m.RestartCommand, m.PauseCommand, m.DeleteCommand]) },
  { words: ["list", "ls"], load: () => import("./cli/list.ts").then((m) => [m.ListCommand]) },
  { words: ["info"], load: () => import("./cli/info.ts").then((m) => [m.InfoCommand]) },
  { words: ["exec"], load: () => import("./cli/exec.ts").then((m) => [m.ExecCommand]) },
  { words: ["console"], load: () => import("./cli/console.ts").then((m) => [m.ConsoleCommand]) },
  { words: ["top"], load: () => import("./cli/top.ts").then((m) => [m.TopCommand]) },
  { words: ["file"], load: () => import("./cli/file.ts").then((m) => [m.FilePushCommand, m.FilePullCommand, m.FileDeleteCommand, m.FileEditCommand]) },
  { words: ["snapshot", "restore"], load: () => import("./cli/snapshot.ts").then((m) => [m.SnapshotCommand, m.RestoreCommand]) },
  { words: ["copy", "cp", "move", "mv", "rename"], load: () => import("./cli/copy.ts").then((m) => [m.CopyCommand, m.MoveCommand]) },
  { words: ["export", "import"], load: () => import("./cli/backup.ts").then((m) => [m.ExportCommand, m.ImportCommand]) },
  { words: ["config"], load: () => import("./cli/config.ts").then((m) => [m.ConfigSetCommand, m.ConfigGetCommand, m.ConfigUnsetCommand, m.ConfigShowCommand, m.ConfigEditCommand]) },
  { words: ["config"], load: () => import("./cli/device.ts").then((m) => [m.ConfigDeviceAddCommand, m.ConfigDeviceRemoveCommand, m.ConfigDeviceListCommand, m.ConfigDeviceShowCommand]) },
  {
    words: ["image", "images"],
    load: () => import("./cli/image.ts").then((m) => [
      m.ImageImportCommand, m.ImageListCommand, m.ImageDeleteCommand, m.ImageShowCommand, m.ImageInfoCommand,
      m.ImageAliasCreateCommand, m.ImageAliasDeleteCommand, m.ImageAliasListCommand, m.ImageBuildBusyboxCommand, m.ImageBuildDebianCommand,
    ]),
  },
  { words: ["image"], load: () => import("./cli/image-streams.ts").then((m) => [m.ImageCopyCommand, m.ImageRefreshCommand, m.ImageExportStreamsCommand]) },
  {
    words: ["image"],
    load: () => import("./cli/image-edit.ts").then((m) => [
      m.ImageExportCommand, m.ImageEditCommand, m.ImageGetPropertyCommand, m.ImageSetPropertyCommand, m.ImageUnsetPropertyCommand,
      m.ImageAliasRenameCommand,
    ]),
  },
  { words: ["publish"], load: () => import("./cli/publish.ts").then((m) => [m.PublishCommand]) },
  { words: ["ui"], load: () => import("./cli/ui.ts").then((m) => [m.UiCommand, m.UiCertificateCommand]) },
  {
    words: ["profile"],
    load: () => import("./cli/profile.ts").then((m) => [
      m.ProfileListCommand, m.ProfileShowCommand, m.ProfileCreateCommand, m.ProfileDeleteCommand, m.ProfileGetCommand,
      m.ProfileSetCommand, m.ProfileUnsetCommand, m.ProfileEditCommand, m.ProfileDeviceAddCommand, m.ProfileDeviceRemoveCommand,
    ]),
  },
  {
    words: ["project"],
    load: () => import("./cli/project.ts").then((m) => [
      m.ProjectCreateCommand, m.ProjectListCommand, m.ProjectShowCommand, m.ProjectEditCommand, m.ProjectGetCommand, m.ProjectSetCommand,
      m.ProjectUnsetCommand, m.ProjectRenameCommand, m.ProjectDeleteCommand, m.ProjectSwitchCommand, m.ProjectInfoCommand,
    ]),
  },
  { words: ["operation"], load: () => import("./cli/operation.ts").then((m) => [m.OperationListCommand, m.OperationShowCommand, m.OperationDeleteCommand]) },
  {
    words: ["storage"],
    load: () => import("./cli/storage.ts").then((m) => [
      m.StorageListCommand, m.StorageShowCommand, m.StorageCreateCommand, m.StorageGetCommand, m.StorageSetCommand, m.StorageUnsetCommand,
      m.StorageDeleteCommand, m.StorageInfoCommand,
    ]),
  },
  {
    words: ["storage"],
    load: () => import("./cli/storage-volume.ts").then((m) => [
      m.StorageVolumeListCommand, m.StorageVolumeCreateCommand, m.StorageVolumeShowCommand, m.StorageVolumeDeleteCommand,
      m.StorageVolumeAttachCommand, m.StorageVolumeDetachCommand, m.StorageVolumeSnapshotCommand, m.StorageVolumeRestoreCommand,
      m.StorageVolumeGetCommand, m.StorageVolumeSetCommand, m.StorageVolumeUnsetCommand,
      m.StorageVolumeCopyCommand, m.StorageVolumeMoveCommand, m.StorageVolumeRenameCommand,
    ]),
  },
  { words: ["storage"], load: () => import("./cli/backup.ts").then((m) => [m.StorageVolumeExportCommand, m.StorageVolumeImportCommand]) },
  {
    words: ["network"],
    load: () => import("./cli/network.ts").then((m) => [
      m.NetworkCreateCommand, m.NetworkListCommand, m.NetworkShowCommand, m.NetworkGetCommand, m.NetworkSetCommand, m.NetworkUnsetCommand,
      m.NetworkEditCommand, m.NetworkRenameCommand, m.NetworkDeleteCommand, m.NetworkListLeasesCommand, m.NetworkInfoCommand,
    ]),
  },
  { words: ["monitor"], load: () => import("./cli/monitor.ts").then((m) => [m.MonitorCommand]) },
  { words: ["version"], load: async () => [VersionCommand] },
  { words: ["recover"], load: () => import("./cli/recover.ts").then((m) => [m.RecoverCommand]) },
  { words: ["warning"], load: () => import("./cli/warning.ts").then((m) => [m.WarningListCommand, m.WarningShowCommand, m.WarningAckCommand, m.WarningDeleteCommand]) },
  {
    words: ["config"],
    load: () => import("./cli/trust.ts").then((m) => [m.TrustAddCommand, m.TrustAddCertificateCommand, m.TrustListCommand, m.TrustRemoveCommand, m.TrustShowCommand]),
  },
  {
    words: ["remote"],
    load: () => import("./cli/remote.ts").then((m) => [
      m.RemoteAddCommand, m.RemoteListCommand, m.RemoteRemoveCommand, m.RemoteRenameCommand, m.RemoteSwitchCommand,
      m.RemoteGetDefaultCommand, m.RemoteSetUrlCommand,
    ]),
  },
  {
    words: ["cluster"],
    load: () => import("./cli/cluster.ts").then((m) => [
      m.ClusterListCommand, m.ClusterShowCommand, m.ClusterEditCommand, m.ClusterRenameCommand, m.ClusterRemoveCommand, m.ClusterEnableCommand,
      m.ClusterAddCommand, m.ClusterListTokensCommand, m.ClusterRevokeTokenCommand, m.ClusterEvacuateCommand, m.ClusterRestoreCommand,
    ]),
  },
];

/** Help for command groups named alone (`lxd config`), after every module's commands. */
const GROUP_HELP: CommandClass[] = [
  groupHelp(["config"], "Manage instance and server configuration options", "config set c1 limits.memory 256MiB"),
  groupHelp(["config", "trust"], "Manage trusted client certificates and join tokens", "config trust add --name laptop"),
  groupHelp(["remote"], "Manage the remote servers this client uses", "remote add prod <token>"),
  groupHelp(["image"], "Manage images", "image list"),
  groupHelp(["image", "alias"], "Manage image aliases", "image alias list"),
  groupHelp(["image", "build"], "Build images", "image build busybox"),
  groupHelp(["profile"], "Manage profiles", "profile show default"),
  groupHelp(["profile", "device"], "Manage devices of profiles", "profile device add default root disk path=/ pool=default"),
  groupHelp(["file"], "Manage files in instances", "file push /etc/hosts c1/etc/hosts"),
  groupHelp(["project"], "Manage projects", "project create p1"),
  groupHelp(["operation"], "List, show and delete background operations", "operation list"),
  groupHelp(["warning"], "List, acknowledge and delete warnings", "warning list"),
  groupHelp(["storage"], "Manage storage pools", "storage list"),
  groupHelp(["network"], "Manage and attach instances to networks", "network list"),
  groupHelp(["config", "device"], "Manage devices of instances", "config device add c1 eth1 nic network=lxdbr0"),
  groupHelp(["cluster"], "Manage cluster members", "cluster list"),
];

const BUILTINS: CommandClass[] = [Builtins.HelpCommand, Builtins.VersionCommand];

/** Every command, in registration order. The default command first: clipanion's usage() relies on that order. */
export async function allCommands(): Promise<CommandClass[]> {
  const modules = await Promise.all(COMMAND_MODULES.map((m) => m.load()));
  return [RootHelpCommand, ...modules.flat(), ...GROUP_HELP, ...BUILTINS];
}

const topWord = (command: CommandClass) => (command.paths ?? []).map((p) => p[0]);

/** The commands that can match `argv`. clipanion compiles one state machine over every registered
 *  command on each run (tens of ms for all of them), so a command line naming a command group only
 *  loads and registers that group's commands (`--version` only itself); the bare binary, `--help`
 *  and unknown flags still see everything. */
export async function commandsFor(argv: string[]): Promise<CommandClass[]> {
  const word = argv[0];
  if (!word) return allCommands();
  const named = (commands: CommandClass[]) => commands.filter((c) => topWord(c).includes(word));
  if (word.startsWith("-")) {
    // No module's command starts with a dash: `--version` alone needs only the builtins.
    const matching = named(BUILTINS);
    return matching.length === 0 || word === "-h" || word === "--help" ? allCommands() : matching;
  }
  const modules = await Promise.all(COMMAND_MODULES.filter((m) => m.words.includes(word)).map((m) => m.load()));
  return named([...modules.flat(), ...GROUP_HELP]);
}

export function buildCli(commands: CommandClass[]): Cli {
  const cli = new Cli({ binaryName: "lxd", binaryLabel: "lxd: system containers, LXD-compatible", binaryVersion: CLIENT_VERSION, enableColors: false });
  for (const command of commands) cli.register(command);
  return cli;
}

/** Parses and runs one command line; returns the exit code. Parse errors are printed like run errors. */
export async function main(argv: string[], stdout: NodeJS.WriteStream = fdOutput(1, () => process.stdout), stderr: NodeJS.WriteStream = fdOutput(2, () => process.stderr)): Promise<number> {
  // rsync's remote shell during a migration: raw stdio, no CLI parsing, no client.
  if (argv[0] === "netcat") return (await import("./migration/netcat.ts")).netcat(argv.slice(1));
  try {
    argv = selectRemote(selectProject(argv));
  } catch (err) {
    stderr.write(`Error: ${errorMessage(err)}\n`);
    return 1;
  }
  const commands = await commandsFor(argv);
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
