// How the two daemons of a migration get their `control` and `fs` websockets: the side whose
// operation holds the secrets accepts them (each secret once, control within 10 s, as LXD), the
// other dials `wss://peer/1.0/operations/<id>/websocket?secret=…` over TLS pinned to the peer's
// certificate, presenting its own server certificate.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { X509Certificate } from "node:crypto";
import { Channel, clientEndpoint, type WsEndpoint } from "./channel.ts";

export const CHANNELS = ["control", "fs", "criu"] as const;
export type ChannelName = (typeof CHANNELS)[number];
/** `criu` (the checkpoint's rsync stream) only in a live migration. */
export interface Channels { control: Channel; fs: Channel; criu?: Channel }

/** The peers' connections must arrive this fast (LXD: 10 s). */
export const CONNECT_TIMEOUT_MS = 10_000;

const digest = (s: string) => createHash("sha256").update(s).digest();

/** The accepting side: one fresh secret per channel, each usable once. */
export class Acceptor {
  /** What the operation's metadata shows (channel -> secret). */
  readonly secrets: Partial<Record<ChannelName, string>>;
  private unused: Map<ChannelName, string>;
  private readonly live: boolean;
  private got: Partial<Channels> = {};
  private ready!: (c: Channels) => void;
  private failed!: (err: Error) => void;
  private readonly connected: Promise<Channels>;

  constructor(live = false) {
    this.live = live;
    const names = CHANNELS.filter((c) => live || c !== "criu");
    this.secrets = Object.fromEntries(names.map((c) => [c, randomBytes(32).toString("hex")]));
    this.unused = new Map(names.map((c) => [c, this.secrets[c]!]));
    this.connected = new Promise((resolve, reject) => { this.ready = resolve; this.failed = reject; });
    this.connected.catch(() => {});
  }

  /** The channel a secret opens, if it is still unused (compared in constant time). */
  channelFor(secret: string): ChannelName | undefined {
    const given = digest(secret);
    let found: ChannelName | undefined;
    for (const [name, value] of this.unused) if (timingSafeEqual(digest(value), given) && !found) found = name;
    return found;
  }

  /** Takes a websocket the operation accepted; false if its secret is unknown or used. */
  accept(secret: string, ws: WsEndpoint): boolean {
    const name = this.channelFor(secret);
    if (!name) return false;
    this.unused.delete(name);
    this.got[name] = new Channel(name, ws);
    if (this.got.control && this.got.fs && (this.got.criu || !this.live)) this.ready(this.got as Channels);
    return true;
  }

  /** Resolves once both channels are in; rejects after the timeout or `abort`. */
  async wait(timeoutMs = CONNECT_TIMEOUT_MS): Promise<Channels> {
    const timer = setTimeout(() => this.failed(new Error("Timed out waiting for migration connections")), timeoutMs);
    try {
      return await this.connected;
    } finally {
      clearTimeout(timer);
    }
  }

  /** No more connections: the secrets die with the operation. */
  close(reason = "Migration ended"): void {
    this.unused.clear();
    this.failed(new Error(reason));
    this.got.control?.close();
    this.got.fs?.close();
    this.got.criu?.close();
  }
}

export interface DialTarget {
  /** The peer operation's URL: https://host:port/1.0/operations/<id> */
  operation: string;
  /** The peer's certificate (PEM): the only one accepted. */
  certificate: string;
  secrets: Record<string, string>;
}

/** This daemon's identity towards a peer. */
export interface TlsIdentity { cert: string; key: string }

function wsUrl(operation: string, secret: string): string {
  const url = new URL(operation.replace(/\/+$/, ""));
  if (url.protocol !== "https:") throw new Error(`Migration peers are reached over HTTPS only, not "${operation}"`);
  if (!/^\/1\.0\/operations\/[^/]+$/.test(url.pathname)) throw new Error(`Invalid migration operation URL "${operation}"`);
  return `wss://${url.host}${url.pathname}/websocket?secret=${encodeURIComponent(secret)}`;
}

function dialOne(operation: string, secret: string, peer: string, identity: TlsIdentity, timeoutMs: number): Promise<WebSocket> {
  const expected = new X509Certificate(peer).fingerprint256;
  const tls = {
    cert: identity.cert, key: identity.key, ca: peer,
    // The pinned certificate is the trust anchor; names do not matter, its fingerprint does.
    checkServerIdentity: (_host: string, got: { fingerprint256?: string }) =>
      got?.fingerprint256 === expected ? undefined : new Error("Migration peer certificate mismatch"),
  };
  const ws = new WebSocket(wsUrl(operation, secret), { tls } as unknown as string[]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { ws.close(); reject(new Error(`Timed out connecting to ${operation}`)); }, timeoutMs);
    ws.onopen = () => { clearTimeout(timer); ws.onopen = ws.onerror = null; resolve(ws); };
    ws.onerror = (ev) => {
      clearTimeout(timer);
      ws.onopen = ws.onerror = null;
      reject(new Error(`Failed to connect to the migration peer ${new URL(operation).host}: ${(ev as ErrorEvent).message || "connection refused"}`));
    };
  });
}

/** The dialling side: control first, then fs, then criu when the peer offers it (live). */
export async function dial(target: DialTarget, identity: TlsIdentity, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Channels> {
  for (const c of ["control", "fs"]) if (!target.secrets[c]) throw new Error(`Missing ${c} secret`);
  const open = async (name: ChannelName) =>
    new Channel(name, clientEndpoint(await dialOne(target.operation, target.secrets[name]!, target.certificate, identity, timeoutMs)));
  const control = await open("control");
  let fs: Channel | undefined;
  try {
    fs = await open("fs");
    return { control, fs, criu: target.secrets.criu ? await open("criu") : undefined };
  } catch (err) {
    control.close();
    fs?.close();
    throw err;
  }
}
