// Cluster members for tests: daemons on this machine, each with its own HTTPS address on loopback,
// joined with LXD's token and preseed as a new host would be.
import { existsSync } from "node:fs";
import { expect } from "bun:test";
import { startDaemon, type StartOptions, type TestDaemon } from "./daemon.ts";
import { freePort } from "./net.ts";

/** The host's libdqlite (cluster tests skip without it). */
export const LIBDQLITE = ["/usr/lib/x86_64-linux-gnu/libdqlite.so.0", "/usr/lib/aarch64-linux-gnu/libdqlite.so.0"].find(existsSync);

/** Each member's HTTPS address, chosen by startMembers. */
export const memberAddress = new Map<TestDaemon, string>();

/** Starts `n` daemons into `into` (as each starts, so a caller's cleanup stops those already up). */
export async function startMembers(into: TestDaemon[], n: number, opts: StartOptions = {}): Promise<void> {
  for (let i = 0; i < n; i++) {
    const d = await startDaemon(opts);
    memberAddress.set(d, `127.0.0.1:${freePort()}`);
    into.push(d);
  }
}

/** A join token for `name`, issued by `leader` (`lxd cluster add`). */
export const joinToken = async (leader: TestDaemon, name: string): Promise<string> =>
  (await leader.ok("cluster", "add", name)).trim().split("\n").at(-1)!;

/** `d` joins `leader`'s cluster as `name` by `lxd init --preseed`. */
export async function joinMember(leader: TestDaemon, d: TestDaemon, name: string): Promise<void> {
  const preseed = `cluster:\n  enabled: true\n  server_name: ${name}\n  server_address: ${memberAddress.get(d)}\n  cluster_token: ${await joinToken(leader, name)}\n`;
  const r = await d.lxdWith({ stdin: preseed }, "init", "--preseed");
  expect(r.code, r.stderr).toBe(0);
}
