// Who is asking, and may they? The unix socket is trusted (its file mode is the access control);
// a request that came through the HTTPS relay carries its TLS client certificate, and is trusted
// iff that certificate is in the trust store and currently valid. The same check guards every
// request on both listeners (server.ts calls `authorize` first thing).
import { X509Certificate, createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { CertificateManager } from "../../tls/certificates.ts";
import { requestUrl } from "../request-url.ts";
import { errorEnvelope } from "../response.ts";
import { PEER_HEADER, peerCertificate } from "./proxy.ts";

export interface Identity {
  /** Came in over HTTPS (not the unix socket). */
  remote: boolean;
  trusted: boolean;
  /** The TLS client certificate (remote clients that presented one). */
  certificate?: Uint8Array;
  fingerprint?: string;
  /** Why a remote client is not trusted, for the 403 message. */
  reason?: string;
}

interface Entry { notBefore: number; notAfter: number; restricted: boolean; projects: string[]; type: string }

const LOCAL: Identity = { remote: false, trusted: true };

/** Reads of public images: the image API (its handlers hide private images from untrusted
 *  callers) and the simplestreams tree (streams.ts serves public images only). */
const PUBLIC_IMAGES = /^\/(1\.0\/images(\/[0-9a-f]+(\/export)?|\/aliases(\/.+)?)?|streams\/v1\/[^/]+\.json|images\/[0-9a-f]{64}\/[^/]+)$/;

/** The web console's page and assets: its login page is what an untrusted browser sees. */
const WEB_CONSOLE = /^\/ui(\/.*)?$/;

/** What untrusted clients may reach: API discovery, joining with a token, public images, the
 *  web console's static files. */
function isPublic(method: string, path: string): boolean {
  const p = path.length > 1 ? path.replace(/\/+$/, "") : path;
  if (method === "GET" || method === "HEAD") return p === "/" || p === "/1.0" || PUBLIC_IMAGES.test(p) || WEB_CONSOLE.test(p);
  // A joining server proves itself with the cluster join token's secret (checked by the handler).
  return method === "POST" && (p === "/1.0/certificates" || p === "/internal/cluster/accept" || p === "/internal/cluster/member-config");
}

export class TrustStore {
  private trusted = new Map<string, Entry>();
  /** The cluster certificate: every member serves and dials with it, so members trust each other. */
  clusterFingerprint?: string;

  /** Follows the certificate manager: every add, update or remove re-reads its list. */
  constructor(private readonly certificates: CertificateManager) {
    this.reload();
    certificates.onChange(() => this.reload());
  }

  /** When a fingerprint last missed and made the store read the table again. */
  private missedAt = 0;

  /** Reads the table again: after a change here, and when a cluster member says it changed one. */
  reload(): void {
    this.trusted.clear();
    for (const row of this.certificates.list()) {
      try {
        const x = new X509Certificate(row.certificate);
        this.trusted.set(row.fingerprint, {
          notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo), restricted: row.restricted, projects: row.projects, type: row.type,
        });
      } catch {
        // An unparsable row trusts nobody.
      }
    }
  }

  identify(request: Request): Identity {
    const fingerprint = request.headers.get(PEER_HEADER);
    if (fingerprint === null) return LOCAL;
    const certificate = fingerprint === "-" ? undefined : peerCertificate(fingerprint);
    if (!certificate) return { remote: true, trusted: false, reason: "No client certificate presented" };
    if (fingerprint === this.clusterFingerprint) return { remote: true, trusted: true, certificate, fingerprint };
    const now = Date.now();
    // A certificate another cluster member trusted a moment ago may not be known here yet: a miss
    // reads the table again, at most once a second so strangers cannot make every request a read.
    if (!this.trusted.has(fingerprint) && now - this.missedAt > 1000) {
      this.missedAt = now;
      this.reload();
    }
    const entry = this.trusted.get(fingerprint);
    if (!entry) return { remote: true, trusted: false, certificate, fingerprint, reason: "Client certificate is not trusted" };
    if (now > entry.notAfter) return { remote: true, trusted: false, certificate, fingerprint, reason: "Client certificate has expired" };
    if (now < entry.notBefore) return { remote: true, trusted: false, certificate, fingerprint, reason: "Client certificate is not valid yet" };
    return { remote: true, trusted: true, certificate, fingerprint };
  }

  /** A 403 response for requests the caller may not make; undefined lets the request through. */
  authorize(request: Request): Response | undefined {
    if (!request.headers.has(PEER_HEADER)) return undefined;
    const id = this.identify(request);
    const url = requestUrl(request);
    if (isPublic(request.method, url.pathname)) return undefined;
    // An operation's websocket: its secret is the credential (migration peers have no trust
    // entry), checked by the handler before the upgrade; only upgrades pass untrusted.
    if (request.method === "GET" && /^\/1\.0\/operations\/[^/]+\/websocket$/.test(url.pathname)
      && request.headers.get("upgrade")?.toLowerCase() === "websocket" && url.searchParams.get("secret")) return undefined;
    if (!id.trusted) return errorEnvelope(403, `Forbidden: ${id.reason}`);
    if (id.fingerprint === this.clusterFingerprint) return undefined;
    const entry = this.trusted.get(id.fingerprint!)!;
    // As in LXD, a metrics certificate reads /1.0/metrics and nothing else.
    if (entry.type === "metrics" && !(request.method === "GET" && url.pathname.replace(/\/$/, "") === "/1.0/metrics")) {
      return errorEnvelope(403, "Forbidden: a metrics certificate may only read /1.0/metrics");
    }
    // Restricted certificates reach only their projects; /1.0/projects answers them with their
    // own projects only (projects.ts) and refuses them changes.
    const project = url.searchParams.get("project") || "default";
    if (entry.restricted && !/^\/1\.0\/projects(\/|$)/.test(url.pathname) && !entry.projects.includes(project)) {
      return errorEnvelope(403, `Forbidden: certificate is restricted to projects [${entry.projects.join(", ")}], not "${project}"`);
    }
    return undefined;
  }

  /** The projects a request's client certificate is restricted to (undefined: any project). */
  allowedProjects(request: Request): string[] | undefined {
    if (!request.headers.has(PEER_HEADER)) return undefined;
    const id = this.identify(request);
    const entry = id.trusted ? this.trusted.get(id.fingerprint!) : undefined;
    return entry?.restricted ? entry.projects : undefined;
  }
}

export interface PendingToken {
  name: string;
  /** What the joining certificate is limited to (`lxd config trust add --restricted --projects`). */
  restricted: boolean;
  projects: string[];
  secret: string;
  expiresAt: number;
  /** Ends the token's operation: consumed, expired or revoked. */
  settle(outcome: "used" | "expired"): void;
}

/** Outstanding join tokens (single-use; kept in memory, like operations). */
export class TokenRegistry {
  private tokens = new Set<PendingToken>();

  static newSecret(): string {
    return randomBytes(32).toString("hex");
  }

  add(token: PendingToken): void {
    this.tokens.add(token);
  }

  delete(token: PendingToken): void {
    this.tokens.delete(token);
  }

  /** Takes the token with this secret out of the registry (so it can never be used twice). */
  redeem(secret: string): PendingToken | undefined {
    const given = createHash("sha256").update(secret).digest();
    let found: PendingToken | undefined;
    // Compare against every token so timing does not reveal which one matched.
    for (const t of this.tokens) {
      if (timingSafeEqual(createHash("sha256").update(t.secret).digest(), given) && !found) found = t;
    }
    if (!found) return undefined;
    this.tokens.delete(found);
    if (Date.now() > found.expiresAt) {
      found.settle("expired");
      return undefined;
    }
    return found;
  }
}
