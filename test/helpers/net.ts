// Loopback helpers for tests that listen on TCP (HTTPS API, image servers).

/** A port nothing listens on right now (the kernel's pick, released at once). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}
