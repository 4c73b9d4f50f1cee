// A minimal writer for the "newc" cpio format the kernel unpacks as its initramfs. Written here
// rather than shelling out to cpio(1): entries come from memory, owners and device nodes need no
// privileges, and the archive is byte-for-byte reproducible.

export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array | string; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const encoder = new TextEncoder();
const hex8 = (n: number) => n.toString(16).padStart(8, "0");
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(ino: number, mode: number, size: number, nameSize: number, rmajor = 0, rminor = 0): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, rmajor, rminor, nameSize, 0];
  return "070701" + fields.map(hex8).join("");
}

/** Serialises `entries` (parents before children) into an uncompressed newc archive. */
export function cpioArchive(entries: CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (bytes: Uint8Array) => {
    parts.push(bytes);
    length += bytes.length;
  };
  const record = (ino: number, name: string, mode: number, data: Uint8Array, rmajor = 0, rminor = 0) => {
    const nameBytes = encoder.encode(`${name}\0`);
    push(encoder.encode(header(ino, mode, data.length, nameBytes.length, rmajor, rminor)));
    push(nameBytes);
    push(new Uint8Array(pad4(110 + nameBytes.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };

  entries.forEach((e, i) => {
    const name = e.path.replace(/^\/+/, "");
    const ino = i + 1;
    switch (e.kind) {
      case "dir":
        record(ino, name, S_IFDIR | (e.mode ?? 0o755), new Uint8Array());
        break;
      case "file":
        record(ino, name, S_IFREG | (e.mode ?? 0o644), typeof e.data === "string" ? encoder.encode(e.data) : e.data);
        break;
      case "symlink":
        record(ino, name, S_IFLNK | 0o777, encoder.encode(e.target));
        break;
      case "chardev":
        record(ino, name, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(), e.major, e.minor);
        break;
    }
  });
  record(0, "TRAILER!!!", 0, new Uint8Array());

  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
