// Backups between a real LXD 5.0.2 (Debian's `lxd`, on its own temporary LXD_DIR) and this
// daemon: a container made, written to and snapshotted on LXD, exported with `lxc export`,
// imports into ours and starts with its files, owners and snapshot; one exported by ours
// imports into LXD and starts there the same.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { busyboxImage, importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { RealLxd, realLxdMissing } from "../helpers/real-lxd.ts";

const missing = await realLxdMissing();
if (missing) console.warn(`[backups-lxd] skipped: ${missing}`);

let d: TestDaemon;
let lxd: RealLxd;
let work: string;

beforeAll(async () => {
  if (missing) return;
  work = mkdtempSync("/tmp/lxd-backups-lxd-");
  lxd = new RealLxd();
  await lxd.start();
  await lxd.ok("image", "import", await busyboxImage(), "--alias", "busybox");
  d = await startDaemon();
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  await importBusybox(d);
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await lxd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const script = "echo one > /root/note && mkdir -p /home/u && touch /home/u/x && chown 1000:2000 /home/u/x && chmod 4750 /home/u/x && ln -s note /root/link";
const state = "cat /root/note; stat -c '%u:%g %a' /home/u/x; test -e /bin/vi && echo vi-present || echo vi-gone; readlink /root/link";

describe.skipIf(Boolean(missing))("backups with a real LXD 5.0.2", () => {
  test("a tarball from lxc export on LXD imports into ours and starts", async () => {
    const name = `c-${lxd.tag}`;
    await lxd.ok("launch", "busybox", name);
    await lxd.ok("exec", name, "--", "sh", "-c", script);
    await lxd.ok("snapshot", name, "s0");
    await lxd.ok("exec", name, "--", "sh", "-c", "echo two > /root/note && rm /bin/vi");
    const expected = await lxd.ok("exec", name, "--", "sh", "-c", state);
    expect(expected).toBe("two\n1000:2000 4750\nvi-gone\nnote\n");
    await lxd.ok("stop", "-f", name);
    const file = join(work, "from-lxd.tar.gz");
    await lxd.ok("export", name, file);

    await d.ok("import", file, "fromlxd");
    await d.ok("start", "fromlxd");
    expect(await d.ok("exec", "fromlxd", "--", "sh", "-c", state)).toBe(expected);
    // Its snapshot came along: restoring it brings the first state back.
    await d.ok("restore", "fromlxd", "s0");
    expect(await d.ok("exec", "fromlxd", "--", "sh", "-c", state)).toBe("one\n1000:2000 4750\nvi-present\nnote\n");
    await d.ok("delete", "-f", "fromlxd");
    await lxd.ok("delete", "-f", name);
  }, 180_000);

  test("a tarball from lxd export on ours imports into LXD and starts", async () => {
    await d.ok("launch", "busybox", "ours");
    await d.ok("exec", "ours", "--", "sh", "-c", script);
    await d.ok("snapshot", "ours", "s0");
    await d.ok("exec", "ours", "--", "sh", "-c", "echo two > /root/note && rm /bin/vi");
    const expected = await d.ok("exec", "ours", "--", "sh", "-c", state);
    const file = join(work, "from-ours.tar.gz");
    await d.ok("export", "ours", file);

    const name = `o-${lxd.tag}`;
    await lxd.ok("import", file, name);
    await lxd.ok("start", name);
    expect(await lxd.ok("exec", name, "--", "sh", "-c", state)).toBe(expected);
    await lxd.ok("restore", name, "s0");
    expect(await lxd.ok("exec", name, "--", "sh", "-c", state)).toBe("one\n1000:2000 4750\nvi-present\nnote\n");
    await lxd.ok("delete", "-f", name);
  }, 180_000);

  test("custom volume backups go both ways, owners kept", async () => {
    // On LXD: a volume written through a container is stored shifted (volatile.idmap.last).
    const name = `v-${lxd.tag}`;
    await lxd.ok("launch", "busybox", name);
    await lxd.ok("storage", "volume", "create", "default", "lvol");
    await lxd.ok("storage", "volume", "attach", "default", "lvol", name, "/data");
    await lxd.ok("exec", name, "--", "sh", "-c", "echo lxd > /data/f && chown 1000:2000 /data/f");
    await lxd.ok("storage", "volume", "snapshot", "default", "lvol", "vs0");
    await lxd.ok("exec", name, "--", "sh", "-c", "echo later > /data/f");
    const file = join(work, "lvol.tar.gz");
    await lxd.ok("storage", "volume", "export", "default", "lvol", file);

    await d.ok("launch", "busybox", "vhost");
    await d.ok("storage", "volume", "import", "default", file, "fromlxd");
    await d.ok("storage", "volume", "attach", "default", "fromlxd", "vhost", "/data");
    expect(await d.ok("exec", "vhost", "--", "sh", "-c", "cat /data/f; stat -c '%u:%g' /data/f")).toBe("later\n1000:2000\n");
    await d.ok("storage", "volume", "detach", "default", "fromlxd", "vhost");
    await d.ok("storage", "volume", "restore", "default", "fromlxd", "vs0");
    await d.ok("storage", "volume", "attach", "default", "fromlxd", "vhost", "/data");
    expect(await d.ok("exec", "vhost", "--", "sh", "-c", "cat /data/f")).toBe("lxd\n");

    // And back: ours exported, imported into LXD, attached there.
    const back = join(work, "fromlxd.tar.gz");
    await d.ok("storage", "volume", "export", "default", "fromlxd", back);
    await lxd.ok("storage", "volume", "import", "default", back, "back");
    await lxd.ok("storage", "volume", "attach", "default", "back", name, "/back");
    expect(await lxd.ok("exec", name, "--", "sh", "-c", "cat /back/f; stat -c '%u:%g' /back/f")).toBe("lxd\n1000:2000\n");
    await lxd.ok("delete", "-f", name);
    await d.ok("delete", "-f", "vhost");
  }, 180_000);

  test("optimized (btrfs send) backups go both ways", async () => {
    await lxd.ok("storage", "create", "bt", "btrfs", "size=1GiB");
    await d.ok("storage", "create", "bt", "btrfs", "size=512MiB");
    const name = `b-${lxd.tag}`;
    await lxd.ok("launch", "busybox", name, "-s", "bt");
    await lxd.ok("exec", name, "--", "sh", "-c", script);
    await lxd.ok("snapshot", name, "s0");
    await lxd.ok("exec", name, "--", "sh", "-c", "echo two > /root/note && rm /bin/vi");
    const expected = await lxd.ok("exec", name, "--", "sh", "-c", state);
    await lxd.ok("stop", "-f", name);
    const file = join(work, "lxd-opt.tar.gz");
    await lxd.ok("export", name, file, "--optimized-storage");

    await d.ok("import", file, "optlxd", "-s", "bt");
    await d.ok("start", "optlxd");
    expect(await d.ok("exec", "optlxd", "--", "sh", "-c", state)).toBe(expected);
    await d.ok("restore", "optlxd", "s0");
    expect(await d.ok("exec", "optlxd", "--", "sh", "-c", state)).toBe("one\n1000:2000 4750\nvi-present\nnote\n");
    await d.ok("stop", "-f", "optlxd");

    const back = join(work, "ours-opt.tar.gz");
    await d.ok("export", "optlxd", back, "--optimized-storage");
    const again = `a-${lxd.tag}`;
    await lxd.ok("import", back, again, "-s", "bt");
    await lxd.ok("start", again);
    expect(await lxd.ok("exec", again, "--", "sh", "-c", state)).toBe("one\n1000:2000 4750\nvi-present\nnote\n");
    for (const c of [name, again]) await lxd.ok("delete", "-f", c);
    await d.ok("delete", "-f", "optlxd");
  }, 240_000);
});
