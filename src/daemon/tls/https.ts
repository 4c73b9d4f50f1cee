// core.https_address: starts, moves or stops the HTTPS listener as the setting changes, without
// a restart, and reports the addresses clients can reach.
import os from "node:os";
import { log } from "../../log.ts";
import { listenHttps, type HttpsListener } from "./proxy.ts";
import type { ServerCertificate } from "./server-cert.ts";

export const DEFAULT_HTTPS_PORT = 8443;

/** "[::]:8443", "127.0.0.1:8443", ":8443", "host" -> host and port ("" host: every address). */
export function parseListenAddress(address: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(address.trim())
    ?? /^()([0-9a-fA-F:]+)()$/.exec(address.trim());
  if (!m) throw new Error(`Invalid listen address "${address}"`);
  const port = m[3] ? Number(m[3]) : DEFAULT_HTTPS_PORT;
  if (port < 1 || port > 65535) throw new Error(`Invalid port in "${address}"`);
  return { hostname: m[1] || m[2] || "", port };
}

const isWildcard = (host: string) => host === "" || host === "::" || host === "0.0.0.0";

export class HttpsService {
  private listener?: HttpsListener;
  private current = "";

  constructor(private readonly cert: ServerCertificate, private readonly unixSocket: string) {}

  /** Makes the listener match `address` ("" or undefined: none). Throws if it cannot bind,
   *  leaving the previous listener as it was. */
  apply(address: string | undefined): void {
    const next = (address ?? "").trim();
    if (next === this.current) return;
    if (!next) {
      this.stop();
      return;
    }
    const { hostname, port } = parseListenAddress(next);
    // Moving to the same port on another address would collide with ourselves: free it first.
    const old = this.listener;
    if (old && old.port === port) {
      old.stop();
      this.listener = undefined;
    }
    let fresh: HttpsListener;
    try {
      fresh = listenHttps({ hostname: hostname || "::", port, cert: this.cert.certificate, key: this.cert.key, unixSocket: this.unixSocket });
    } catch (err) {
      if (old && !this.listener) this.restore();
      throw new Error(`Failed to listen on ${next}: ${(err as Error).message}`);
    }
    this.listener?.stop();
    this.listener = fresh;
    this.current = next;
    log.info("HTTPS listener started", { address: next });
  }

  private restore() {
    const prev = this.current;
    this.current = "";
    try {
      this.apply(prev);
    } catch (err) {
      log.error("Could not restore the previous HTTPS listener", { address: prev, err });
    }
  }

  /** Listens again where it does (after the certificate changed). Requests in flight finish on
   *  their connection: a member told to leave its cluster answers while it switches certificates. */
  restart(): void {
    const address = this.current;
    this.stop(true);
    this.apply(address);
  }

  stop(keepConnections = false): void {
    if (!this.listener) return;
    this.listener.stop(keepConnections);
    this.listener = undefined;
    log.info("HTTPS listener stopped", { address: this.current });
    this.current = "";
  }

  /** host:port strings clients can use (for a wildcard bind: this host's addresses). */
  addresses(): string[] {
    if (!this.listener) return [];
    const { hostname } = parseListenAddress(this.current);
    const port = this.listener.port;
    const fmt = (ip: string) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);
    if (!isWildcard(hostname)) return [fmt(hostname)];
    const ips = Object.values(os.networkInterfaces()).flat()
      .filter((a) => a && !a.internal && !(a.family === "IPv6" && a.address.startsWith("fe80")))
      .filter((a) => hostname !== "0.0.0.0" || a!.family === "IPv4")
      .map((a) => a!.address);
    return (ips.length ? ips : ["127.0.0.1"]).map(fmt);
  }
}
