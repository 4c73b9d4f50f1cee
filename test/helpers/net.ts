// Loopback helpers for tests that listen on TCP (HTTPS API, image servers).

/** A port nothing listens on right now (the kernel's pick, released at once). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

/**
 * The first three octets ("10.X.Y") of an IPv4 /24 no host interface uses now, picked at random
 * in 10.200-249.*: tests that need fixed addresses on a bridge of their own, run beside other
 * daemons (a second test run, a developer's bridges), must not collide with them. `taken`: picks
 * of the same test, not on an interface yet.
 */
export function freeSubnet24(...taken: string[]): string {
  const used = new Set(
    [...Bun.spawnSync(["ip", "-4", "-o", "addr", "show"]).stdout.toString().matchAll(/inet (\d+\.\d+\.\d+)\.\d+\//g)].map((m) => m[1]),
  );
  for (;;) {
    const candidate = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!used.has(candidate) && !taken.includes(candidate)) return candidate;
  }
}
