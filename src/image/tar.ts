// Streaming tar reader and writer: ustar headers, pax extended headers ('x' per entry, 'g'
// global) and GNU long names ('L'/'K'). The reader never holds more than the current chunk
// plus one header, so a multi-GB rootfs streams through in bounded memory.

export type TarEntryType = "file" | "hardlink" | "symlink" | "chardev" | "blockdev" | "directory" | "fifo";

export interface TarHeader {
  path: string;
  type: TarEntryType;
  mode: number; // permission bits incl. setuid/setgid/sticky
  uid: number;
  gid: number;
  size: number;
  mtime: number; // seconds since the epoch (may be fractional from pax)
  linkpath: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's data; unread data is skipped when iteration moves to the next entry. */
  body: AsyncIterable<Uint8Array>;
}

export class TarError extends Error {}

const BLOCK = 512;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

const TYPES: Record<string, TarEntryType> = {
  "0": "file", "\0": "file", "7": "file", "1": "hardlink", "2": "symlink",
  "3": "chardev", "4": "blockdev", "5": "directory", "6": "fifo",
};

/** Pulls exact byte counts out of a chunked source without copying unless a read spans chunks. */
class ByteSource {
  private chunk: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.offset >= this.chunk.length) {
      if (this.done) return false;
      const next = await this.it.next();
      if (next.done) { this.done = true; return false; }
      this.chunk = next.value;
      this.offset = 0;
    }
    return true;
  }

  /** Exactly n bytes, or fewer only at end of input. */
  async read(n: number): Promise<Uint8Array> {
    if (!(await this.fill())) return new Uint8Array(0);
    if (this.chunk.length - this.offset >= n) {
      const out = this.chunk.subarray(this.offset, this.offset + n);
      this.offset += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n && (await this.fill())) {
      const take = Math.min(n - got, this.chunk.length - this.offset);
      out.set(this.chunk.subarray(this.offset, this.offset + take), got);
      this.offset += take;
      got += take;
    }
    return got === n ? out : out.subarray(0, got);
  }

  /** Up to max bytes of whatever is buffered (one chunk at most): the zero-copy body path. */
  async readSome(max: number): Promise<Uint8Array> {
    if (!(await this.fill())) return new Uint8Array(0);
    const take = Math.min(max, this.chunk.length - this.offset);
    const out = this.chunk.subarray(this.offset, this.offset + take);
    this.offset += take;
    return out;
  }

  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0 && (await this.fill())) {
      const take = Math.min(left, this.chunk.length - this.offset);
      this.offset += take;
      left -= take;
    }
    return n - left;
  }

  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
  }
}

function cstring(buf: Uint8Array, start: number, len: number): string {
  let end = start;
  const max = start + len;
  while (end < max && buf[end] !== 0) end++;
  return decoder.decode(buf.subarray(start, end));
}

/** Octal ASCII, or GNU base-256 when the high bit of the first byte is set. */
function number(buf: Uint8Array, start: number, len: number): number {
  if (buf[start]! & 0x80) {
    let v = buf[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  let v = 0;
  let seen = false;
  for (let i = start; i < start + len; i++) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x37) { v = v * 8 + (c - 0x30); seen = true; }
    else if (c === 0 || (c === 0x20 && seen)) break;
    else if (c !== 0x20) throw new TarError(`invalid number field in tar header at offset ${start}`);
  }
  return v;
}

function checksumOk(block: Uint8Array): boolean {
  let stored: number;
  try {
    stored = number(block, 148, 8);
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

const isZeroBlock = (block: Uint8Array) => block.every((b) => b === 0);

/** Parses pax records "<len> <key>=<value>\n" (len counts the whole record, in bytes). */
export function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    let sp = pos;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const len = Number(decoder.decode(data.subarray(pos, sp)));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) {
      if (data.subarray(pos).every((b) => b === 0)) break; // padding
      throw new TarError("malformed pax extended header record");
    }
    const record = decoder.decode(data.subarray(sp + 1, pos + len - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

function applyPax(h: TarHeader, pax: Record<string, string>): void {
  for (const [key, value] of Object.entries(pax)) {
    switch (key) {
      case "path": h.path = value; break;
      case "linkpath": h.linkpath = value; break;
      case "size": h.size = Number(value); break;
      case "uid": h.uid = Number(value); break;
      case "gid": h.gid = Number(value); break;
      case "mtime": h.mtime = Number(value); break;
      case "uname": h.uname = value; break;
      case "gname": h.gname = value; break;
    }
  }
}

/**
 * Reads a tar stream entry by entry. Each entry's body must be consumed (or abandoned) before
 * asking for the next entry; abandoned data is skipped. Throws TarError on corrupt or
 * truncated input.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>, opts: { requireEnd?: boolean } = {}): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source);
  let globalPax: Record<string, string> = {};
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const block = await src.read(BLOCK);
      if (block.length === 0) {
        // Tolerated when reading our own files; an import insists, as a cut at a header boundary looks just like this.
        if (opts.requireEnd) throw new TarError("the tar archive has no end-of-archive marker (truncated?)");
        return;
      }
      if (block.length < BLOCK) throw new TarError("unexpected end of tar archive inside a header (truncated?)");
      if (isZeroBlock(block)) return;
      if (!checksumOk(block)) throw new TarError("invalid tar header checksum (corrupt or not a tar archive)");

      const flag = String.fromCharCode(block[156]!);
      const size = number(block, 124, 12);
      const padded = Math.ceil(size / BLOCK) * BLOCK;

      if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
        const data = await src.read(padded);
        if (data.length < padded) throw new TarError("unexpected end of tar archive inside an extended header (truncated?)");
        const payload = data.subarray(0, size);
        if (flag === "x") pax = { ...pax, ...parsePax(payload) };
        else if (flag === "g") globalPax = { ...globalPax, ...parsePax(payload) };
        else if (flag === "L") longName = cstring(payload, 0, payload.length);
        else longLink = cstring(payload, 0, payload.length);
        continue;
      }

      const type = TYPES[flag];
      const magic = decoder.decode(block.subarray(257, 263));
      const prefix = magic === "ustar\0" ? cstring(block, 345, 155) : "";
      const name = cstring(block, 0, 100);
      const header: TarHeader = {
        path: prefix ? `${prefix}/${name}` : name,
        type: type ?? "file",
        mode: number(block, 100, 8) & 0o7777,
        uid: number(block, 108, 8),
        gid: number(block, 116, 8),
        size,
        mtime: number(block, 136, 12),
        linkpath: cstring(block, 157, 100),
        uname: cstring(block, 265, 32),
        gname: cstring(block, 297, 32),
        devmajor: number(block, 329, 8),
        devminor: number(block, 337, 8),
      };
      if (!type) throw new TarError(`unsupported tar entry type '${flag}' for "${header.path}"`);
      applyPax(header, globalPax);
      applyPax(header, pax);
      if (longName !== undefined) header.path = longName;
      if (longLink !== undefined) header.linkpath = longLink;
      pax = {};
      longName = longLink = undefined;
      // Only regular files carry data; a size on links/dirs is ignored by tar as well.
      const dataSize = header.type === "file" ? header.size : 0;
      const skipAfter = (header.type === "file" ? Math.ceil(dataSize / BLOCK) * BLOCK : padded) - dataSize;

      let remaining = dataSize;
      const body: AsyncIterable<Uint8Array> = {
        async *[Symbol.asyncIterator]() {
          while (remaining > 0) {
            const piece = await src.readSome(remaining);
            if (piece.length === 0) throw new TarError(`unexpected end of tar archive inside "${header.path}" (truncated?)`);
            remaining -= piece.length;
            yield piece;
          }
        },
      };
      yield { header, body };
      if (remaining > 0 && (await src.skip(remaining)) < remaining) {
        throw new TarError(`unexpected end of tar archive inside "${header.path}" (truncated?)`);
      }
      remaining = 0;
      if ((await src.skip(skipAfter)) < skipAfter) throw new TarError("unexpected end of tar archive in padding (truncated?)");
    }
  } finally {
    await src.close();
  }
}

export async function readAllBody(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of body) parts.push(p.slice());
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface TarWriteEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  uid?: number;
  gid?: number;
  mtime: number;
  linkpath?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
}

const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: "0", hardlink: "1", symlink: "2", chardev: "3", blockdev: "4", directory: "5", fifo: "6",
};

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function putString(block: Uint8Array, start: number, len: number, s: string): void {
  block.set(encoder.encode(s).subarray(0, len), start);
}

function putOctal(block: Uint8Array, start: number, len: number, v: number): void {
  putString(block, start, len - 1, Math.floor(v).toString(8).padStart(len - 1, "0"));
}

/** Splits a path into ustar prefix (<=155 bytes) and name (<=100 bytes), or undefined. */
function splitUstar(path: string): [string, string] | undefined {
  const bytes = encoder.encode(path).length;
  if (bytes <= 100) return ["", path];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100 && name) return [prefix, name];
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = encoder.encode(body).length;
  let len = bodyLen + String(bodyLen).length;
  len = bodyLen + String(len).length; // adding digits can carry into one more digit
  return `${len}${body}`;
}

function headerBlock(e: TarWriteEntry, size: number, path: string, prefix: string, flag: string): Uint8Array {
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, path);
  putOctal(block, 100, 8, e.mode & 0o7777);
  putOctal(block, 108, 8, Math.min(e.uid ?? 0, MAX_OCTAL_7));
  putOctal(block, 116, 8, Math.min(e.gid ?? 0, MAX_OCTAL_7));
  putOctal(block, 124, 12, Math.min(size, MAX_OCTAL_11));
  putOctal(block, 136, 12, Math.min(Math.max(0, e.mtime), MAX_OCTAL_11));
  block.fill(0x20, 148, 156);
  putString(block, 156, 1, flag);
  putString(block, 157, 100, e.linkpath ?? "");
  putString(block, 257, 6, "ustar\0");
  putString(block, 263, 2, "00");
  putString(block, 265, 32, e.uname ?? "");
  putString(block, 297, 32, e.gname ?? "");
  putOctal(block, 329, 8, e.devmajor ?? 0);
  putOctal(block, 337, 8, e.devminor ?? 0);
  putString(block, 345, 155, prefix);
  let sum = 0;
  for (const b of block) sum += b;
  putString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

/** Serialises entries into tar blocks, handing each block group to `sink` in order. */
export class TarWriter {
  constructor(private readonly sink: (chunk: Uint8Array) => void | Promise<void>) {}

  /** Adds one entry; `data` is the full content for files (empty for everything else). */
  async add(entry: TarWriteEntry, data: Uint8Array = new Uint8Array(0)): Promise<void> {
    const size = entry.type === "file" ? data.length : 0;
    await this.header(entry, size);
    if (size > 0) await this.sink(pad(data));
  }

  /**
   * Adds a regular file read from disk in chunks, so a file of any size costs no more memory than
   * one chunk. The header promises the size the file had when it was opened: a file that grows
   * meanwhile is cut there and one that shrinks is padded with zeros, so the archive stays valid.
   */
  async addFile(entry: Omit<TarWriteEntry, "type">, path: string): Promise<number> {
    const file = Bun.file(path);
    const size = file.size;
    await this.header({ ...entry, type: "file" }, size);
    let left = size;
    if (left > 0) {
      for await (const chunk of file.stream()) {
        const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
        await this.sink(part);
        left -= part.length;
        if (left === 0) break;
      }
    }
    // Zeros for what the file lost since it was opened, then the block padding.
    const tail = left + ((BLOCK - (size % BLOCK)) % BLOCK);
    if (tail > 0) await this.sink(new Uint8Array(tail));
    return size;
  }

  private async header(entry: TarWriteEntry, size: number): Promise<void> {
    const pax: string[] = [];
    let split = splitUstar(entry.path);
    if (!split) {
      pax.push(paxRecord("path", entry.path));
      split = ["", entry.path.slice(-100)];
    }
    const link = entry.linkpath ?? "";
    if (encoder.encode(link).length > 100) pax.push(paxRecord("linkpath", link));
    if ((entry.uid ?? 0) > MAX_OCTAL_7) pax.push(paxRecord("uid", String(entry.uid)));
    if ((entry.gid ?? 0) > MAX_OCTAL_7) pax.push(paxRecord("gid", String(entry.gid)));
    if (size > MAX_OCTAL_11) pax.push(paxRecord("size", String(size)));
    if (pax.length) {
      const paxData = encoder.encode(pax.join(""));
      const name = `PaxHeaders/${entry.path.split("/").filter(Boolean).pop() ?? "x"}`.slice(0, 100);
      await this.sink(headerBlock({ path: name, type: "file", mode: 0o644, mtime: entry.mtime }, paxData.length, name, "", "x"));
      await this.sink(pad(paxData));
    }
    await this.sink(headerBlock({ ...entry, linkpath: link.slice(0, 100) }, size, split[1], split[0], TYPE_FLAGS[entry.type]));
  }

  /** Writes the two zero blocks that end an archive. */
  async finish(): Promise<void> {
    await this.sink(new Uint8Array(BLOCK * 2));
  }
}

function pad(data: Uint8Array): Uint8Array {
  const rem = data.length % BLOCK;
  if (rem === 0) return data;
  const out = new Uint8Array(data.length + BLOCK - rem);
  out.set(data);
  return out;
}
