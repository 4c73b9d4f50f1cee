// IPv6 on a managed bridge (SLAAC from dnsmasq's router advertisements, NAT66, leases, state) and a
// Docker-style `FORWARD` policy drop: the test makes its OWN nftables table with such a chain and its
// own network namespace as "the outside", and removes both afterwards; the host's rules are untouched.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { bridgeLinkName, nftTableName } from "../../src/network/names.ts";
import { run, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freeSubnet24 } from "../helpers/net.ts";

const FORWARDING6 = "/proc/sys/net/ipv6/conf/all/forwarding";
const forwarding6Before = readFileSync(FORWARDING6, "utf8").trim();
let d: TestDaemon;
const ok = (...args: string[]) => d.ok(...args);
const exec = (name: string, ...cmd: string[]) => d.lxd("exec", name, "--", ...cmd);
const sh = async (...argv: string[]) => {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
const hex = () => Math.floor(Math.random() * 0xffff).toString(16);
const prefix = `fd42:${hex()}:${hex()}:${hex()}`;
// Not named after the tag: the harness would delete it with the daemon's own tables.
const foreignName = `lxdtest-fwd-${hex()}${hex()}`;
const foreign = () => foreignName;
const outside = () => `lxdtest-${d.tag}`;
const br = () => bridgeLinkName("tv6", d.tag);
// The bridge's IPv4 subnet and "the outside" (two /24s no host interface uses).
const inside4 = freeSubnet24();
const outside4 = freeSubnet24(inside4);

beforeAll(async () => {
  d = await startInitializedDaemon();
  // "The outside": a namespace behind a veth, OUTSIDE.2, reached through the host.
  await sh("ip", "netns", "add", outside());
  await sh("ip", "link", "add", `o${d.tag}a`, "type", "veth", "peer", "name", `o${d.tag}b`, "netns", outside());
  await sh("ip", "addr", "add", `${outside4}.1/24`, "dev", `o${d.tag}a`);
  await sh("ip", "link", "set", `o${d.tag}a`, "up");
  await sh("ip", "-n", outside(), "addr", "add", `${outside4}.2/24`, "dev", `o${d.tag}b`);
  await sh("ip", "-n", outside(), "link", "set", `o${d.tag}b`, "up");
  // Docker's `iptables -P FORWARD DROP`, as iptables-nft writes it, in a table of the test's own.
  await sh("nft", "add", "table", "ip", foreign());
  await sh("nft", "add", "chain", "ip", foreign(), "FORWARD", "{ type filter hook forward priority filter; policy drop; }");
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    await run(["nft", "delete", "table", "ip", foreign()]);
    await run(["ip", "link", "delete", `o${d.tag}a`]);
    await run(["ip", "netns", "delete", outside()]);
    if (readFileSync(FORWARDING6, "utf8").trim() !== forwarding6Before) writeFileSync(FORWARDING6, forwarding6Before);
  }
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

const globalV6 = async (name: string) => {
  const state = (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata;
  return (state.network?.eth0?.addresses ?? []).find((a: any) => a.family === "inet6" && a.scope === "global")?.address as string | undefined;
};

describe("IPv6 on a managed bridge", () => {
  test("the bridge gets the address, NAT66 and router advertisements; a container gets a global address", async () => {
    await ok("network", "create", "tv6", `ipv4.address=${inside4}.1/24`, "ipv4.nat=true", `ipv6.address=${prefix}::1/64`, "ipv6.nat=true");
    expect(await sh("ip", "-6", "addr", "show", "dev", br())).toContain(`${prefix}::1/64`);
    expect(readFileSync(FORWARDING6, "utf8").trim()).toBe("1");
    const rules = (await run(["nft", "list", "table", "inet", nftTableName(d.tag)])).stdout;
    expect(rules).toContain(`ip6 saddr ${prefix}::/64 ip6 daddr != ${prefix}::/64 masquerade`);

    await ok("profile", "create", "v6");
    await ok("profile", "device", "add", "v6", "root", "disk", "path=/", "pool=default");
    await ok("profile", "device", "add", "v6", "eth0", "nic", "network=tv6", "name=eth0");
    await ok("launch", "busybox", "s1", "-p", "v6");
    const address = await waitFor("a global IPv6 address", () => globalV6("s1"));
    expect(address.startsWith(`${prefix}:`)).toBe(true);
    // Once duplicate address detection has finished, the address is usable.
    await waitFor("ping6 to the bridge", async () => ((await exec("s1", "ping6", "-c1", "-W1", `${prefix}::1`)).code === 0 ? true : undefined));

    const leases = (await d.api("GET", "/1.0/networks/tv6/leases")).body.metadata as any[];
    expect(leases).toContainEqual(expect.objectContaining({ hostname: "s1", address, type: "dynamic" }));
    expect(await ok("network", "list-leases", "tv6")).toContain(address);
    const state = (await d.api("GET", "/1.0/networks/tv6/state")).body.metadata;
    expect(state.addresses).toContainEqual({ family: "inet6", address: `${prefix}::1`, netmask: "64", scope: "global" });
    expect(await ok("network", "info", "tv6")).toContain(`${prefix}::1/64`);
  });

  test("ipv6.address=auto picks a unique local /64 with NAT", async () => {
    await ok("network", "create", "tv7", "ipv4.address=none", "ipv6.address=auto");
    const config = (await d.api("GET", "/1.0/networks/tv7")).body.metadata.config;
    expect(config["ipv6.address"]).toMatch(/^fd42:[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::1\/64$/);
    expect(config["ipv6.nat"]).toBe("true");
    const clash = await d.lxd("network", "create", "tv8", "ipv4.address=none", `ipv6.address=${config["ipv6.address"].replace("::1/", "::2/")}`);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('overlaps network "tv7"');
    await ok("network", "delete", "tv7");
  });
});

describe("a Docker-style FORWARD policy drop", () => {
  test("NATed traffic still flows: the daemon accepts its bridges at the top of that chain", async () => {
    const chain = async () => sh("nft", "-a", "list", "chain", "ip", foreign(), "FORWARD");
    const mark = `managed by ${nftTableName(d.tag)}`;
    expect(await chain()).toContain(`iifname "${br()}" accept comment "${mark}"`);
    expect(await chain()).toContain(`oifname "${br()}" accept comment "${mark}"`);
    // s1's default route is the bridge; its traffic leaves masqueraded through the host.
    await waitFor("s1 reaching the outside", async () => ((await exec("s1", "ping", "-c1", "-W1", `${outside4}.2`)).code === 0 ? true : undefined));

    // Without those rules the policy drop wins...
    // Only this daemon's: other daemons on the host (parallel test runs) add theirs too.
    for (const m of (await chain()).matchAll(new RegExp(`comment "${mark}" # handle (\\d+)`, "g"))) {
      await sh("nft", "delete", "rule", "ip", foreign(), "FORWARD", "handle", m[1]);
    }
    expect((await exec("s1", "ping", "-c1", "-W1", `${outside4}.2`)).code).not.toBe(0);
    // ...and any change the daemon applies puts them back.
    await ok("network", "set", "tv6", "user.touch", "1");
    expect((await exec("s1", "ping", "-c1", "-W2", `${outside4}.2`)).code).toBe(0);
    expect((await chain()).split(`"${mark}"`).length - 1).toBe(4); // lxdbr0 and tv6, in and out
  });

  test("lxd shutdown takes the accept rules out of the foreign chain and leaves it otherwise alone", async () => {
    const mark = `managed by ${nftTableName(d.tag)}`;
    await d.stop();
    const chain = await sh("nft", "list", "chain", "ip", foreign(), "FORWARD");
    expect(chain).not.toContain(mark);
    expect(chain).toContain("policy drop");
  });
});
