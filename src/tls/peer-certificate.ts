// Reading the certificate a TLS server presents without trusting it: the first step of pinning
// (`remote add` shows or checks its fingerprint; a joining member checks the token's).
import { toPem } from "./x509.ts";

/** The PEM certificate the server at `hostname`:`port` presents; `identity` is shown to servers
 *  that ask for a client certificate. Rejects with one sentence naming `what` (default host:port). */
export function readPeerCertificate(hostname: string, port: number, identity?: { cert: string; key: string }, what = `${hostname}:${port}`): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Timed out connecting to ${what}`)), 10_000);
    const failed = (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`Failed to connect to ${what}: ${err.message}`));
    };
    Bun.connect({
      hostname: hostname.replace(/^\[|\]$/g, ""),
      port,
      tls: { rejectUnauthorized: false, ...(identity ? { cert: identity.cert, key: identity.key } : {}) },
      socket: {
        handshake(socket) {
          clearTimeout(timer);
          const raw = (socket.getPeerCertificate() as { raw?: Uint8Array } | undefined)?.raw;
          socket.end();
          if (raw?.length) resolve(toPem("CERTIFICATE", new Uint8Array(raw)));
          else reject(new Error(`${what} presented no certificate`));
        },
        data() {},
        error: (_s, err) => failed(err),
        connectError: (_s, err) => failed(err),
      },
    }).catch(failed);
  });
}
