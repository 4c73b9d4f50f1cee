// The one parser per config value type that every config family's table uses.
import { describe, expect, test } from "bun:test";
import {
  bool, bytesIEC, bytesSI, cidr4, cidr6, cron, int, ipv4, ipv4Number, ipv6, ipv6Number, isTrue, parseCidr, parseSize, range, size, uint32,
} from "../../src/config/values.ts";
import { validateInstanceConfig } from "../../src/instance/config.ts";
import { validateNetworkConfig } from "../../src/network/config.ts";
import { SERVER_KEYS } from "../../src/daemon/server-config.ts";

describe("booleans", () => {
  test("true/1/yes/on in any case are true; the other four spellings are false; nothing else is a boolean", () => {
    for (const v of ["true", "TRUE", "1", "yes", "On", " on "]) expect(isTrue(v)).toBe(true);
    for (const v of ["false", "0", "no", "off", "", undefined, "maybe"]) expect(isTrue(v)).toBe(false);
    for (const v of ["true", "False", "0", "yes", "NO", "on", "off"]) expect(bool(v)).toBeUndefined();
    expect(bool("maybe")).toMatch(/boolean/);
    expect(SERVER_KEYS["images.auto_update_cached"]!.validate("no")).toBeUndefined();
  });
});

describe("integers and sizes", () => {
  test("integers, ranges and 32-bit counts", () => {
    expect(int("-5")).toBeUndefined();
    expect(int("5.0")).toMatch(/integer/);
    expect(range(1280, 9000)("1500")).toBeUndefined();
    expect(range(1280, 9000)("9001")).toMatch(/between 1280 and 9000/);
    expect(uint32("4294967295")).toBeUndefined();
    expect(uint32("4294967296")).toMatch(/32-bit/);
  });

  test("sizes with decimal and binary units", () => {
    expect(parseSize("10")).toBe(10);
    expect(parseSize("1kB")).toBe(1000);
    expect(parseSize("2GiB")).toBe(2 * 2 ** 30);
    expect(parseSize("1.5GB")).toBeUndefined();
    expect(size("10MiB")).toBeUndefined();
    expect(size("ten")).toMatch(/Invalid size/);
  });

  test("one byte formatter, SI and IEC as LXD prints them", () => {
    expect(bytesSI(999)).toBe("999B");
    expect(bytesSI(1_500_000)).toBe("1.50MB");
    expect(bytesIEC(1986560)).toBe("1.89MiB");
  });
});

describe("IP addresses and subnets", () => {
  test(":::::, zone indexes, short and zero-padded quads are not addresses", () => {
    for (const v of [":::::", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "fd42::zz", ""]) expect(ipv6(v)).toMatch(/Invalid IPv6/);
    for (const v of ["::", "::1", "fd42:1:2:3::1", "::ffff:10.0.0.1"]) expect(ipv6(v)).toBeUndefined();
    for (const v of ["10.0.0", "10.0.0.256", "010.0.0.1", "1.2.3.4.5", "::1"]) expect(ipv4(v)).toMatch(/Invalid IPv4/);
    expect(ipv4("10.0.0.1")).toBeUndefined();
  });

  test("numbers for subnet arithmetic", () => {
    expect(ipv4Number("10.0.3.1")).toBe(0x0a000301);
    expect(ipv6Number("::1")).toBe(1n);
    expect(ipv6Number("fd42::")).toBe(0xfd42n << 112n);
    expect(ipv6Number(":::::")).toBeUndefined();
  });

  test("CIDRs of either family", () => {
    expect(parseCidr("10.0.3.1/24", 4)).toEqual({ address: "10.0.3.1", prefix: 24 });
    expect(parseCidr("10.0.3.1/33", 4)).toBeUndefined();
    expect(parseCidr("fd42::1/64", 4)).toBeUndefined();
    expect(cidr6("fd42::1/64")).toBeUndefined();
    expect(cidr6(":::::/64")).toMatch(/Invalid IPv6 subnet/);
    expect(cidr4("10.0.3.1")).toMatch(/Invalid IPv4 subnet/);
  });

  test("the families' tables use these parsers", () => {
    expect(validateInstanceConfig({})).toBeUndefined();
    expect(validateNetworkConfig({ "ipv6.address": ":::::/64" })).toMatch(/Invalid IPv6 CIDR/);
    expect(validateNetworkConfig({ "ipv4.address": "010.0.3.1/24" })).toMatch(/Invalid IPv4 CIDR/);
  });
});

describe("cron schedules", () => {
  test("valid expressions, lists, ranges, steps, names and aliases", () => {
    for (const v of ["0 1,13 * * *", "*/15 * * * *", "0 0 1-7 * mon", "0 6 * jan-mar 1-5", "@daily", "@hourly, 30 2 * * *", "@never", ""]) {
      expect(cron(v)).toBeUndefined();
    }
  });

  test("bad fields say which one", () => {
    expect(cron("99 * * * *")).toMatch(/minute/);
    expect(cron("0 24 * * *")).toMatch(/hour/);
    expect(cron("* * *")).toMatch(/5 fields/);
    expect(validateInstanceConfig({ "snapshots.schedule": "0 0 32 * *" })).toMatch(/day of month/);
    expect(validateInstanceConfig({ "snapshots.schedule": "0 1,13 * * *" })).toBeUndefined();
  });
});

describe("one table per family", () => {
  test("the OpenAPI document lists each family's keys from the tables that validate them", async () => {
    const { configKeys } = await import("../../src/daemon/openapi.ts");
    const keys = configKeys();
    expect(keys.server["core.https_address"]).toMatch(/HTTPS/);
    expect(keys.instance["limits.memory"]).toBeString();
    expect(keys.device.disk).toContain("pool");
    expect(keys.network["ipv4.address"]).toMatch(/CIDR/);
    expect(keys["storage-pool"].btrfs).toContain("size");
    expect(keys["storage-volume"].size).toMatch(/Quota/);
  });
});
