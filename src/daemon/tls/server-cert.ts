// The daemon's own TLS identity: server.crt and server.key in LXD_DIR, made on first start.
import { existsSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fingerprintOf, fromPem, generateCertificate } from "../../tls/x509.ts";

export interface ServerCertificate {
  certificate: string;
  key: string;
  fingerprint: string;
}

/** Loads the pair from `dir`, or generates and stores it (key mode 0600, written atomically). */
export async function loadServerCertificate(dir: string): Promise<ServerCertificate> {
  const certPath = join(dir, "server.crt");
  const keyPath = join(dir, "server.key");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certificate = readFileSync(certPath, "utf8");
    try {
      return { certificate, key: readFileSync(keyPath, "utf8"), fingerprint: fingerprintOf(fromPem(certificate)) };
    } catch (err) {
      throw new Error(`Invalid server certificate ${certPath}: ${(err as Error).message}`);
    }
  }
  const host = os.hostname();
  const pair = await generateCertificate({ client: false, commonName: `root@${host}`, names: [host, "127.0.0.1", "::1"] });
  writeFileSync(`${keyPath}.tmp`, pair.key, { mode: 0o600 });
  renameSync(`${keyPath}.tmp`, keyPath);
  writeFileSync(`${certPath}.tmp`, pair.certificate, { mode: 0o644 });
  renameSync(`${certPath}.tmp`, certPath);
  return { certificate: pair.certificate, key: pair.key, fingerprint: pair.fingerprint };
}
