// Trust store API shapes (LXD REST API 1.0 `/1.0/certificates`): validation and the OpenAPI document.
import { t, type Static } from "elysia";

export const Certificate = t.Object({
  name: t.String(),
  type: t.String({ description: '"client", or "metrics" (may only read /1.0/metrics)' }),
  restricted: t.Boolean({ description: "Limited to `projects`" }),
  projects: t.Array(t.String()),
  certificate: t.String({ description: "PEM certificate" }),
  fingerprint: t.String({ description: "sha256 of the DER certificate, hex" }),
});
export type Certificate = Static<typeof Certificate>;

export const CertificatesPost = t.Object({
  name: t.Optional(t.String()),
  type: t.Optional(t.String()),
  restricted: t.Optional(t.Boolean()),
  projects: t.Optional(t.Union([t.Array(t.String()), t.Null()])),
  certificate: t.Optional(t.String({ description: "base64 DER (as LXD's client sends) or PEM; empty: the client's own TLS certificate" })),
  password: t.Optional(t.String({ description: "A join token (LXD 5.0 clients send it here)" })),
  trust_token: t.Optional(t.String({ description: "A join token (newer clients)" })),
  token: t.Optional(t.Boolean({ description: "true: issue a join token instead of adding a certificate" })),
}, { additionalProperties: true });
export type CertificatesPost = Static<typeof CertificatesPost>;

export const CertificatePut = t.Object({
  name: t.Optional(t.String()),
  type: t.Optional(t.String()),
  restricted: t.Optional(t.Boolean()),
  projects: t.Optional(t.Union([t.Array(t.String()), t.Null()])),
  certificate: t.Optional(t.String()),
}, { additionalProperties: true });
export type CertificatePut = Static<typeof CertificatePut>;

export const CertificateFingerprint = t.Object({ fingerprint: t.String({ description: "Fingerprint or a unique prefix of it" }) });

/** What `lxd config trust add` prints, base64-encoded: everything a client needs to join. */
export interface CertificateAddToken {
  client_name: string;
  fingerprint: string;
  addresses: string[];
  secret: string;
  expires_at: string;
}
