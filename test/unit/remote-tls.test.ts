// Remote access building blocks: the DER encoder, self-signed certificates, join tokens, the
// HTTPS relay's request-head rewriting, listen addresses and the client's config file.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "bun:test";
import { encodeLength, oid, time, unsignedInteger } from "../../src/tls/asn1.ts";
import { parseListenAddress } from "../../src/daemon/tls/https.ts";
import { PEER_HEADER, rewriteHead } from "../../src/daemon/tls/proxy.ts";
import { decodeToken, encodeToken, parseExpiry } from "../../src/tls/token.ts";
import { fingerprintOf, fromPem, generateCertificate } from "../../src/tls/x509.ts";
import { formatConfig, parseConfig, selectRemote, splitRemote } from "../../src/client/config.ts";
import { httpsUrl } from "../../src/client/tls.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("DER lengths, integers, OIDs and times", () => {
  expect(hex(encodeLength(5))).toBe("05");
  expect(hex(encodeLength(127))).toBe("7f");
  expect(hex(encodeLength(128))).toBe("8180");
  expect(hex(encodeLength(300))).toBe("82012c");
  expect(hex(unsignedInteger(Uint8Array.of(0x80)))).toBe("02020080");
  expect(hex(unsignedInteger(Uint8Array.of(0, 0, 5)))).toBe("020105");
  expect(hex(unsignedInteger(Uint8Array.of(0)))).toBe("020100");
  // ecdsa-with-SHA384 and prime-curve arcs with multi-byte groups.
  expect(hex(oid("1.2.840.10045.4.3.3"))).toBe("06082a8648ce3d040303");
  expect(() => oid("1")).toThrow();
  expect(Buffer.from(time(new Date("2030-01-02T03:04:05Z")).subarray(2)).toString()).toBe("300102030405Z");
  expect(time(new Date("2030-01-02T03:04:05Z"))[0]).toBe(0x17);
  expect(Buffer.from(time(new Date("2051-01-02T03:04:05Z")).subarray(2)).toString()).toBe("20510102030405Z");
});

test("server certificate: parses, self-verifies, P-384, SANs, fingerprint", async () => {
  const pair = await generateCertificate({ client: false, commonName: "root@host", names: ["host", "127.0.0.1", "::1"] });
  const x = new X509Certificate(pair.certificate);
  expect(x.verify(x.publicKey)).toBe(true);
  expect(x.checkPrivateKey(createPrivateKey(pair.key))).toBe(true);
  expect(x.subject).toContain("CN=root@host");
  expect(x.subjectAltName).toBe("DNS:host, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
  expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
  expect(x.fingerprint256.replaceAll(":", "").toLowerCase()).toBe(pair.fingerprint);
  expect(fingerprintOf(fromPem(pair.certificate))).toBe(pair.fingerprint);
  expect(Date.parse(x.validTo) - Date.now()).toBeGreaterThan(3000 * 86_400_000);
  expect(x.ca).toBe(false);

  // openssl, when the host has it, reads the same certificate.
  if (existsSync("/usr/bin/openssl")) {
    const dir = mkdtempSync("/tmp/lxd-x509-");
    try {
      writeFileSync(join(dir, "c.pem"), pair.certificate);
      const p = Bun.spawnSync(["openssl", "x509", "-in", join(dir, "c.pem"), "-noout", "-text"]);
      const text = p.stdout.toString();
      expect(p.exitCode).toBe(0);
      expect(text).toContain("ecdsa-with-SHA384");
      expect(text).toContain("TLS Web Server Authentication");
      const v = Bun.spawnSync(["openssl", "verify", "-CAfile", join(dir, "c.pem"), join(dir, "c.pem")]);
      expect(v.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("client certificate has clientAuth and no SANs", async () => {
  const pair = await generateCertificate({ client: true, commonName: "me@laptop" });
  const x = new X509Certificate(pair.certificate);
  expect(x.subjectAltName).toBeUndefined();
  expect(x.keyUsage).toContain("1.3.6.1.5.5.7.3.2");
});

test("join tokens round-trip; junk is not a token", () => {
  const token = { client_name: "laptop", fingerprint: "ab".repeat(32), addresses: ["10.0.0.1:8443"], secret: "s3cret", expires_at: "2030-01-01T00:00:00Z" };
  const text = encodeToken(token);
  expect(JSON.parse(Buffer.from(text, "base64").toString())).toEqual(token);
  expect(decodeToken(text)).toEqual(token);
  expect(decodeToken(`  ${text}\n`)).toEqual(token);
  expect(decodeToken("not a token")).toBeUndefined();
  expect(decodeToken(Buffer.from('{"fingerprint":"x"}').toString("base64"))).toBeUndefined();
});

test("token expiry syntax", () => {
  expect(parseExpiry("30S")).toBe(30);
  expect(parseExpiry("10M")).toBe(600);
  expect(parseExpiry("3H")).toBe(10800);
  expect(parseExpiry("1d")).toBe(86400);
  expect(parseExpiry("1H30M")).toBe(5400);
  expect(parseExpiry("soon")).toBeUndefined();
  expect(parseExpiry("5")).toBeUndefined();
  expect(parseExpiry("5X")).toBeUndefined();
});

const head = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

test("relay: the peer header is replaced, never forwarded from the client", () => {
  const r = rewriteHead(head(`GET /1.0 HTTP/1.1\r\nHost: x\r\n${PEER_HEADER}: forged`), "Q0VSVA==");
  expect(text(r.head)).toBe(`GET /1.0 HTTP/1.1\r\nHost: x\r\n${PEER_HEADER}: Q0VSVA==\r\n\r\n`);
  expect(r.contentLength).toBe(0);
  expect(r.upgrade).toBe(false);
});

test("relay: framing is read strictly", () => {
  expect(rewriteHead(head("POST /1.0/instances HTTP/1.1\r\nContent-Length: 12"), "-").contentLength).toBe(12);
  expect(rewriteHead(head("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked"), "-").chunked).toBe(true);
  expect(rewriteHead(head("GET /1.0/events HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade"), "-").upgrade).toBe(true);
  const bad = [
    "GET / HTTP/1.1\nHost: x\n\nGET /1.0/instances HTTP/1.1", // bare LF could hide a second request
    "GET / HTTP/1.1\r\nHost: x\rY: z",
    "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6",
    "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked",
    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked",
    "POST / HTTP/1.1\r\nContent-Length: -1",
    "GET / HTTP/1.1\r\n Folded: header",
    "GET / HTTP/2.0",
    "GET  / HTTP/1.1",
  ];
  for (const h of bad) expect(() => rewriteHead(head(h), "-")).toThrow();
});

test("listen addresses", () => {
  expect(parseListenAddress("127.0.0.1:8444")).toEqual({ hostname: "127.0.0.1", port: 8444 });
  expect(parseListenAddress("[::]:8443")).toEqual({ hostname: "::", port: 8443 });
  expect(parseListenAddress(":9443")).toEqual({ hostname: "", port: 9443 });
  expect(parseListenAddress("example.org")).toEqual({ hostname: "example.org", port: 8443 });
  expect(parseListenAddress("::1")).toEqual({ hostname: "::1", port: 8443 });
  expect(() => parseListenAddress("1.2.3.4:99999")).toThrow();
  expect(httpsUrl("10.0.0.1")).toBe("https://10.0.0.1:8443");
  expect(httpsUrl("10.0.0.1:9000")).toBe("https://10.0.0.1:9000");
  expect(httpsUrl("https://[::1]:9000")).toBe("https://[::1]:9000");
  expect(httpsUrl("::1")).toBe("https://[::1]:8443");
});

test("client config.yml round-trips and REMOTE: prefixes select the remote", () => {
  const config = parseConfig("default-remote: local\nremotes:\n  local:\n    addr: unix://\n    public: false\n  prod:\n    addr: https://10.0.0.1:8443\n    auth_type: tls\n    protocol: lxd\n    public: false\naliases: {}\n");
  expect(config.remotes.prod).toEqual({ addr: "https://10.0.0.1:8443", auth_type: "tls", protocol: "lxd", public: false });
  expect(parseConfig(formatConfig(config))).toEqual(config);

  const dir = mkdtempSync("/tmp/lxd-conf-");
  try {
    writeFileSync(join(dir, "config.yml"), formatConfig(config));
    expect(selectRemote(["list", "prod:"], dir)).toEqual(["list"]);
    expect(selectRemote(["exec", "prod:c1", "--", "echo", "prod:x"], dir)).toEqual(["exec", "c1", "--", "echo", "prod:x"]);
    expect(selectRemote(["config", "set", "c1", "user.url", "http://x"], dir)).toEqual(["config", "set", "c1", "user.url", "http://x"]);
    expect(() => selectRemote(["exec", "prod:c1", "local:c2"], dir)).toThrow(/two remotes/);
    // Copies and moves name two servers: they split their prefixes themselves.
    expect(selectRemote(["copy", "prod:c1", "local:c2"], dir)).toEqual(["copy", "prod:c1", "local:c2"]);
    expect(selectRemote(["storage", "volume", "move", "prod:p/v", "p/v"], dir)).toEqual(["storage", "volume", "move", "prod:p/v", "p/v"]);
    expect(splitRemote("prod:c1/snap0", config)).toEqual(["prod", "c1/snap0"]);
    expect(selectRemote(["remote", "add", "prod:x", "y"], dir)).toEqual(["remote", "add", "prod:x", "y"]);
    // Daemon commands always mean this host's daemon.
    expect(selectRemote(["shutdown"], dir)).toEqual(["shutdown"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
