// `file push|pull|delete`: files in instances through /1.0/instances/{name}/files, with lxc's rules
// for targets (a trailing "/" or several sources mean a directory), -p (create parent directories),
// -r (recursive) and ownership (the local file's uid, gid and mode unless given).
import { Command, Option } from "clipanion";
import { chmodSync, lstatSync, mkdirSync, readdirSync, readlinkSync, statSync, symlinkSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import type { LxdClient } from "../client/client.ts";
import { LxdError } from "../client/errors.ts";
import { LxdCommand } from "./base.ts";

export type FileType = "file" | "directory" | "symlink";

export interface RemoteFile {
  type: FileType;
  uid: number;
  gid: number;
  mode: number;
  /** Directory entries (type directory). */
  entries: string[];
  /** The file's bytes or the symlink's target (other types: already consumed). */
  response: Response;
}

export interface PushArgs {
  type: FileType;
  uid?: number;
  gid?: number;
  mode?: number;
  write?: "overwrite" | "append";
}

/** "c1/etc/hosts" -> ["c1", "/etc/hosts"] (the path normalized as lxc does). */
export function splitTarget(spec: string): { name: string; path: string } {
  const slash = spec.indexOf("/");
  if (slash <= 0) throw new Error(`Invalid path ${spec}: expected <instance>/<path>`);
  return { name: spec.slice(0, slash), path: posix.normalize(`/${spec.slice(slash + 1)}`) };
}

/** --mode: octal, as lxc parses it ("644" or "0644"). */
export function parseMode(mode: string): number {
  if (!/^[0-7]{1,4}$/.test(mode)) throw new Error(`Invalid mode "${mode}": expected octal permission bits such as 0644`);
  return Number.parseInt(mode, 8);
}

const filesPath = (name: string, path: string) => `/1.0/instances/${encodeURIComponent(name)}/files?path=${encodeURIComponent(path)}`;

async function failure(res: Response, what: string): Promise<never> {
  const text = await res.text();
  let message = `${what} failed with HTTP ${res.status}`;
  try {
    message = JSON.parse(text).error || message;
  } catch {
    // Not an envelope: keep the generic message.
  }
  throw new LxdError(message, res.status);
}

export async function getFile(client: LxdClient, name: string, path: string): Promise<RemoteFile> {
  const res = await client.transport.fetch(filesPath(name, path));
  if (!res.ok) return failure(res, `Reading ${name}${path}`);
  const h = res.headers;
  const type = (h.get("x-lxd-type") || "file") as FileType;
  const file: RemoteFile = {
    type, uid: Number(h.get("x-lxd-uid") ?? -1), gid: Number(h.get("x-lxd-gid") ?? -1),
    mode: Number.parseInt(h.get("x-lxd-mode") ?? "644", 8), entries: [], response: res,
  };
  if (type === "directory") file.entries = ((await res.json()) as { metadata: string[] | null }).metadata ?? [];
  return file;
}

export async function pushFile(client: LxdClient, name: string, path: string, args: PushArgs, body: RequestInit["body"] = ""): Promise<void> {
  const headers: Record<string, string> = { "Content-Type": "application/octet-stream", "X-LXD-type": args.type };
  if (args.uid !== undefined && args.uid >= 0) headers["X-LXD-uid"] = String(args.uid);
  if (args.gid !== undefined && args.gid >= 0) headers["X-LXD-gid"] = String(args.gid);
  if (args.mode !== undefined && args.mode >= 0) headers["X-LXD-mode"] = `0${(args.mode & 0o777).toString(8)}`;
  if (args.write) headers["X-LXD-write"] = args.write;
  const res = await client.transport.fetch(filesPath(name, path), { method: "POST", headers, body });
  if (!res.ok) return failure(res, `Writing ${name}${path}`);
  await res.arrayBuffer();
}

/** Creates the missing directories of `path` (as lxc: existing ones are left alone). */
export async function mkdirRemote(client: LxdClient, name: string, path: string, args: Omit<PushArgs, "type">): Promise<void> {
  const parts = path.split("/").filter(Boolean);
  let i = parts.length;
  for (; i > 0; i--) {
    const cur = `/${parts.slice(0, i).join("/")}`;
    const found = await getFile(client, name, cur).catch((err) => {
      if (err instanceof LxdError && err.notFound) return undefined;
      throw err;
    });
    if (!found) continue;
    if (!found.response.bodyUsed) await found.response.body?.cancel();
    if (found.type !== "directory") throw new Error(`${cur} is not a directory`);
    break;
  }
  for (i++; i <= parts.length; i++) {
    await pushFile(client, name, `/${parts.slice(0, i).join("/")}`, { ...args, type: "directory" });
  }
}

/** Pushes a local tree; `source`'s last component is created under `target`. */
async function pushTree(client: LxdClient, name: string, source: string, target: string, log: (s: string) => void): Promise<void> {
  const walk = async (local: string, remote: string) => {
    const st = lstatSync(local);
    const owner = { uid: st.uid, gid: st.gid, mode: st.mode & 0o777 };
    if (st.isDirectory()) {
      await pushFile(client, name, remote, { ...owner, type: "directory" });
      for (const entry of readdirSync(local).sort()) await walk(join(local, entry), posix.join(remote, entry));
    } else if (st.isSymbolicLink()) {
      await pushFile(client, name, remote, { ...owner, type: "symlink" }, readlinkSync(local));
    } else if (st.isFile()) {
      log(`Pushing ${local} to ${remote}`);
      await pushFile(client, name, remote, { ...owner, type: "file" }, Bun.file(local));
    } else {
      throw new Error(`'${local}' isn't a supported file type`);
    }
  };
  await walk(source, posix.join(target, basename(source)));
}

/** Writes a remote file or tree to a local path (symlinks stay symlinks). */
async function pullTree(client: LxdClient, name: string, path: string, local: string, fetched?: RemoteFile): Promise<void> {
  const file = fetched ?? await getFile(client, name, path);
  if (file.type === "directory") {
    mkdirSync(local, { mode: file.mode });
    for (const entry of file.entries) await pullTree(client, name, posix.join(path, entry), join(local, entry));
  } else if (file.type === "symlink") {
    symlinkSync((await file.response.text()).trim(), local);
  } else {
    await Bun.write(local, file.response);
    chmodSync(local, file.mode);
  }
}

const exists = (p: string) => {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
};

export class FilePushCommand extends LxdCommand {
  static override paths = [["file", "push"]];
  static override usage = Command.Usage({
    category: "Files",
    description: "Push files into instances",
    examples: [["Push /etc/hosts into the instance c1", "$0 file push /etc/hosts c1/etc/hosts"]],
  });
  recursive = Option.Boolean("-r,--recursive", false, { description: "Recursively transfer files" });
  createDirs = Option.Boolean("-p,--create-dirs", false, { description: "Create any directories necessary" });
  uid = Option.String("--uid", { description: "Set the file's uid on push" });
  gid = Option.String("--gid", { description: "Set the file's gid on push" });
  mode = Option.String("--mode", { description: "Set the file's perms on push (octal)" });
  args = Option.Rest({ required: 2 });

  private id(value: string | undefined, what: string): number | undefined {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new Error(`Invalid ${what} "${value}"`);
    return Number(value);
  }

  protected async run(): Promise<void> {
    const spec = this.args[this.args.length - 1]!;
    const sources = this.args.slice(0, -1);
    const { name, path: targetPath } = splitTarget(spec);
    const targetIsDir = spec.endsWith("/") || targetPath === "/";
    const uid = this.id(this.uid, "uid");
    const gid = this.id(this.gid, "gid");
    const mode = this.mode === undefined ? undefined : parseMode(this.mode);

    if (this.recursive) {
      if (uid !== undefined || gid !== undefined || mode !== undefined) throw new Error("Can't supply uid/gid/mode in recursive mode");
      if (this.createDirs) {
        const st = statSync(sources[0]!);
        await mkdirRemote(this.client, name, targetPath, { uid: st.uid, gid: st.gid, mode: st.mode & 0o777 });
      }
      for (const source of sources) await pushTree(this.client, name, source, targetPath, () => {});
      return;
    }
    if (sources.length > 1 && !targetIsDir) throw new Error("Missing target directory");
    for (const source of sources) {
      const fromStdin = source === "-";
      const st = fromStdin ? undefined : statSync(source);
      if (st && !st.isFile()) throw new Error(`'${source}' isn't a regular file (use -r for directories)`);
      const path = targetIsDir ? posix.join(targetPath, basename(source)) : targetPath;
      const owner = { uid: uid ?? st?.uid ?? 0, gid: gid ?? st?.gid ?? 0 };
      if (this.createDirs) await mkdirRemote(this.client, name, posix.dirname(path), owner);
      const body = fromStdin ? await Bun.stdin.bytes() : Bun.file(source);
      await pushFile(this.client, name, path, { type: "file", ...owner, mode: mode ?? (st ? st.mode & 0o777 : 0o644) }, body);
    }
  }
}

export class FilePullCommand extends LxdCommand {
  static override paths = [["file", "pull"]];
  static override usage = Command.Usage({
    category: "Files",
    description: "Pull files from instances",
    examples: [["Pull /etc/hosts from c1 into the current directory", "$0 file pull c1/etc/hosts ."]],
  });
  recursive = Option.Boolean("-r,--recursive", false, { description: "Recursively transfer files" });
  createDirs = Option.Boolean("-p,--create-dirs", false, { description: "Create any directories necessary" });
  args = Option.Rest({ required: 2 });

  protected async run(): Promise<void> {
    const target = this.args[this.args.length - 1]!;
    const sources = this.args.slice(0, -1);
    const st = exists(target);
    let targetIsDir = st?.isDirectory() ?? false;
    if (st && !targetIsDir && sources.length > 1) throw new Error("More than one file to download, but target is not a directory");
    if (!st && (target.endsWith("/") || sources.length > 1)) {
      mkdirSync(target, { recursive: true, mode: 0o755 });
      targetIsDir = true;
    } else if (!st && this.createDirs) {
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    }
    for (const source of sources) {
      const { name, path } = splitTarget(source);
      let file = await getFile(this.client, name, path);
      if (file.type === "directory") {
        if (!this.recursive) throw new Error("Can't pull a directory without --recursive");
        if (target === "-") throw new Error("Can't pull a directory to standard output");
        // As lxc: the directory lands inside the target, which is created when missing.
        if (!exists(target)) mkdirSync(target, { recursive: true, mode: 0o755 });
        await pullTree(this.client, name, path, join(target, posix.basename(path)), file);
        continue;
      }
      const local = targetIsDir ? join(target, posix.basename(path)) : target;
      if (file.type === "symlink" && target !== "-" && !this.recursive) {
        symlinkSync((await file.response.text()).trim(), local);
        continue;
      }
      // To stdout or with -r a symlink is followed (inside the instance), as lxc does.
      for (let hops = 0; file.type === "symlink"; hops++) {
        if (hops > 255) throw new Error("Too many links");
        const link = (await file.response.text()).trim();
        file = await getFile(this.client, name, link.startsWith("/") ? link : posix.join(posix.dirname(path), link));
      }
      if (file.type !== "file") throw new Error(`${path} does not lead to a regular file`);
      if (target === "-") {
        for await (const chunk of file.response.body ?? []) this.context.stdout.write(chunk);
      } else {
        await Bun.write(local, file.response);
        chmodSync(local, file.mode);
      }
    }
  }
}

export class FileDeleteCommand extends LxdCommand {
  static override paths = [["file", "delete"], ["file", "rm"]];
  static override usage = Command.Usage({
    category: "Files",
    description: "Delete files in instances",
    examples: [["Delete /root/x in c1", "$0 file delete c1/root/x"]],
  });
  args = Option.Rest({ required: 1 });

  protected async run(): Promise<void> {
    for (const spec of this.args) {
      const { name, path } = splitTarget(spec);
      const res = await this.client.transport.fetch(filesPath(name, path), { method: "DELETE" });
      if (!res.ok) await failure(res, `Deleting ${spec}`);
      await res.arrayBuffer();
    }
  }
}

export class FileEditCommand extends LxdCommand {
  static override paths = [["file", "edit"]];
  static override usage = Command.Usage({
    category: "Files",
    description: "Replace a file's content with standard input (owner and mode are kept)",
    examples: [["Replace /etc/motd in c1", "echo hello | $0 file edit c1/etc/motd"]],
  });
  target = Option.String({ required: true });

  protected async run(): Promise<void> {
    const stdin = this.context.stdin as NodeJS.ReadableStream & { isTTY?: boolean };
    if (stdin.isTTY) throw new Error("Interactive editing is not supported; pipe the new content on stdin");
    const { name, path } = splitTarget(this.target);
    const chunks: Uint8Array[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
    await pushFile(this.client, name, path, { type: "file" }, Buffer.concat(chunks));
  }
}
