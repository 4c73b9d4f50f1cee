// /1.0/instances/{name}/files?path=...: read (GET), create or write (POST) and delete (DELETE) one
// path inside a container, with LXD's X-LXD-* headers; the transfer itself is the instance
// manager's (src/instance/files.ts). Running and stopped instances, as LXD.
import { Elysia, t } from "elysia";
import { Empty, SyncEnvelope } from "../api/envelope.ts";
import { InstanceFilesQuery, InstanceName } from "../api/instance.ts";
import type { FileKind, FileStat, PutOptions } from "../instance/files.ts";
import type { DaemonContext } from "./context.ts";
import { RawResponse, sync, syncEnvelope } from "./response.ts";
import { ApiError } from "../api/error.ts";

/** Go's time.Time.String() in UTC, as LXD sends X-LXD-modified: "2006-01-02 15:04:05.5 +0000 UTC". */
export function goTimeString(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${base}${frac ? `.${frac}` : ""} +0000 UTC`;
}

export function fileHeaders(st: FileStat): Record<string, string> {
  return {
    "X-LXD-uid": String(st.uid),
    "X-LXD-gid": String(st.gid),
    "X-LXD-mode": (st.mode & 0o777).toString(8).padStart(4, "0"),
    "X-LXD-modified": goTimeString(st.mtimeNs),
    "X-LXD-type": st.type,
  };
}

/** An id header: absent or empty means "not given" (-1). */
function idHeader(value: string | null, header: string): number {
  if (value === null || value.trim() === "" || value.trim() === "-1") return -1;
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || n > 0xfffffffe) throw new ApiError(400, `Invalid ${header} header "${value}"`);
  return n;
}

/** X-LXD-mode: base 10, or base 8 with a leading 0; only permission bits are kept (as LXD). */
export function modeHeader(value: string | null): number {
  const v = (value ?? "").trim();
  if (v === "" || v === "-1") return -1;
  const octal = /^0[0-7]*$/.test(v);
  if (!octal && !/^[1-9]\d*$/.test(v)) throw new ApiError(400, `Invalid X-LXD-mode header "${value}"`);
  return Number.parseInt(v, octal ? 8 : 10) & 0o777;
}

export function putOptions(h: Headers): PutOptions {
  const type = h.get("x-lxd-type") || "file";
  if (type !== "file" && type !== "directory" && type !== "symlink") throw new ApiError(400, `Bad file type: ${type}`);
  const write = h.get("x-lxd-write") || "overwrite";
  if (write !== "overwrite" && write !== "append") throw new ApiError(400, `Bad file write mode: ${write}`);
  return {
    type: type as FileKind, write,
    uid: idHeader(h.get("x-lxd-uid"), "X-LXD-uid"), gid: idHeader(h.get("x-lxd-gid"), "X-LXD-gid"),
    mode: modeHeader(h.get("x-lxd-mode")),
  };
}

/** The path to use, LXD's way: required, and a relative one is taken from "/". */
export function filePath(query: { path?: string }): string {
  const path = query.path ?? "";
  if (path === "") throw new ApiError(400, "Missing path argument");
  if (path.includes("\0")) throw new ApiError(400, "Invalid path: contains a NUL byte");
  return path.startsWith("/") ? path : `/${path}`;
}

export const instanceFilesRoutes = (ctx: DaemonContext) => {
  const schema = (summary: string, description: string) => ({
    params: InstanceName, query: InstanceFilesQuery, detail: { summary, description, tags: ["instances"] },
  });

  return new Elysia({ name: "instance-files" })
    .get("/1.0/instances/:name/files", async ({ params, query }) => {
      const { name } = params;
      const path = filePath(query);
      const read = await ctx.instances.files.read(name, path);
      const headers = fileHeaders(read.stat);
      if (read.entries) {
        const res = syncEnvelope(sync(read.entries));
        for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
        return res;
      }
      return new RawResponse(read.body, {
        headers: {
          ...headers, "Content-Type": "application/octet-stream",
          "Last-Modified": new Date(Number(read.stat.mtimeNs / 1_000_000n)).toUTCString(),
        },
      });
    }, {
      params: InstanceName, query: InstanceFilesQuery,
      detail: {
        summary: "Get a file", tags: ["instances"],
        description: "Raw content (application/octet-stream) of a file, or of a symlink its target, with headers X-LXD-uid, X-LXD-gid, " +
          "X-LXD-mode, X-LXD-type (file|directory|symlink) and X-LXD-modified; for a directory a sync response listing " +
          "its entries. Symlinks are never followed. Device nodes, fifos and sockets are refused. Running or stopped instances.",
        responses: {
          200: {
            description: "A file's bytes, or a directory's entries in a sync envelope",
            content: {
              "application/octet-stream": { schema: { type: "string", format: "binary" } },
              "application/json": { schema: SyncEnvelope(t.Array(t.String())) },
            },
          },
        },
      },
    })

    .post("/1.0/instances/:name/files", async ({ params, query, request }) => {
      const { name } = params;
      const path = filePath(query);
      const opts = putOptions(request.headers);
      await ctx.instances.files.write(name, path, opts, request.body);
      return sync({});
    }, {
      ...schema("Create or replace a file",
        "Body: the file's content, or a symlink's target. Headers: X-LXD-type (file|directory|symlink), X-LXD-write " +
        "(overwrite|append), X-LXD-uid and X-LXD-gid (ids inside the container), X-LXD-mode (base 10, or base 8 with a " +
        "leading 0). Owner and mode apply to what the request creates; existing files keep theirs."),
      parse: "none",
      response: Empty,
    })

    .delete("/1.0/instances/:name/files", async ({ params, query }) => {
      const { name } = params;
      const path = filePath(query);
      await ctx.instances.files.delete(name, path);
      return sync({});
    }, { ...schema("Delete a file", "Removes a file, a symlink or an empty directory."), response: Empty });
};
