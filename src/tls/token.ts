// Join tokens as LXD's client and server exchange them: base64 of a JSON object naming the
// server (its certificate fingerprint and addresses) and a one-time secret.
import type { CertificateAddToken } from "../api/certificate.ts";

export function encodeToken(token: CertificateAddToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64");
}

/** The token's fields, or undefined when `text` is not a join token at all. */
export function decodeToken(text: string): CertificateAddToken | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text.trim(), "base64").toString("utf8"));
  } catch {
    return undefined;
  }
  const v = value as Partial<CertificateAddToken> | null;
  if (!v || typeof v !== "object" || typeof v.secret !== "string" || !v.secret || typeof v.fingerprint !== "string") return undefined;
  return {
    client_name: typeof v.client_name === "string" ? v.client_name : "",
    fingerprint: v.fingerprint,
    addresses: Array.isArray(v.addresses) ? v.addresses.filter((a): a is string => typeof a === "string") : [],
    secret: v.secret,
    expires_at: typeof v.expires_at === "string" ? v.expires_at : "",
  };
}

const UNITS: Record<string, number> = { S: 1, s: 1, M: 60, H: 3600, h: 3600, d: 86400, w: 604800 };

/** LXD's expiry syntax as used by core.remote_token_expiry: "30S", "10M", "3H", "1d", "2w"
 *  (several parts may follow each other: "1H30M"). Returns seconds, or undefined if invalid. */
export function parseExpiry(text: string): number | undefined {
  const parts = text.trim().match(/\d+\s*[A-Za-z]+/g);
  if (!parts || parts.join("").replace(/\s/g, "") !== text.replace(/\s/g, "")) return undefined;
  let total = 0;
  for (const part of parts) {
    const [, n, unit] = /^(\d+)\s*([A-Za-z]+)$/.exec(part)!;
    if (!(unit in UNITS)) return undefined;
    total += Number(n) * UNITS[unit];
  }
  return total > 0 ? total : undefined;
}
