// Self-signed X.509 certificates with ECDSA P-384 keys, as LXD makes for its server and clients:
// the key comes from WebCrypto, the certificate is DER built by ./asn1.ts and signed with
// ecdsa-with-SHA384. Nothing on the host (no openssl) is needed.
import { isIP } from "node:net";
import {
  bitString, boolean, concat, explicit, implicit, octetString, oid, sequence, set, smallInteger, time,
  unsignedInteger, utf8String,
} from "./asn1.ts";

const OID = {
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  organization: "2.5.4.10",
  commonName: "2.5.4.3",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  basicConstraints: "2.5.29.19",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
};

export interface CertificateRequest {
  /** Client certificates carry extKeyUsage clientAuth, server ones serverAuth and host names. */
  client: boolean;
  commonName: string;
  /** Subject alternative names: host names and IP addresses (server certificates). */
  names?: string[];
  validDays?: number;
}

export interface KeyPair {
  certificate: string; // PEM
  key: string; // PEM (PKCS#8)
  der: Uint8Array;
  fingerprint: string;
}

export const toPem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;

/** The DER bytes of the first PEM block with this label (CERTIFICATE by default). */
export function fromPem(pem: string, label = "CERTIFICATE"): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`No ${label} PEM block found`);
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}

/** LXD's certificate fingerprint: sha256 of the DER encoding, lowercase hex. Bun's hasher, not
 *  node:crypto: loading that module would cost every remote CLI call ~20 ms. */
export const fingerprintOf = (der: Uint8Array) => new Bun.CryptoHasher("sha256").update(der).digest("hex");

/** WebCrypto signs ECDSA as r‖s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }. */
function ecdsaSignatureToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

const name = (commonName: string) =>
  sequence(
    set(sequence(oid(OID.organization), utf8String("LXD"))),
    set(sequence(oid(OID.commonName), utf8String(commonName))),
  );

const extension = (id: string, critical: boolean, value: Uint8Array) =>
  critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split(".").map(Number));
  // Expand "::" then write eight 16-bit groups.
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function subjectAltNames(names: string[]): Uint8Array {
  const enc = new TextEncoder();
  return sequence(...names.map((n) => (isIP(n) ? implicit(7, ipBytes(n)) : implicit(2, enc.encode(n)))));
}

export async function generateCertificate(req: CertificateRequest): Promise<KeyPair> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"]) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));

  // Backdated a little so a client whose clock is slightly behind still accepts it.
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + (req.validDays ?? 3650) * 86_400_000);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha384));
  // digitalSignature (bit 0) and keyEncipherment (bit 2): 0b101 in the top bits, 5 unused.
  const extensions = [
    extension(OID.keyUsage, true, bitString(Uint8Array.of(0xa0), 5)),
    extension(OID.extKeyUsage, false, sequence(oid(req.client ? OID.clientAuth : OID.serverAuth))),
    extension(OID.basicConstraints, true, sequence()),
  ];
  if (req.names?.length) extensions.push(extension(OID.subjectAltName, false, subjectAltNames(req.names)));

  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(serial),
    signatureAlgorithm,
    name(req.commonName),
    sequence(time(notBefore), time(notAfter)),
    name(req.commonName),
    spki,
    explicit(3, sequence(...extensions)),
  );
  const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, keys.privateKey, new Uint8Array(tbs)));
  const der = sequence(tbs, signatureAlgorithm, bitString(ecdsaSignatureToDer(raw)));
  return { certificate: toPem("CERTIFICATE", der), key: toPem("PRIVATE KEY", pkcs8), der, fingerprint: fingerprintOf(der) };
}

export { concat };
