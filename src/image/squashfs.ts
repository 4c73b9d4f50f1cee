// Squashfs rootfs files of split images, through the host's squashfs-tools: `unsquashfs -lls`
// lists them (for the import checks) and `unsquashfs -d` unpacks them.
import { ApiError } from "../api/error.ts";

export interface SquashfsEntry {
  path: string;
  type: "file" | "directory" | "symlink" | "chardev" | "blockdev" | "fifo" | "socket";
  linkpath: string;
}

const TYPES: Record<string, SquashfsEntry["type"]> = { "-": "file", d: "directory", l: "symlink", c: "chardev", b: "blockdev", p: "fifo", s: "socket" };

function unsquashfs(): string {
  const tool = Bun.which("unsquashfs");
  if (!tool) throw new ApiError(400, "squashfs images need unsquashfs on the host: install squashfs-tools");
  return tool;
}

async function run(args: string[], what: string): Promise<string> {
  const proc = Bun.spawn([unsquashfs(), ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) {
    const reason = err.trim().split("\n").filter(Boolean).slice(-2).join("; ") || `exit ${code}`;
    throw new ApiError(400, `Invalid image file: ${what} failed (corrupt or truncated squashfs?): ${reason}`);
  }
  return out;
}

// "lrwxrwxrwx root/root   8 2026-11-27 05:40 /bin/l -> ../etc/a"; devices show "maj, min" as size.
const LINE = /^(\S)\S{9} +\S+ +(\d+|\d+, *\d+) +\S+ +\S+ (.*)$/;

/** Every entry of a squashfs file, paths relative to its root. */
export async function listSquashfs(file: string): Promise<SquashfsEntry[]> {
  const out = await run(["-lls", "-d", "", file], "reading the squashfs");
  const entries: SquashfsEntry[] = [];
  for (const line of out.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const type = TYPES[m[1]!] ?? "file";
    let rest = Buffer.from(m[3]!);
    let linkpath = "";
    if (type === "symlink") {
      // The size is the target's length in bytes, which splits "path -> target" without guessing.
      const size = Number(m[2]);
      linkpath = rest.subarray(rest.length - size).toString();
      rest = rest.subarray(0, Math.max(0, rest.length - size - 4));
    }
    entries.push({ path: rest.toString().replace(/^\//, ""), type, linkpath });
  }
  return entries;
}

/** Unpacks a squashfs into `dest` (which must not exist), keeping owners, modes and xattrs. */
export async function unpackSquashfs(file: string, dest: string): Promise<void> {
  await run(["-n", "-d", dest, file], "unpacking the squashfs");
}
