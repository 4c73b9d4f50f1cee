// The one way the daemon mounts overlayfs (the container's own rootfs is mounted by
// native/rootfs.c with the same options). Overlay metadata (opaque directories, redirects) lives
// in user.overlay.* xattrs (`userxattr`): that is what a container, whose root may not write
// trusted.*, leaves in its upper directory, so every mount of those layers must read the same
// names. Kernels before 5.11 lack the option and fall back to trusted.*, as native/rootfs.c does.
import { MS, SyscallError, mount } from "./ffi.ts";

/** The writable top of an overlay: its upper directory and overlayfs' work directory beside it. */
export interface OverlayUpper { upper: string; work: string }

/** A path as one item of an overlay option (its separators escaped). */
const escapeItem = (p: string) => p.replace(/([\\:,])/g, "\\$1");

function overlayOptions(lower: string[], rw: OverlayUpper | undefined, userxattr = true): string {
  const parts = [`lowerdir=${lower.map(escapeItem).join(":")}`];
  if (rw) parts.push(`upperdir=${escapeItem(rw.upper)}`, `workdir=${escapeItem(rw.work)}`);
  if (userxattr) parts.push("userxattr");
  return parts.join(",");
}

/** Mounts `lower` (top first) at `target`: writable on `rw`, else read-only (overlayfs then
 *  wants two lower layers at least). */
export function mountOverlay(target: string, lower: string[], rw?: OverlayUpper): void {
  const flags = rw ? 0 : MS.RDONLY;
  try {
    mount("overlay", target, "overlay", flags, overlayOptions(lower, rw));
  } catch (err) {
    if (!(err instanceof SyscallError && err.code === "EINVAL")) throw err;
    mount("overlay", target, "overlay", flags, overlayOptions(lower, rw, false));
  }
}
