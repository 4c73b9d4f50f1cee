// Files inside a running container (`lxc file pull/push/delete`): all I/O happens inside the
// container, as its root (src/kernel/files.ts), so a hostile rootfs (symlinks to host paths, "..",
// device nodes, fifos) can never reach the host. Errors become ApiErrors with the HTTP status
// LXD gives them; each transfer sends its lifecycle event.
import { ApiError } from "../api/error.ts";
import { instanceUrl, projectOfStored } from "../db/projects.ts";
import {
  deletePath, FileOpError, readEntries, readPath, writePath, type FileStat, type PutOptions,
} from "../kernel/files.ts";

export type { FileKind, FileStat, PutOptions } from "../kernel/files.ts";

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>, project?: string | null): void };

/** What file transfer needs from the instances (the instance manager provides it). */
export interface FilesHost {
  get(name: string): unknown;
  /** A pidfd of a running instance's init (use it at once: it is closed when the instance
   *  stops), else undefined. */
  initPidfd(name: string): number | undefined;
}

/** A read path: a file's (or symlink's) content, or a directory's entries. */
export type FileContent =
  | { stat: FileStat; body: ReadableStream<Uint8Array>; entries?: undefined }
  | { stat: FileStat; entries: string[]; body?: undefined };

const ERRNO_STATUS: Record<number, number> = {
  1: 403, // EPERM
  2: 404, // ENOENT
  13: 403, // EACCES
  17: 409, // EEXIST
  20: 404, // ENOTDIR
  30: 403, // EROFS
};
const CLIENT_ERRNOS = new Set([6, 11, 21, 22, 36, 39, 40]); // ENXIO EAGAIN EISDIR EINVAL ENAMETOOLONG ENOTEMPTY ELOOP

function apiError(err: unknown, what: string, path: string, name: string): unknown {
  if (!(err instanceof FileOpError)) return err;
  const status = ERRNO_STATUS[err.errno] ?? (CLIENT_ERRNOS.has(err.errno) ? 400 : 500);
  return new ApiError(status, `Failed to ${what} "${path}" in instance "${name}": ${err.message}`);
}

export class InstanceFiles {
  constructor(private readonly instances: FilesHost, private readonly events: Events) {}

  /** A pidfd of the running container's init, or a clear error; the helper is spawned with it
   *  right away (no await in between). */
  private pidfd(name: string): number {
    this.instances.get(name);
    const pidfd = this.instances.initPidfd(name);
    if (pidfd === undefined) throw new ApiError(400, `Instance "${name}" is not running: file transfer needs a running instance`);
    return pidfd;
  }

  private lifecycle(action: string, name: string, path: string): void {
    this.events.send("lifecycle", { action, source: instanceUrl(name), context: { path } }, projectOfStored(name));
  }

  async read(name: string, path: string): Promise<FileContent> {
    const read = await readPath(this.pidfd(name), path).catch((err) => { throw apiError(err, "read", path, name); });
    this.lifecycle("instance-file-retrieved", name, path);
    if (read.stat.type !== "directory") return { stat: read.stat, body: read.body };
    const entries = await readEntries(read.body).catch((err) => { throw apiError(err, "list", path, name); });
    return { stat: read.stat, entries: entries.sort() };
  }

  async write(name: string, path: string, opts: PutOptions, data: ReadableStream<Uint8Array> | null): Promise<void> {
    await writePath(this.pidfd(name), path, opts, data).catch((err) => { throw apiError(err, "write", path, name); });
    this.lifecycle("instance-file-pushed", name, path);
  }

  async delete(name: string, path: string): Promise<void> {
    await deletePath(this.pidfd(name), path).catch((err) => { throw apiError(err, "delete", path, name); });
    this.lifecycle("instance-file-deleted", name, path);
  }
}
