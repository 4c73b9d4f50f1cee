// `copy --refresh` (LXD's `refresh`): an existing copy brought up to date from its source, between
// two daemons (our CLI and Debian's lxc, pull and push) and within one. Only the snapshots the
// target lacks travel (the ones it has stay untouched on disk), snapshots the source no longer
// has go, the content becomes the source's, and the target's own config stays.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestDaemon } from "../helpers/daemon.ts";
import { startPair, stopPair, type Clients, type Pair } from "../helpers/migration.ts";

let a: TestDaemon;
let b: TestDaemon;
let clients: Clients;
let pair: Pair;

beforeAll(async () => {
  pair = await startPair();
  ({ a, b, clients } = pair);
});

afterAll(async () => {
  await stopPair(pair ?? {});
});

const sh = (d: TestDaemon, name: string, script: string) => d.ok("exec", name, "--", "sh", "-c", script);
const state = (d: TestDaemon, name: string) => sh(d, name, "cat /root/note; sha256sum /root/blob; ls /root; test -e /bin/vi && echo vi || echo no-vi");
const snapshotNames = async (d: TestDaemon, name: string): Promise<string[]> =>
  (await d.api("GET", `/1.0/instances/${name}/snapshots?recursion=1`)).body.metadata.map((s: { name: string }) => s.name);
/** The inode of a snapshot's volume: unchanged when a refresh left it alone. */
const snapInode = (d: TestDaemon, name: string, snap: string) =>
  statSync(join(d.dir, "storage-pools", "default", "containers-snapshots", name, snap)).ino;

/** Runs `script` in the (stopped) instance, then snapshots it as `snap` and stops it; returns its state. */
async function change(d: TestDaemon, name: string, script: string, snap?: string): Promise<string> {
  await d.ok("start", name);
  await sh(d, name, script);
  const now = await state(d, name);
  if (snap) await d.ok("snapshot", name, snap);
  await d.ok("stop", name, "--force");
  return now;
}

describe("between two daemons", () => {
  test("our CLI (pull, then push) and lxc: only missing snapshots travel; stale ones go; content and config as expected", async () => {
    await a.ok("launch", "busybox", "r1");
    await sh(a, "r1", "head -c 2000000 /dev/urandom > /root/blob; echo one > /root/note; rm /bin/vi");
    await a.ok("snapshot", "r1", "s0");
    await a.ok("stop", "r1", "--force");
    await clients.ok(clients.lxd("copy", "a:r1", "b:r1"), "first copy");
    await b.ok("config", "set", "r1", "user.local", "mine");
    // A snapshot only the target has: the source does not, so a refresh drops it (as LXD).
    await b.ok("snapshot", "r1", "b-only");
    const s0 = snapInode(b, "r1", "s0");

    const now1 = await change(a, "r1", "echo two > /root/note; touch /root/new", "s1");
    await clients.ok(clients.lxd("copy", "a:r1", "b:r1", "--refresh"), "refresh (pull)");
    expect(await snapshotNames(b, "r1")).toEqual(["s0", "s1"]);
    expect(snapInode(b, "r1", "s0")).toBe(s0);
    expect((await b.api("GET", "/1.0/instances/r1")).body.metadata.config["user.local"]).toBe("mine");
    await b.ok("start", "r1");
    expect(await state(b, "r1")).toBe(now1);
    // A running target is refused and left running.
    const refused = await clients.lxd("copy", "a:r1", "b:r1", "--refresh");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("running");
    expect((await b.api("GET", "/1.0/instances/r1")).body.metadata.status).toBe("Running");
    await b.ok("stop", "r1", "--force");

    const now2 = await change(a, "r1", "echo three > /root/note; rm /root/new", "s2");
    await clients.ok(clients.lxd("copy", "a:r1", "b:r1", "--refresh", "--mode", "push"), "refresh (push)");
    expect(await snapshotNames(b, "r1")).toEqual(["s0", "s1", "s2"]);
    await b.ok("start", "r1");
    expect(await state(b, "r1")).toBe(now2);
    await b.ok("stop", "r1", "--force");
    await b.ok("restore", "r1", "s1");
    await b.ok("start", "r1");
    expect(await state(b, "r1")).toBe(now1);
    await b.ok("stop", "r1", "--force");

    // Debian's lxc, and a source snapshot deleted meanwhile.
    await a.ok("delete", "r1/s1");
    const now3 = await change(a, "r1", "echo four > /root/note", "s3");
    await clients.ok(clients.lxc("copy", "a:r1", "b:r1", "--refresh"), "lxc refresh");
    expect(await snapshotNames(b, "r1")).toEqual(["s0", "s2", "s3"]);
    await b.ok("start", "r1");
    expect(await state(b, "r1")).toBe(now3);
    await b.ok("stop", "r1", "--force");

    // --instance-only: the content only; the target keeps its snapshots.
    const now4 = await change(a, "r1", "echo five > /root/note", "s4");
    await clients.ok(clients.lxd("copy", "a:r1", "b:r1", "--refresh", "--instance-only"), "instance-only refresh");
    expect(await snapshotNames(b, "r1")).toEqual(["s0", "s2", "s3"]);
    await b.ok("start", "r1");
    expect(await state(b, "r1")).toBe(now4);
    await b.ok("delete", "r1", "--force");
    await a.ok("delete", "r1");
  });

  test("a refresh of an instance the target lacks is a plain copy", async () => {
    await a.ok("init", "busybox", "r2");
    await a.ok("snapshot", "r2", "s0");
    await clients.ok(clients.lxd("copy", "a:r2", "b:r2", "--refresh"), "refresh to a new instance");
    expect(await snapshotNames(b, "r2")).toEqual(["s0"]);
    await b.ok("delete", "r2");
    await a.ok("delete", "r2");
  });
});

describe("within one daemon", () => {
  test("lxd copy --refresh and lxc copy --refresh update the copy", async () => {
    await a.ok("launch", "busybox", "l1");
    await sh(a, "l1", "head -c 1000000 /dev/urandom > /root/blob; echo one > /root/note");
    await a.ok("snapshot", "l1", "s0");
    await a.ok("stop", "l1", "--force");
    await a.ok("copy", "l1", "l1c");
    const now = await change(a, "l1", "echo two > /root/note; rm /bin/vi", "s1");
    await a.ok("copy", "l1", "l1c", "--refresh");
    expect(await snapshotNames(a, "l1c")).toEqual(["s0", "s1"]);
    await a.ok("start", "l1c");
    expect(await state(a, "l1c")).toBe(now);
    await a.ok("stop", "l1c", "--force");

    const later = await change(a, "l1", "echo three > /root/note", "s2");
    const r = await a.lxc("copy", "l1", "l1c", "--refresh");
    expect(r.code, r.stderr).toBe(0);
    expect(await snapshotNames(a, "l1c")).toEqual(["s0", "s1", "s2"]);
    await a.ok("start", "l1c");
    expect(await state(a, "l1c")).toBe(later);
    await a.ok("delete", "l1", "l1c", "--force");
  });
});

describe("custom volumes", () => {
  const file = (d: TestDaemon, vol: string, snap?: string) =>
    join(d.dir, "storage-pools", "default", snap ? "custom-snapshots" : "custom", vol, ...(snap ? [snap] : []), "data");
  const volSnaps = async (d: TestDaemon, vol: string): Promise<string[]> =>
    (await d.api("GET", `/1.0/storage-pools/default/volumes/custom/${vol}/snapshots?recursion=1`)).body.metadata.map((s: { name: string }) => s.name);

  test("storage volume copy --refresh between daemons (ours and lxc) and within one", async () => {
    await a.ok("storage", "volume", "create", "default", "v1");
    writeFileSync(file(a, "v1"), "one\n");
    await a.ok("storage", "volume", "snapshot", "default", "v1", "s0");
    await clients.ok(clients.lxd("storage", "volume", "copy", "a:default/v1", "b:default/v1"), "first volume copy");
    await b.ok("storage", "volume", "snapshot", "default", "v1", "b-only");
    const s0 = statSync(join(b.dir, "storage-pools", "default", "custom-snapshots", "v1", "s0")).ino;

    writeFileSync(file(a, "v1"), "two\n");
    await a.ok("storage", "volume", "snapshot", "default", "v1", "s1");
    writeFileSync(file(a, "v1"), "three\n");
    await clients.ok(clients.lxd("storage", "volume", "copy", "a:default/v1", "b:default/v1", "--refresh"), "volume refresh");
    expect(await volSnaps(b, "v1")).toEqual(["s0", "s1"]);
    expect(statSync(join(b.dir, "storage-pools", "default", "custom-snapshots", "v1", "s0")).ino).toBe(s0);
    expect(readFileSync(file(b, "v1"), "utf8")).toBe("three\n");
    expect(readFileSync(file(b, "v1", "s1"), "utf8")).toBe("two\n");

    await a.ok("storage", "volume", "snapshot", "default", "v1", "s2");
    writeFileSync(file(a, "v1"), "four\n");
    await clients.ok(clients.lxc("storage", "volume", "copy", "a:default/v1", "b:default/v1", "--refresh"), "lxc volume refresh");
    expect(await volSnaps(b, "v1")).toEqual(["s0", "s1", "s2"]);
    expect(readFileSync(file(b, "v1"), "utf8")).toBe("four\n");

    await a.ok("storage", "volume", "copy", "default/v1", "default/v1c");
    await a.ok("storage", "volume", "snapshot", "default", "v1", "s3");
    writeFileSync(file(a, "v1"), "five\n");
    await a.ok("storage", "volume", "copy", "default/v1", "default/v1c", "--refresh");
    expect(await volSnaps(a, "v1c")).toEqual(["s0", "s1", "s2", "s3"]);
    expect(readFileSync(file(a, "v1c"), "utf8")).toBe("five\n");
    await a.ok("storage", "volume", "delete", "default", "v1c");
    await a.ok("storage", "volume", "delete", "default", "v1");
    await b.ok("storage", "volume", "delete", "default", "v1");
  });
});
