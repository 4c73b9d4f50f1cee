// Host facts the cluster layer is given by the daemon: the architecture name LXD shows for a
// member, and the cluster certificate a member serves with.
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fingerprintOf, fromPem } from "../tls/x509.ts";

export const hostArchitecture = (): string => os.machine();

/** cluster.crt/cluster.key in LXD_DIR (identical on every member), if this server has them. */
export function readClusterCertificate(dir: string): { certificate: string; key: string; fingerprint: string } | undefined {
  const cert = join(dir, "cluster.crt");
  const key = join(dir, "cluster.key");
  if (!existsSync(cert) || !existsSync(key)) return undefined;
  const certificate = readFileSync(cert, "utf8");
  return { certificate, key: readFileSync(key, "utf8"), fingerprint: fingerprintOf(fromPem(certificate)) };
}
