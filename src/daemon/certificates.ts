// /1.0/certificates: the trust store (list, add by certificate or by join token, show, update,
// remove) and join tokens (`lxd config trust add`), in LXD's shapes.
import { X509Certificate } from "node:crypto";
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Certificate, CertificateFingerprint, CertificatePut, CertificatesPost } from "../api/certificate.ts";
import { Operation } from "../api/operation.ts";
import type { Db } from "../db/index.ts";
import { getCertificate, listCertificates, updateCertificate, type CertificateRow } from "../db/certificates.ts";
import { getServerConfigValue } from "../db/server-config.ts";
import type { OperationManager } from "./operations.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";
import { ApiError } from "../api/error.ts";
import type { HttpsService } from "./tls/https.ts";
import type { ServerCertificate } from "./tls/server-cert.ts";
import { decodeToken, parseExpiry } from "../tls/token.ts";
import { verifyPassword } from "../tls/password.ts";
import { TokenRegistry, parseCertificate, type PendingToken, type TrustStore } from "./tls/trust.ts";

/** Join tokens last this long unless core.remote_token_expiry says otherwise. */
const DEFAULT_TOKEN_EXPIRY_S = 24 * 3600;

/** The daemon's remote-access parts this module works with. */
export interface RemoteAccess {
  trust: TrustStore;
  tokens: TokenRegistry;
  https: HttpsService;
  certificate: ServerCertificate;
}

export interface CertificatesContext {
  db: Db;
  ops: OperationManager;
  events: { send(type: "lifecycle", metadata: Record<string, unknown>): void };
}

const url = (fp: string) => `/1.0/certificates/${fp}`;

const view = (row: CertificateRow): Certificate => ({
  name: row.name, type: row.type, restricted: row.restricted, projects: row.projects,
  certificate: row.certificate, fingerprint: row.fingerprint,
});
const etag = (row: CertificateRow) => etagOf({ name: row.name, type: row.type, restricted: row.restricted, projects: row.projects, certificate: row.certificate });

/** By full fingerprint or a unique prefix, as LXD accepts. */
function find(db: Db, fingerprint: string): CertificateRow {
  const exact = getCertificate(db, fingerprint);
  if (exact) return exact;
  const matches = listCertificates(db).filter((r) => fingerprint.length > 0 && r.fingerprint.startsWith(fingerprint));
  if (matches.length > 1) throw new ApiError(400, `Certificate fingerprint prefix "${fingerprint}" is ambiguous`);
  if (!matches.length) throw new ApiError(404, `Certificate "${fingerprint}" not found`);
  return matches[0];
}

/** "client" (full access) or "metrics" (GET /1.0/metrics only), as LXD. */
function checkType(type: string | undefined): "client" | "metrics" {
  if (type === undefined || type === "" || type === "client") return "client";
  if (type === "metrics") return "metrics";
  throw new ApiError(400, `Unknown certificate type "${type}" (client or metrics)`);
}

const commonName = (der: Uint8Array) => /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(der).subject)?.[1] ?? "";

export const certificatesRoutes = (ctx: CertificatesContext, remote: RemoteAccess) => {
  function issueToken(name: string, restricted: boolean, projects: string[]) {
    const addresses = remote.https.addresses();
    if (!addresses.length) throw new ApiError(400, "Can't issue a join token: the server isn't listening on the network (set core.https_address)");
    const expiry = parseExpiry(getServerConfigValue(ctx.db, "core.remote_token_expiry") ?? "") ?? DEFAULT_TOKEN_EXPIRY_S;
    const expiresAt = Date.now() + expiry * 1000;
    let finish!: (outcome: "used" | "expired") => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = (outcome) => (outcome === "used" ? resolve() : reject(new Error("Join token expired")));
    });
    const pending: PendingToken = { name, restricted, projects, secret: TokenRegistry.newSecret(), expiresAt, settle: (o) => finish(o) };
    const timer = setTimeout(() => {
      remote.tokens.delete(pending);
      pending.settle("expired");
    }, expiry * 1000);
    timer.unref?.();
    remote.tokens.add(pending);
    return ctx.ops.create({
      class: "token",
      description: "Certificate add token",
      resources: {},
      metadata: {
        request: { name, type: "client", restricted, projects, certificate: "", password: "", token: true },
        secret: pending.secret,
        fingerprint: remote.certificate.fingerprint,
        addresses,
        expiresAt: new Date(expiresAt).toISOString(),
      },
      run: () => done.finally(() => clearTimeout(timer)),
      // Revoking (DELETE /1.0/operations/{id}) makes the token useless at once.
      cancel: () => {
        remote.tokens.delete(pending);
        finish("used");
      },
    });
  }

  function added(row: CertificateRow) {
    ctx.events.send("lifecycle", { action: "certificate-created", source: url(row.fingerprint), context: { name: row.name } });
    return sync({}, { location: url(row.fingerprint) });
  }

  return new Elysia({ name: "certificates" })
    .get("/1.0/certificates", ({ query }) => {
      const rows = listCertificates(ctx.db);
      if (recursionLevel(query) === 0) return sync(rows.map((r) => url(r.fingerprint)));
      return sync(rows.map(view));
    }, {
      query: RecursionQuery,
      response: UrlsOr(Certificate, "Certificate"),
      detail: { summary: "List trusted certificates (URLs, or objects with recursion=1)", tags: ["certificates"] },
    })

    .post("/1.0/certificates", ({ body, request }) => {
      const id = remote.trust.identify(request);
      const projects = body.projects ?? [];
      const type = checkType(body.type);
      if (body.token) {
        if (type !== "client") throw new ApiError(400, "Join tokens are for client certificates; add a metrics certificate itself");
        if (!id.trusted) throw new ApiError(403, "Forbidden: only trusted clients can issue join tokens");
        return issueToken(body.name ?? "", body.restricted ?? false, projects);
      }
      if (!id.trusted) {
        // Joining: a valid token makes the client's own TLS certificate trusted.
        const given = body.trust_token || body.password;
        if (!id.certificate) throw new ApiError(403, "Forbidden: a TLS client certificate is required to join");
        if (!given) throw new ApiError(403, `Forbidden: ${id.reason ?? "not trusted"}; a join token is required`);
        const token = decodeToken(given);
        if (!token && body.password) {
          // Not a token: the trust password (core.trust_password), as LXD 5.0 still accepts.
          const hash = getServerConfigValue(ctx.db, "core.trust_password");
          if (!hash || !verifyPassword(body.password, hash)) throw new ApiError(403, "not authorized");
          return added(remote.trust.add(id.certificate, { name: body.name || commonName(id.certificate) }));
        }
        if (token && token.fingerprint !== remote.certificate.fingerprint) throw new ApiError(403, "Forbidden: the join token was issued by another server");
        const pending = token ? remote.tokens.redeem(token.secret) : undefined;
        if (!pending) throw new ApiError(403, "Forbidden: the join token is invalid, expired or already used");
        const row = remote.trust.add(id.certificate, {
          name: pending.name || body.name || commonName(id.certificate), restricted: pending.restricted, projects: pending.projects,
        });
        pending.settle("used");
        return added(row);
      }
      const der = body.certificate ? parseCertificate(body.certificate) : id.certificate;
      if (!der) throw new ApiError(400, "No certificate given (field \"certificate\": base64 DER or PEM)");
      return added(remote.trust.add(der, { name: body.name || commonName(der), type, restricted: body.restricted, projects }));
    }, {
      body: CertificatesPost,
      response: { 200: Empty, 202: Operation },
      detail: { summary: "Trust a certificate, join with a token, or issue a join token (token: true)", tags: ["certificates"] },
    })

    .get("/1.0/certificates/:fingerprint", ({ params }) => {
      const row = find(ctx.db, params.fingerprint);
      return sync(view(row), { etag: etag(row) });
    }, {
      params: CertificateFingerprint,
      response: Certificate,
      detail: { summary: "Show a trusted certificate", tags: ["certificates"] },
    })

    .put("/1.0/certificates/:fingerprint", ({ params, body, request }) => {
      const row = find(ctx.db, params.fingerprint);
      checkIfMatch(request, etag(row));
      return change(row, { name: body.name ?? "", type: body.type, restricted: body.restricted ?? false, projects: body.projects ?? [], certificate: body.certificate });
    }, {
      params: CertificateFingerprint,
      body: CertificatePut,
      response: Empty,
      detail: { summary: "Replace a certificate's name, restrictions and projects", tags: ["certificates"] },
    })

    .patch("/1.0/certificates/:fingerprint", ({ params, body, request }) => {
      const row = find(ctx.db, params.fingerprint);
      checkIfMatch(request, etag(row));
      return change(row, {
        name: body.name ?? row.name, type: body.type, restricted: body.restricted ?? row.restricted,
        projects: body.projects ?? row.projects, certificate: body.certificate,
      });
    }, {
      params: CertificateFingerprint,
      body: CertificatePut,
      response: Empty,
      detail: { summary: "Change some of a certificate's fields", tags: ["certificates"] },
    })

    .delete("/1.0/certificates/:fingerprint", ({ params }) => {
      const row = find(ctx.db, params.fingerprint);
      remote.trust.remove(row.fingerprint);
      ctx.events.send("lifecycle", { action: "certificate-deleted", source: url(row.fingerprint), context: {} });
      return sync({});
    }, {
      params: CertificateFingerprint,
      response: Empty,
      detail: { summary: "Remove a certificate from the trust store", tags: ["certificates"] },
    });

  function change(row: CertificateRow, next: { name: string; type?: string; restricted: boolean; projects: string[]; certificate?: string }) {
    if (next.type && checkType(next.type) !== row.type) throw new ApiError(400, "Changing a certificate's type is not supported: remove it and add it again");
    if (next.certificate && next.certificate.trim() !== row.certificate.trim()) {
      const der = parseCertificate(next.certificate);
      if (Buffer.compare(Buffer.from(der), Buffer.from(parseCertificate(row.certificate))) !== 0) {
        throw new ApiError(400, "Changing the certificate itself is not supported: add the new one and remove the old one");
      }
    }
    updateCertificate(ctx.db, row.fingerprint, { name: next.name, restricted: next.restricted, projects: next.projects });
    remote.trust.reload();
    ctx.events.send("lifecycle", { action: "certificate-updated", source: url(row.fingerprint), context: {} });
    return sync({});
  }
};
