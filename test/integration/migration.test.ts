// Instances moving between two daemons on one machine (HTTPS on loopback, trust by token): LXD's
// migration API driven directly and by our CLI and Debian's `lxc` in pull, push and relay modes,
// with and without snapshots, on dir and btrfs pools; the data arrives byte for byte.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TestDaemon } from "../helpers/daemon.ts";
import { startPair, stopPair, type Clients, type Pair } from "../helpers/migration.ts";

let a: TestDaemon;
let b: TestDaemon;
let addrA = "";
let clients: Clients;

let pair: Pair;

beforeAll(async () => {
  pair = await startPair();
  ({ a, b, addrA, clients } = pair);
});

afterAll(async () => {
  await stopPair(pair ?? {});
});

const sh = (d: TestDaemon, name: string, script: string) => d.ok("exec", name, "--", "sh", "-c", script);
const fingerprint = (d: TestDaemon, name: string) => sh(d, name, "sha256sum /root/blob; cat /root/note; ls -ln /root; test -e /bin/vi && echo vi || echo no-vi");
const snapshotNames = async (d: TestDaemon, name: string): Promise<string[]> =>
  (await d.api("GET", `/1.0/instances/${name}/snapshots?recursion=1`)).body.metadata.map((s: { name: string }) => s.name);

/** An instance with data in its writable layer and a snapshot in between, stopped. */
async function prepare(d: TestDaemon, name: string): Promise<{ atSnap: string; now: string }> {
  await d.ok("launch", "busybox", name);
  await sh(d, name, "head -c 3000000 /dev/urandom > /root/blob && echo first > /root/note && chown 1000:1000 /root/note && rm /bin/vi");
  const atSnap = await fingerprint(d, name);
  await d.ok("snapshot", name, "s0");
  await sh(d, name, "echo second > /root/note");
  await d.ok("config", "set", name, "user.tag", "kept");
  const now = await fingerprint(d, name);
  await d.ok("stop", name, "--force");
  return { atSnap, now };
}

describe("the migration API", () => {
  test("pull: the target daemon fetches a stopped instance with its snapshot", async () => {
    const { atSnap, now } = await prepare(a, "p1");
    const src = await a.api("POST", "/1.0/instances/p1", { name: "", migration: true, live: false });
    expect(src.status).toBe(202);
    const op = src.body.metadata;
    expect(op.class).toBe("websocket");
    expect(Object.keys(op.metadata).sort()).toEqual(["control", "fs"]);
    const inst = (await a.api("GET", "/1.0/instances/p1")).body.metadata;
    const cert = (await a.api("GET", "/1.0")).body.metadata.environment.certificate;
    const dst = await b.api("POST", "/1.0/instances", {
      name: "p1", config: inst.config, devices: inst.devices, profiles: inst.profiles, architecture: inst.architecture,
      source: { type: "migration", mode: "pull", operation: `https://${addrA}/1.0/operations/${op.id}`, certificate: cert, secrets: op.metadata },
    });
    expect(dst.status).toBe(202);
    const done = await b.wait(dst, 120);
    expect(done.body.metadata.err).toBe("");
    expect(done.body.metadata.status).toBe("Success");
    expect((await a.wait(src, 30)).body.metadata.status).toBe("Success");

    const got = (await b.api("GET", "/1.0/instances/p1")).body.metadata;
    expect(got.config["user.tag"]).toBe("kept");
    expect(got.config["volatile.base_image"]).toBe(inst.config["volatile.base_image"]);
    expect(await snapshotNames(b, "p1")).toEqual(["s0"]);
    await b.ok("start", "p1");
    expect(await fingerprint(b, "p1")).toBe(now);
    await b.ok("restore", "p1", "s0");
    expect(await fingerprint(b, "p1")).toBe(atSnap);
    // The source is untouched.
    await a.ok("start", "p1");
    expect(await fingerprint(a, "p1")).toBe(now);
    await Promise.all([a.ok("delete", "p1", "--force"), b.ok("delete", "p1", "--force")]);
  });
});

describe("copy and move between servers", () => {
  for (const mode of ["pull", "push", "relay"]) {
    test(`our CLI, ${mode}: copy with snapshots, then a move of an instance without them`, async () => {
      const name = `c-${mode}`;
      const { atSnap, now } = await prepare(a, name);
      await clients.ok(clients.lxd("copy", `a:${name}`, `b:${name}`, "--mode", mode), "copy");
      expect(await snapshotNames(b, name)).toEqual(["s0"]);
      await b.ok("start", name);
      expect(await fingerprint(b, name)).toBe(now);
      await b.ok("restore", name, "s0");
      expect(await fingerprint(b, name)).toBe(atSnap);

      await clients.ok(clients.lxd("move", `a:${name}`, `b:${name}-moved`, "--mode", mode, "--instance-only"), "move");
      expect((await a.api("GET", `/1.0/instances/${name}`)).status).toBe(404);
      expect(await snapshotNames(b, `${name}-moved`)).toEqual([]);
      const moved = (await b.api("GET", `/1.0/instances/${name}-moved`)).body.metadata;
      expect(moved.config["user.tag"]).toBe("kept");
      await b.ok("start", `${name}-moved`);
      expect(await fingerprint(b, `${name}-moved`)).toBe(now);
      await b.ok("delete", name, `${name}-moved`, "--force");
    });
  }

  for (const mode of ["pull", "push", "relay"]) {
    test(`Debian's lxc, ${mode}: copy and move with snapshots`, async () => {
      const name = `x-${mode}`;
      const { now } = await prepare(a, name);
      await clients.ok(clients.lxc("copy", `a:${name}`, `b:${name}`, "--mode", mode), "lxc copy");
      expect(await snapshotNames(b, name)).toEqual(["s0"]);
      await clients.ok(clients.lxc("move", `b:${name}`, `a:${name}-back`, "--mode", mode), "lxc move");
      expect((await b.api("GET", `/1.0/instances/${name}`)).status).toBe(404);
      expect(await snapshotNames(a, `${name}-back`)).toEqual(["s0"]);
      await a.ok("start", `${name}-back`);
      expect(await fingerprint(a, `${name}-back`)).toBe(now);
      await a.ok("delete", name, `${name}-back`, "--force");
    });
  }

  test("between two of our daemons a stopped instance goes as tar, keeping what rsync keeps", async () => {
    await a.ok("launch", "busybox", "tarred");
    await sh(a, "tarred", "echo data > /root/f && ln /root/f /root/hard && chown 1000:1001 /root/f && chmod 4750 /root/f && " +
      "dd if=/dev/zero of=/root/sparse bs=1 count=1 seek=10000000 2>/dev/null && mkfifo /root/fifo");
    await a.ok("stop", "tarred", "--force");
    // What a container cannot make itself: a file capability, a user xattr, a device node.
    const upper = join(a.dir, "storage-pools/default/containers/tarred/upper/root");
    const host = (...argv: string[]) => expect(Bun.spawnSync(argv).exitCode).toBe(0);
    host("setcap", "cap_net_raw+ep", join(upper, "f"));
    host("setfattr", "-n", "user.note", "-v", "kept", join(upper, "f"));
    host("mknod", join(upper, "null"), "c", "1", "3");
    await clients.ok(clients.lxd("copy", "a:tarred", "b:tarred"), "copy");
    expect(readFileSync(join(a.dir, "lxd.log"), "utf8")).toMatch(/Sending volume.*name=tarred.*transfer=tar/);
    const got = join(b.dir, "storage-pools/default/containers/tarred/rootfs/root");
    const f = statSync(join(got, "f"));
    expect([f.uid, f.gid, f.mode & 0o7777, f.nlink, statSync(join(got, "hard")).ino]).toEqual([1000, 1001, 0o4750, 2, f.ino]);
    expect(Bun.spawnSync(["getcap", join(got, "f")]).stdout.toString()).toContain("cap_net_raw=ep");
    expect(Bun.spawnSync(["getfattr", "--only-values", "-n", "user.note", join(got, "f")]).stdout.toString()).toBe("kept");
    expect(statSync(join(got, "null")).isCharacterDevice()).toBe(true);
    expect(statSync(join(got, "fifo")).isFIFO()).toBe(true);
    const sparse = statSync(join(got, "sparse"));
    expect(sparse.size).toBe(10000001);
    expect(sparse.blocks * 512).toBeLessThan(1_000_000);
    await b.ok("start", "tarred");
    expect((await sh(b, "tarred", "cat /root/hard")).trim()).toBe("data");
    await b.ok("delete", "tarred", "--force");
    await a.ok("delete", "tarred");
  });

  test("one snapshot becomes a new instance on the other server", async () => {
    const { atSnap } = await prepare(a, "snapsrc");
    await clients.ok(clients.lxd("copy", "a:snapsrc/s0", "b:fromsnap"), "copy of a snapshot");
    expect(await snapshotNames(b, "fromsnap")).toEqual([]);
    await b.ok("start", "fromsnap");
    expect(await fingerprint(b, "fromsnap")).toBe(atSnap);
    await b.ok("delete", "fromsnap", "--force");
    await a.ok("delete", "snapsrc");
  });

  test("a running instance without CRIU: live is refused with one sentence; --stateless copies it running", async () => {
    await a.ok("launch", "busybox", "run1");
    await sh(a, "run1", "echo hot > /root/note");
    const refused = await clients.lxd("copy", "a:run1", "b:run1");
    expect(refused.code).toBe(1);
    // These daemons have no CRIU (criu-migration.test.ts moves instances live).
    expect(refused.stderr.trim()).toStartWith("Error: Live migration needs CRIU 4 or later, which is not available on this server: ");
    expect(refused.stderr.trim()).toEndWith(": copy or move the instance with --stateless");
    expect((await b.api("GET", "/1.0/instances/run1")).status).toBe(404);
    const api = await a.api("POST", "/1.0/instances/run1", { name: "run1", migration: true });
    expect(api.status).toBe(400);
    expect(api.body.error).toContain("--stateless");
    await clients.ok(clients.lxd("copy", "a:run1", "b:run1", "--stateless"), "stateless copy");
    expect((await a.api("GET", "/1.0/instances/run1")).body.metadata.status).toBe("Running");
    await b.ok("start", "run1");
    expect((await sh(b, "run1", "cat /root/note")).trim()).toBe("hot");
    await clients.ok(clients.lxd("move", "a:run1", "b:run2", "--stateless"), "stateless move");
    expect((await a.api("GET", "/1.0/instances/run1")).status).toBe(404);
    expect((await b.api("GET", "/1.0/instances/run2")).body.metadata.status).toBe("Running");
    // LXD's client: a running instance moves live unless --stateless, which needs CRIU.
    const live = await clients.lxc("move", "b:run2", "a:run3");
    expect(live.code).not.toBe(0);
    expect(live.stderr).toContain("--stateless");
    expect((await b.api("GET", "/1.0/instances/run2")).body.metadata.status).toBe("Running");
    expect((await a.api("GET", "/1.0/instances/run3")).status).toBe(404);
    await clients.ok(clients.lxc("move", "b:run2", "a:run3", "--stateless"), "lxc move --stateless");
    expect((await b.api("GET", "/1.0/instances/run2")).status).toBe(404);
    expect((await a.api("GET", "/1.0/instances/run3")).body.metadata.status).toBe("Running");
    expect((await sh(a, "run3", "cat /root/note")).trim()).toBe("hot");
    await b.ok("delete", "run1", "--force");
    await a.ok("delete", "run3", "--force");
  });

  test("into a project on the other server: --project on both sides, --target-project, and Debian's lxc", async () => {
    for (const d of [a, b]) await d.ok("project", "create", "mp", "-c", "features.images=false", "-c", "features.profiles=false");
    await a.ok("launch", "busybox", "inproj", "--project", "mp");
    await a.ok("exec", "inproj", "--project", "mp", "--", "sh", "-c", "echo in-mp > /root/note");
    await a.ok("stop", "inproj", "--project", "mp", "--force");
    await a.ok("init", "busybox", "fromdef");
    await clients.ok(clients.lxd("copy", "a:inproj", "b:inproj", "--project", "mp"), "copy within mp");
    await clients.ok(clients.lxd("copy", "a:fromdef", "b:intomp", "--target-project", "mp"), "copy into mp");
    await clients.ok(clients.lxc("copy", "a:inproj", "b:bylxc", "--project", "mp"), "lxc copy within mp");
    for (const name of ["inproj", "intomp", "bylxc"]) {
      expect((await b.api("GET", `/1.0/instances/${name}?project=mp`)).body.metadata).toMatchObject({ name, project: "mp" });
      expect((await b.api("GET", `/1.0/instances/${name}`)).status).toBe(404);
    }
    await b.ok("start", "bylxc", "--project", "mp");
    expect((await b.ok("exec", "bylxc", "--project", "mp", "--", "cat", "/root/note")).trim()).toBe("in-mp");
    await b.ok("delete", "--force", "inproj", "intomp", "bylxc", "--project", "mp");
    await a.ok("delete", "inproj", "--project", "mp");
    await a.ok("delete", "fromdef");
  });
});
