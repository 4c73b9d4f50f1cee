// `lxd ui certificate`'s .pfx: OpenSSL reads the certificate and key back with the password (a
// non-ASCII one too) and refuses a wrong one; the key matches the certificate.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writePkcs12 } from "../../src/tls/pkcs12.ts";
import { fromPem, generateCertificate } from "../../src/tls/x509.ts";

const openssl = (...args: string[]) => {
  const r = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

test("a .pfx OpenSSL opens with its password and not with another", async () => {
  const dir = mkdtempSync("/tmp/lxd-pkcs12-");
  try {
    const pair = await generateCertificate({ client: true, commonName: "browser" });
    const file = join(dir, "b.pfx");
    writeFileSync(file, await writePkcs12(pair.der, fromPem(pair.key, "PRIVATE KEY"), "pässwörd ✓", "my browser"));

    const info = openssl("pkcs12", "-in", file, "-passin", "pass:pässwörd ✓", "-info", "-nodes");
    expect(info.code, info.err).toBe(0);
    expect(info.err).toContain("MAC: sha256");
    expect(info.err).toContain("PBES2, PBKDF2, AES-256-CBC");
    expect(info.out).toContain("friendlyName: my browser");
    expect(info.out).toContain(pair.certificate.split("\n")[1]);
    // The key inside is the certificate's: same public key.
    const keyFile = join(dir, "key.pem");
    writeFileSync(keyFile, info.out.slice(info.out.indexOf("-----BEGIN PRIVATE KEY-----")));
    const certFile = join(dir, "cert.pem");
    writeFileSync(certFile, pair.certificate);
    expect(openssl("pkey", "-in", keyFile, "-pubout").out).toBe(openssl("x509", "-in", certFile, "-noout", "-pubkey").out);

    expect(openssl("pkcs12", "-in", file, "-passin", "pass:wrong", "-noout").code).not.toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
