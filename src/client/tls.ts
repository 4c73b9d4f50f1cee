// HTTPS remotes: this client's certificate (made on first use), reading a server's certificate
// before it is trusted, and a transport that presents our certificate and accepts only the
// server certificate pinned for the remote.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fingerprintOf, fromPem, generateCertificate } from "../tls/x509.ts";
import { readPeerCertificate } from "../tls/peer-certificate.ts";
import { LxdError } from "./errors.ts";
import { opened, type Transport } from "./transport.ts";

export interface ClientIdentity { cert: string; key: string }

/** client.crt/client.key in `dir`, generated (ECDSA P-384, key mode 0600) when missing. */
export async function clientIdentity(dir: string): Promise<ClientIdentity> {
  const certPath = join(dir, "client.crt");
  const keyPath = join(dir, "client.key");
  if (existsSync(certPath) && existsSync(keyPath)) return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const user = process.env.USER || os.userInfo().username;
  const pair = await generateCertificate({ client: true, commonName: `${user}@${os.hostname()}` });
  writeFileSync(`${keyPath}.tmp`, pair.key, { mode: 0o600 });
  renameSync(`${keyPath}.tmp`, keyPath);
  writeFileSync(certPath, pair.certificate, { mode: 0o644 });
  return { cert: pair.certificate, key: pair.key };
}

/** "host", "host:port", "[v6]:port", "https://host:port" -> "https://host:port" (port 8443 by default). */
export function httpsUrl(addr: string): string {
  const bare = addr.replace(/^https:\/\//, "").replace(/\/+$/, "");
  const hasPort = /^\[.*\]:\d+$/.test(bare) || /^[^:[\]]+:\d+$/.test(bare);
  const host = !hasPort && bare.includes(":") && !bare.startsWith("[") ? `[${bare}]` : bare;
  return `https://${hasPort ? host : `${host}:8443`}`;
}

/** The certificate a server presents (PEM), read without trusting it: `remote add` shows or
 *  checks its fingerprint before pinning it. */
export async function fetchServerCertificate(url: string, identity?: ClientIdentity): Promise<string> {
  const { hostname, port } = new URL(url);
  try {
    return await readPeerCertificate(hostname, Number(port || 8443), identity, url);
  } catch (err) {
    throw new LxdError((err as Error).message);
  }
}

export const certFingerprint = (pem: string) => fingerprintOf(fromPem(pem));

export class TlsTransport implements Transport {
  private readonly fingerprint: string;
  private readonly tls: Record<string, unknown>;

  /** Without `identity` the client presents no certificate (for what untrusted clients may reach). */
  constructor(readonly url: string, identity: ClientIdentity | undefined, serverCert: string) {
    this.fingerprint = certFingerprint(serverCert);
    // The TLS layer reports fingerprints as colon-separated upper-case hex.
    const expected = this.fingerprint.toUpperCase().match(/../g)!.join(":");
    this.tls = {
      ...(identity ? { cert: identity.cert, key: identity.key } : {}),
      // The pinned certificate is the only trust anchor; the name check is replaced by comparing
      // fingerprints, so a remote added by IP or another name still verifies.
      ca: serverCert,
      checkServerIdentity: (_host: string, peer: { fingerprint256?: string }) =>
        peer?.fingerprint256 === expected ? undefined : new Error(`Server certificate mismatch (expected ${this.fingerprint})`),
    };
  }

  get target(): string {
    return this.url;
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, { ...init, tls: this.tls } as RequestInit);
    } catch (err) {
      throw new LxdError(`Failed to reach ${this.url}: ${(err as Error).message}`);
    }
  }

  websocket(path: string): Promise<WebSocket> {
    return opened(new WebSocket(`${this.url.replace(/^https:/, "wss:")}${path}`, { tls: this.tls } as unknown as string[]), path);
  }
}
