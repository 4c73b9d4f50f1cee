// The trust store's rules (/1.0/certificates): which certificates are trusted, with what name,
// type and project restrictions, the trust password and join token expiry from the server
// config, and the lifecycle event of each change. The only reader and writer of the certificates
// table: the daemon's request check (TrustStore in src/daemon/tls/trust.ts) lists through it and
// re-reads on onChange.
import { X509Certificate } from "node:crypto";
import { ApiError } from "../api/error.ts";
import type { Db } from "../db/index.ts";
import { deleteCertificate, getCertificate, insertCertificate, listCertificates, updateCertificate, type CertificateRow } from "../db/certificates.ts";
import { getServerConfigValue } from "../db/server-config.ts";
import { verifyPassword } from "./password.ts";
import { parseExpiry } from "./token.ts";
import { fingerprintOf, toPem } from "./x509.ts";

type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

export type { CertificateRow };

/** Join tokens last this long unless core.remote_token_expiry says otherwise. */
const DEFAULT_TOKEN_EXPIRY_S = 24 * 3600;

const url = (fp: string) => `/1.0/certificates/${fp}`;

/** DER bytes of a certificate given as PEM or base64 DER; throws (status 400) if it is neither. */
export function parseCertificate(text: string): Uint8Array {
  const trimmed = text.trim();
  try {
    const x = trimmed.startsWith("-----BEGIN")
      ? new X509Certificate(trimmed)
      : new X509Certificate(Buffer.from(trimmed, "base64"));
    return new Uint8Array(x.raw);
  } catch (err) {
    throw new ApiError(400, `Invalid certificate: ${(err as Error).message}`);
  }
}

/** "client" (full access) or "metrics" (GET /1.0/metrics only), as LXD. */
export function checkType(type: string | undefined): "client" | "metrics" {
  if (type === undefined || type === "" || type === "client") return "client";
  if (type === "metrics") return "metrics";
  throw new ApiError(400, `Unknown certificate type "${type}" (client or metrics)`);
}

const commonName = (der: Uint8Array) => /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(der).subject)?.[1] ?? "";

export interface CertificateFields { name?: string; type?: "client" | "metrics"; restricted?: boolean; projects?: string[] }

export class CertificateManager {
  private readonly changed: (() => void)[] = [];

  constructor(private readonly db: Db, private readonly events: Events) {}

  /** Runs after every change to the table (the request check re-reads it). */
  onChange(fn: () => void): void {
    this.changed.push(fn);
  }

  list(): CertificateRow[] {
    return listCertificates(this.db);
  }

  /** By full fingerprint or a unique prefix, as LXD accepts. */
  find(fingerprint: string): CertificateRow {
    const exact = getCertificate(this.db, fingerprint);
    if (exact) return exact;
    const matches = listCertificates(this.db).filter((r) => fingerprint.length > 0 && r.fingerprint.startsWith(fingerprint));
    if (matches.length > 1) throw new ApiError(400, `Certificate fingerprint prefix "${fingerprint}" is ambiguous`);
    if (!matches.length) throw new ApiError(404, `Certificate "${fingerprint}" not found`);
    return matches[0];
  }

  /** Trusts a certificate (PEM, or base64 DER as LXD's client sends); without a name it takes
   *  the certificate's common name. */
  add(certificate: string | Uint8Array, fields: CertificateFields): CertificateRow {
    const der = typeof certificate === "string" ? parseCertificate(certificate) : certificate;
    const fingerprint = fingerprintOf(der);
    if (listCertificates(this.db).some((r) => r.fingerprint === fingerprint)) {
      throw new ApiError(409, "Certificate already in trust store");
    }
    const row: CertificateRow = {
      fingerprint, type: fields.type ?? "client", name: fields.name || commonName(der), certificate: toPem("CERTIFICATE", der),
      restricted: fields.restricted ?? false, projects: fields.projects ?? [],
    };
    insertCertificate(this.db, row);
    this.changedNow();
    this.events.send("lifecycle", { action: "certificate-created", source: url(row.fingerprint), context: { name: row.name } });
    return row;
  }

  /** Changes name, restriction and projects; the type and the certificate itself stay. */
  update(row: CertificateRow, next: { name: string; type?: string; restricted: boolean; projects: string[]; certificate?: string }): void {
    if (next.type && checkType(next.type) !== row.type) throw new ApiError(400, "Changing a certificate's type is not supported: remove it and add it again");
    if (next.certificate && next.certificate.trim() !== row.certificate.trim()) {
      const der = parseCertificate(next.certificate);
      if (Buffer.compare(Buffer.from(der), Buffer.from(parseCertificate(row.certificate))) !== 0) {
        throw new ApiError(400, "Changing the certificate itself is not supported: add the new one and remove the old one");
      }
    }
    updateCertificate(this.db, row.fingerprint, { name: next.name, restricted: next.restricted, projects: next.projects });
    this.changedNow();
    this.events.send("lifecycle", { action: "certificate-updated", source: url(row.fingerprint), context: {} });
  }

  remove(row: CertificateRow): void {
    deleteCertificate(this.db, row.fingerprint);
    this.changedNow();
    this.events.send("lifecycle", { action: "certificate-deleted", source: url(row.fingerprint), context: {} });
  }

  /** Whether `password` is core.trust_password (LXD 5.0 still accepts it for joining). */
  trustPasswordMatches(password: string): boolean {
    const hash = getServerConfigValue(this.db, "core.trust_password");
    return Boolean(hash && verifyPassword(password, hash));
  }

  /** How long a new join token lasts, in seconds (core.remote_token_expiry). */
  tokenExpirySeconds(): number {
    return parseExpiry(getServerConfigValue(this.db, "core.remote_token_expiry") ?? "") ?? DEFAULT_TOKEN_EXPIRY_S;
  }

  private changedNow(): void {
    for (const fn of this.changed) fn();
  }
}
