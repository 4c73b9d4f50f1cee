// Pure logic of managed networks: subnet arithmetic and picking, config and name validation,
// the nftables ruleset, dnsmasq arguments and lease parsing, nic MAC derivation.
import { describe, expect, test } from "bun:test";
import { parseDhcpRanges, validateNetworkConfig, validateNetworkName, withDefaults } from "../../src/network/config.ts";
import { dnsmasqArgs, parseLeases } from "../../src/network/dnsmasq.ts";
import { nicHwaddr } from "../../src/network/mac.ts";
import { bridgeLinkName, nftTableName, projectBridgeLinkName } from "../../src/network/names.ts";
import { renderRuleset } from "../../src/network/nftables.ts";
import { checkBridgeAddress, dhcpRange, overlaps, parseCidr4, pickSubnet, subnetString } from "../../src/network/subnet.ts";

const cidr = (s: string) => parseCidr4(s)!;

describe("subnets", () => {
  test("parse, format and overlap", () => {
    expect(parseCidr4("10.1.2.1/24")).toBeDefined();
    for (const bad of ["10.1.2.1", "10.1.2/24", "10.1.2.256/24", "10.1.2.1/33", "a.b.c.d/8", "10.1.2.1/24/1"]) expect(parseCidr4(bad)).toBeUndefined();
    expect(subnetString(cidr("10.1.2.77/24"))).toBe("10.1.2.0/24");
    expect(subnetString(cidr("172.16.5.9/12"))).toBe("172.16.0.0/12");
    expect(overlaps(cidr("10.1.2.1/24"), cidr("10.1.0.0/16"))).toBe(true);
    expect(overlaps(cidr("10.1.2.1/24"), cidr("10.1.3.1/24"))).toBe(false);
    expect(overlaps(cidr("0.0.0.0/0"), cidr("192.168.0.1/24"))).toBe(true);
  });

  test("bridge addresses must be host addresses of a sane prefix", () => {
    expect(checkBridgeAddress("10.0.3.1/24")).toBeUndefined();
    expect(checkBridgeAddress("10.0.3.0/24")).toMatch(/network or broadcast/);
    expect(checkBridgeAddress("10.0.3.255/24")).toMatch(/network or broadcast/);
    expect(checkBridgeAddress("10.0.3.1/31")).toMatch(/prefix/);
    expect(checkBridgeAddress("10.0.3.1")).toMatch(/Invalid IPv4 CIDR/);
  });

  test("the DHCP range skips the gateway", () => {
    expect(dhcpRange(cidr("10.0.3.1/24"))).toEqual(["10.0.3.2", "10.0.3.254"]);
    expect(dhcpRange(cidr("10.0.3.254/24"))).toEqual(["10.0.3.1", "10.0.3.253"]);
  });

  test("pickSubnet avoids every taken range", () => {
    // A deterministic "random" walk: the first two candidates collide, the third is free.
    const values = [0.1, 0.1, 0.1, 0.1, 0.5, 0.5];
    let i = 0;
    const random = () => values[i++ % values.length];
    const first = "10.25.25.1/24";
    expect(pickSubnet([], () => 0.1)).toBe(first);
    expect(pickSubnet([cidr("10.25.25.0/24")], random)).toBe("10.128.128.1/24");
    expect(() => pickSubnet([cidr("10.0.0.0/8")])).toThrow(/unused IPv4 subnet/);
    // Overlap with a wider host route counts too.
    expect(pickSubnet([cidr("10.25.0.0/16")], (() => { let n = 0; return () => [0.1, 0.1, 0.9, 0.9][n++ % 4]; })())).toBe("10.230.230.1/24");
  });
});

describe("network config", () => {
  test("names", () => {
    expect(validateNetworkName("lxdbr0")).toBeUndefined();
    expect(validateNetworkName("a23456789012345")).toBeUndefined();
    expect(validateNetworkName("a234567890123456")).toMatch(/too long/);
    expect(validateNetworkName("")).toMatch(/No name/);
    for (const bad of ["br/0", "br 0", "-br", "..", "br:0"]) expect(validateNetworkName(bad)).toMatch(/Invalid network name/);
    expect(validateNetworkName("1234")).toMatch(/only digits/);
  });

  test("keys and values", () => {
    expect(validateNetworkConfig({ "ipv4.address": "10.0.3.1/24", "ipv4.nat": "true", "dns.domain": "lab.example", "user.x": "y" })).toBeUndefined();
    expect(validateNetworkConfig({ "ipv4.address": "auto" })).toBeUndefined();
    expect(validateNetworkConfig({ "ipv4.address": "none" })).toBeUndefined();
    expect(validateNetworkConfig({ "ipv4.nat": "maybe" })).toMatch(/boolean/);
    expect(validateNetworkConfig({ "bogus": "1" })).toMatch(/Invalid config key "bogus"/);
    expect(validateNetworkConfig({ "ipv6.address": "fd00::1/64", "ipv6.nat": "true", "ipv6.dhcp.stateful": "true" })).toBeUndefined();
    expect(validateNetworkConfig({ "ipv6.address": "fd00::1/56" })).toMatch(/\/64/);
    expect(validateNetworkConfig({ "ipv6.address": "fd00::zz/64" })).toMatch(/Invalid IPv6 CIDR/);
    expect(validateNetworkConfig({ "bridge.mtu": "100" })).toMatch(/between 1280 and 9000/);
    expect(validateNetworkConfig({ "dns.domain": "-bad" })).toMatch(/DNS domain/);
  });

  test("defaults: automatic NATed IPv4, no IPv6", () => {
    expect(withDefaults({})).toEqual({ "ipv4.address": "auto", "ipv4.nat": "true", "ipv6.address": "none" });
    expect(withDefaults({ "ipv4.address": "10.0.3.1/24" })).toEqual({ "ipv4.address": "10.0.3.1/24", "ipv6.address": "none" });
    expect(withDefaults({ "ipv4.nat": "false" })["ipv4.nat"]).toBe("false");
  });
});

describe("host objects", () => {
  test("names carry the test tag and fit in IFNAMSIZ", () => {
    expect(bridgeLinkName("lxdbr0", "")).toBe("lxdbr0");
    const tagged = bridgeLinkName("a23456789012345", "abcdefgh");
    expect(tagged).toContain("abcdefgh");
    expect(tagged.length).toBeLessThanOrEqual(15);
    expect(bridgeLinkName("x", "abcdefgh")).not.toBe(bridgeLinkName("y", "abcdefgh"));
    expect(nftTableName("abcdefgh")).toBe("lxd-abcdefgh");
    // A project's network: hashed from its storage name, 15 bytes, apart from default's and other projects'.
    const own = projectBridgeLinkName("longproject_lxdbr0", "");
    expect(own).toMatch(/^lxd[0-9a-f]{12}$/);
    expect(own).not.toBe(projectBridgeLinkName("other_lxdbr0", ""));
  });

  test("the ruleset masquerades NATed subnets and isolates bridges", () => {
    const rules = renderRuleset("lxd-t", [
      { link: "br1", subnet: "10.0.3.0/24", nat: true },
      { link: "br2", subnet: "10.0.4.0/24", nat: false },
    ]);
    expect(rules).toStartWith("table inet lxd-t {}\ndelete table inet lxd-t\n");
    expect(rules).toContain("ip saddr 10.0.3.0/24 ip daddr != 10.0.3.0/24 masquerade");
    expect(rules).not.toContain("10.0.4.0/24 masquerade");
    expect(rules).toContain('iifname "br1" oifname "br2" drop');
    expect(rules).toContain('iifname "br2" oifname "br1" drop');
    expect(rules.indexOf('iifname "br1" oifname "br2" drop')).toBeLessThan(rules.indexOf('iifname "br1" accept'));
  });

  test("ipv4.routing / ipv6.routing false: that family is not forwarded in or out of the bridge", () => {
    const rules = renderRuleset("lxd-t", [{ link: "br1", subnet: "10.0.3.0/24", nat: false, routing4: false }]);
    expect(rules).toContain('meta nfproto ipv4 iifname "br1" drop');
    expect(rules).toContain('meta nfproto ipv4 oifname "br1" drop');
    expect(rules).toContain('meta nfproto ipv6 iifname "br1" accept');
    expect(rules).not.toContain('\n    iifname "br1" accept');
  });

  test("dnsmasq arguments and leases", () => {
    const args = dnsmasqArgs({ dir: "/x/networks/n", link: "br1", gateway: "10.0.3.1", ranges: [["10.0.3.2", "10.0.3.254"]], domain: "lxd", leaseTime: "1h" });
    expect(args).toContain("--interface=br1");
    expect(args).toContain("--dhcp-range=10.0.3.2,10.0.3.254,1h");
    // A pool beyond dnsmasq's default of 1000 leases gets room for every address.
    expect(args).toContain("--dhcp-lease-max=1253");
    const big = dnsmasqArgs({ dir: "/x", link: "br1", ranges: [["10.0.0.2", "10.0.7.254"]], domain: "lxd", leaseTime: "1h" });
    expect(big).toContain("--dhcp-lease-max=3045");
    expect(args).toContain("--local=/lxd/");
    expect(args).toContain("--dhcp-leasefile=/x/networks/n/dnsmasq.leases");
    expect(args).not.toContain("--port=0");
    // ipv4.dhcp.ranges gives several pools; dns.mode=none turns the DNS server off.
    const ranged = dnsmasqArgs({ dir: "/x", link: "br1", ranges: parseDhcpRanges("10.0.3.50-10.0.3.60, 10.0.3.70-10.0.3.80"), domain: "lxd", leaseTime: "2h", noDns: true });
    expect(ranged.filter((a) => a.startsWith("--dhcp-range="))).toEqual(["--dhcp-range=10.0.3.50,10.0.3.60,2h", "--dhcp-range=10.0.3.70,10.0.3.80,2h"]);
    expect(ranged).toContain("--port=0");
    expect(() => parseDhcpRanges("10.0.3.50")).toThrow(/START-END/);
    expect(validateNetworkConfig({ "dns.mode": "loud" })).toMatch(/Invalid DNS mode/);
    expect(parseLeases("1700000000 00:16:3e:00:00:01 10.0.3.5 c1 01:00:16:3e:00:00:01\n1700000001 00:16:3e:00:00:02 10.0.3.6 * *\nduid 00:01\n"))
      .toEqual([
        { expiry: 1700000000, hwaddr: "00:16:3e:00:00:01", address: "10.0.3.5", hostname: "c1" },
        { expiry: 1700000001, hwaddr: "00:16:3e:00:00:02", address: "10.0.3.6", hostname: "" },
      ]);
  });

  test("nic MACs: explicit, volatile, else stable from the instance uuid", () => {
    const config = { "volatile.uuid": "u-1" };
    const derived = nicHwaddr("c1", config, "eth0", {});
    expect(derived).toMatch(/^00:16:3e(:[0-9a-f]{2}){3}$/);
    expect(nicHwaddr("c1", config, "eth0", {})).toBe(derived);
    expect(nicHwaddr("c1", config, "eth1", {})).not.toBe(derived);
    expect(nicHwaddr("c1", config, "eth0", { hwaddr: "00:16:3E:AA:BB:CC" })).toBe("00:16:3e:aa:bb:cc");
    expect(nicHwaddr("c1", { ...config, "volatile.eth0.hwaddr": "00:16:3e:01:02:03" }, "eth0", {})).toBe("00:16:3e:01:02:03");
  });
});
