// nic devices beyond a plain bridged veth: p2p, macvlan and physical nics (on veth pairs this test
// creates, named after its tag), name/hwaddr/mtu/host_name, tc and nftables limits, MAC and IPv4
// anti-spoofing on a managed bridge, and bad input. Traffic stays on those test interfaces.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { nftTableName } from "../../src/network/names.ts";
import { run, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
const ok = (...args: string[]) => d.ok(...args);
const exec = (name: string, ...cmd: string[]) => d.lxd("exec", name, "--", ...cmd);
const sh = async (...argv: string[]) => {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
};
/** A veth pair on the host, both ends named after the tag. */
const pair = async (a: string, b: string) => {
  await sh("ip", "link", "add", a, "type", "veth", "peer", "name", b);
  await sh("ip", "link", "set", a, "up");
  await sh("ip", "link", "set", b, "up");
};
const names = () => ({ ma: `m${d.tag}a`, mb: `m${d.tag}b`, pa: `f${d.tag}a`, pb: `f${d.tag}b`, p2p: `p${d.tag}h` });

beforeAll(async () => {
  d = await startInitializedDaemon();
  await ok("launch", "busybox", "n1");
});

afterAll(async () => {
  await d?.stop();
});

describe("p2p, macvlan and physical nics", () => {
  test("p2p: a veth whose host end keeps host_name, with the given MAC and MTU inside", async () => {
    const { p2p } = names();
    await ok("config", "device", "add", "n1", "pp", "nic", "nictype=p2p", "name=eth1", `host_name=${p2p}`, "hwaddr=00:16:3e:12:34:56", "mtu=1400");
    expect(existsSync(`/sys/class/net/${p2p}`)).toBe(true);
    await sh("ip", "addr", "add", "10.254.92.1/24", "dev", p2p);
    await ok("exec", "n1", "--", "ip", "addr", "add", "10.254.92.2/24", "dev", "eth1");
    const link = await ok("exec", "n1", "--", "ip", "link", "show", "eth1");
    expect(link).toContain("00:16:3e:12:34:56");
    expect(link).toContain("mtu 1400");
    expect((await exec("n1", "ping", "-c1", "-W2", "10.254.92.1")).code).toBe(0);
    // lxd info and /state show the interface with its address, counters and host end.
    const state = (await d.api("GET", "/1.0/instances/n1/state")).body.metadata;
    expect(state.network.eth1).toMatchObject({ hwaddr: "00:16:3e:12:34:56", mtu: 1400, host_name: p2p, state: "up" });
    expect(state.network.eth1.addresses).toContainEqual(expect.objectContaining({ family: "inet", address: "10.254.92.2", netmask: "24" }));
    expect(state.network.eth1.counters.packets_sent).toBeGreaterThan(0);
    expect(await ok("info", "n1")).toContain("eth1");
    await ok("config", "device", "remove", "n1", "pp");
    expect(existsSync(`/sys/class/net/${p2p}`)).toBe(false);
  });

  test("macvlan on a host interface", async () => {
    const { ma, mb } = names();
    await pair(ma, mb);
    try {
      await sh("ip", "addr", "add", "10.254.90.1/24", "dev", mb);
      await ok("config", "device", "add", "n1", "mv", "nic", "nictype=macvlan", `parent=${ma}`, "name=mv0");
      await ok("exec", "n1", "--", "ip", "addr", "add", "10.254.90.2/24", "dev", "mv0");
      expect((await exec("n1", "ping", "-c1", "-W2", "10.254.90.1")).code).toBe(0);
      await ok("config", "device", "remove", "n1", "mv");
      expect((await exec("n1", "ip", "link", "show", "mv0")).code).not.toBe(0);
      expect(existsSync(`/sys/class/net/${ma}`)).toBe(true);
    } finally {
      await run(["ip", "link", "delete", ma]);
    }
  });

  test("physical: the host interface moves in under its new name and comes back on unplug and on stop", async () => {
    const { pa, pb } = names();
    await pair(pa, pb);
    try {
      const mac = readFileSync(`/sys/class/net/${pa}/address`, "utf8").trim();
      await sh("ip", "addr", "add", "10.254.91.1/24", "dev", pb);
      await ok("config", "device", "add", "n1", "ph", "nic", "nictype=physical", `parent=${pa}`, "name=eth7", "mtu=1300");
      expect(existsSync(`/sys/class/net/${pa}`)).toBe(false);
      await ok("exec", "n1", "--", "ip", "addr", "add", "10.254.91.2/24", "dev", "eth7");
      expect(await ok("exec", "n1", "--", "cat", "/sys/class/net/eth7/mtu")).toBe("1300\n");
      expect((await exec("n1", "ping", "-c1", "-W2", "10.254.91.1")).code).toBe(0);
      await ok("config", "device", "remove", "n1", "ph");
      expect(existsSync(`/sys/class/net/${pa}`)).toBe(true);
      expect(readFileSync(`/sys/class/net/${pa}/mtu`, "utf8").trim()).toBe("1500");
      expect(readFileSync(`/sys/class/net/${pa}/address`, "utf8").trim()).toBe(mac);
      // In the config when the container stops: back on the host although the namespace's processes are gone.
      await ok("config", "device", "add", "n1", "ph", "nic", "nictype=physical", `parent=${pa}`, "name=eth7");
      expect(existsSync(`/sys/class/net/${pa}`)).toBe(false);
      await ok("stop", "n1", "--force");
      expect(existsSync(`/sys/class/net/${pa}`)).toBe(true);
      await ok("config", "device", "remove", "n1", "ph");
      await ok("start", "n1");
    } finally {
      await run(["ip", "link", "delete", pa]);
    }
  });

  test("bad input: unknown parent, long names, unsupported options; nothing changes", async () => {
    const cases: [string[], RegExp][] = [
      [["nictype=macvlan", "parent=nosuchif0"], /Parent interface "nosuchif0" does not exist/],
      [["nictype=physical", "parent=nosuchif0"], /Parent interface "nosuchif0" does not exist/],
      [["nictype=p2p", "name=averyveryverylongname"], /too long/],
      [["nictype=p2p", "host_name=averyveryverylongname"], /too long/],
      [["nictype=macvlan"], /needs "parent"/],
      [["nictype=sriov", "parent=x"], /not supported/],
      [["nictype=p2p", "limits.ingress=lots"], /Invalid rate/],
      [["nictype=macvlan", `parent=${names().ma}`, "limits.ingress=10Mbit"], /only applies to bridged and p2p/],
      [["network=lxdbr0", "security.ipv4_filtering=true"], /needs the nic's "ipv4.address"/],
    ];
    for (const [args, message] of cases) {
      const r = await d.lxd("config", "device", "add", "n1", "bad", "nic", ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(await ok("config", "device", "list", "n1")).toBe("");
    const ours = (await sh("ip", "-o", "link", "show")).split("\n").map((l) => l.split(": ")[1]?.split("@")[0] ?? "")
      .filter((n) => n.includes(d.tag) && !n.startsWith(`b${d.tag}`));
    // Only the bridge's port for n1's own eth0 remains.
    expect(ours.length).toBe(1);
  });
});

describe("limits and anti-spoofing on a managed bridge", () => {
  const hostEnd = async (name: string, dev = "eth0") => (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.network[dev].host_name as string;
  const nft = async (family: string) => (await run(["nft", "list", "table", family, nftTableName(d.tag)])).stdout;
  let gateway = "";

  test("limits.ingress shapes the host end with tc, limits.egress is a drop-over rule", async () => {
    gateway = (await d.api("GET", "/1.0/networks/lxdbr0")).body.metadata.config["ipv4.address"].split("/")[0];
    await ok("config", "device", "add", "n1", "eth0", "nic", "network=lxdbr0", "name=eth0", "limits.ingress=10Mbit", "limits.egress=2Mbit");
    const host = await hostEnd("n1");
    expect(await sh("tc", "qdisc", "show", "dev", host)).toMatch(/tbf .*rate 10Mbit/);
    expect(await nft("bridge")).toContain(`iifname "${host}" limit rate over 250000 bytes/second`);
    await ok("config", "device", "remove", "n1", "eth0");
    expect(await nft("bridge")).not.toContain(host);
  });

  test("security.mac_filtering: a container that changes its MAC can no longer talk", async () => {
    await ok("init", "busybox", "n2");
    await ok("config", "device", "add", "n2", "eth0", "nic", "network=lxdbr0", "name=eth0", "security.mac_filtering=true");
    await ok("start", "n2");
    const host = await hostEnd("n2");
    expect(await nft("bridge")).toContain(`iifname "${host}" ether saddr !=`);
    await waitPing("n2", gateway);
    await ok("exec", "n2", "--", "sh", "-c", "ip link set eth0 down; ip link set eth0 address 00:16:3e:66:66:66; ip link set eth0 up; ip neigh flush all");
    expect((await exec("n2", "ping", "-c2", "-W1", gateway)).code).not.toBe(0);
    // The filter lives in the daemon's table: a restarted daemon puts it back for the running container.
    await d.restart();
    expect(await nft("bridge")).toContain(`iifname "${host}" ether saddr !=`);
    await ok("delete", "--force", "n2");
    expect(await nft("bridge")).not.toContain(host);
  });

  test("security.ipv4_filtering: a container that takes another address can no longer talk", async () => {
    // An address no container holds a dynamic lease on: dnsmasq does not hand a configured address
    // leased to another MAC, and the filter would then (rightly) drop the one it gives instead.
    const leased = new Set(((await d.api("GET", "/1.0/networks/lxdbr0/leases")).body.metadata as { address: string }[]).map((l) => l.address));
    let host = 77;
    while (leased.has(gateway.replace(/\.1$/, `.${host}`))) host++;
    const ip = gateway.replace(/\.1$/, `.${host}`);
    await ok("init", "busybox", "n3");
    await ok("config", "device", "add", "n3", "eth0", "nic", "network=lxdbr0", "name=eth0", "security.ipv4_filtering=true", `ipv4.address=${ip}`);
    await ok("start", "n3");
    await waitPing("n3", gateway);
    expect(await ok("exec", "n3", "--", "ip", "-4", "addr", "show", "eth0")).toContain(ip);
    const spoofed = gateway.replace(/\.1$/, `.${host + 1}`);
    await ok("exec", "n3", "--", "sh", "-c", `ip addr flush dev eth0; ip addr add ${spoofed}/24 dev eth0; ip neigh flush all`);
    expect((await exec("n3", "ping", "-c2", "-W1", gateway)).code).not.toBe(0);
    await ok("exec", "n3", "--", "sh", "-c", `ip addr flush dev eth0; ip addr add ${ip}/24 dev eth0`);
    await waitPing("n3", gateway);
    await ok("delete", "--force", "n3");
  });
});

async function waitPing(name: string, address: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while ((await exec(name, "ping", "-c1", "-W1", address)).code !== 0) {
    if (Date.now() > deadline) throw new Error(`${name} cannot ping ${address}`);
    await Bun.sleep(100);
  }
}
