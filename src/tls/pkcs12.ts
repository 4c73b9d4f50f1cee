// PKCS#12 (RFC 7292) files holding one certificate and its private key, the `.pfx` a browser
// imports as its client identity (`lxd ui certificate`). The key is encrypted with PBES2
// (PBKDF2-HMAC-SHA256, AES-256-CBC) and the whole file is MACed with HMAC-SHA256, as OpenSSL 3
// writes them by default; Chromium/NSS, Firefox and OpenSSL read these. Built on WebCrypto and
// ./asn1.ts: nothing on the host is needed.
import { concat, explicit, octetString, oid, sequence, set, tlv, unsignedInteger } from "./asn1.ts";

const OID = {
  data: "1.2.840.113549.1.7.1",
  certBag: "1.2.840.113549.1.12.10.1.3",
  shroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSha256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  sha256: "2.16.840.1.101.3.4.2.1",
};

/** OpenSSL's default work factor for both the key encryption and the MAC. */
const ITERATIONS = 2048;

const NULL = tlv(0x05);
const integer = (n: number) => unsignedInteger(Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff));
const dataContent = (bytes: Uint8Array) => sequence(oid(OID.data), explicit(0, octetString(bytes)));
const sha256 = (bytes: Uint8Array) => new Uint8Array(new Bun.CryptoHasher("sha256").update(bytes).digest());

/** BMPString (UTF-16BE), NUL-terminated when it is a password for the PKCS#12 KDF. */
function bmp(text: string, terminated: boolean): Uint8Array {
  const out = new Uint8Array(text.length * 2 + (terminated ? 2 : 0));
  for (let i = 0; i < text.length; i++) {
    out[i * 2] = text.charCodeAt(i) >> 8;
    out[i * 2 + 1] = text.charCodeAt(i) & 0xff;
  }
  return out;
}

/** The PKCS#12 key derivation (RFC 7292 appendix B.2) with SHA-256; id 3 = MAC key. */
function pkcs12Kdf(password: string, salt: Uint8Array, id: number, iterations: number, length: number): Uint8Array {
  const u = 32;
  const v = 64;
  const fill = (src: Uint8Array) => {
    const n = src.length ? v * Math.ceil(src.length / v) : 0;
    return Uint8Array.from({ length: n }, (_, i) => src[i % src.length]);
  };
  const D = new Uint8Array(v).fill(id);
  const I = concat([fill(salt), fill(bmp(password, true))]);
  const out: Uint8Array[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let A = sha256(concat([D, I]));
    for (let r = 1; r < iterations; r++) A = sha256(A);
    out.push(A);
    const B = fill(A);
    // I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block of I.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return concat(out).subarray(0, length);
}

async function encryptKey(pkcs8: Uint8Array, password: string): Promise<Uint8Array> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(16));
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveKey"]);
  const aes = await crypto.subtle.deriveKey(
    { name: "PBKDF2", salt, iterations: ITERATIONS, hash: "SHA-256" }, base, { name: "AES-CBC", length: 256 }, false, ["encrypt"]);
  const encrypted = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv }, aes, new Uint8Array(pkcs8)));
  const algorithm = sequence(oid(OID.pbes2), sequence(
    sequence(oid(OID.pbkdf2), sequence(octetString(salt), integer(ITERATIONS), sequence(oid(OID.hmacWithSha256), NULL))),
    sequence(oid(OID.aes256Cbc), octetString(iv)),
  ));
  return sequence(algorithm, octetString(encrypted));
}

/** A .pfx with `certificate` (DER) and its PKCS#8 private key (DER), under `password`. */
export async function writePkcs12(certificate: Uint8Array, pkcs8: Uint8Array, password: string, friendlyName: string): Promise<Uint8Array> {
  // The same localKeyId on both bags tells importers which key belongs to the certificate.
  const attributes = set(
    sequence(oid(OID.friendlyName), set(tlv(0x1e, bmp(friendlyName, false)))),
    sequence(oid(OID.localKeyId), set(octetString(sha256(certificate).subarray(0, 20)))),
  );
  const certBag = sequence(oid(OID.certBag), explicit(0, sequence(oid(OID.x509Certificate), explicit(0, octetString(certificate)))), attributes);
  const keyBag = sequence(oid(OID.shroudedKeyBag), explicit(0, await encryptKey(pkcs8, password)), attributes);
  const authSafe = sequence(dataContent(sequence(certBag)), dataContent(sequence(keyBag)));

  const macSalt = crypto.getRandomValues(new Uint8Array(16));
  const macKey = await crypto.subtle.importKey(
    "raw", new Uint8Array(pkcs12Kdf(password, macSalt, 3, ITERATIONS, 32)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", macKey, new Uint8Array(authSafe)));
  const macData = sequence(sequence(sequence(oid(OID.sha256), NULL), octetString(mac)), octetString(macSalt), integer(ITERATIONS));
  return sequence(integer(3), dataContent(authSafe), macData);
}
