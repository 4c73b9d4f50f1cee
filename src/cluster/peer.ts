// Member-to-member HTTP: TLS with the cluster certificate on both ends (every member serves and
// dials with the same pair, so each trusts exactly that certificate).
import { X509Certificate } from "node:crypto";
import { readPeerCertificate } from "../tls/peer-certificate.ts";
export interface ClusterIdentity { cert: string; key: string; fingerprint: string }

/** LXD's user agent for requests between members (its notifier uses this one). */
export const PEER_USER_AGENT = "lxd-cluster-notifier";

/** A certificate's fingerprint (hex) and first DNS name, cached: members dial with one certificate. */
const parsed = new Map<string, { fingerprint: string; name?: string } | undefined>();
function certificateFacts(pem: string): { fingerprint: string; name?: string } | undefined {
  if (!parsed.has(pem)) {
    let facts: { fingerprint: string; name?: string } | undefined;
    try {
      const x = new X509Certificate(pem);
      facts = { fingerprint: x.fingerprint256.replaceAll(":", "").toLowerCase(), name: x.subjectAltName?.split(", ").find((n) => n.startsWith("DNS:"))?.slice(4) };
    } catch {
      // Not parsable: the fingerprint check below is used.
    }
    parsed.set(pem, facts);
  }
  return parsed.get(pem);
}

const bare = (fingerprint: string) => fingerprint.replaceAll(":", "").toLowerCase();

/** Requests and websockets to members: the cluster certificate (the one this member dials with)
 *  is their only CA and its name theirs, whatever address they are dialled at (as LXD verifies
 *  members). Bun calls no checkServerIdentity callback without chain verification (and such a
 *  callback keeps fetch from reusing connections), so the chain check is the pin, and fetch keeps
 *  one connection per member open. */
function memberTls(identity: ClusterIdentity) {
  const facts = certificateFacts(identity.cert);
  if (!facts?.name) throw new Error("The cluster certificate names no host, so members cannot verify each other with it");
  return { cert: identity.cert, key: identity.key, ca: identity.cert, rejectUnauthorized: true, serverName: facts.name };
}

/** The same for a member pinned by another certificate's fingerprint (a joiner has only the
 *  token's): the member's certificate is read first, checked, then trusted as above. */
async function pinnedTls(identity: ClusterIdentity, address: string, pinned: string) {
  const port = /:(\d+)$/.exec(address)?.[1];
  const pem = await readPeerCertificate(address.replace(/:\d+$/, ""), Number(port ?? 8443));
  const facts = certificateFacts(pem);
  if (!facts || facts.fingerprint !== bare(pinned)) {
    throw new Error(`The server at ${address} presented certificate ${facts?.fingerprint ?? "(unreadable)"}, not ${bare(pinned)}`);
  }
  if (!facts.name) throw new Error(`The certificate of the server at ${address} names no host, so it cannot be verified`);
  return { cert: identity.cert, key: identity.key, ca: pem, rejectUnauthorized: true, serverName: facts.name };
}

/** The TLS options for dialling `address`: pinned to `pinned` (default: the cluster certificate). */
function tlsFor(identity: ClusterIdentity, address: string, pinned = identity.fingerprint) {
  return bare(pinned) === certificateFacts(identity.cert)?.fingerprint ? memberTls(identity) : pinnedTls(identity, address, pinned);
}

export interface PeerRequest {
  method?: string;
  body?: RequestInit["body"];
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** The fingerprint the peer must present (default: the cluster certificate's). */
  pinned?: string;
}

/** One request to the member at `address` (host:port); the raw response. */
export async function peerFetch(identity: ClusterIdentity, address: string, path: string, req: PeerRequest = {}): Promise<Response> {
  const init = {
    method: req.method ?? "GET",
    body: req.body,
    headers: { "user-agent": PEER_USER_AGENT, ...(req.headers ?? {}) },
    tls: await tlsFor(identity, address, req.pinned),
    signal: AbortSignal.timeout(req.timeoutMs ?? 30_000),
    // Streamed bodies (uploads being forwarded) need this for fetch to send them.
    duplex: "half",
  };
  return fetch(`https://${address}${path}`, init as RequestInit);
}

/** A JSON request whose envelope's `metadata` is returned; errors carry the peer's message. */
export async function peerJson<T>(identity: ClusterIdentity, address: string, path: string, method = "GET", body?: unknown, timeoutMs?: number): Promise<T> {
  const res = await peerFetch(identity, address, path, {
    method, timeoutMs, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" },
  });
  const env = (await res.json().catch(() => ({}))) as { metadata?: T; error?: string };
  if (!res.ok) throw new Error(env.error || `${method} ${path} on ${address} answered ${res.status}`);
  return env.metadata as T;
}

/** A websocket to the same path on another member (the request marked as coming from a member). */
export function peerWebSocket(identity: ClusterIdentity, address: string, path: string): WebSocket {
  const ws = new WebSocket(`wss://${address}${path}`, { tls: memberTls(identity), headers: { "user-agent": PEER_USER_AGENT } } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  return ws;
}

/** Whether a request came from another member (then it is answered here, never sent on). */
export const fromPeer = (request: Request): boolean => request.headers.get("user-agent") === PEER_USER_AGENT;
