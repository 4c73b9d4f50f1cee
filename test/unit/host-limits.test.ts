// The host limits a number of running containers would pass, read from this host's real settings.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { hostLimitWarner, howToRaise, limitsReached } from "../../src/instance/host-limits.ts";

const sysctl = (name: string) => Number(readFileSync(`/proc/sys/${name.replaceAll(".", "/")}`, "utf8"));

test("a count beyond the ARP table size names gc_thresh3 with the command to raise it", () => {
  const thresh = sysctl("net.ipv4.neigh.default.gc_thresh3");
  expect(limitsReached(0)).toEqual([]);
  const hit = limitsReached(thresh + 1).find((l) => l.setting === "net.ipv4.neigh.default.gc_thresh3");
  expect(hit).toBeDefined();
  expect(hit!.current).toBe(thresh);
  expect(howToRaise(hit!)).toBe("sysctl -w net.ipv4.neigh.default.gc_thresh3=8192 (and in /etc/sysctl.d/ to keep it)");
});

test("each setting is reported once per daemon run", () => {
  const said: string[] = [];
  const check = hostLimitWarner((msg) => said.push(msg));
  const many = sysctl("kernel.pid_max");
  check(many);
  const first = said.length;
  expect(first).toBeGreaterThan(0);
  expect(said.some((m) => m.includes("kernel.pid_max"))).toBe(true);
  check(many + 1);
  expect(said.length).toBe(first);
});
