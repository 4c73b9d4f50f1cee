// A three-member cluster on one machine (each member its own LXD_DIR and HTTPS port on loopback,
// no networks, containers without NICs): forming and joining with LXD's token and preseed, one
// API across members (placement, forwarding of exec and files, lists with LOCATION, events), moves
// between members, evacuate/restore per cluster.evacuate, a member and then the leader SIGKILLed and coming back,
// removing a member, Debian's `lxc` driving it all, and a host without libdqlite.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { criuWrapper, startCounting } from "../helpers/criu.ts";
import { busyboxImage, importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";
import { LIBDQLITE, joinMember, memberAddress, startMembers } from "../helpers/cluster.ts";
import { until } from "../helpers/until.ts";

const LIB = LIBDQLITE;
/** Seconds without a heartbeat before a member is offline (LXD's default is 20). */
const THRESHOLD = 6;

const m: TestDaemon[] = [];
/** The CRIU the members run with ("" when it cannot be provisioned: live-migrate is then refused). */
let criu = "";
const address = memberAddress;

interface Member { server_name: string; status: string; roles: string[]; url: string }
interface Inst { name: string; status: string; location: string }

const members = async (d: TestDaemon): Promise<Member[]> => JSON.parse(await d.ok("cluster", "list", "--format", "json"));
const instances = async (d: TestDaemon): Promise<Inst[]> => JSON.parse(await d.ok("list", "--format", "json"));
const locationOf = async (d: TestDaemon, name: string) => (await instances(d)).find((i) => i.name === name)?.location;


describe.skipIf(!LIB)("cluster", () => {
  beforeAll(async () => {
    criu = await criuWrapper().catch(() => "");
    await startMembers(m, 3, criu ? { env: { LXD_CRIU: criu } } : {});
    const [m1] = m as [TestDaemon];
    await m1.ok("storage", "create", "default", "dir");
    await m1.ok("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
    await m1.ok("config", "set", "core.https_address", address.get(m1)!);
    await importBusybox(m1);
  }, 120_000);

  afterAll(async () => {
    // Members stop together: the last ones would otherwise wait for a quorum that is gone.
    await Promise.all(m.map((d) => d.stop()));
  });

  test("enable, add (LXD's token), join by preseed: one certificate, roles as LXD assigns them", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    expect((await m1.lxd("cluster", "list")).stderr).toContain("Server isn't part of a cluster");
    expect(await m1.ok("cluster", "enable", "m1")).toContain("Clustering enabled");
    await m1.ok("config", "set", "cluster.offline_threshold", String(THRESHOLD));
    const token = (await m1.ok("cluster", "add", "m2")).trim().split("\n").at(-1)!;
    const fields = JSON.parse(Buffer.from(token, "base64").toString());
    expect(Object.keys(fields).sort()).toEqual(["addresses", "expires_at", "fingerprint", "secret", "server_name"]);
    expect(fields.addresses).toEqual([address.get(m1)]);
    expect(await m1.ok("cluster", "list-tokens")).toContain("m2");
    expect(await m1.ok("cluster", "revoke-token", "m2")).toContain("deleted");
    expect(await m1.ok("cluster", "list-tokens")).not.toContain("m2");
    await joinMember(m[0]!, m2, "m2");
    await joinMember(m[0]!, m3, "m3");
    const cert = readFileSync(join(m1.dir, "cluster.crt"), "utf8");
    for (const d of [m2, m3]) expect(readFileSync(join(d.dir, "cluster.crt"), "utf8")).toBe(cert);
    const listed = await members(m3);
    expect(listed.map((x) => [x.server_name, x.status, x.url])).toEqual([
      ["m1", "Online", `https://${address.get(m1)}`], ["m2", "Online", `https://${address.get(m2)}`], ["m3", "Online", `https://${address.get(m3)}`],
    ]);
    // The database is on the bootstrap member alone until the third joins; then three voters.
    await until(async () => (await members(m2)).every((x) => x.roles.includes("database")), "three database members", 30_000);
    expect((await members(m1)).filter((x) => x.roles.includes("database-leader"))).toHaveLength(1);
    const info = await m2.api("GET", "/1.0/cluster");
    expect(info.body.metadata).toMatchObject({ enabled: true, server_name: "m2" });
    expect((await m3.api("GET", "/1.0")).body.metadata.environment).toMatchObject({ server_clustered: true, server_name: "m3" });
    expect(await m2.ok("init", "--dump")).toContain("cluster:\n  enabled: true\n  server_name: m2");
  }, 120_000);

  test("placement, LOCATION in lists, exec and files forwarded to the member that runs the instance", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    await m1.ok("launch", "busybox", "c1", "--target", "m2");
    // The member with the fewest instances takes the next ones: m1 and m3 in some order.
    await m1.ok("launch", "busybox", "c2");
    await m3.ok("launch", "busybox", "c3");
    const all = await instances(m3);
    expect(all.map((i) => i.status)).toEqual(["Running", "Running", "Running"]);
    expect(new Set(all.map((i) => i.location))).toEqual(new Set(["m1", "m2", "m3"]));
    expect(all.find((i) => i.name === "c1")!.location).toBe("m2");
    expect(await m3.ok("list")).toContain("LOCATION");
    expect((await m3.ok("exec", "c1", "--", "sh", "-c", "echo forwarded; cat /proc/1/cgroup >/dev/null")).trim()).toBe("forwarded");
    await m1.lxdWith({ stdin: "hello from m1\n" }, "file", "push", "-", "c1/root/note");
    expect(await m3.ok("file", "pull", "c1/root/note", "-")).toBe("hello from m1\n");
    // The container really is on m2: its rootfs lives under m2's LXD_DIR.
    expect(existsSync(join(m2.dir, "storage-pools/default/containers/c1"))).toBe(true);
  }, 120_000);

  test("a client certificate trusted or removed on one member is trusted or refused on the others at once", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    const conf = mkdtempSync("/tmp/lxd-cluster-client-");
    try {
      const client = (...args: string[]) => m1.lxdWith({ env: { LXD_CONF: conf } }, ...args);
      const cert = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-nodes",
        "-keyout", join(conf, "client.key"), "-out", join(conf, "client.crt"), "-subj", "/CN=cluster-client", "-days", "1"]);
      expect(cert.exitCode, cert.stderr.toString()).toBe(0);
      await m1.ok("config", "trust", "add-certificate", join(conf, "client.crt"));
      const add = await client("remote", "add", "two", `https://${address.get(m2)}`, "--accept-certificate");
      expect(add.code, add.stderr).toBe(0);
      const listed = await client("list", "two:", "--format", "csv", "-c", "n");
      expect(listed.code, listed.stderr).toBe(0);
      const mine = new Bun.CryptoHasher("sha256").update(new X509Certificate(readFileSync(join(conf, "client.crt"))).raw).digest("hex");
      await m1.ok("config", "trust", "remove", mine);
      await until(async () => (await client("list", "two:")).code !== 0, "m2 to refuse the removed certificate");
      expect((await client("list", "two:")).stderr).toContain("not trusted");
    } finally {
      rmSync(conf, { recursive: true, force: true });
    }
  }, 60_000);

  test("publish of another member's instance is made there, and the image serves every member", async () => {
    const [m1, , m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    await m1.ok("init", "busybox", "pub1", "--target", "m2");
    await m1.ok("config", "set", "pub1", "user.published", "yes");
    await m1.ok("publish", "pub1", "--alias", "from-m2");
    const image = (await m1.api("GET", "/1.0/images/aliases/from-m2")).body.metadata.target as string;
    expect(image).toMatch(/^[0-9a-f]{64}$/);
    await m3.ok("init", "from-m2", "pub2", "--target", "m3");
    expect(await locationOf(m1, "pub2")).toBe("m3");
    await m1.ok("delete", "pub1", "pub2");
    await m1.ok("image", "delete", "from-m2");
  }, 120_000);

  test("events from every member reach `lxd monitor`", async () => {
    const [m1, , m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    const monitor = m1.lxdWith({ timeoutMs: 8000 }, "monitor", "--type", "lifecycle", "--format", "json");
    await Bun.sleep(1000);
    await m1.ok("config", "set", "c3", "user.seen", "yes");
    await m3.ok("config", "set", "c1", "user.seen", "yes");
    const out = (await monitor).stdout;
    const events = out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    expect(new Set(events.map((e: { location: string }) => e.location)).size).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test("lxd move --target moves an instance to another member over the migration API", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    await m3.ok("move", "c1", "--target", "m3");
    expect(await locationOf(m1, "c1")).toBe("m3");
    expect((await instances(m1)).find((i) => i.name === "c1")!.status).toBe("Running");
    expect(await m1.ok("file", "pull", "c1/root/note", "-")).toBe("hello from m1\n");
    expect(existsSync(join(m2.dir, "storage-pools/default/containers/c1"))).toBe(false);
    expect(existsSync(join(m3.dir, "storage-pools/default/containers/c1"))).toBe(true);
  }, 120_000);

  test("Debian's lxc drives the cluster: cluster list, launch --target, LOCATION, move --target", async () => {
    const [m1] = m as [TestDaemon];
    const list = await m1.lxcOk("cluster", "list");
    for (const name of ["m1", "m2", "m3"]) expect(list).toContain(name);
    await m1.lxcOk("launch", "busybox", "c4", "--target", "m2");
    expect(await locationOf(m1, "c4")).toBe("m2");
    expect(await m1.lxcOk("list")).toContain("LOCATION");
    await m1.lxcOk("stop", "c4", "--force");
    await m1.lxcOk("move", "c4", "--target", "m1");
    expect(await locationOf(m1, "c4")).toBe("m1");
    await m1.lxcOk("delete", "c4");
  }, 120_000);

  test("projects across members: launch --target, exec, list, files, move, delete; same names apart; a project's images and profiles", async () => {
    const [m1, m2, m3] = m as [TestDaemon, TestDaemon, TestDaemon];
    const image = await busyboxImage();
    for (const p of ["p1", "p2"]) {
      // Own images and profiles (LXD's defaults for a new project), made on m1 only.
      await m1.ok("project", "create", p);
      await m1.ok("image", "import", image, "--alias", "busybox", "--project", p);
      await m1.ok("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", p);
      await m1.ok("profile", "set", "default", "user.who", p, "--project", p);
    }
    // c1 exists three times: default's on m3, p1's on m2 (its image fetched from m1), p2's on m1.
    await m1.ok("launch", "busybox", "c1", "--project", "p1", "--target", "m2");
    await m3.lxcOk("launch", "busybox", "c1", "--project", "p2", "--target", "m1");
    const listed = async (d: TestDaemon, p: string) => JSON.parse(await d.ok("list", "--project", p, "--format", "json")) as Inst[];
    expect((await listed(m3, "p1")).map((i) => [i.name, i.location, i.status])).toEqual([["c1", "m2", "Running"]]);
    expect((await listed(m2, "p2")).map((i) => [i.name, i.location, i.status])).toEqual([["c1", "m1", "Running"]]);
    expect(await locationOf(m1, "c1")).toBe("m3");
    expect(await m3.ok("list", "--project", "p1")).toContain("LOCATION");
    expect(existsSync(join(m2.dir, "storage-pools/default/containers/p1_c1"))).toBe(true);
    // Exec and files reach the right one from any member.
    for (const p of ["p1", "p2"]) await m3.ok("exec", "c1", "--project", p, "--", "sh", "-c", `echo ${p} > /root/who`);
    await m2.lxdWith({ stdin: "pushed to p1\n" }, "file", "push", "-", "c1/root/pushed", "--project", "p1");
    expect(await m1.ok("file", "pull", "c1/root/who", "-", "--project", "p1")).toBe("p1\n");
    expect(await m3.ok("file", "pull", "c1/root/who", "-", "--project", "p2")).toBe("p2\n");
    expect((await m2.lxd("file", "pull", "c1/root/who", "-")).code).not.toBe(0);
    const shown = (await m3.api("GET", "/1.0/instances/c1?project=p1")).body.metadata;
    expect(shown).toMatchObject({ name: "c1", project: "p1", location: "m2" });
    expect(shown.expanded_config["user.who"]).toBe("p1");
    // Moves keep the project: ours stateless, Debian's lxc of a stopped one.
    await m1.ok("move", "c1", "--target", "m3", "--project", "p1", "--stateless");
    expect((await listed(m1, "p1")).map((i) => [i.name, i.location, i.status])).toEqual([["c1", "m3", "Running"]]);
    expect(await m2.ok("file", "pull", "c1/root/pushed", "-", "--project", "p1")).toBe("pushed to p1\n");
    expect(existsSync(join(m3.dir, "storage-pools/default/containers/p1_c1"))).toBe(true);
    expect(existsSync(join(m2.dir, "storage-pools/default/containers/p1_c1"))).toBe(false);
    await m2.lxcOk("stop", "c1", "--project", "p2", "--force");
    await m2.lxcOk("move", "c1", "--target", "m2", "--project", "p2");
    expect((await listed(m1, "p2")).map((i) => [i.name, i.location])).toEqual([["c1", "m2"]]);
    expect((await m1.api("GET", "/1.0/instances/c1?project=p2")).body.metadata.expanded_config["user.who"]).toBe("p2");
    expect(await m1.ok("file", "pull", "c1/root/who", "-", "--project", "p1")).toBe("p1\n");
    // Default's c1 never moved.
    expect(await locationOf(m2, "c1")).toBe("m3");
    expect(await m2.ok("file", "pull", "c1/root/note", "-")).toBe("hello from m1\n");
    // An image only p1 has, its file on m1 alone (published there): m3 fetches it within p1.
    await m1.ok("init", "busybox", "pubsrc", "--project", "p1", "--target", "m1");
    await m1.ok("publish", "pubsrc", "--project", "p1", "--alias", "p1-only");
    await m1.ok("launch", "p1-only", "c2", "--project", "p1", "--target", "m3");
    expect((await listed(m2, "p1")).find((i) => i.name === "c2")).toMatchObject({ location: "m3", status: "Running" });
    await m2.ok("delete", "--force", "c1", "c2", "pubsrc", "--project", "p1");
    await m1.lxcOk("delete", "c1", "--project", "p2");
    expect(await listed(m3, "p1")).toEqual([]);
    expect(await listed(m3, "p2")).toEqual([]);
    expect(await locationOf(m1, "c1")).toBe("m3");
  }, 180_000);

  test("operations of every member: listed with their location, shown, waited for and cancelled from another member", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    await m1.ok("launch", "busybox", "op1", "--target", "m2");
    const exec = (seconds: number) => m2.api("POST", "/1.0/instances/op1/exec", { command: ["sleep", String(seconds)], "wait-for-websocket": false, interactive: false });
    // Started on m2 itself: m1 never saw the request.
    const long = (await exec(120)).body.metadata;
    const short = (await exec(2)).body.metadata;
    expect(long.location).toBe("m2");
    const listed = JSON.parse(await m1.ok("operation", "list", "--format", "json")) as { id: string; location: string }[];
    expect(listed.find((o) => o.id === long.id)?.location).toBe("m2");
    expect(await m1.ok("operation", "list")).toContain("LOCATION");
    const byLxc = await m1.lxcOk("operation", "list");
    expect(byLxc).toContain(long.id);
    expect(byLxc).toContain("m2");
    const shown = await m1.api("GET", `/1.0/operations/${long.id}`);
    expect(shown.body.metadata).toMatchObject({ id: long.id, status: "Running", location: "m2", may_cancel: true });
    const waited = await m1.api("GET", `/1.0/operations/${short.id}/wait?timeout=60`);
    expect(waited.body.metadata).toMatchObject({ id: short.id, status: "Success" });
    expect((await m1.api("DELETE", `/1.0/operations/${long.id}`)).status).toBe(200);
    const ended = await m1.api("GET", `/1.0/operations/${long.id}/wait?timeout=60`);
    expect(["Cancelled", "Failure"]).toContain(ended.body.metadata.status);
    expect((await m1.ok("exec", "op1", "--", "ps")).includes("sleep 120")).toBe(false);
    await m1.ok("delete", "--force", "op1");
  }, 120_000);

  test("lxd move --target of a running container is live (CRIU), or refused before anything changes without it; --stateless restarts it", async () => {
    const [m1] = m as [TestDaemon];
    await m1.ok("launch", "busybox", "lm", "--target", "m2");
    if (criu) {
      await startCounting(m1, "lm");
      const secret = await m1.ok("exec", "lm", "--", "cat", "/run/secret");
      const counter = async () => Number((await m1.ok("exec", "lm", "--", "cat", "/run/count")).trim());
      const before = await counter();
      await m1.ok("move", "lm", "--target", "m3");
      expect((await instances(m1)).find((i) => i.name === "lm")).toMatchObject({ location: "m3", status: "Running" });
      const after = await counter();
      expect(after).toBeGreaterThanOrEqual(before);
      await until(async () => (await counter()) > after, "the counter runs on after the live move");
      expect(await m1.ok("exec", "lm", "--", "cat", "/run/secret")).toBe(secret);
      // Debian's lxc asks for a live move too.
      const counted = await counter();
      await m1.lxcOk("move", "lm", "--target", "m2");
      expect((await instances(m1)).find((i) => i.name === "lm")).toMatchObject({ location: "m2", status: "Running" });
      expect(await counter()).toBeGreaterThanOrEqual(counted);
      expect(await m1.ok("exec", "lm", "--", "cat", "/run/secret")).toBe(secret);
    } else {
      // As in the five-member test below, whose members have no CRIU.
      expect((await m1.lxd("move", "lm", "--target", "m3")).stderr).toContain("Error: Live migration needs CRIU");
      expect((await instances(m1)).find((i) => i.name === "lm")).toMatchObject({ location: "m2", status: "Running" });
    }
    await m1.ok("exec", "lm", "--", "sh", "-c", "echo booted-once > /run/mark");
    await m1.ok("move", "lm", "--target", "m1", "--stateless");
    expect((await instances(m1)).find((i) => i.name === "lm")).toMatchObject({ location: "m1", status: "Running" });
    // Stopped and started: /run is a fresh tmpfs.
    expect((await m1.lxd("exec", "lm", "--", "cat", "/run/mark")).code).not.toBe(0);
    await m1.ok("delete", "--force", "lm");
  }, 180_000);

  test("evacuate follows cluster.evacuate per instance (stop, migrate, auto, live-migrate); restore brings them back", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    const config = async (name: string) => (await m1.api("GET", `/1.0/instances/${name}`)).body.metadata.config as Record<string, string>;
    const state = async (name: string) => (await instances(m1)).find((i) => i.name === name)!;
    await m1.ok("launch", "busybox", "e-stop", "--target", "m2", "-c", "cluster.evacuate=stop");
    await m1.ok("launch", "busybox", "e-mig", "--target", "m2", "-c", "cluster.evacuate=migrate");
    await m1.ok("launch", "busybox", "e-auto", "--target", "m2");
    // auto with a host directory attached: tied to m2, so it is stopped there.
    await m1.ok("launch", "busybox", "e-local", "--target", "m2");
    await m1.ok("config", "device", "add", "e-local", "tmp", "disk", "source=/tmp", "path=/mnt/tmp");
    await m1.ok("init", "busybox", "e-idle", "--target", "m2", "-c", "cluster.evacuate=migrate");
    await m1.lxdWith({ stdin: "travels\n" }, "file", "push", "-", "e-mig/root/note");
    expect((await m1.lxd("config", "set", "e-stop", "cluster.evacuate", "sometimes")).stderr).toContain("must be one of: auto, migrate, live-migrate, stop");

    // live-migrate: its processes go on elsewhere when the members have CRIU; without it, the
    // evacuation is refused before anything moves or stops.
    await m1.ok("launch", "busybox", "e-live", "--target", "m2", "-c", "cluster.evacuate=live-migrate");
    const counter = async () => Number((await m1.ok("exec", "e-live", "--", "cat", "/run/count")).trim());
    let counted = 0;
    let secret = "";
    if (criu) {
      await startCounting(m1, "e-live");
      secret = await m1.ok("exec", "e-live", "--", "cat", "/run/secret");
      counted = await counter();
    } else {
      const refused = await m1.lxd("cluster", "evacuate", "m2", "--force");
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('Error: Instance "e-live" can\'t be live-migrated: Live migration needs CRIU');
      expect((await members(m1)).find((x) => x.server_name === "m2")!.status).toBe("Online");
      expect((await state("e-stop")).status).toBe("Running");
      await m1.ok("delete", "--force", "e-live");
    }

    // Through the API: an operation whose metadata says what it did last.
    const op = await m1.api("POST", "/1.0/cluster/members/m2/state", { action: "evacuate" });
    expect(op.status).toBe(202);
    const done = await m1.api("GET", `/1.0/operations/${op.body.metadata.id}/wait?timeout=300`);
    expect(done.body.metadata.status, done.body.metadata.err).toBe("Success");
    expect(done.body.metadata.metadata.evacuation_progress).toMatch(/^(Stopping|Migrating) "e-/);
    expect((await members(m1)).find((x) => x.server_name === "m2")!.status).toBe("Evacuated");
    for (const name of ["e-stop", "e-local"]) expect(await state(name)).toMatchObject({ location: "m2", status: "Stopped" });
    for (const name of ["e-mig", "e-auto", "e-idle"]) {
      expect((await state(name)).location).not.toBe("m2");
      expect((await config(name))["volatile.evacuate.origin"]).toBe("m2");
    }
    expect((await state("e-mig")).status).toBe("Running");
    expect((await state("e-auto")).status).toBe("Running");
    expect((await state("e-idle")).status).toBe("Stopped");
    expect(await m1.ok("file", "pull", "e-mig/root/note", "-")).toBe("travels\n");
    expect(existsSync(join(m2.dir, "storage-pools/default/containers/e-mig"))).toBe(false);
    if (criu) {
      // Not booted again: the counter goes on from where it was, the other shell's variable is kept.
      expect((await state("e-live")).location).not.toBe("m2");
      expect((await config("e-live"))["volatile.evacuate.origin"]).toBe("m2");
      const now = await counter();
      expect(now).toBeGreaterThanOrEqual(counted);
      await until(async () => (await counter()) > now, "the counter runs on after the live evacuation");
      expect(await m1.ok("exec", "e-live", "--", "cat", "/run/secret")).toBe(secret);
      counted = await counter();
    }
    // New placements skip the evacuated member.
    await m1.ok("init", "busybox", "c5");
    expect(await locationOf(m1, "c5")).not.toBe("m2");
    expect((await m1.lxd("init", "busybox", "c6x", "--target", "m2")).stderr).toContain('Cluster member "m2" is evacuated');
    await m1.ok("delete", "c5");

    // Debian's lxc restores: the migrated ones come home (as they were), the stopped ones start.
    await m1.lxcOk("cluster", "restore", "m2", "--force");
    expect((await members(m1)).find((x) => x.server_name === "m2")!.status).toBe("Online");
    for (const name of ["e-stop", "e-local", "e-mig", "e-auto"]) expect(await state(name)).toMatchObject({ location: "m2", status: "Running" });
    expect(await state("e-idle")).toMatchObject({ location: "m2", status: "Stopped" });
    for (const name of ["e-mig", "e-auto", "e-idle"]) expect((await config(name))["volatile.evacuate.origin"]).toBeUndefined();
    expect(await m1.ok("file", "pull", "e-mig/root/note", "-")).toBe("travels\n");
    expect(existsSync(join(m2.dir, "storage-pools/default/containers/e-mig"))).toBe(true);
    if (criu) {
      // Back home live as well.
      expect(await state("e-live")).toMatchObject({ location: "m2", status: "Running" });
      expect(await counter()).toBeGreaterThanOrEqual(counted);
      expect(await m1.ok("exec", "e-live", "--", "cat", "/run/secret")).toBe(secret);
      await m1.ok("delete", "--force", "e-live");
    }
    await m1.ok("delete", "--force", "e-stop", "e-local", "e-mig", "e-auto", "e-idle");
  }, 300_000);

  test("a member SIGKILLed shows OFFLINE with its instances in ERROR, the rest keeps working, and it comes back", async () => {
    const [m1, m2] = m as [TestDaemon, TestDaemon];
    const victim = m2;
    await m1.ok("launch", "busybox", "c6", "--target", "m2");
    await victim.kill("SIGKILL");
    await until(async () => (await members(m1)).find((x) => x.server_name === "m2")!.status === "Offline", "m2 offline", 30_000);
    expect((await instances(m1)).find((i) => i.name === "c6")!.status).toBe("Error");
    const refused = await m1.lxd("exec", "c6", "--", "true");
    expect(refused.stderr).toContain('Cluster member "m2" is offline');
    // Two voters of three remain: writes go on.
    await m1.ok("profile", "create", "while-m2-was-down");
    await victim.start();
    await until(async () => (await members(m1)).find((x) => x.server_name === "m2")!.status === "Online", "m2 back", 30_000);
    expect(await m2.ok("profile", "list")).toContain("while-m2-was-down");
    expect((await instances(m1)).find((i) => i.name === "c6")!.status).toBe("Running");
  }, 120_000);

  test("the leader SIGKILLed: a new one is elected, writes continue, nothing committed is lost", async () => {
    const leaderName = (await members(m[0]!)).find((x) => x.roles.includes("database-leader"))!.server_name;
    const leader = m[Number(leaderName.slice(1)) - 1]!;
    const other = m.find((d) => d !== leader)!;
    await other.ok("profile", "create", "before-failover");
    await leader.kill("SIGKILL");
    await other.ok("profile", "create", "after-failover");
    expect(await other.ok("profile", "list")).toContain("before-failover");
    await until(async () => (await members(other)).some((x) => x.roles.includes("database-leader") && x.server_name !== leaderName), "a new leader", 30_000);
    await leader.start();
    await until(async () => (await members(other)).every((x) => x.status === "Online"), "all online", 30_000);
    expect(await leader.ok("profile", "list")).toContain("after-failover");
  }, 120_000);

  test("remove: refused while the member has instances; a member removed while down or frozen finds out itself; a reachable one is told", async () => {
    const [m1] = m as [TestDaemon];
    const m3 = m[2]!;
    const onM3 = (await instances(m1)).filter((i) => i.location === "m3").map((i) => i.name);
    expect(onM3.length).toBeGreaterThan(0);
    expect((await m1.lxd("cluster", "remove", "m3")).stderr).toContain('Member "m3" still has');
    // Down: nobody can tell it. --force forgets its instances.
    await m3.kill("SIGTERM");
    expect(await m1.ok("cluster", "remove", "m3", "--force")).toContain("Member m3 removed");
    expect((await members(m1)).map((x) => x.server_name)).toEqual(["m1", "m2"]);
    expect((await instances(m1)).filter((i) => i.location === "m3")).toEqual([]);
    const standalone = async () => {
      // Standalone again, on a fresh database and its own certificate.
      expect((await m3.api("GET", "/1.0/cluster")).body.metadata).toMatchObject({ enabled: false });
      expect(await instances(m3)).toEqual([]);
      expect(existsSync(join(m3.dir, "cluster.crt"))).toBe(false);
      const profiles = await m3.ok("profile", "list");
      expect(profiles).toContain("default");
      expect(profiles).not.toContain("after-failover");
    };
    await m3.start();
    await standalone();
    expect((await members(m1)).map((x) => x.server_name)).toEqual(["m1", "m2"]);

    // It can join again; removed while reachable, it is told to leave.
    await joinMember(m[0]!, m3, "m3");
    expect((await members(m1)).map((x) => x.server_name)).toEqual(["m1", "m2", "m3"]);
    const untold = () => readFileSync(join(m1.dir, "lxd.log"), "utf8").split("could not be told to leave").length - 1;
    const before = untold();
    expect(await m1.ok("cluster", "remove", "m3")).toContain("Member m3 removed");
    expect((await members(m1)).map((x) => x.server_name)).toEqual(["m1", "m2"]);
    await standalone();
    // Its answer arrived, though it switched certificates while sending it.
    expect(untold()).toBe(before);

    // Frozen while it is removed (its dqlite node runs on): it finds out at its next heartbeat check.
    await joinMember(m[0]!, m3, "m3");
    process.kill(m3.pid!, "SIGSTOP");
    try {
      expect(await m1.ok("cluster", "remove", "m3")).toContain("Member m3 removed");
    } finally {
      process.kill(m3.pid!, "SIGCONT");
    }
    await until(async () => (await m3.api("GET", "/1.0/cluster")).body.metadata?.enabled === false, "m3 standalone after its heartbeat check", 30_000);
    expect(readFileSync(m3.logFile, "utf8")).toContain("removed from the cluster while it could not be told");
    await standalone();
  }, 240_000);
});

test.skipIf(!LIB)("five members: three voters, two standbys; without CRIU a live move is refused", async () => {
  const five: TestDaemon[] = [];
  try {
    await startMembers(five, 5);
    const [first] = five as [TestDaemon];
    await first.ok("storage", "create", "default", "dir");
    await first.ok("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
    await importBusybox(first);
    await first.ok("config", "set", "core.https_address", address.get(first)!);
    await first.ok("cluster", "enable", "f1");
    for (const [i, d] of five.slice(1).entries()) await joinMember(first, d, `f${i + 2}`);
    const roles = async () => (await members(five[4]!)).map((x) => x.roles.filter((r) => r !== "database-leader").join(",")).sort();
    await until(async () => (await roles()).join(" ") === "database database database database-standby database-standby", "3 voters and 2 standbys", 60_000);
    expect((await members(first)).every((x) => x.status === "Online")).toBe(true);

    // These members have no CRIU: a live move (the default for a running container) is refused
    // before anything changes, by our CLI and Debian's lxc; --stateless moves it.
    await first.ok("launch", "busybox", "nolive", "--target", "f2");
    for (const r of [await first.lxd("move", "nolive", "--target", "f3"), await first.lxc("move", "nolive", "--target", "f3")]) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("Live migration needs CRIU");
      expect(r.stderr).toContain("--stateless");
    }
    expect((await instances(first)).find((i) => i.name === "nolive")).toMatchObject({ location: "f2", status: "Running" });
    await first.ok("move", "nolive", "--target", "f3", "--stateless");
    expect((await instances(first)).find((i) => i.name === "nolive")).toMatchObject({ location: "f3", status: "Running" });
    await first.ok("delete", "--force", "nolive");
  } finally {
    await Promise.all(five.map((d) => d.stop()));
  }
}, 180_000);

test.skipIf(!LIB)("a host without libdqlite stays standalone and says why in one sentence", async () => {
  const d = await startDaemon({
    // A private mount namespace hides the library from this daemon only.
    wrap: ["unshare", "-m", "sh", "-c", `mount --bind /dev/null "$(readlink -f ${LIB})" && exec "$@"`, "sh"],
  });
  try {
    await d.ok("config", "set", "core.https_address", `127.0.0.1:${freePort()}`);
    const r = await d.lxd("cluster", "enable", "m1");
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toStartWith("Error: This server can't be clustered: libdqlite.so.0 is not usable (Debian: apt-get install libdqlite0)");
    expect((await d.api("GET", "/1.0")).body.metadata.environment.server_clustered).toBe(false);
  } finally {
    await d.stop();
  }
}, 60_000);
