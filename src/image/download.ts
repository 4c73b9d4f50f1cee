// Fetching from image servers: JSON documents and image files over HTTP(S), with a stall timeout
// (no byte for that long ends the transfer), an optional pinned server certificate, and the
// LXD-style progress text "metadata: 45% (12.30MB/s)".
import { bytesSI } from "../config/values.ts";
import { fingerprintOf, fromPem } from "../tls/x509.ts";

/** No byte from the server for this long fails the transfer (LXD_DOWNLOAD_STALL_MS overrides). */
const stallTimeoutMs = (): number => Number(process.env.LXD_DOWNLOAD_STALL_MS) || 30_000;

export interface FetchOptions {
  /** PEM of the server certificate to accept (self-signed LXD servers); otherwise the system CAs. */
  certificate?: string;
  signal?: AbortSignal;
}

function tlsFor(url: string, certificate?: string): Record<string, unknown> | undefined {
  if (!url.startsWith("https:") || !certificate?.trim()) return undefined;
  const expected = fingerprintOf(fromPem(certificate)).toUpperCase().match(/../g)!.join(":");
  return {
    ca: certificate,
    // The pinned certificate replaces the name check, as for the CLI's HTTPS remotes.
    checkServerIdentity: (_host: string, peer: { fingerprint256?: string }) =>
      peer?.fingerprint256 === expected ? undefined : new Error("server certificate does not match the pinned one"),
  };
}

/** Bytes per second as LXD prints them ("12.30MB/s"). */
export const speedText = (bytesPerSec: number): string => `${bytesSI(bytesPerSec)}/s`;

/** A response whose body is read through a stall watchdog; `close()` releases the timer. */
export interface Fetched {
  response: Response;
  body: AsyncIterable<Uint8Array>;
  length?: number;
}

/**
 * GETs a URL. The stall timer covers connecting, the headers and every gap between chunks; a
 * non-2xx answer, an unreachable server or a stall throws an error naming the URL.
 */
export async function get(url: string, opts: FetchOptions = {}): Promise<Fetched> {
  const stall = stallTimeoutMs();
  const ctrl = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => { stalled = true; ctrl.abort(); }, stall);
  };
  const onAbort = () => ctrl.abort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const release = () => {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  };
  const failure = (err: unknown) => {
    release();
    if (stalled) return new Error(`${url}: no data from the server for ${stall / 1000}s (timed out)`);
    if (opts.signal?.aborted) return new Error(`${url}: download cancelled`);
    return new Error(`Failed to fetch ${url}: ${(err as Error).message}`);
  };
  arm();
  let response: Response;
  try {
    response = await fetch(url, { signal: ctrl.signal, tls: tlsFor(url, opts.certificate), redirect: "follow" } as RequestInit);
  } catch (err) {
    throw failure(err);
  }
  // Redirects may go to another server (mirrors, CDNs), never to another kind of URL.
  if (!/^https?:/.test(response.url || url)) {
    release();
    await response.body?.cancel().catch(() => {});
    throw new Error(`Failed to fetch ${url}: redirected to a non-HTTP URL`);
  }
  if (!response.ok) {
    release();
    await response.body?.cancel().catch(() => {});
    throw new Error(`Failed to fetch ${url}: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const header = response.headers.get("content-length");
  const length = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  async function* body(): AsyncIterable<Uint8Array> {
    try {
      if (!response.body) return;
      for await (const chunk of response.body) {
        arm();
        yield chunk;
      }
    } catch (err) {
      throw failure(err);
    } finally {
      release();
    }
  }
  return { response, body: body(), length };
}

/** GETs and parses a JSON document (bounded, for indexes and API answers). */
export async function getJson(url: string, opts: FetchOptions = {}): Promise<unknown> {
  const { body } = await get(url, opts);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > 64 << 20) throw new Error(`${url}: document larger than 64 MiB`);
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new Error(`${url}: not valid JSON`);
  }
}

/** Calls `report` with LXD's progress text at most every `everyMs` while bytes come in. */
export function progressReporter(stage: string, total: number | undefined, report: (text: string, percent: number) => void, everyMs = 250) {
  const started = performance.now();
  let last = 0;
  return (received: number) => {
    const now = performance.now();
    const done = total !== undefined && received >= total;
    if (now - last < everyMs && !done) return;
    last = now;
    const speed = received / Math.max((now - started) / 1000, 0.001);
    const percent = total ? Math.min(100, Math.floor((received * 100) / total)) : 0;
    report(total ? `${stage}: ${percent}% (${speedText(speed)})` : `${stage}: ${received} bytes (${speedText(speed)})`, percent);
  };
}
