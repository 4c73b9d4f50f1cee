// Storage pools and networks on a three-member cluster (one machine: each member its own LXD_DIR,
// HTTPS port and test tag, so its bridges have names of their own), as LXD has them: defined per
// member with --target (Pending), then created on every member with each one's own keys; a joiner
// answers `member_config` (by preseed, then interactively with LXD's questions) and gets the
// cluster's pools and bridges at once. Driven by our CLI, the REST API and Debian's `lxc`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bridgeLinkName } from "../../src/network/names.ts";
import type { TestDaemon } from "../helpers/daemon.ts";
import { LIBDQLITE, joinToken, memberAddress, startMembers } from "../helpers/cluster.ts";

const LIB = LIBDQLITE;

const m: TestDaemon[] = [];
const address = memberAddress;
/** The same network name on every member; each member's bridge carries its own test tag. */
const NET = "brc1";
const NET2 = "brc2";
const NET3 = "brc3";

interface Pool { name: string; status: string; locations: string[]; config: Record<string, string> }

const linkUp = (d: TestDaemon, network: string) => Bun.spawnSync(["ip", "link", "show", bridgeLinkName(network, d.tag)]).exitCode === 0;
const pool = async (d: TestDaemon, name: string, target?: string): Promise<Pool> =>
  (await d.api("GET", `/1.0/storage-pools/${name}${target ? `?target=${target}` : ""}`)).body.metadata;
/** An empty directory for a pool's source, under the member's own state directory. */
const sourceDir = (d: TestDaemon, name: string) => join(d.dir, `src-${name}`);

describe.skipIf(!LIB)("cluster storage pools and networks", () => {
  beforeAll(async () => {
    await startMembers(m, 3);
    const [m1] = m as [TestDaemon];
    await m1.ok("storage", "create", "default", "dir");
    await m1.ok("config", "set", "core.https_address", address.get(m1)!);
    await m1.ok("cluster", "enable", "m1");
  }, 120_000);

  afterAll(async () => {
    await Promise.all(m.map((d) => d.stop()));
  });

  test("on one member: a pending pool and bridge, created; GET /1.0/cluster asks joiners for each pool's source", async () => {
    const [m1] = m as [TestDaemon];
    await m1.ok("storage", "create", "data", "dir", `source=${sourceDir(m1, "data")}`, "--target", "m1");
    expect((await pool(m1, "data")).status).toBe("Pending");
    await m1.ok("storage", "create", "data", "dir");
    expect(await pool(m1, "data")).toMatchObject({ status: "Created", locations: ["m1"] });
    expect(existsSync(join(sourceDir(m1, "data"), "containers"))).toBe(true);
    await m1.ok("network", "create", NET, "--target", "m1");
    expect((await m1.api("GET", `/1.0/networks/${NET}`)).body.metadata.status).toBe("Pending");
    expect(linkUp(m1, NET)).toBe(false);
    await m1.ok("network", "create", NET, "ipv4.address=none", "ipv6.address=none");
    expect((await m1.api("GET", `/1.0/networks/${NET}`)).body.metadata).toMatchObject({ status: "Created", locations: ["m1"] });
    expect(linkUp(m1, NET)).toBe(true);
    const info = (await m1.api("GET", "/1.0/cluster")).body.metadata;
    expect(info.member_config).toEqual([
      { entity: "storage-pool", name: "data", key: "source", value: "", description: "\"source\" property for storage pool \"data\"" },
      { entity: "storage-pool", name: "default", key: "source", value: "", description: "\"source\" property for storage pool \"default\"" },
    ]);
  }, 60_000);

  test("a joiner with a preseed's member_config gets the pools at its sources and the bridge, at once", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    const preseed = [
      "cluster:", "  enabled: true", "  server_name: m2", `  server_address: ${address.get(m2)}`, `  cluster_token: ${await joinToken(m1, "m2")}`,
      "  member_config:", "  - entity: storage-pool", "    name: data", "    key: source", `    value: ${sourceDir(m2, "data")}`, "",
    ].join("\n");
    const r = await m2.lxdWith({ stdin: preseed }, "init", "--preseed");
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(sourceDir(m2, "data"), "containers"))).toBe(true);
    expect(linkUp(m2, NET)).toBe(true);
    expect((await pool(m1, "data", "m2")).config.source).toBe(sourceDir(m2, "data"));
    expect((await pool(m2, "data", "m1")).config.source).toBe(sourceDir(m1, "data"));
    // Without a target the member-specific keys stay out, as LXD shows a cluster's pool.
    expect((await pool(m2, "data")).config.source).toBeUndefined();
    expect((await pool(m1, "data")).locations).toEqual(["m1", "m2"]);
    // The default pool went to m2's own default place.
    expect((await pool(m1, "default", "m2")).config.source).toBe(join(m2.dir, "storage-pools/default"));
    const net = (await m1.api("GET", `/1.0/networks/${NET}?target=m2`)).body.metadata;
    expect(net).toMatchObject({ status: "Created", locations: ["m1", "m2"] });
    expect(await m1.ok("network", "show", NET, "--target", "m2")).toContain("status: Created");
    expect((await m2.lxd("network", "set", NET, "ipv4.nat", "true", "--target", "m2")).stderr)
      .toContain("Config key \"ipv4.nat\" may not be used as cluster member specific key");
  }, 60_000);

  test("interactive `lxd init` joins with LXD's questions and answers each pool's source", async () => {
    const [m1, , m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    const token = await joinToken(m1, "m3");
    const answers = ["yes", address.get(m3)!, "yes", "yes", token, "yes", sourceDir(m3, "data"), "", "yes", ""].join("\n");
    const r = await m3.lxdWith({ stdin: answers, timeoutMs: 60_000 }, "init");
    expect(r.code, r.stderr).toBe(0);
    const asked = [
      "Would you like to use LXD clustering? (yes/no) [default=no]: ",
      "What IP address or DNS name should be used to reach this server? [default=",
      "Are you joining an existing cluster? (yes/no) [default=no]: ",
      "Do you have a join token? (yes/no/[token]) [default=no]: ",
      "Please provide join token: ",
      "All existing data is lost when joining a cluster, continue? (yes/no) [default=no] ",
      "Choose \"source\" property for storage pool \"data\": ",
      "Choose \"source\" property for storage pool \"default\": ",
      "Would you like a YAML \"lxd init\" preseed to be printed? (yes/no) [default=no]: ",
    ];
    let at = 0;
    for (const q of asked) {
      const i = r.stdout.indexOf(q, at);
      expect(i, `question "${q}" in order`).toBeGreaterThanOrEqual(at);
      at = i + q.length;
    }
    // The preseed printed is what was applied.
    expect(r.stdout).toContain("server_name: m3");
    expect(r.stdout).toContain(`value: ${sourceDir(m3, "data")}`);
    expect((await m1.ok("cluster", "list"))).toContain("m3");
    expect(existsSync(join(sourceDir(m3, "data"), "containers"))).toBe(true);
    expect(linkUp(m3, NET)).toBe(true);
    expect((await pool(m1, "data")).locations).toEqual(["m1", "m2", "m3"]);
  }, 90_000);

  test("pending on every member, then created everywhere (our CLI); a missing member and wrong keys refused", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    await m2.ok("storage", "create", "p1", "dir", `source=${sourceDir(m1, "p1")}`, "--target", "m1");
    await m2.ok("storage", "create", "p1", "dir", `source=${sourceDir(m2, "p1")}`, "--target", "m2");
    const refused = await m1.lxd("storage", "create", "p1", "dir");
    expect(refused.stderr).toContain("Error: Pool not defined on nodes: m3");
    expect((await m1.lxd("storage", "create", "p1", "dir", "volume.snapshots.expiry=1d", "--target", "m3")).stderr)
      .toContain("Config key \"volume.snapshots.expiry\" may not be used as member-specific key");
    expect((await m1.lxd("storage", "create", "p1", "dir", "--target", "m1")).stderr).toContain("The storage pool already defined on member \"m1\"");
    await m3.ok("storage", "create", "p1", "dir", `source=${sourceDir(m3, "p1")}`, "--target", "m3");
    expect(await m1.ok("storage", "list")).toContain("PENDING");
    expect((await m1.lxd("storage", "create", "p1", "dir", `source=/nowhere`)).stderr).toContain("Config key \"source\" is cluster member specific");
    expect(await m3.ok("storage", "create", "p1", "dir", "volume.snapshots.expiry=2d")).toContain("Storage pool p1 created");
    for (const d of m) expect(existsSync(join(sourceDir(d, "p1"), "custom"))).toBe(true);
    expect(await pool(m2, "p1")).toMatchObject({ status: "Created", locations: ["m1", "m2", "m3"], config: { "volume.snapshots.expiry": "2d" } });
    // Each member's own keys, shown and read with --target; cluster keys set without one.
    expect(await m1.ok("storage", "show", "p1", "--target", "m3")).toContain(`source: ${sourceDir(m3, "p1")}`);
    expect((await m2.ok("storage", "get", "p1", "source", "--target", "m1")).trim()).toBe(sourceDir(m1, "p1"));
    await m2.ok("storage", "set", "p1", "user.note", "shared");
    expect((await pool(m3, "p1", "m3")).config).toMatchObject({ "user.note": "shared", source: sourceDir(m3, "p1") });
    expect((await m1.lxd("storage", "set", "p1", "user.note", "mine", "--target", "m2")).stderr)
      .toContain("Config key \"user.note\" may not be used as cluster member specific key");
    expect((await m1.lxd("storage", "set", "p1", "source", "/elsewhere")).stderr).toContain("Config key \"source\" is cluster member specific");
    // A volume on it works on every member (the pool's source there).
    await m1.ok("storage", "volume", "create", "p1", "v1");
    await m1.ok("storage", "volume", "delete", "p1", "v1");
    await m1.ok("storage", "delete", "p1");
    for (const d of m) expect(existsSync(join(sourceDir(d, "p1"), "custom"))).toBe(true);
    expect((await m1.api("GET", "/1.0/storage-pools/p1")).status).toBe(404);
  }, 90_000);

  test("a member that fails marks the pool Errored with a sentence naming it", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    mkdirSync(sourceDir(m2, "p3"), { recursive: true });
    writeFileSync(join(sourceDir(m2, "p3"), "something"), "x");
    for (const name of ["m1", "m2", "m3"]) await m1.ok("storage", "create", "p3", "dir", `source=${sourceDir(m[Number(name[1]) - 1]!, "p3")}`, "--target", name);
    const r = await m1.lxd("storage", "create", "p3", "dir");
    expect(r.stderr).toContain(`Error: Failed to create storage pool "p3" on member "m2": source "${sourceDir(m2, "p3")}" is not empty`);
    expect((await pool(m1, "p3")).status).toBe("Errored");
    expect((await pool(m1, "p3", "m2")).status).toBe("Errored");
    expect((await pool(m1, "p3")).locations).toEqual(["m1", "m3"]);
    await m1.ok("storage", "delete", "p3");
  }, 60_000);

  test("a bridge that cannot come up on one member leaves the network Errored; a new create finishes it", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    const taken = bridgeLinkName(NET3, m2.tag);
    expect(Bun.spawnSync(["ip", "link", "add", taken, "type", "bridge"]).exitCode).toBe(0);
    try {
      for (const name of ["m1", "m2", "m3"]) await m1.ok("network", "create", NET3, "--target", name);
      const r = await m1.lxd("network", "create", NET3, "ipv4.address=none", "ipv6.address=none");
      expect(r.stderr).toContain(`Error: Failed to create network "${NET3}" on member "m2": an interface named "${taken}" already exists on the host`);
      expect((await m1.api("GET", `/1.0/networks/${NET3}`)).body.metadata).toMatchObject({ status: "Errored", locations: ["m1", "m3"] });
      expect((await m1.api("GET", `/1.0/networks/${NET3}?target=m2`)).body.metadata.status).toBe("Errored");
    } finally {
      Bun.spawnSync(["ip", "link", "del", taken]);
    }
    expect((await m1.lxd("network", "create", NET3, "ipv4.address=none")).stderr).toContain("Please do not specify any global config when re-running create");
    await m1.ok("network", "create", NET3);
    expect((await m1.api("GET", `/1.0/networks/${NET3}`)).body.metadata).toMatchObject({ status: "Created", locations: ["m1", "m2", "m3"] });
    for (const d of m) expect(linkUp(d, NET3)).toBe(true);
    await m1.ok("network", "delete", NET3);
    for (const d of m) expect(linkUp(d, NET3)).toBe(false);
  }, 60_000);

  test("Debian's lxc: a pool and a bridge defined per member and created on all three", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    for (const name of ["m1", "m2", "m3"]) {
      await m1.lxcOk("storage", "create", "p2", "dir", `source=${sourceDir(m[Number(name[1]) - 1]!, "p2")}`, "--target", name);
      await m1.lxcOk("network", "create", NET2, "--target", name);
    }
    expect((await m1.lxc("network", "create", NET2, "ipv4.address=none", "--target", "m1")).stderr).toContain("may not be used as member-specific key");
    await m1.lxcOk("storage", "create", "p2", "dir");
    await m1.lxcOk("network", "create", NET2, "ipv4.address=none", "ipv6.address=none");
    for (const d of m) {
      expect(existsSync(join(sourceDir(d, "p2"), "containers"))).toBe(true);
      expect(linkUp(d, NET2)).toBe(true);
    }
    expect(await m2.lxcOk("storage", "show", "p2", "--target", "m3")).toContain(`source: ${sourceDir(m3, "p2")}`);
    const shown = await m3.lxcOk("network", "show", NET2);
    expect(shown).toContain("status: Created");
    for (const name of ["m1", "m2", "m3"]) expect(shown).toContain(`- ${name}`);
    expect(await m1.lxcOk("storage", "list")).toContain("CREATED");
    // A change and a delete reach every member's bridge.
    await m2.lxcOk("network", "set", NET2, "bridge.mtu", "1400");
    for (const d of m) expect(Bun.spawnSync(["ip", "link", "show", bridgeLinkName(NET2, d.tag)]).stdout.toString()).toContain("mtu 1400");
    await m1.lxcOk("network", "delete", NET2);
    await m1.lxcOk("storage", "delete", "p2");
    for (const d of m) expect(linkUp(d, NET2)).toBe(false);
    await m1.ok("network", "delete", NET);
    for (const d of m) expect(linkUp(d, NET)).toBe(false);
  }, 90_000);
});
