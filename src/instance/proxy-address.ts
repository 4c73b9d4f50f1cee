// Proxy device endpoints (`listen`, `connect`): tcp:HOST:PORT, udp:HOST:PORT, unix:PATH, unix:@NAME,
// and the proxy options that are refused.
// Checked here before anything is started, so a bad address is refused with the reason and the
// device is never stored; the C forwarder (native/proxy.c) parses the same syntax.
import { isTrue } from "../config/values.ts";
import { isIP } from "node:net";

export interface ProxyAddress {
  protocol: "tcp" | "udp" | "unix";
  /** IP address (tcp/udp) or socket path ("@name" for an abstract socket). */
  host: string;
  port?: number;
}

const UNIX_PATH_MAX = 107;

/** Parses one endpoint; returns an error message for anything the forwarder cannot serve. */
export function parseProxyAddress(text: string): ProxyAddress | string {
  const m = /^(tcp|udp|unix):(.*)$/.exec(text);
  if (!m) return `Invalid proxy address "${text}" (expected tcp:ADDR:PORT, udp:ADDR:PORT or unix:PATH)`;
  const protocol = m[1] as ProxyAddress["protocol"];
  const rest = m[2];
  if (protocol === "unix") {
    if (!rest.startsWith("/") && !(rest.startsWith("@") && rest.length > 1)) return `Invalid unix socket "${text}": use an absolute path or @name`;
    if (rest.length > UNIX_PATH_MAX) return `Invalid unix socket "${text}": longer than ${UNIX_PATH_MAX} characters`;
    return { protocol, host: rest };
  }
  const colon = rest.lastIndexOf(":");
  if (colon <= 0) return `Invalid proxy address "${text}": missing port`;
  let host = rest.slice(0, colon);
  const portText = rest.slice(colon + 1);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (!isIP(host)) return `Invalid proxy address "${text}": "${host}" is not an IP address`;
  if (/[-,]/.test(portText)) return `Invalid proxy address "${text}": port ranges are not supported`;
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return `Invalid proxy address "${text}": invalid port "${portText}"`;
  return { protocol, host, port };
}

/** Streams connect to streams (tcp and unix mix freely), datagrams to datagrams. */
export function checkProxyPair(listen: string, connect: string): string | undefined {
  const l = parseProxyAddress(listen);
  if (typeof l === "string") return l;
  const c = parseProxyAddress(connect);
  if (typeof c === "string") return c;
  if ((l.protocol === "udp") !== (c.protocol === "udp")) return `Cannot proxy ${l.protocol} to ${c.protocol}: both ends must be streams (tcp, unix) or both udp`;
  return undefined;
}


/** Options LXD has that the forwarder does not implement: refused when the device is added. */
export function unsupportedProxyOption(dev: Record<string, string>): string | undefined {
  if (isTrue(dev.nat)) return "nat=true is not supported (the forwarder always proxies in user space)";
  if (isTrue(dev.proxy_protocol)) return "proxy_protocol=true is not supported";
  if (Number(dev["security.uid"] ?? 0) || Number(dev["security.gid"] ?? 0)) return "security.uid/security.gid are not supported";
  return undefined;
}
