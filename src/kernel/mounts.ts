// Disk devices of a running container through `lxd-helper mount|umount` (native/hotplug.c):
// the helper clones the host path, idmaps it to the container's user namespace and attaches it
// from inside the container's mount namespace. Protocol: one line, "ok" or "error ERRNO MESSAGE".
import { helperPath, pidfdForHelper } from "./native.ts";

/** `pidfd` (of the container's init) is passed as the helper's fd 3. */
async function helper(cmd: string, pidfd: number, args: string[]): Promise<void> {
  const proc = Bun.spawn([helperPath(), cmd, "--pidfd", "3", ...args], { stdio: ["ignore", "pipe", "pipe", pidfdForHelper(pidfd)] });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = out.trim();
  if (code === 0 && line === "ok") return;
  const m = /^error (\d+) (.*)$/.exec(line);
  throw new Error(m ? m[2] : `lxd-helper ${cmd} exited with ${code}: ${(line || err).trim()}`);
}

/** Mounts host `source` at `path` inside the container whose init `pidfd` refers to. */
export function mountInContainer(pidfd: number, source: string, path: string, readonly: boolean): Promise<void> {
  return helper("mount", pidfd, [source, path, readonly ? "ro" : "rw"]);
}

/** Detaches whatever is mounted at `path` inside the container (nothing there is fine). */
export function umountInContainer(pidfd: number, path: string): Promise<void> {
  return helper("umount", pidfd, [path]);
}
