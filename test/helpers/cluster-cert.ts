// A cluster certificate for tests that run dqlite nodes without a daemon (the daemon writes its own
// cluster.crt/cluster.key in LXD_DIR when it becomes a member).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateCertificate } from "../../src/tls/x509.ts";

/** Writes a fresh certificate and key into `dir` as NAME.crt/NAME.key; their paths. */
export async function writeCertificate(dir: string, name = "cluster"): Promise<{ cert: string; key: string }> {
  const pair = await generateCertificate({ client: false, commonName: name, names: ["127.0.0.1"] });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, pair.certificate);
  writeFileSync(key, pair.key, { mode: 0o600 });
  return { cert, key };
}
