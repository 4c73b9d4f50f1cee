// Managed networking end to end: a real bridge, nftables table, dnsmasq and veths, all named after
// the test daemon's tag (the harness cleanup removes whatever a failure leaves behind). Traffic
// stays between the host's bridge address and containers of this test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { bridgeHwaddr } from "../../src/network/mac.ts";
import { bridgeLinkName, nftTableName } from "../../src/network/names.ts";
import { importBusybox, run, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freeSubnet24 } from "../helpers/net.ts";
import { until } from "../helpers/until.ts";

// Fixed addresses on bridges of the test's own, in /24s no host interface uses.
const net77 = freeSubnet24();
const net78 = freeSubnet24(net77);

/** Names of the managed networks (the host's own interfaces are listed too, unmanaged). */
const managedNetworks = async () =>
  (await d.api("GET", "/1.0/networks?recursion=1")).body.metadata.filter((n: { managed: boolean }) => n.managed).map((n: { name: string }) => n.name);

let d: TestDaemon;
const br = () => bridgeLinkName("lxdbr0", d.tag);
const table = () => nftTableName(d.tag);

beforeAll(async () => {
  d = await startDaemon();
  const init = await d.lxd("init", "--auto");
  expect(init.stderr).toBe("");
  expect(init.code).toBe(0);
  await importBusybox(d);
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);

const exec = (name: string, ...cmd: string[]) => d.lxd("exec", name, "--", ...cmd);

const nft = async () => (await run(["nft", "list", "table", "inet", table()])).stdout;

/** The container's first non-loopback IPv4 address, polled from `lxd list --format json`. */
async function waitIPv4(name: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = JSON.parse(await ok("list", "--format", "json")) as any[];
    const net = list.find((i) => i.name === name)?.state?.network ?? {};
    const addr = (net.eth0?.addresses ?? []).find((a: any) => a.family === "inet");
    if (addr) return addr.address;
    if (Date.now() > deadline) throw new Error(`${name} got no IPv4 address within ${timeoutMs} ms: ${JSON.stringify(net)}`);
    await Bun.sleep(50);
  }
}

let gateway = "";
let subnet = "";

describe("managed bridge from init --auto", () => {
  test("lxdbr0 exists with a free private subnet, NAT, and is in the default profile", async () => {
    const net = (await d.api("GET", "/1.0/networks/lxdbr0")).body.metadata;
    expect(net).toMatchObject({ name: "lxdbr0", type: "bridge", managed: true, status: "Created" });
    expect(net.config["ipv4.address"]).toMatch(/^10\.\d+\.\d+\.1\/24$/);
    expect(net.config["ipv4.nat"]).toBe("true");
    expect(net.used_by).toEqual(["/1.0/profiles/default"]);
    gateway = net.config["ipv4.address"].split("/")[0];
    subnet = gateway.replace(/\.1$/, ".0/24");
    const addr = await run(["ip", "-4", "-o", "addr", "show", "dev", br()]);
    expect(addr.stdout).toContain(`inet ${net.config["ipv4.address"]}`);
    const profile = (await d.api("GET", "/1.0/profiles/default")).body.metadata;
    expect(profile.devices.eth0).toEqual({ type: "nic", network: "lxdbr0", name: "eth0" });
    expect(await ok("network", "list")).toContain("lxdbr0");
    // Idempotent.
    expect((await d.lxd("init", "--auto")).code).toBe(0);
    expect(await managedNetworks()).toEqual(["lxdbr0"]);
  });

  test("the daemon's nftables table masquerades the subnet", async () => {
    const rules = await nft();
    expect(rules).toContain(`ip saddr ${subnet} ip daddr != ${subnet} masquerade`);
    expect(rules).toContain(`iifname "${br()}" accept`);
  });

  test("dnsmasq serves the bridge", () => {
    expect(d.dnsmasqPids().length).toBe(1);
  });
});

describe("containers on the bridge", () => {
  let ip1 = "";
  let ip2 = "";

  test("launch gets an IPv4 lease shown by lxd list", async () => {
    const t0 = performance.now();
    await ok("launch", "busybox", "c1");
    ip1 = await waitIPv4("c1");
    const elapsed = performance.now() - t0;
    await ok("launch", "busybox", "c2");
    ip2 = await waitIPv4("c2");
    expect(ip1.startsWith(gateway.replace(/\.1$/, "."))).toBe(true);
    expect(ip2).not.toBe(ip1);
    // About a second on an idle machine; the bound only catches a lost first request on a busy one.
    expect(elapsed).toBeLessThan(10_000);
  });

  test("the nic has a stable 00:16:3e MAC and a veth on the bridge", async () => {
    const state = (await d.api("GET", "/1.0/instances/c1/state")).body.metadata;
    const mac = readFileSync(`/proc/${state.pid}/root/sys/class/net/eth0/address`, "utf8").trim();
    expect(mac).toMatch(/^00:16:3e(:[0-9a-f]{2}){3}$/);
    const ports = readdirSync(`/sys/class/net/${br()}/brif`);
    expect(ports.length).toBe(2);
    expect(ports.every((p) => p.includes(d.tag))).toBe(true);
    // The bridge keeps its own stable MAC: had it taken its lowest port's, every launch could
    // change it and leave the containers' gateway neighbour entries stale.
    expect(readFileSync(`/sys/class/net/${br()}/address`, "utf8").trim()).toBe(bridgeHwaddr(br()));
  });

  test("a container pings the bridge address and the other container", async () => {
    expect((await exec("c1", "ping", "-c1", "-W2", gateway)).code).toBe(0);
    expect((await exec("c1", "ping", "-c1", "-W2", ip2)).code).toBe(0);
    expect((await exec("c2", "ping", "-c1", "-W2", ip1)).code).toBe(0);
  });

  test("containers resolve each other as NAME.lxd", async () => {
    const r = await exec("c1", "nslookup", "c2.lxd", gateway);
    expect(r.stdout).toContain(ip2);
  });

  test("a container fetches a page from a server on the host's bridge address", async () => {
    const server = Bun.serve({ hostname: gateway, port: 0, fetch: () => new Response("hello from the host\n") });
    try {
      const r = await exec("c1", "wget", "-q", "-O", "-", `http://${gateway}:${server.port}/`);
      expect(r.stdout).toBe("hello from the host\n");
    } finally {
      server.stop(true);
    }
  });

  test("leases are listed", async () => {
    const leases = (await d.api("GET", "/1.0/networks/lxdbr0/leases")).body.metadata as any[];
    expect(leases.map((l) => [l.hostname, l.address]).sort()).toEqual([["c1", ip1], ["c2", ip2]].sort());
    const out = await ok("network", "list-leases", "lxdbr0");
    expect(out).toContain(ip1);
    const state = (await d.api("GET", "/1.0/networks/lxdbr0/state")).body.metadata;
    expect(state.addresses[0]).toMatchObject({ family: "inet", address: gateway, netmask: "24" });
    expect(state.bridge.upper_devices.length).toBe(2);
  });

  test("dnsmasq is restarted when it dies", async () => {
    const [before] = d.dnsmasqPids();
    process.kill(before, "SIGKILL");
    const deadline = Date.now() + 5000;
    let after: number[] = [];
    while (Date.now() < deadline) {
      after = d.dnsmasqPids().filter((p) => p !== before);
      if (after.length) break;
      await Bun.sleep(50);
    }
    expect(after.length).toBe(1);
    // And it serves again.
    await Bun.sleep(200);
    expect((await exec("c1", "nslookup", "c2.lxd", gateway)).stdout).toContain(ip2);
  });

  test("deleting a network in use is refused", async () => {
    const r = await d.lxd("network", "delete", "lxdbr0");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("in use");
    expect(existsSync(`/sys/class/net/${br()}`)).toBe(true);
  });
});

describe("more networks", () => {
  const other = () => bridgeLinkName("tnet1", d.tag);

  test("bad input gets a clear error and creates nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["tnet1", `ipv4.address=${gateway.replace(/\.1$/, ".200")}/24`], /overlaps network "lxdbr0"/],
      [["tnet1", "ipv4.address=10.300.0.1/24"], /Invalid IPv4 CIDR/],
      [["tnet1", "ipv4.address=10.77.0.0/24"], /network or broadcast/],
      [["averyveryverylongname"], /too long/],
      [["tnet1", "bogus.key=1"], /Invalid config key "bogus.key"/],
      [["tnet1", "ipv6.address=fd42:1::1/48"], /managed bridges use \/64 subnets/],
      [["tnet1", "ipv6.address=fd42:1:2:3::/64"], /not a host address/],
    ];
    for (const [args, message] of cases) {
      const r = await d.lxd("network", "create", ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(await managedNetworks()).toEqual(["lxdbr0"]);
    expect(existsSync(`/sys/class/net/${other()}`)).toBe(false);
    const nicToNowhere = await d.lxd("config", "device", "add", "c1", "eth9", "nic", "network=nonexistent");
    expect(nicToNowhere.code).toBe(1);
    expect(nicToNowhere.stderr).toContain('Network "nonexistent" not found');
    const outside = await d.lxd("config", "device", "add", "c1", "eth9", "nic", "network=lxdbr0", "ipv4.address=192.168.250.5");
    expect(outside.stderr).toContain("is not in the subnet");
    const filtering = await d.lxd("config", "device", "add", "c1", "eth9", "nic", "network=lxdbr0", "security.ipv6_filtering=true");
    expect(filtering.stderr).toContain('"security.ipv6_filtering" is not supported');
    expect(await ok("config", "device", "list", "c1")).toBe("");
  });

  test("create, hot-plug a nic, unplug, set, delete", async () => {
    await ok("network", "create", "tnet1", `ipv4.address=${net77}.1/24`, "ipv4.nat=false");
    expect(existsSync(`/sys/class/net/${other()}`)).toBe(true);
    expect(await nft()).not.toContain(`${net77}.0/24 ip daddr`);
    // The two bridges are isolated from each other.
    expect(await nft()).toContain(`iifname "${other()}" oifname "${br()}" drop`);

    await ok("config", "device", "add", "c1", "eth1", "nic", "network=tnet1", "name=eth1", `ipv4.address=${net77}.50`);
    expect(await ok("config", "device", "list", "c1")).toBe("eth1\n");
    expect((await exec("c1", "ip", "link", "show", "eth1")).code).toBe(0);
    const udhcpc = await exec("c1", "udhcpc", "-i", "eth1", "-n", "-q", "-t", "5", "-s", "/etc/udhcpc/default.script");
    expect(udhcpc.code).toBe(0);
    expect((await exec("c1", "ip", "-4", "addr", "show", "eth1")).stdout).toContain(`${net77}.50/24`);
    expect((await exec("c1", "ping", "-c1", "-W2", `${net77}.1`)).code).toBe(0);
    const leases = (await d.api("GET", "/1.0/networks/tnet1/leases")).body.metadata as any[];
    expect(leases).toEqual([expect.objectContaining({ hostname: "c1", address: `${net77}.50`, type: "static" })]);

    expect((await d.lxd("network", "delete", "tnet1")).code).toBe(1);
    await ok("config", "device", "remove", "c1", "eth1");
    expect((await exec("c1", "ip", "link", "show", "eth1")).code).not.toBe(0);

    await ok("network", "set", "tnet1", "dns.domain", "lab");
    expect(await ok("network", "get", "tnet1", "dns.domain")).toBe("lab\n");
    await ok("network", "unset", "tnet1", "dns.domain");
    await ok("network", "rename", "tnet1", "tnet2");
    const renamed = bridgeLinkName("tnet2", d.tag);
    expect(existsSync(`/sys/class/net/${other()}`)).toBe(false);
    expect((await run(["ip", "-4", "-o", "addr", "show", "dev", renamed])).stdout).toContain(`${net77}.1/24`);
    expect(await nft()).toContain(`iifname "${renamed}" accept`);
    await ok("network", "delete", "tnet2");
    expect(existsSync(`/sys/class/net/${renamed}`)).toBe(false);
    expect(await nft()).not.toContain(renamed);
    expect(d.dnsmasqPids().length).toBe(1);
  });

  test("containers on two managed bridges cannot reach each other", async () => {
    expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("1"); // lxdbr0 has NAT
    await ok("network", "create", "tnet4", `ipv4.address=${net78}.1/24`, "ipv4.nat=false");
    await ok("profile", "create", "iso");
    await ok("profile", "device", "add", "iso", "root", "disk", "path=/", "pool=default");
    await ok("profile", "device", "add", "iso", "eth0", "nic", "network=tnet4", "name=eth0");
    try {
      await ok("launch", "busybox", "c3", "-p", "iso");
      expect((await waitIPv4("c3")).startsWith(`${net78}.`)).toBe(true);
      expect((await exec("c3", "ping", "-c1", "-W2", `${net78}.1`)).code).toBe(0);
      expect((await exec("c3", "ping", "-c1", "-W1", await waitIPv4("c2"))).code).not.toBe(0);
    } finally {
      await d.lxd("delete", "--force", "c3");
      await d.lxd("profile", "delete", "iso");
      await d.lxd("network", "delete", "tnet4");
    }
    expect(existsSync(`/sys/class/net/${bridgeLinkName("tnet4", d.tag)}`)).toBe(false);
  });

  test("a bridge without an address has no DHCP and no NAT", async () => {
    await ok("network", "create", "tnet3", "ipv4.address=none");
    const link = bridgeLinkName("tnet3", d.tag);
    expect(existsSync(`/sys/class/net/${link}`)).toBe(true);
    expect((await run(["ip", "-4", "-o", "addr", "show", "dev", link])).stdout).toBe("");
    expect(d.dnsmasqPids().length).toBe(1);
    expect(await nft()).toContain(`iifname "${link}" accept`);
    await ok("network", "delete", "tnet3");
    expect(existsSync(`/sys/class/net/${link}`)).toBe(false);
  });
});

describe("daemon restart and shutdown", () => {
  test("SIGTERM keeps the bridge and rules; the next daemon serves DHCP again", async () => {
    await d.restart();
    expect(existsSync(`/sys/class/net/${br()}`)).toBe(true);
    expect(await nft()).toContain("masquerade");
    await until(() => d.dnsmasqPids().length === 1, "dnsmasq after the restart");
    expect((await exec("c1", "ping", "-c1", "-W2", gateway)).code).toBe(0);
  });

  test("after SIGKILL the next daemon replaces the orphaned dnsmasq", async () => {
    const [orphan] = d.dnsmasqPids();
    await d.kill("SIGKILL");
    expect(d.dnsmasqPids()).toEqual([orphan]);
    await d.start();
    // The network comes up beside the API, so `waitready` can answer before dnsmasq runs.
    await until(() => d.dnsmasqPids().length === 1 && d.dnsmasqPids()[0] !== orphan, "a new dnsmasq");
    expect((await exec("c1", "nslookup", "c2.lxd", gateway)).code).toBe(0);
  });

  test("a restarted container gets its nic and the same address back", async () => {
    const before = await waitIPv4("c2");
    await ok("restart", "c2", "--force");
    expect(await waitIPv4("c2")).toBe(before);
    expect(readdirSync(`/sys/class/net/${br()}/brif`).length).toBe(2);
  });

  test("lxd shutdown removes the bridge, the nftables table and dnsmasq", async () => {
    await d.stop();
    expect(existsSync(`/sys/class/net/${br()}`)).toBe(false);
    expect((await run(["nft", "list", "table", "inet", table()])).code).not.toBe(0);
    expect(d.dnsmasqPids()).toEqual([]);
    const left = (await run(["ip", "-o", "link", "show"])).stdout.split("\n").filter((l) => l.includes(d.tag));
    expect(left).toEqual([]);
  });
});
