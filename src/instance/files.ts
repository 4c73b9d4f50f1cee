// Files inside a container (`lxc file pull/push/delete`): all I/O happens inside the container,
// as its root when it runs, chrooted into its root filesystem when stopped (src/kernel/files.ts),
// so a hostile rootfs (symlinks to host paths, "..", device nodes, fifos) can never reach the host. Errors become ApiErrors with the HTTP status
// LXD gives them; each transfer sends its lifecycle event.
import { ApiError } from "../api/error.ts";
import { instanceUrl, projectOfStored } from "../api/project-names.ts";
import {
  deletePath, FileOpError, readEntries, readPath, writePath, type FileStat, type FileTarget, type PutOptions,
} from "../kernel/files.ts";

export type { FileKind, FileStat, PutOptions } from "../kernel/files.ts";

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>, project?: string | null): void };

/** What file transfer needs from the instances (the instance manager provides it). */
export interface FilesHost {
  /** Runs `fn` on the instance: running, with a pidfd of its init (to use before any await: it
   *  is closed when the instance stops); stopped, with its root filesystem mounted and no start
   *  until `fn` settles. */
  withFileTarget<T>(name: string, fn: (target: FileTarget) => Promise<T>): Promise<T>;
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

  private lifecycle(action: string, name: string, path: string): void {
    this.events.send("lifecycle", { action, source: instanceUrl(name), context: { path } }, projectOfStored(name));
  }

  /** A file's content streams after this returns: a stopped instance's root stays mounted (and
   *  the instance unstartable) until the body is read to its end or cancelled. */
  read(name: string, path: string): Promise<FileContent> {
    const { promise, resolve } = Promise.withResolvers<FileContent>();
    const done = this.instances.withFileTarget(name, async (target) => {
      const read = await readPath(target, path).catch((err) => { throw apiError(err, "read", path, name); });
      this.lifecycle("instance-file-retrieved", name, path);
      if (read.stat.type === "directory") {
        const entries = await readEntries(read.body).catch((err) => { throw apiError(err, "list", path, name); });
        return resolve({ stat: read.stat, entries: entries.sort() });
      }
      const finished = Promise.withResolvers<void>();
      resolve({ stat: read.stat, body: onEnd(read.body, finished.resolve) });
      await finished.promise;
    });
    return Promise.race([promise, done.then(() => promise)]);
  }

  async write(name: string, path: string, opts: PutOptions, data: ReadableStream<Uint8Array> | null): Promise<void> {
    await this.instances.withFileTarget(name, (target) => writePath(target, path, opts, data))
      .catch((err) => { throw apiError(err, "write", path, name); });
    this.lifecycle("instance-file-pushed", name, path);
  }

  async delete(name: string, path: string): Promise<void> {
    await this.instances.withFileTarget(name, (target) => deletePath(target, path))
      .catch((err) => { throw apiError(err, "delete", path, name); });
    this.lifecycle("instance-file-deleted", name, path);
  }
}

/** `body` passed through; `end` runs once it is read to its end, fails or is cancelled. */
function onEnd(body: ReadableStream<Uint8Array>, end: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) {
          controller.close();
          end();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        controller.error(err);
        end();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      end();
    },
  }, { highWaterMark: 0 });
}
