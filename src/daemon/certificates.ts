// /1.0/certificates: the trust store (list, add by certificate or by join token, show, update,
// remove) and join tokens (`lxd config trust add`), in LXD's shapes.
import { Elysia } from "elysia";
import { Empty, RecursionQuery, UrlsOr, recursionLevel } from "../api/envelope.ts";
import { Certificate, CertificateFingerprint, CertificatePut, CertificatesPost } from "../api/certificate.ts";
import { Operation } from "../api/operation.ts";
import type { OperationManager } from "./operations.ts";
import { checkIfMatch, etagOf, sync } from "./response.ts";
import { ApiError } from "../api/error.ts";
import type { HttpsService } from "./tls/https.ts";
import type { ServerCertificate } from "./tls/server-cert.ts";
import { decodeToken } from "../tls/token.ts";
import { checkType, parseCertificate, type CertificateManager, type CertificateRow } from "../tls/certificates.ts";
import { TokenRegistry, type PendingToken, type TrustStore } from "./tls/trust.ts";

/** The daemon's remote-access parts this module works with. */
export interface RemoteAccess {
  trust: TrustStore;
  tokens: TokenRegistry;
  https: HttpsService;
  certificate: ServerCertificate;
}

export interface CertificatesContext {
  ops: OperationManager;
  certificates: CertificateManager;
}

const url = (fp: string) => `/1.0/certificates/${fp}`;

const view = (row: CertificateRow): Certificate => ({
  name: row.name, type: row.type, restricted: row.restricted, projects: row.projects,
  certificate: row.certificate, fingerprint: row.fingerprint,
});
const etag = (row: CertificateRow) => etagOf({ name: row.name, type: row.type, restricted: row.restricted, projects: row.projects, certificate: row.certificate });

export const certificatesRoutes = (ctx: CertificatesContext, remote: RemoteAccess) => {
  function issueToken(name: string, restricted: boolean, projects: string[]) {
    const addresses = remote.https.addresses();
    if (!addresses.length) throw new ApiError(400, "Can't issue a join token: the server isn't listening on the network (set core.https_address)");
    const expiry = ctx.certificates.tokenExpirySeconds();
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

  const added = (row: CertificateRow) => sync({}, { location: url(row.fingerprint) });

  return new Elysia({ name: "certificates" })
    .get("/1.0/certificates", ({ query }) => {
      const rows = ctx.certificates.list();
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
          if (!ctx.certificates.trustPasswordMatches(body.password)) throw new ApiError(403, "not authorized");
          return added(ctx.certificates.add(id.certificate, { name: body.name }));
        }
        if (token && token.fingerprint !== remote.certificate.fingerprint) throw new ApiError(403, "Forbidden: the join token was issued by another server");
        const pending = token ? remote.tokens.redeem(token.secret) : undefined;
        if (!pending) throw new ApiError(403, "Forbidden: the join token is invalid, expired or already used");
        const row = ctx.certificates.add(id.certificate, {
          name: pending.name || body.name, restricted: pending.restricted, projects: pending.projects,
        });
        pending.settle("used");
        return added(row);
      }
      const der = body.certificate ? parseCertificate(body.certificate) : id.certificate;
      if (!der) throw new ApiError(400, "No certificate given (field \"certificate\": base64 DER or PEM)");
      return added(ctx.certificates.add(der, { name: body.name, type, restricted: body.restricted, projects }));
    }, {
      body: CertificatesPost,
      response: { 200: Empty, 202: Operation },
      detail: { summary: "Trust a certificate, join with a token, or issue a join token (token: true)", tags: ["certificates"] },
    })

    .get("/1.0/certificates/:fingerprint", ({ params }) => {
      const row = ctx.certificates.find(params.fingerprint);
      return sync(view(row), { etag: etag(row) });
    }, {
      params: CertificateFingerprint,
      response: Certificate,
      detail: { summary: "Show a trusted certificate", tags: ["certificates"] },
    })

    .put("/1.0/certificates/:fingerprint", ({ params, body, request }) => {
      const row = ctx.certificates.find(params.fingerprint);
      checkIfMatch(request, etag(row));
      ctx.certificates.update(row, { name: body.name ?? "", type: body.type, restricted: body.restricted ?? false, projects: body.projects ?? [], certificate: body.certificate });
      return sync({});
    }, {
      params: CertificateFingerprint,
      body: CertificatePut,
      response: Empty,
      detail: { summary: "Replace a certificate's name, restrictions and projects", tags: ["certificates"] },
    })

    .patch("/1.0/certificates/:fingerprint", ({ params, body, request }) => {
      const row = ctx.certificates.find(params.fingerprint);
      checkIfMatch(request, etag(row));
      ctx.certificates.update(row, {
        name: body.name ?? row.name, type: body.type, restricted: body.restricted ?? row.restricted,
        projects: body.projects ?? row.projects, certificate: body.certificate,
      });
      return sync({});
    }, {
      params: CertificateFingerprint,
      body: CertificatePut,
      response: Empty,
      detail: { summary: "Change some of a certificate's fields", tags: ["certificates"] },
    })

    .delete("/1.0/certificates/:fingerprint", ({ params }) => {
      ctx.certificates.remove(ctx.certificates.find(params.fingerprint));
      return sync({});
    }, {
      params: CertificateFingerprint,
      response: Empty,
      detail: { summary: "Remove a certificate from the trust store", tags: ["certificates"] },
    })

    // Only members (the cluster certificate) reach /internal: the one that changed the table says so.
    .post("/internal/trust/reload", () => {
      remote.trust.reload();
      return sync({});
    }, { response: Empty, detail: { summary: "Another cluster member changed the trust store: read it again", tags: ["internal"] } });
};
