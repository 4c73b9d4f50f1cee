// Wires remote access into the daemon: the server certificate, the trust store, join tokens and
// the HTTPS listener that follows core.https_address.
import type { CertificateManager } from "../../tls/certificates.ts";
import type { RemoteAccess } from "../certificates.ts";
import { log } from "../../log.ts";
import { ApiError } from "../../api/error.ts";
import type { ServerInfoSource } from "../server-info.ts";
import { HttpsService } from "./https.ts";
import { loadServerCertificate } from "./server-cert.ts";
import { TokenRegistry, TrustStore } from "./trust.ts";
import { hashPassword } from "../../tls/password.ts";

export const TRUST_PASSWORD = "core.trust_password";

export async function openRemoteAccess(certificates: CertificateManager, stateDir: string, unixSocket: string): Promise<RemoteAccess> {
  const certificate = await loadServerCertificate(stateDir);
  return { certificate, trust: new TrustStore(certificates), tokens: new TokenRegistry(), https: new HttpsService(certificate, unixSocket) };
}

/** Starts the listener the stored config asks for; a failure is logged, not fatal (as LXD). */
export function startHttps(remote: RemoteAccess, address: string | undefined): void {
  try {
    remote.https.apply(address);
  } catch (err) {
    log.error("Could not start the HTTPS listener", { address, err: (err as Error).message });
  }
}

/** The server object's source, extended with what remote access adds: the certificate,
 *  listen addresses, the public view for untrusted clients, and applying core.https_address
 *  on every config change (before it is stored, so a port in use refuses the change). */
export function withRemoteAccess(source: ServerInfoSource, remote: RemoteAccess): ServerInfoSource {
  return {
    ...source,
    // core.trust_password is stored hashed and shown as "true" only (as LXD does).
    config: () => {
      const config = source.config();
      return config[TRUST_PASSWORD] ? { ...config, [TRUST_PASSWORD]: "true" } : config;
    },
    setConfig: async (config) => {
      try {
        remote.https.apply(config["core.https_address"]);
      } catch (err) {
        throw new ApiError(400, (err as Error).message);
      }
      const stored = source.config()[TRUST_PASSWORD];
      const given = config[TRUST_PASSWORD];
      // "true" is what a client read back and sends again with other changes: keep the hash.
      if (given !== undefined && given !== stored && !(stored && given === "true")) config = { ...config, [TRUST_PASSWORD]: hashPassword(given) };
      else if (given !== undefined && stored) config = { ...config, [TRUST_PASSWORD]: stored };
      await source.setConfig(config);
    },
    addresses: () => remote.https.addresses(),
    certificate: () => ({ certificate: remote.certificate.certificate, fingerprint: remote.certificate.fingerprint }),
    trusted: (request) => remote.trust.identify(request).trusted,
  };
}
