// Compression detection and streaming (de)compression for image files. gzip runs in-process
// (node:zlib, native); xz, bzip2 and zstd go through the host's tools, which are both faster
// than any JS decoder and absent from nothing but minimal hosts.
import { createGunzip, gzipSync } from "node:zlib";
import type { Transform } from "node:stream";

export type Compression = "gzip" | "xz" | "bzip2" | "zstd" | "none";

const startsWith = (head: Uint8Array, magic: number[]) => magic.every((b, i) => head[i] === b);

/** Identifies the compression from the first bytes of a file. squashfs is reported so callers can refuse it clearly. */
export function detectCompression(head: Uint8Array): Compression | "squashfs" {
  if (startsWith(head, [0x1f, 0x8b])) return "gzip";
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return "xz";
  if (startsWith(head, [0x42, 0x5a, 0x68])) return "bzip2";
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return "zstd";
  if (startsWith(head, [0x68, 0x73, 0x71, 0x73])) return "squashfs";
  return "none";
}

export async function detectFileCompression(path: string): Promise<Compression | "squashfs"> {
  const head = new Uint8Array(await Bun.file(path).slice(0, 8).arrayBuffer());
  return detectCompression(head);
}

/** Extension LXD uses for an exported file of this compression. */
export const compressionExtension = (c: Compression | "squashfs"): string =>
  ({ gzip: ".tar.gz", xz: ".tar.xz", bzip2: ".tar.bz2", zstd: ".tar.zst", none: ".tar", squashfs: ".squashfs" })[c];

const TOOLS: Record<"xz" | "bzip2" | "zstd", string> = { xz: "xz", bzip2: "bzip2", zstd: "zstd" };

/**
 * Feeds `input` into a node Transform honouring backpressure; errors surface on the transform.
 * Stops reading (and releases the input) as soon as the consumer abandons the transform.
 */
function pump(input: AsyncIterable<Uint8Array>, t: Transform): void {
  (async () => {
    for await (const chunk of input) {
      if (t.destroyed) return;
      if (!t.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => { t.off("drain", done); t.off("close", done); resolve(); };
          t.on("drain", done);
          t.on("close", done);
        });
      }
    }
    if (!t.destroyed) t.end();
  })().catch((err) => t.destroy(err));
}

async function* gunzip(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const t = createGunzip({ chunkSize: 256 * 1024 });
  pump(input, t);
  try {
    for await (const chunk of t) yield chunk as Uint8Array;
  } catch (err) {
    throw new Error(`gzip data is corrupt or truncated: ${(err as Error).message}`);
  }
}

async function* viaTool(input: AsyncIterable<Uint8Array>, kind: "xz" | "bzip2" | "zstd"): AsyncGenerator<Uint8Array> {
  const tool = Bun.which(TOOLS[kind]);
  if (!tool) throw new Error(`${kind}-compressed image needs the ${TOOLS[kind]} tool on the host`);
  const proc = Bun.spawn([tool, "-dc"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        proc.stdin.write(chunk);
        await proc.stdin.flush();
      }
    } finally {
      await proc.stdin.end();
    }
  })();
  let ok = false;
  try {
    for await (const chunk of proc.stdout) yield chunk;
    await feeding;
    const code = await proc.exited;
    if (code !== 0) {
      const err = (await new Response(proc.stderr).text()).trim();
      throw new Error(`${kind} data is corrupt or truncated: ${TOOLS[kind]} -dc exited ${code}${err ? `: ${err}` : ""}`);
    }
    ok = true;
  } finally {
    if (!ok) {
      proc.kill();
      await feeding.catch(() => {});
    }
  }
}

/** Decompresses a chunk stream of the given compression. */
export function decompress(input: AsyncIterable<Uint8Array>, kind: Compression): AsyncIterable<Uint8Array> {
  switch (kind) {
    case "none": return input;
    case "gzip": return gunzip(input);
    default: return viaTool(input, kind);
  }
}

/** Counts bytes as they pass, for progress reporting on the compressed side. */
export async function* counted(input: AsyncIterable<Uint8Array>, onBytes: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of input) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/**
 * Opens an image file as a stream of decompressed bytes. `onRead` sees the compressed bytes
 * consumed so far (progress against the file size).
 */
export async function openDecompressed(path: string, onRead?: (bytesRead: number) => void): Promise<AsyncIterable<Uint8Array>> {
  const kind = await detectFileCompression(path);
  if (kind === "squashfs") throw new Error(`"${path}" is a squashfs image, which is not supported yet`);
  let read = 0;
  const raw = counted(Bun.file(path).stream(), (n) => onRead?.((read += n)));
  return decompress(raw, kind);
}

/** Compresses a whole buffer; xz runs single-threaded so its output is reproducible. */
export function compressBuffer(data: Uint8Array, kind: "gzip" | "xz" | "none"): Uint8Array {
  if (kind === "none") return data;
  if (kind === "gzip") return gzipSync(data, { level: 9 });
  const tool = Bun.which("xz");
  if (!tool) throw new Error("xz compression needs the xz tool on the host");
  const p = Bun.spawnSync([tool, "-c", "-6", "-T1", "--check=crc64"], { stdin: data, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`xz failed (exit ${p.exitCode}): ${p.stderr.toString().trim()}`);
  return p.stdout;
}
