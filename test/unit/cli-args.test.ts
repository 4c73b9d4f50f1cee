// Pure argument handling: config set forms, key=value, exec mode/env/exit code, names, list columns and filters.
import { describe, expect, test } from "bun:test";
import { parseKeyValues } from "../../src/cli/base.ts";
import { parseConfigSetArgs, stringMaps } from "../../src/cli/config.ts";
import { execEnvironment, exitCodeOf, resolveInteractive } from "../../src/cli/exec.ts";
import { instancesPost } from "../../src/cli/instance.ts";
import { matchesFilters, parseColumns } from "../../src/cli/list.ts";
import { randomName } from "../../src/instance/names.ts";
import type { InstanceFull } from "../../src/api/instance.ts";
import type { Operation } from "../../src/api/operation.ts";

describe("config set forms", () => {
  test("instance KEY VALUE and KEY=VALUE...", () => {
    expect(parseConfigSetArgs(["c1", "limits.memory", "256MiB"])).toEqual({ target: { kind: "instance", name: "c1" }, values: { "limits.memory": "256MiB" } });
    expect(parseConfigSetArgs(["c1", "limits.cpu=2", "user.a=b=c"])).toEqual({ target: { kind: "instance", name: "c1" }, values: { "limits.cpu": "2", "user.a": "b=c" } });
    expect(parseConfigSetArgs(["c1", "limits.cpu=2"])).toEqual({ target: { kind: "instance", name: "c1" }, values: { "limits.cpu": "2" } });
    expect(parseConfigSetArgs(["c1", "user.x", "a=b"])).toEqual({ target: { kind: "instance", name: "c1" }, values: { "user.x": "a=b" } });
  });

  test("server KEY VALUE and KEY=VALUE", () => {
    expect(parseConfigSetArgs(["core.https_address", ":8443"])).toEqual({ target: { kind: "server" }, values: { "core.https_address": ":8443" } });
    expect(parseConfigSetArgs(["core.https_address=:8443"])).toEqual({ target: { kind: "server" }, values: { "core.https_address": ":8443" } });
  });

  test("malformed forms are rejected", () => {
    expect(() => parseConfigSetArgs(["c1"])).toThrow("Missing value for c1");
    expect(() => parseConfigSetArgs(["c1", "a=1", "b"])).toThrow("Bad key=value pair: b");
    expect(() => parseKeyValues(["=x"])).toThrow("Bad key=value pair: =x");
  });

  test("YAML-typed values are turned back into strings", () => {
    expect(stringMaps({ config: { "limits.cpu": 2, "x": true }, devices: { root: { size: 10 } } }))
      .toEqual({ config: { "limits.cpu": "2", x: "true" }, devices: { root: { size: "10" } } });
  });
});

describe("exec", () => {
  const base = { mode: "auto" as const, stdinTTY: true, stdoutTTY: true };
  test("interactive only when both stdin and stdout are terminals, unless forced", () => {
    expect(resolveInteractive(base)).toBe(true);
    expect(resolveInteractive({ ...base, stdoutTTY: false })).toBe(false);
    expect(resolveInteractive({ ...base, stdinTTY: false, force: true })).toBe(true);
    expect(resolveInteractive({ ...base, noForce: true })).toBe(false);
    expect(resolveInteractive({ ...base, disableStdin: true })).toBe(false);
    expect(resolveInteractive({ ...base, mode: "non-interactive" })).toBe(false);
    expect(() => resolveInteractive({ ...base, force: true, noForce: true })).toThrow("You can't pass -t and -T at the same time");
  });

  test("environment: TERM passed through, --env K=V, entries without = ignored", () => {
    expect(execEnvironment(["A=1", "B=x=y", "junk"], "xterm")).toEqual({ TERM: "xterm", A: "1", B: "x=y" });
    expect(execEnvironment([], undefined)).toEqual({});
  });

  test("exit code comes from metadata.return, exactly", () => {
    for (const code of [0, 1, 126, 127, 137, 143]) {
      expect(exitCodeOf({ metadata: { return: code } } as unknown as Operation)).toBe(code);
    }
    expect(exitCodeOf({ metadata: null } as unknown as Operation)).toBe(0);
  });
});

test("random names are valid instance names", () => {
  for (let i = 0; i < 200; i++) expect(randomName()).toMatch(/^[a-z]+-[a-z]+$/);
  expect(randomName(() => 0)).toBe("able-alpaca");
  expect(randomName(() => 0.9999)).toBe("witty-zebra");
});

describe("launch request", () => {
  const args = { image: "busybox", ephemeral: true, config: ["limits.cpu=1"], profiles: [], noProfiles: false, start: true };
  test("body like lxc's, with start and the resolved fingerprint", () => {
    expect(instancesPost(args, "c1", "abc")).toEqual({
      name: "c1", type: "container", source: { type: "image", fingerprint: "abc" }, config: { "limits.cpu": "1" },
      devices: {}, ephemeral: true, start: true,
    });
  });
  test("profiles, --no-profiles and --storage", () => {
    expect(instancesPost({ ...args, profiles: ["a", "b"] }, "c1", "f").profiles).toEqual(["a", "b"]);
    expect(instancesPost({ ...args, noProfiles: true }, "c1", "f").profiles).toEqual([]);
    expect(instancesPost({ ...args, storage: "p1" }, "c1", "f").devices).toEqual({ root: { type: "disk", path: "/", pool: "p1" } });
    expect(() => instancesPost({ ...args, noProfiles: true, profiles: ["a"] }, "c1", "f")).toThrow();
  });
});

describe("list columns and filters", () => {
  const inst = {
    name: "web1", status: "Running", type: "container", ephemeral: false, architecture: "x86_64",
    config: { "user.role": "front" }, expanded_config: { "user.role": "front", "limits.cpu": "2" }, devices: {},
    profiles: ["default"], snapshots: null, state: null,
  } as unknown as InstanceFull;

  test("shorthands, commas optional, custom config columns", () => {
    expect(parseColumns("ns,4").map((c) => c.header)).toEqual(["NAME", "STATE", "IPV4"]);
    const [custom] = parseColumns("user.role:ROLE");
    expect(custom!.header).toBe("ROLE");
    expect(custom!.data(inst)).toBe("front");
    expect(() => parseColumns("z")).toThrow("Unknown column shorthand char");
  });

  test("name prefix/regex and key=value filters", () => {
    expect(matchesFilters(inst, ["web"])).toBe(true);
    expect(matchesFilters(inst, ["w.b\\d"])).toBe(true);
    expect(matchesFilters(inst, ["db"])).toBe(false);
    expect(matchesFilters(inst, ["status=running,stopped"])).toBe(true);
    expect(matchesFilters(inst, ["user.role=front", "l.cpu=2"])).toBe(true);
    expect(matchesFilters(inst, ["user.role=back"])).toBe(false);
  });
});
