// Streaming multipart/form-data: split images arrive as two parts (`metadata`, `rootfs`) as
// LXD's client sends them, and are exported the same way. Parts go straight to files, so a
// multi-GB rootfs never sits in memory (Request.formData() would buffer it whole).
import { join } from "node:path";

export interface ReceivedPart {
  name: string;
  filename: string;
  path: string;
  size: number;
}

const CRLF = Buffer.from("\r\n");
const HEADERS_END = Buffer.from("\r\n\r\n");
const MAX_HEADERS = 16 << 10;

export function boundaryOf(contentType: string): string {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) throw new Error("multipart content type without a boundary");
  return (m[1] ?? m[2])!;
}

function partHeaders(raw: string): { name: string; filename: string } {
  const disposition = raw.split("\r\n").find((l) => /^content-disposition:/i.test(l)) ?? "";
  const field = (key: string) => new RegExp(`;\\s*${key}="([^"]*)"`, "i").exec(disposition)?.[1] ?? new RegExp(`;\\s*${key}=([^;\\s]+)`, "i").exec(disposition)?.[1];
  const name = field("name");
  if (!name) throw new Error("multipart part without a name");
  return { name, filename: field("filename") ?? "" };
}

/**
 * Writes each part whose name is in `accept` to `dir/<prefix><name>`; any other part is an error.
 * `onBytes` sees the running total of body bytes read.
 */
export async function receiveMultipart(
  body: AsyncIterable<Uint8Array>, boundary: string, dir: string, prefix: string, accept: string[], onBytes?: (n: number) => void,
): Promise<ReceivedPart[]> {
  const first = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  const parts: ReceivedPart[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let state: "preamble" | "after-delim" | "headers" | "body" | "done" = "preamble";
  let sink: ReturnType<ReturnType<typeof Bun.file>["writer"]> | undefined;
  let current: ReceivedPart | undefined;
  let total = 0;
  try {
    for await (const chunk of body) {
      total += chunk.length;
      onBytes?.(total);
      buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      for (let progressed = true; progressed && state !== "done";) {
        progressed = false;
        if (state === "preamble") {
          const i = buf.indexOf(first);
          if (i >= 0) { buf = buf.subarray(i + first.length); state = "after-delim"; progressed = true; }
        } else if (state === "after-delim") {
          if (buf.length < 2) break;
          if (buf[0] === 0x2d && buf[1] === 0x2d) { state = "done"; break; }
          if (!buf.subarray(0, 2).equals(CRLF)) throw new Error("malformed multipart delimiter");
          buf = buf.subarray(2);
          state = "headers";
          progressed = true;
        } else if (state === "headers") {
          const i = buf.indexOf(HEADERS_END);
          if (i < 0) {
            if (buf.length > MAX_HEADERS) throw new Error("multipart part headers are too long");
            break;
          }
          const { name, filename } = partHeaders(buf.subarray(0, i).toString());
          if (!accept.includes(name)) throw new Error(`unexpected multipart part "${name}" (expected ${accept.join(", ")})`);
          if (parts.some((p) => p.name === name)) throw new Error(`multipart part "${name}" sent twice`);
          current = { name, filename, path: join(dir, `${prefix}${name}`), size: 0 };
          parts.push(current);
          sink = Bun.file(current.path).writer({ highWaterMark: 1 << 20 });
          buf = buf.subarray(i + HEADERS_END.length);
          state = "body";
          progressed = true;
        } else if (state === "body") {
          const i = buf.indexOf(delim);
          const end = i >= 0 ? i : Math.max(0, buf.length - delim.length + 1);
          if (end > 0) {
            sink!.write(buf.subarray(0, end));
            current!.size += end;
            if (current!.size % (8 << 20) < end) await sink!.flush();
          }
          buf = buf.subarray(end);
          if (i >= 0) {
            await sink!.end();
            sink = undefined;
            buf = buf.subarray(delim.length);
            state = "after-delim";
            progressed = true;
          }
        }
      }
      if (state !== "body") buf = Buffer.from(buf); // don't pin the chunk behind a small remainder
    }
    if (state !== "done") throw new Error("the multipart upload ended early (truncated?)");
    return parts;
  } finally {
    if (sink) await sink.end();
  }
}

/** A multipart body streamed from files (a Blob of file-backed Blobs would come out empty in Bun). */
export function multipartBody(boundary: string, parts: { name: string; filename: string; file: Blob }[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (const p of parts) {
      yield enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      for await (const chunk of p.file.stream()) yield chunk;
      yield enc.encode("\r\n");
    }
    yield enc.encode(`--${boundary}--\r\n`);
  }
  const it = pieces();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() { await it.return(undefined); },
  });
}
