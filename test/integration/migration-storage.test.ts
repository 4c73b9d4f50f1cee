// Migration between two daemons across storage drivers (dir <-> btrfs, btrfs <-> btrfs) and of
// custom volumes (`lxd storage volume copy|move POOL/VOL REMOTE:POOL/VOL`), with snapshots; between
// btrfs pools by btrfs send/receive.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
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
  await Promise.all([a.ok("storage", "create", "bt", "btrfs", "size=1GiB"), b.ok("storage", "create", "bt", "btrfs", "size=1GiB")]);
});

afterAll(async () => {
  await stopPair(pair ?? {});
});

const sh = (d: TestDaemon, name: string, script: string) => d.ok("exec", name, "--", "sh", "-c", script);
const fingerprint = (d: TestDaemon, name: string) => sh(d, name, "sha256sum /root/blob; cat /root/note; ls -ln /root");
const copy = (...args: string[]) => clients.ok(clients.lxd(...args), args.join(" "));
const poolOf = async (d: TestDaemon, name: string) => (await d.api("GET", `/1.0/instances/${name}`)).body.metadata.expanded_devices.root.pool;

describe("instances across drivers", () => {
  const cases: [string, string, string][] = [["dir", "default", "bt"], ["btrfs", "bt", "bt"], ["btrfs to dir", "bt", "default"]];
  for (const [label, from, to] of cases) {
    test(`${label}: ${from} on one daemon to ${to} on the other, with a snapshot`, async () => {
      const name = `i-${from}-${to}`;
      await a.ok("launch", "busybox", name, "-s", from);
      await sh(a, name, "head -c 2000000 /dev/urandom > /root/blob && echo one > /root/note && chown 123:456 /root/note");
      const atSnap = await fingerprint(a, name);
      await a.ok("snapshot", name, "s0");
      await sh(a, name, "echo two > /root/note");
      const now = await fingerprint(a, name);
      await a.ok("stop", name, "--force");
      await copy("copy", `a:${name}`, `b:${name}`, "-s", to);
      expect(await poolOf(b, name)).toBe(to);
      if (from === "bt" && to === "bt") {
        // Between btrfs pools the snapshot came as a btrfs send stream (rsync would leave no received UUID).
        const show = Bun.spawnSync(["btrfs", "subvolume", "show", join(b.dir, "storage-pools/bt/containers-snapshots", name, "s0")]).stdout.toString();
        expect(show).toMatch(/Received UUID:\s+[0-9a-f-]{36}/);
      }
      await b.ok("start", name);
      expect(await fingerprint(b, name)).toBe(now);
      await b.ok("restore", name, "s0");
      expect(await fingerprint(b, name)).toBe(atSnap);
      // A received instance is an ordinary one: snapshot, copy and restore work on it.
      await b.ok("snapshot", name, "s1");
      await sh(b, name, "echo three > /root/note");
      await b.ok("copy", name, `${name}-local`);
      await b.ok("restore", name, "s1");
      expect(await fingerprint(b, name)).toBe(atSnap);
      await b.ok("delete", name, `${name}-local`, "--force");
      await a.ok("delete", name, "--force");
    });
  }
});

describe("custom volumes", () => {
  const volumeDir = (d: TestDaemon, pool: string, vol: string) => join(d.dir, "storage-pools", pool, "custom", vol);
  const snapshotDir = (d: TestDaemon, pool: string, vol: string, snap: string) => join(d.dir, "storage-pools", pool, "custom-snapshots", vol, snap);

  for (const [from, to] of [["default", "default"], ["bt", "bt"], ["default", "bt"]]) {
    for (const mode of ["pull", "push", "relay"]) {
      test(`copy ${from} -> ${to} (${mode}) with a snapshot, then move back`, async () => {
        const vol = `v-${from}-${to}-${mode}`;
        await a.ok("storage", "volume", "create", from, vol, "user.note=hello");
        writeFileSync(join(volumeDir(a, from, vol), "data"), "first");
        await a.ok("storage", "volume", "snapshot", from, vol, "s0");
        writeFileSync(join(volumeDir(a, from, vol), "data"), "second");
        await copy("storage", "volume", "copy", `a:${from}/${vol}`, `b:${to}/${vol}`, "--mode", mode);
        expect(readFileSync(join(volumeDir(b, to, vol), "data"), "utf8")).toBe("second");
        expect(readFileSync(join(snapshotDir(b, to, vol, "s0"), "data"), "utf8")).toBe("first");
        const got = (await b.api("GET", `/1.0/storage-pools/${to}/volumes/custom/${vol}`)).body.metadata;
        expect(got.config["user.note"]).toBe("hello");
        const snaps = (await b.api("GET", `/1.0/storage-pools/${to}/volumes/custom/${vol}/snapshots`)).body.metadata;
        expect(snaps).toEqual([`/1.0/storage-pools/${to}/volumes/custom/${vol}/snapshots/s0`]);
        if (from === "bt" && to === "bt") {
          const show = Bun.spawnSync(["btrfs", "subvolume", "show", snapshotDir(b, to, vol, "s0")]).stdout.toString();
          expect(show).toMatch(/Received UUID:\s+[0-9a-f-]{36}/);
        }

        await copy("storage", "volume", "move", `b:${to}/${vol}`, `a:${from}/${vol}-back`, "--mode", mode);
        expect((await b.api("GET", `/1.0/storage-pools/${to}/volumes/custom/${vol}`)).status).toBe(404);
        expect(readFileSync(join(volumeDir(a, from, `${vol}-back`), "data"), "utf8")).toBe("second");
        await a.ok("storage", "volume", "delete", from, vol);
        await a.ok("storage", "volume", "delete", from, `${vol}-back`);
      });
    }
  }

  test("Debian's lxc copies a custom volume between the daemons", async () => {
    await a.ok("storage", "volume", "create", "default", "lv");
    writeFileSync(join(volumeDir(a, "default", "lv"), "data"), "lxc");
    await clients.ok(clients.lxc("storage", "volume", "copy", "a:default/lv", "b:default/lv"), "lxc storage volume copy");
    expect(readFileSync(join(volumeDir(b, "default", "lv"), "data"), "utf8")).toBe("lxc");
    await a.ok("storage", "volume", "delete", "default", "lv");
    await b.ok("storage", "volume", "delete", "default", "lv");
  });
});
