// Configuration details LXD users rely on, driven through Debian's lxc and our CLI: snapshot
// schedules with cron lists, `config device unset` (an empty value), and profile changes that
// reach running instances at once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { memoryLimit } from "../helpers/cgroup.ts";
import { run, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { bridgeLinkName, nftTableName } from "../../src/network/names.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
});

afterAll(async () => {
  await d?.stop();
});

const lxc = (...args: string[]) => d.lxcOk(...args);
const initPid = async (name: string) => (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.pid as number;
const MiB = 1024 * 1024;

test("snapshot schedules take cron lists and several expressions", async () => {
  await d.ok("init", "busybox", "s1");
  await lxc("config", "set", "s1", "snapshots.schedule", "0 1,13 * * *");
  expect((await lxc("config", "get", "s1", "snapshots.schedule")).trim()).toBe("0 1,13 * * *");
  await lxc("config", "set", "s1", "snapshots.schedule", "@daily, 30 6 * * 1-5");
  const bad = await d.lxc("config", "set", "s1", "snapshots.schedule", "0 1,25 * * *");
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain("hour");
  await d.ok("delete", "s1");
});

test("lxc move c1 -s POOL moves a stopped instance to another pool on the server (instance_pool_move)", async () => {
  await d.ok("storage", "create", "other", "dir");
  await d.ok("init", "busybox", "pm1");
  await d.ok("snapshot", "pm1", "s0");
  const before = (await d.api("GET", "/1.0/instances/pm1")).body.metadata;
  await lxc("move", "pm1", "-s", "other");
  const after = (await d.api("GET", "/1.0/instances/pm1")).body.metadata;
  expect(after.devices.root).toEqual({ type: "disk", path: "/", pool: "other" });
  expect(after.config["volatile.uuid"]).toBe(before.config["volatile.uuid"]);
  expect((await d.api("GET", "/1.0/instances/pm1/snapshots")).body.metadata).toEqual(["/1.0/instances/pm1/snapshots/s0"]);
  expect((await d.api("GET", "/1.0/instances")).body.metadata).not.toContainEqual(expect.stringContaining("-move-"));
  await d.ok("start", "pm1");
  // A running instance is refused and stays where it is.
  const refused = await d.lxc("move", "pm1", "-s", "default");
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("stop it");
  expect((await d.api("GET", "/1.0/instances/pm1")).body.metadata.devices.root.pool).toBe("other");
  await d.ok("delete", "pm1", "--force");
  await d.ok("storage", "delete", "other");
});

test("lxc config device unset (an empty value) removes the key", async () => {
  await d.ok("init", "busybox", "u1");
  await lxc("config", "device", "add", "u1", "tmp", "disk", "source=/tmp", "path=/mnt", "readonly=true");
  await lxc("config", "device", "unset", "u1", "tmp", "readonly");
  const dev = (await d.api("GET", "/1.0/instances/u1")).body.metadata.devices.tmp;
  expect(dev).toEqual({ type: "disk", source: "/tmp", path: "/mnt" });
  await lxc("profile", "create", "unsetme");
  await lxc("profile", "device", "add", "unsetme", "tmp", "disk", "source=/tmp", "path=/mnt", "readonly=true");
  await lxc("profile", "device", "unset", "unsetme", "tmp", "readonly");
  expect((await d.api("GET", "/1.0/profiles/unsetme")).body.metadata.devices.tmp.readonly).toBeUndefined();
  await d.ok("delete", "u1");
  await lxc("profile", "delete", "unsetme");
});

test("a changed profile applies at once to the running instances that use it", async () => {
  await lxc("profile", "create", "lim");
  await lxc("profile", "set", "lim", "limits.memory", "64MiB");
  await d.ok("launch", "busybox", "p1", "-p", "default", "-p", "lim");
  const pid = await initPid("p1");
  expect(memoryLimit(pid)).toBe(64 * MiB);

  await lxc("profile", "set", "lim", "limits.memory", "128MiB");
  expect(memoryLimit(pid)).toBe(128 * MiB);

  const shared = join(d.dir, "shared");
  mkdirSync(shared);
  writeFileSync(join(shared, "hello"), "from the profile\n");
  await lxc("profile", "device", "add", "lim", "shared", "disk", `source=${shared}`, "path=/mnt/shared");
  expect(await d.ok("exec", "p1", "--", "cat", "/mnt/shared/hello")).toBe("from the profile\n");
  await lxc("profile", "device", "remove", "lim", "shared");
  expect((await d.lxd("exec", "p1", "--", "test", "-e", "/mnt/shared/hello")).code).not.toBe(0);
  await d.ok("delete", "-f", "p1");
  await lxc("profile", "delete", "lim");
});

test("raw.lxc: honoured keys reach init, LXD's forbidden keys and unknown ones are refused", async () => {
  const bad = await d.lxc("init", "busybox", "r0", "-c", "raw.lxc=lxc.logfile = /tmp/x");
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain("Setting lxc.logfile is not allowed");
  const unknown = await d.lxd("init", "busybox", "r0", "-c", "raw.lxc=lxc.cgroup.devices.allow = a");
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain('The raw.lxc key "lxc.cgroup.devices.allow" is not supported');
  expect((await d.api("GET", "/1.0/instances/r0")).status).toBe(404);

  await d.ok("launch", "busybox", "r1", "-c", "raw.lxc=lxc.environment = FROM_RAW=yes", "-c", "environment.FROM_KEY=also");
  const environ = (await d.ok("exec", "r1", "--", "cat", "/proc/1/environ")).split("\0");
  expect(environ).toContain("FROM_RAW=yes");
  expect(environ).toContain("FROM_KEY=also");
  await d.ok("delete", "-f", "r1");
});

test("one path, one disk: a volume attached a second time at the same path is refused", async () => {
  await d.ok("init", "busybox", "a1");
  await d.ok("storage", "volume", "create", "default", "twice");
  await d.ok("storage", "volume", "attach", "default", "twice", "a1", "/data");
  const again = await d.lxd("config", "device", "add", "a1", "again", "disk", "pool=default", "source=twice", "path=/data/");
  expect(again.code).not.toBe(0);
  expect(again.stderr).toContain('More than one disk device uses the same path "/data"');
  expect(Object.keys((await d.api("GET", "/1.0/instances/a1")).body.metadata.devices)).toEqual(["twice"]);
  await d.ok("delete", "a1");
  await d.ok("storage", "volume", "delete", "default", "twice");
});

test("lxd init --preseed (LXD's YAML) and --dump; lxd sql; lxd activateifneeded", async () => {
  const preseed = [
    "config:",
    "  images.auto_update_interval: 12",
    "storage_pools:",
    "- name: seeded",
    "  driver: dir",
    "  description: from a preseed",
    "profiles:",
    "- name: seeded",
    "  config:",
    "    limits.memory: 64MiB",
    "  devices:",
    "    root: {path: /, pool: seeded, type: disk}",
    "- name: default",
    "  config:",
    "    user.seeded: \"yes\"",
  ].join("\n");
  await d.lxdWith({ stdin: preseed }, "init", "--preseed").then((r) => expect(r.code, r.stderr).toBe(0));
  expect((await d.api("GET", "/1.0")).body.metadata.config["images.auto_update_interval"]).toBe("12");
  expect((await d.api("GET", "/1.0/storage-pools/seeded")).body.metadata.description).toBe("from a preseed");
  expect((await d.api("GET", "/1.0/profiles/seeded")).body.metadata.devices.root.pool).toBe("seeded");
  const def = (await d.api("GET", "/1.0/profiles/default")).body.metadata;
  expect(def.config["user.seeded"]).toBe("yes");
  expect(def.devices.root).toBeDefined(); // kept: a preseed adds to an existing profile
  // Applying it again changes nothing and fails nothing; a dump fed back is a no-op too.
  await d.lxdWith({ stdin: preseed }, "init", "--preseed").then((r) => expect(r.code, r.stderr).toBe(0));
  const dump = await d.ok("init", "--dump");
  expect(dump).toContain("name: seeded");
  await d.lxdWith({ stdin: dump }, "init", "--preseed").then((r) => expect(r.code, r.stderr).toBe(0));
  expect((await d.lxdWith({ stdin: "bogus: 1" }, "init", "--preseed")).stderr).toContain('unknown key "bogus"');

  const rows = await d.ok("sql", "global", "SELECT name, driver FROM storage_pools ORDER BY name");
  expect(rows).toMatch(/\|\s+name\s+\|\s+driver\s+\|/);
  expect(rows).toMatch(/\|\s+seeded\s+\|\s+dir\s+\|/);
  expect(await d.ok("sql", "local", "UPDATE profiles SET description = 'via sql' WHERE name = 'seeded'")).toBe("Rows affected: 1\n");
  expect((await d.lxd("sql", "global", "SELECT nope")).stderr).toContain("Failed to execute query");
  await d.ok("profile", "delete", "seeded");
  await d.ok("storage", "delete", "seeded");

  // The daemon is running and nothing asks for it at boot yet; then an autostart instance does.
  expect(await d.ok("activateifneeded")).toBe("No need to start the daemon now\n");
  await d.ok("init", "busybox", "boot1", "-c", "boot.autostart=true");
  expect(await d.ok("activateifneeded")).toContain('Instance "boot1" has boot.autostart set, activating...');
  await d.ok("delete", "boot1");
});

test("a pool's volume.size is the default size of its new custom volumes (refused on dir pools)", async () => {
  const dir = await d.lxd("storage", "set", "default", "volume.size", "64MiB");
  expect(dir.code).not.toBe(0);
  expect(dir.stderr).toContain("a dir pool cannot limit volume sizes");
  await d.ok("storage", "create", "vsz", "btrfs", "size=512MiB", "volume.size=64MiB");
  try {
    await d.ok("storage", "volume", "create", "vsz", "sized");
    await d.ok("storage", "volume", "create", "vsz", "own", "size=32MiB");
    const vol = async (name: string) => (await d.api("GET", `/1.0/storage-pools/vsz/volumes/custom/${name}`)).body.metadata.config;
    expect((await vol("sized")).size).toBe("64MiB");
    expect((await vol("own")).size).toBe("32MiB");
    await d.ok("storage", "volume", "delete", "vsz", "sized");
    await d.ok("storage", "volume", "delete", "vsz", "own");
  } finally {
    await d.lxd("storage", "delete", "vsz");
  }
});

test("bridge keys ipv4.dhcp.ranges and dns.mode reach the network's dnsmasq, ipv4.routing its firewall", async () => {
  await d.ok("network", "create", "rng");
  try {
    const subnet = (await d.api("GET", "/1.0/networks/rng")).body.metadata.config["ipv4.address"] as string;
    const base = subnet.split("/")[0]!.split(".").slice(0, 3).join(".");
    await d.ok("network", "set", "rng", "ipv4.dhcp.ranges", `${base}.50-${base}.60`);
    await d.ok("network", "set", "rng", "dns.mode", "none");
    const cmdline = async () => {
      const pid = (await Bun.file(`${d.dir}/networks/rng/dnsmasq.pid`).text().catch(() => "")).trim();
      return pid ? (await Bun.file(`/proc/${pid}/cmdline`).text().catch(() => "")).split("\0") : [];
    };
    let args: string[] = [];
    for (let i = 0; i < 100 && !(args = await cmdline()).includes("--port=0"); i++) await Bun.sleep(100);
    expect(args).toContain("--port=0");
    expect(args.filter((a) => a.startsWith("--dhcp-range="))).toEqual([`--dhcp-range=${base}.50,${base}.60,1h`]);
    const bad = await d.lxd("network", "set", "rng", "ipv4.dhcp.ranges", "10.0.0.1");
    expect(bad.stderr).toContain("START-END");

    // ipv4.routing=false: the daemon's table stops forwarding IPv4 in and out of the bridge.
    await d.ok("network", "set", "rng", "ipv4.routing", "false");
    const rules = (await run(["nft", "list", "table", "inet", nftTableName(d.tag)])).stdout;
    const link = bridgeLinkName("rng", d.tag);
    expect(rules).toContain(`meta nfproto ipv4 iifname "${link}" drop`);
    expect(rules).toContain(`meta nfproto ipv6 iifname "${link}" accept`);
  } finally {
    await d.ok("network", "delete", "rng");
  }
});
