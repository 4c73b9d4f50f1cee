// Instance copies end to end: from a stopped or running instance, from a snapshot, with or
// without snapshots, ephemeral copies, through our CLI, `lxc copy` and the REST API; data byte for
// byte and independent afterwards; a daemon killed mid-copy leaves no orphan volume.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);
const sh = (name: string, script: string) => ok("exec", name, "--", "sh", "-c", script);
const data = (name: string) => sh(name, "sha256sum /root/blob; cat /root/note; test -e /bin/vi && echo vi-present || echo vi-gone");
const snapshotNames = async (name: string): Promise<string[]> =>
  (await d.api("GET", `/1.0/instances/${name}/snapshots?recursion=1`)).body.metadata.map((s: { name: string }) => s.name);
const instance = async (name: string) => (await d.api("GET", `/1.0/instances/${name}`)).body.metadata;
const pool = () => join(d.dir, "storage-pools", "default");

describe("instance copy", () => {
  let original = "";
  let atSnap = "";

  test("a stopped instance is copied with its snapshots; the copy is independent", async () => {
    await ok("launch", "busybox", "src");
    await sh("src", "head -c 2000000 /dev/urandom > /root/blob && echo first > /root/note && rm /bin/vi");
    atSnap = await data("src");
    await ok("snapshot", "src");
    await sh("src", "echo second > /root/note");
    original = await data("src");
    await ok("config", "set", "src", "user.tag", "kept");
    await ok("stop", "src", "--force");

    await ok("copy", "src", "dst");
    const [a, b] = [await instance("src"), await instance("dst")];
    expect(b.status).toBe("Stopped");
    expect(b.config["user.tag"]).toBe("kept");
    expect(b.config["volatile.base_image"]).toBe(a.config["volatile.base_image"]);
    expect(b.config["volatile.uuid"]).not.toBe(a.config["volatile.uuid"]);
    expect(await snapshotNames("dst")).toEqual(["snap0"]);

    await ok("start", "dst");
    expect(await data("dst")).toBe(original);
    await sh("dst", "echo changed-in-copy > /root/note");
    await ok("start", "src");
    expect(await data("src")).toBe(original);
    // The copied snapshot restores to what the source's snapshot held.
    await ok("restore", "dst", "snap0");
    expect(await data("dst")).toBe(atSnap);
  });

  test("copy of a running instance, and from a snapshot", async () => {
    await ok("copy", "src", "live", "--instance-only");
    expect(await snapshotNames("live")).toEqual([]);
    await ok("start", "live");
    expect(await data("live")).toBe(original);

    await ok("copy", "src/snap0", "fromsnap");
    expect(await snapshotNames("fromsnap")).toEqual([]);
    await ok("start", "fromsnap");
    expect(await data("fromsnap")).toBe(atSnap);
  });

  test("an ephemeral copy vanishes when stopped", async () => {
    await ok("copy", "src", "eph", "--ephemeral", "--instance-only");
    expect((await instance("eph")).ephemeral).toBe(true);
    await ok("start", "eph");
    await ok("stop", "eph", "--force");
    expect((await d.api("GET", "/1.0/instances/eph")).status).toBe(404);
    expect(existsSync(join(pool(), "containers", "eph"))).toBe(false);
  });

  test("LXD's lxc client: copy and move", async () => {
    const r = await d.lxc("--debug", "copy", "src", "vialxc");
    if (r.code !== 0) throw new Error(`lxc copy failed: ${r.stderr.split("\n").filter((l) => !l.includes("api_extensions")).join("\n")}`);
    expect(await snapshotNames("vialxc")).toEqual(["snap0"]);
    await ok("start", "vialxc");
    expect(await data("vialxc")).toBe(original);
    await ok("stop", "vialxc", "--force");
    expect((await d.lxc("move", "vialxc", "moved")).code).toBe(0);
    expect((await instance("moved")).name).toBe("moved");
    expect(await snapshotNames("moved")).toEqual(["snap0"]);
  });

  test("bad copies are refused up front", async () => {
    const missing = await d.api("POST", "/1.0/instances", { name: "x1", source: { type: "copy", source: "nope" } });
    expect(missing.status).toBe(404);
    const missingSnap = await d.api("POST", "/1.0/instances", { name: "x1", source: { type: "copy", source: "src/nope" } });
    expect(missingSnap.status).toBe(404);
    const taken = await d.api("POST", "/1.0/instances", { name: "dst", source: { type: "copy", source: "src" } });
    expect(taken.status).toBe(409);
    expect((await d.api("POST", "/1.0/instances", { name: "x1", source: { type: "copy" } })).status).toBe(400);
  });

  test("a daemon killed during a copy leaves no orphan volume", async () => {
    await sh("src", "head -c 150000000 /dev/zero > /root/big");
    await ok("stop", "src", "--force");
    const op = await d.api("POST", "/1.0/instances", { name: "cut", source: { type: "copy", source: "src" } });
    expect(op.status).toBe(202);
    await Bun.sleep(30);
    await d.kill("SIGKILL");
    await d.restart();
    // Either the copy finished (row and volume) or it left nothing at all.
    const exists = (await d.api("GET", "/1.0/instances/cut")).status === 200;
    const names = readdirSync(join(pool(), "containers"));
    expect(names.some((n) => n.includes(".tmp-"))).toBe(false);
    expect(names.includes("cut")).toBe(exists);
    expect(existsSync(join(pool(), "containers-snapshots", "cut"))).toBe(exists);
  });
});
