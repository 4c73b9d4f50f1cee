// Pure logic added for IPv6, nic types, proxies and foreign firewalls: IPv6 arithmetic, proxy
// endpoint parsing, rate units, the per-nic nftables rules, dnsmasq's IPv6 modes and finding
// other tables' dropping forward chains.
import { describe, expect, test } from "bun:test";
import { parseRate } from "../../src/instance/nic.ts";
import { validateDevices } from "../../src/instance/config.ts";
import { checkProxyPair, parseProxyAddress } from "../../src/instance/proxy-address.ts";
import { dnsmasqArgs, parseLeases } from "../../src/network/dnsmasq.ts";
import { droppingForwardChains } from "../../src/network/foreign.ts";
import { renderRuleset } from "../../src/network/nftables.ts";
import { checkBridgeAddress6, formatIPv6, overlaps6, parseCidr6, parseIPv6, pickSubnet6, slaacAddress, subnetString6 } from "../../src/network/subnet6.ts";

describe("IPv6 subnets", () => {
  test("parse and format round-trip in RFC 5952 form", () => {
    for (const [text, canonical] of [["fd42:0:0:1::1", "fd42:0:0:1::1"], ["FD42:0000:0000:0001:0000:0000:0000:0001", "fd42:0:0:1::1"], ["::1", "::1"], ["::", "::"], ["1:0:0:2:0:0:0:3", "1:0:0:2::3"]]) {
      expect(formatIPv6(parseIPv6(text)!)).toBe(canonical);
    }
    for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "g::1", "1:2:3:4:5:6:7:8:9"]) expect(parseIPv6(bad)).toBeUndefined();
    expect(subnetString6(parseCidr6("fd42:1:2:3::1/64")!)).toBe("fd42:1:2:3::/64");
    expect(overlaps6(parseCidr6("fd42:1:2:3::1/64")!, parseCidr6("fd42:1::/32")!)).toBe(true);
    expect(overlaps6(parseCidr6("fd42:1:2:3::1/64")!, parseCidr6("fd42:1:2:4::1/64")!)).toBe(false);
    expect(checkBridgeAddress6("fd42:1:2:3::1/64")).toBeUndefined();
    expect(checkBridgeAddress6("fd42:1:2:3::/64")).toMatch(/not a host address/);
  });

  test("auto picks a free fd42::/64; SLAAC addresses follow EUI-64", () => {
    const taken = [parseCidr6("fd42:0:0:0::1/64")!];
    const values = [0, 0, 0, 0.5, 0.5, 0.5];
    let i = 0;
    expect(pickSubnet6(taken, () => values[i++])).toBe("fd42:8000:8000:8000::1/64");
    expect(slaacAddress(parseCidr6("fd42:1:2:3::1/64")!, "00:16:3e:aa:bb:cc")).toBe("fd42:1:2:3:216:3eff:feaa:bbcc");
  });

  test("dnsmasq's IPv6 modes and DHCPv6 leases", () => {
    const base = { dir: "/d", link: "br0", domain: "lxd", leaseTime: "1h" };
    const v6 = (mode: "slaac" | "stateless" | { range: [string, string] }) => dnsmasqArgs({ ...base, ipv6: { gateway: "fd42::1", mode, leaseTime: "1h" } });
    expect(v6("slaac")).toContain("--dhcp-range=::,constructor:br0,ra-only");
    expect(v6("stateless")).toContain("--dhcp-range=::,constructor:br0,ra-stateless,ra-names");
    expect(v6({ range: ["fd42::1000", "fd42::ffff"] })).toContain("--dhcp-range=fd42::1000,fd42::ffff,64,1h");
    expect(v6("slaac")).toContain("--enable-ra");
    expect(v6("slaac").some((a) => a.startsWith("--dhcp-range=") && !a.includes("::"))).toBe(false);
    const leases = parseLeases("100 00:16:3e:00:00:01 10.0.0.5 c1 *\nduid 00:01:02\n200 1234 fd42::1001 c1 00:02:03\n");
    expect(leases).toEqual([
      { expiry: 100, hwaddr: "00:16:3e:00:00:01", address: "10.0.0.5", hostname: "c1" },
      { expiry: 200, hwaddr: "", address: "fd42::1001", hostname: "c1" },
    ]);
  });
});

describe("proxy endpoints", () => {
  test("valid and invalid addresses", () => {
    expect(parseProxyAddress("tcp:0.0.0.0:8080")).toEqual({ protocol: "tcp", host: "0.0.0.0", port: 8080 });
    expect(parseProxyAddress("udp:[::1]:53")).toEqual({ protocol: "udp", host: "::1", port: 53 });
    expect(parseProxyAddress("unix:/run/a.sock")).toEqual({ protocol: "unix", host: "/run/a.sock" });
    expect(parseProxyAddress("unix:@abstract")).toEqual({ protocol: "unix", host: "@abstract" });
    expect(parseProxyAddress("tcp:localhost:80")).toMatch(/not an IP address/);
    expect(parseProxyAddress("tcp:1.2.3.4:0")).toMatch(/invalid port/);
    expect(parseProxyAddress("tcp:1.2.3.4:80-90")).toMatch(/port ranges/);
    expect(parseProxyAddress("unix:")).toMatch(/absolute path/);
    expect(parseProxyAddress("http:1.2.3.4:80")).toMatch(/expected tcp/);
    expect(checkProxyPair("tcp:0.0.0.0:80", "unix:/run/x")).toBeUndefined();
    expect(checkProxyPair("udp:0.0.0.0:53", "tcp:127.0.0.1:53")).toMatch(/both ends/);
  });

  test("device validation refuses what the forwarder cannot do, also for stopped instances and profiles", () => {
    const proxy = (extra: Record<string, string>) => ({ p: { type: "proxy", listen: "tcp:0.0.0.0:80", connect: "tcp:127.0.0.1:80", ...extra } });
    expect(validateDevices(proxy({}))).toBeUndefined();
    expect(validateDevices(proxy({ nat: "true" }))).toMatch(/nat=true is not supported/);
    expect(validateDevices(proxy({ proxy_protocol: "true" }))).toMatch(/proxy_protocol/);
    expect(validateDevices(proxy({ listen: "tcp:0.0.0.0:80-81" }))).toMatch(/port ranges/);
    expect(validateDevices({ n: { type: "nic", nictype: "p2p", name: "a-name-longer-than-15" } })).toMatch(/too long/);
  });
});

describe("nic limits and filters", () => {
  test("rates in bits per second", () => {
    expect(parseRate("10Mbit")).toBe(10_000_000);
    expect(parseRate("500kbit")).toBe(500_000);
    expect(parseRate("2MB")).toBe(16_000_000);
    expect(parseRate("100")).toBe(100);
    expect(() => parseRate("fast")).toThrow(/Invalid rate/);
  });

  test("bridge-family rules per nic; routed limits in the inet table; IPv6 NAT", () => {
    const rules = renderRuleset("lxd-t", [{ link: "br0", subnet: "10.0.0.0/24", nat: true, subnet6: "fd42::/64", nat6: true }], [
      { link: "veth1", bridged: true, mac: "00:16:3e:00:00:01", ipv4: "10.0.0.5", egressBytes: 125000 },
      { link: "p2p1", bridged: false, egressBytes: 1000 },
    ]);
    expect(rules).toContain("ip6 saddr fd42::/64 ip6 daddr != fd42::/64 masquerade");
    const bridge = rules.slice(rules.indexOf("table bridge lxd-t {\n"));
    expect(bridge).toContain('iifname "veth1" ether saddr != 00:16:3e:00:00:01 drop');
    expect(bridge).toContain('iifname "veth1" ip saddr 0.0.0.0 udp dport 67 accept');
    expect(bridge).toContain('iifname "veth1" arp saddr ip != 10.0.0.5 drop');
    expect(bridge).toContain('iifname "veth1" limit rate over 125000 bytes/second');
    expect(bridge).not.toContain("p2p1");
    expect(rules.slice(0, rules.indexOf("table bridge"))).toContain('iifname "p2p1" limit rate over 1000 bytes/second');
  });

  test("dropping forward chains of other tables are found, the daemon's own is not", () => {
    const objects = [
      { chain: { family: "ip", table: "filter", name: "FORWARD", hook: "forward", policy: "drop" } },
      { chain: { family: "ip", table: "filter", name: "INPUT", hook: "input", policy: "drop" } },
      { chain: { family: "inet", table: "lxd-x", name: "filter_forward", hook: "forward", policy: "drop" } },
      { chain: { family: "inet", table: "fw", name: "fwd", hook: "forward", policy: "accept" } },
      { chain: { family: "bridge", table: "b", name: "fwd", hook: "forward", policy: "drop" } },
    ];
    expect(droppingForwardChains(objects, "lxd-x")).toEqual([objects[0].chain]);
  });
});
