import { expect, test } from "bun:test";
import { compressIPv6 } from "../../src/instance/state.ts";

test("IPv6 addresses are shown compressed", () => {
  expect(compressIPv6("0 0 0 0 0 0 0 1".split(" "))).toBe("::1");
  expect(compressIPv6("fe80 0 0 0 216 3eff fe43 1a3a".split(" "))).toBe("fe80::216:3eff:fe43:1a3a");
  expect(compressIPv6("fd42 1 0 0 0 0 0 0".split(" "))).toBe("fd42:1::");
  expect(compressIPv6("1 0 2 0 3 0 4 5".split(" "))).toBe("1:0:2:0:3:0:4:5");
});

test("ip's view of an interface fills addresses, MAC, MTU and the host end of a veth", async () => {
  const { applyIpLink } = await import("../../src/instance/state.ts");
  const base = {
    addresses: [], counters: {} as never, hwaddr: "", host_name: "", mtu: 1500, state: "up", type: "broadcast",
  };
  const eth0 = applyIpLink(base, {
    ifname: "eth0", mtu: 1400, flags: ["BROADCAST", "UP"], address: "00:16:3e:01:02:03", link_type: "ether",
    link_index: 42, link_netnsid: 0,
    addr_info: [{ family: "inet", local: "10.0.3.5", prefixlen: 24, scope: "global" }, { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" }],
  }, new Map([[42, "veth1234abcd"]]));
  expect(eth0).toMatchObject({
    hwaddr: "00:16:3e:01:02:03", mtu: 1400, state: "up", host_name: "veth1234abcd",
    addresses: [{ family: "inet", address: "10.0.3.5", netmask: "24", scope: "global" }, { family: "inet6", address: "fe80::1", netmask: "64", scope: "link" }],
  });
  const lo = applyIpLink(base, { ifname: "lo", mtu: 65536, flags: ["LOOPBACK", "UP"], address: "00:00:00:00:00:00", link_type: "loopback",
    addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }] }, new Map());
  expect(lo).toMatchObject({ hwaddr: "", type: "loopback", addresses: [{ address: "127.0.0.1", scope: "local" }] });
});

test("local IPv4 addresses are placed on the interface of their connected route", async () => {
  const { ipv4ByInterface } = await import("../../src/instance/state.ts");
  const route = [
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
    "eth0\t00000000\t0103000A\t0003\t0\t0\t0\t00000000\t0\t0\t0",
    "eth0\t0003000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
    "eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0",
  ].join("\n");
  const byIface = ipv4ByInterface(["127.0.0.1", "10.0.3.5", "192.168.7.9", "172.16.0.1"], route);
  expect(Object.fromEntries(byIface)).toEqual({
    lo: [{ local: "127.0.0.1", prefixlen: 8 }],
    eth0: [{ local: "10.0.3.5", prefixlen: 24 }],
    eth1: [{ local: "192.168.7.9", prefixlen: 16 }],
  });
});
