// Image templates (metadata.yaml `templates:`), rendered into a stopped container's rootfs before
// it starts, for the triggers LXD has: `create` and `copy` once (volatile.apply_template), `start`
// every time. Overlay volumes are mounted as one writable overlay for the duration, so
// whiteouts and opaque directories count exactly as the container will see them; files on disk
// carry the container's own ids (the runtime shifts them with an idmapped mount). Paths resolve
// as if the rootfs were `/`: symlinks, absolute or relative, never lead outside it.
import * as fs from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { MNT, umount } from "../kernel/ffi.ts";
import { mountOverlay } from "../kernel/overlay.ts";
import { parseMetadata, type ImageTemplate } from "./metadata.ts";
import { compileTemplate, type Context } from "./template-render.ts";
import { safeComponents } from "./unpack.ts";

const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
const MAX_LINKS = 40;

export type Trigger = "create" | "copy" | "start";

export interface TemplateTarget {
  /** The container's filesystem (the storage driver's rootfs spec): overlay layers, or one directory. */
  rootfs: { kind: "overlay"; lower: string; layers?: string[]; upper: string; work: string } | { kind: "bind"; path: string };
  /** The unpacked image: metadata.yaml and templates/. */
  image: string;
  /** An empty directory to mount the merged rootfs on. */
  mountpoint: string;
  instance: { name: string; architecture: string; ephemeral: boolean; privileged: boolean };
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
}

/**
 * Resolves `path` inside `root` like a chroot would, following symlinks (at most 40) without
 * ever leaving it; missing components are kept as they are (to be created). Returns the
 * components of the resolved path under root.
 */
export function resolveInRoot(root: string, path: string): string[] {
  const pending = path.split("/");
  const stack: string[] = [];
  let links = 0;
  while (pending.length) {
    const c = pending.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") { stack.pop(); continue; }
    const abs = join(root, ...stack, c);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new Error(`too many levels of symbolic links in "${path}"`);
      const target = fs.readlinkSync(abs);
      if (target.startsWith("/")) stack.length = 0;
      pending.unshift(...target.split("/"));
      continue;
    }
    stack.push(c);
  }
  return stack;
}

/** Creates missing parents (root-owned 0755, as LXD does) and writes the file without following a symlink. */
function writeInRoot(root: string, parts: string[], data: string, tpl: ImageTemplate): void {
  if (parts.length === 0) throw new Error("the target is the root directory");
  let dir = root;
  for (const p of parts.slice(0, -1)) {
    dir = join(dir, p);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st) fs.mkdirSync(dir, 0o755);
    else if (!st.isDirectory()) throw new Error(`"${p}" in the path is not a directory`);
  }
  const existed = fs.existsSync(join(root, ...parts));
  const fd = fs.openSync(join(root, ...parts), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644);
  try {
    fs.writeSync(fd, data);
    const uid = tpl.uid !== undefined ? Number(tpl.uid) : existed ? undefined : 0;
    const gid = tpl.gid !== undefined ? Number(tpl.gid) : existed ? undefined : 0;
    if (uid !== undefined || gid !== undefined) {
      const st = fs.fstatSync(fd);
      fs.fchownSync(fd, uid ?? st.uid, gid ?? st.gid);
    }
    if (tpl.mode !== undefined) fs.fchmodSync(fd, Number.parseInt(String(tpl.mode), 8));
    else if (!existed) fs.fchmodSync(fd, 0o644);
  } finally {
    fs.closeSync(fd);
  }
}

function checkTemplate(path: string, tpl: ImageTemplate): void {
  const bad = (why: string) => new Error(`template for "${path}": ${why}`);
  if (!tpl || typeof tpl !== "object") throw bad("not a mapping");
  if (!Array.isArray(tpl.when)) throw bad("`when` must be a list of triggers");
  if (typeof tpl.template !== "string" || typeof safeComponents(tpl.template) === "string") throw bad(`bad template file name "${tpl.template}"`);
  for (const [k, v] of [["uid", tpl.uid], ["gid", tpl.gid]] as const) {
    if (v !== undefined && !/^\d+$/.test(String(v))) throw bad(`${k} must be a number`);
  }
  if (tpl.mode !== undefined && !/^[0-7]{3,4}$/.test(String(tpl.mode))) throw bad("mode must be octal (e.g. 0644)");
}

/** The templates of `image` that apply to any of `triggers` (none: nothing to mount). */
export function templatesFor(image: string, triggers: Trigger[]): [string, ImageTemplate][] {
  const file = join(image, "metadata.yaml");
  if (!fs.existsSync(file)) return [];
  const meta = parseMetadata(fs.readFileSync(file, "utf8"));
  return Object.entries(meta.templates ?? {})
    .filter(([path, tpl]) => { checkTemplate(path, tpl); return tpl.when.some((w) => triggers.includes(w as Trigger)); })
    .sort(([a], [b]) => a.localeCompare(b));
}

/** Renders the templates for each trigger in order; returns the paths written. */
export async function applyTemplates(target: TemplateTarget, triggers: Trigger[]): Promise<string[]> {
  const selected = templatesFor(target.image, triggers);
  if (selected.length === 0) return [];
  const written: string[] = [];
  const layout = target.rootfs;
  const overlay = layout.kind === "overlay";
  if (overlay) {
    // A daemon killed while rendering leaves its mount behind, which would keep the layers busy.
    try { umount(target.mountpoint, MNT.DETACH); } catch { /* not mounted: the usual case */ }
    await mkdir(target.mountpoint, { recursive: true, mode: 0o700 });
    mountOverlay(target.mountpoint, [...(layout.layers ?? []), layout.lower], layout);
  }
  try {
    const root = overlay ? target.mountpoint : layout.path;
    const meta = {
      name: target.instance.name, type: "container", architecture: target.instance.architecture,
      ephemeral: String(target.instance.ephemeral), privileged: String(target.instance.privileged),
    };
    for (const trigger of triggers) {
      for (const [path, tpl] of selected) {
        if (!tpl.when.includes(trigger)) continue;
        try {
          const parts = resolveInRoot(root, path);
          if (tpl.create_only && fs.existsSync(join(root, ...parts))) continue;
          const source = join(target.image, "templates", ...(safeComponents(tpl.template) as string[]));
          const st = fs.lstatSync(source, { throwIfNoEntry: false });
          if (!st?.isFile()) throw new Error(`template file "templates/${tpl.template}" is missing from the image`);
          const ctx: Context = {
            trigger, path, container: meta, instance: meta, config: target.config, devices: target.devices,
            properties: tpl.properties ?? {},
            config_get: (key: unknown, dflt: unknown) => target.config[String(key)] ?? dflt,
          };
          writeInRoot(root, parts, compileTemplate(fs.readFileSync(source, "utf8"))(ctx), tpl);
          written.push(path);
        } catch (err) {
          throw new Error(`applying the image template for "${path}" (${trigger}) failed: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    if (overlay) {
      umount(target.mountpoint);
      fs.rmdirSync(target.mountpoint);
    }
  }
  return written;
}
