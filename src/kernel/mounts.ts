// Disk devices of a running container through `lxd-helper mount|umount` (native/lxd-helper.c):
// the helper clones the host path, idmaps it to the container's user namespace and attaches it
// from inside the container's mount namespace. Protocol: one line, "ok" or "error ERRNO MESSAGE".
import { helperPath } from "./native.ts";

async function helper(args: string[]): Promise<void> {
  const proc = Bun.spawn([helperPath(), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = out.trim();
  if (code === 0 && line === "ok") return;
  const m = /^error (\d+) (.*)$/.exec(line);
  throw new Error(m ? m[2] : `lxd-helper ${args[0]} exited with ${code}: ${(line || err).trim()}`);
}

/** Mounts host `source` at `path` inside the container whose init is `pid`. */
export function mountInContainer(pid: number, source: string, path: string, readonly: boolean): Promise<void> {
  return helper(["mount", "--pid", String(pid), source, path, readonly ? "ro" : "rw"]);
}

/** Detaches whatever is mounted at `path` inside the container (nothing there is fine). */
export function umountInContainer(pid: number, path: string): Promise<void> {
  return helper(["umount", "--pid", String(pid), path]);
}
