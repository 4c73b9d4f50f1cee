// Layered dir volumes: a snapshot of a stopped instance freezes its upper into a shared layer
// (no file data copied), copies and restores share layers, unused layers go away, the chain depth
// is capped by squashing (whiteouts and opaque directories kept), and a daemon killed in the
// middle of an upper swap is repaired on restart, in both directions, and snapshots of the former
// kind (a copied upper) become layers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
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
const pool = () => join(d.dir, "storage-pools", "default");
const vol = (name: string) => join(pool(), "containers", name);
const chain = (dir: string): string[] =>
  existsSync(join(dir, "layers")) ? readFileSync(join(dir, "layers"), "utf8").split("\n").filter(Boolean) : [];
const layer = (id: string) => join(pool(), "layers", id);
const layers = () => readdirSync(join(pool(), "layers")).sort();
const state = (name: string) =>
  sh(name, "sha256sum /root/big /root/note 2>&1; test -e /bin/vi && echo vi-present || echo vi-gone; ls /etc/udhcpc");

describe("dir: layered overlays", () => {
  test("a stopped snapshot moves the upper into a layer; copy and restore share it", async () => {
    await ok("launch", "busybox", "l1");
    await sh("l1", "head -c 20000000 /dev/urandom > /root/big && echo hi > /root/note && rm /bin/vi && rm -r /etc/udhcpc && mkdir /etc/udhcpc && echo mine > /etc/udhcpc/mine");
    const before = await state("l1");
    await ok("stop", "l1", "--force");
    const ino = statSync(join(vol("l1"), "upper", "root", "big")).ino;

    await ok("snapshot", "l1", "s0");
    const snapChain = chain(join(pool(), "containers-snapshots", "l1", "s0"));
    expect(snapChain.length).toBe(1);
    expect(chain(vol("l1"))).toEqual(snapChain);
    // The very file, not a copy: its inode moved with the directory.
    expect(statSync(join(layer(snapChain[0]!), "root", "big")).ino).toBe(ino);
    expect(readdirSync(join(vol("l1"), "upper"))).toEqual([]);

    await ok("copy", "l1", "l2");
    expect(chain(vol("l2"))).toEqual(snapChain);
    await ok("start", "l1");
    await ok("start", "l2");
    expect(await state("l1")).toBe(before);
    expect(await state("l2")).toBe(before);

    // Changes after the snapshot stay in each instance's own upper; restore drops them.
    await sh("l1", "echo changed > /root/note && cp /bin/sh /bin/vi");
    await ok("stop", "l1", "--force");
    await ok("restore", "l1", "s0");
    await ok("start", "l1");
    expect(await state("l1")).toBe(before);
    await ok("stop", "l1", "--force");
  });

  test("a running snapshot copies only the upper; unused layers are removed", async () => {
    await sh("l2", "echo two > /root/note");
    await ok("snapshot", "l2", "live");
    const live = chain(join(pool(), "containers-snapshots", "l2", "live"));
    expect(live.length).toBe(2);
    expect(live.slice(1)).toEqual(chain(vol("l2")));
    await ok("stop", "l2", "--force");

    const shared = chain(vol("l1"))[0]!;
    await ok("delete", "l2");
    // The layer l1 and its snapshot still use stays; l2's own copied layer goes.
    expect(layers()).toEqual([shared]);
    await ok("delete", "l1");
    expect(layers()).toEqual([]);
  });

  test("deep chains are squashed with whiteouts and opaque directories intact", async () => {
    await ok("launch", "busybox", "deep");
    await sh("deep", "echo hi > /root/note && rm /bin/vi && rm -r /etc/udhcpc && mkdir /etc/udhcpc && echo mine > /etc/udhcpc/mine");
    await ok("stop", "deep", "--force");
    await ok("snapshot", "deep", "first");
    for (let i = 0; i < 34; i++) {
      // What a container would write, straight into the stopped instance's upper.
      mkdirSync(join(vol("deep"), "upper", "root"), { recursive: true });
      writeFileSync(join(vol("deep"), "upper", "root", "note"), `round ${i}\n`);
      await ok("snapshot", "deep", `s${i}`);
      expect(chain(vol("deep")).length).toBeLessThanOrEqual(32);
    }
    expect(chain(vol("deep")).length).toBeLessThan(32);
    await ok("start", "deep");
    expect(await sh("deep", "cat /root/note; test -e /bin/vi && echo vi-present || echo vi-gone; ls /etc/udhcpc")).toBe("round 33\nvi-gone\nmine\n");
    await ok("stop", "deep", "--force");
    await ok("restore", "deep", "first");
    await ok("start", "deep");
    expect(await sh("deep", "cat /root/note; test -e /bin/vi && echo vi-present || echo vi-gone")).toBe("hi\nvi-gone\n");
    await ok("delete", "deep", "--force");
    expect(layers()).toEqual([]);
  });

  test("a snapshot of the former kind (a copied upper) becomes a layer on restart", async () => {
    await ok("launch", "busybox", "old");
    await sh("old", "echo before > /root/note");
    await ok("snapshot", "old", "s0");
    await ok("stop", "old", "--force");
    const snap = join(pool(), "containers-snapshots", "old", "s0");
    const [id] = chain(snap);
    await d.kill("SIGKILL");
    renameSync(layer(id!), join(snap, "upper"));
    const { rmSync } = await import("node:fs");
    rmSync(join(snap, "layers"));
    await d.restart();
    expect(readdirSync(snap)).toEqual(["layers"]);
    expect(existsSync(layer(chain(snap)[0]!))).toBe(true);
    await ok("restore", "old", "s0");
    await ok("start", "old");
    expect(await sh("old", "cat /root/note")).toBe("before\n");
    await ok("delete", "old", "--force");
  });

  test("a daemon killed mid-swap: undone before the upper moved, finished after", async () => {
    await ok("launch", "busybox", "sw");
    await sh("sw", "echo kept > /root/note");
    await ok("stop", "sw", "--force");
    await d.kill("SIGKILL");
    // Killed after preparing the swap, before the upper moved: undone.
    mkdirSync(join(vol("sw"), "upper.next"));
    writeFileSync(join(vol("sw"), "layers.next"), "01AAAAAAAAAAAAAAAAAAAAAAAA\n");
    await d.restart();
    expect(readdirSync(vol("sw")).sort()).toEqual(["backup.yaml", "upper", "work"]);
    await d.kill("SIGKILL");
    // Killed right after the upper became a layer: finished.
    const id = "01BBBBBBBBBBBBBBBBBBBBBBBB";
    mkdirSync(join(vol("sw"), "upper.next"));
    writeFileSync(join(vol("sw"), "layers.next"), `${id}\n`);
    mkdirSync(join(pool(), "layers"), { recursive: true });
    renameSync(join(vol("sw"), "upper"), layer(id));
    await d.restart();
    expect(readdirSync(vol("sw")).sort()).toEqual(["backup.yaml", "layers", "upper", "work"]);
    expect(chain(vol("sw"))).toEqual([id]);
    await ok("start", "sw");
    expect(await sh("sw", "cat /root/note")).toBe("kept\n");
    await ok("delete", "sw", "--force");
  });
});
