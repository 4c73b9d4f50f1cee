// core.trust_password as LXD keeps it: never the password itself, but a random salt and its
// scrypt hash (N=2^14, r=8, p=1, 64 bytes), hex-encoded together.
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";

const SALT = 32;
const KEY = 64;
const derive = (password: string, salt: Buffer) => scryptSync(password, salt, KEY, { N: 1 << 14, r: 8, p: 1 });

export function hashPassword(password: string): string {
  const salt = randomBytes(SALT);
  return Buffer.concat([salt, derive(password, salt)]).toString("hex");
}

export function verifyPassword(password: string, stored: string): boolean {
  const raw = Buffer.from(stored, "hex");
  if (raw.length !== SALT + KEY) return false;
  return timingSafeEqual(derive(password, raw.subarray(0, SALT)), raw.subarray(SALT));
}
