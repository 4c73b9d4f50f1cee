// A minimal DER encoder: just the ASN.1 types an X.509 certificate needs. Each function returns
// the complete TLV encoding, so structures are built by nesting calls.

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** Definite-length form: short for < 128, else 0x80|count followed by big-endian bytes. */
export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export const tlv = (tag: number, ...content: Uint8Array[]): Uint8Array => {
  const body = concat(content);
  return concat([Uint8Array.of(tag), encodeLength(body.length), body]);
};

export const sequence = (...items: Uint8Array[]) => tlv(0x30, ...items);
export const set = (...items: Uint8Array[]) => tlv(0x31, ...items);
export const boolean = (value: boolean) => tlv(0x01, Uint8Array.of(value ? 0xff : 0));
export const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
export const utf8String = (text: string) => tlv(0x0c, new TextEncoder().encode(text));
/** [n] EXPLICIT: a constructed context-specific wrapper around a complete encoding. */
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);
/** [n] IMPLICIT on a primitive type: the raw content under a context-specific tag. */
export const implicit = (n: number, content: Uint8Array) => tlv(0x80 | n, content);

/** A BIT STRING whose first content byte counts the unused trailing bits. */
export const bitString = (bytes: Uint8Array, unusedBits = 0) => tlv(0x03, Uint8Array.of(unusedBits), bytes);

/** A non-negative INTEGER from big-endian bytes: leading zeros stripped, and a 0x00 prefix
 *  when the top bit is set so it does not read as negative. */
export function unsignedInteger(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? concat([Uint8Array.of(0), trimmed]) : trimmed.length ? trimmed : Uint8Array.of(0));
}

export const smallInteger = (n: number) => unsignedInteger(Uint8Array.of(n));

/** "1.2.840.10045.4.3.3": the first two arcs share a byte, the rest are base-128 with continuation bits. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isInteger(a) || a < 0)) throw new Error(`Invalid OID "${dotted}"`);
  const bytes: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const groups = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) groups.unshift((n & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; always UTC with seconds. */
export function time(date: Date): Uint8Array {
  const y = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  const enc = new TextEncoder();
  return y < 2050 ? tlv(0x17, enc.encode(`${pad(y % 100)}${rest}`)) : tlv(0x18, enc.encode(`${pad(y, 4)}${rest}`));
}

export { concat };
