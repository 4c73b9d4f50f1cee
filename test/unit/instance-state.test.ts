import { expect, test } from "bun:test";
import { compressIPv6 } from "../../src/instance/state.ts";

test("IPv6 addresses are shown compressed", () => {
  expect(compressIPv6("0 0 0 0 0 0 0 1".split(" "))).toBe("::1");
  expect(compressIPv6("fe80 0 0 0 216 3eff fe43 1a3a".split(" "))).toBe("fe80::216:3eff:fe43:1a3a");
  expect(compressIPv6("fd42 1 0 0 0 0 0 0".split(" "))).toBe("fd42:1::");
  expect(compressIPv6("1 0 2 0 3 0 4 5".split(" "))).toBe("1:0:2:0:3:0:4:5");
});
