// Snapshot keys of custom volumes, as LXD 5.0: the pool's volume.snapshots.* keys are copied into
// new volumes, snapshots.expiry dates manual snapshots (unless --no-expiry or an explicit
// expires_at), snapshots.schedule takes snapshots on the clock named by snapshots.pattern, and
// expired snapshots are deleted by the timer. Driven through our CLI, the API and Debian's lxc.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NO_EXPIRY } from "../../src/api/snapshot.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { until } from "../helpers/until.ts";

let d: TestDaemon;
const ok = (...args: string[]) => d.ok(...args);
const volUrl = (v: string) => `/1.0/storage-pools/p1/volumes/custom/${v}`;
const snaps = async (v: string): Promise<{ name: string; expires_at: string; config: Record<string, string> }[]> =>
  (await d.api("GET", `${volUrl(v)}/snapshots?recursion=1`)).body.metadata;
const hoursFromNow = (at: string) => (new Date(at).getTime() - Date.now()) / 3_600_000;

beforeAll(async () => {
  // The snapshot timer runs every 300 ms (a schedule still fires at most once a minute).
  d = await startDaemon({ env: { LXD_SNAPSHOT_TIMER_MS: "300" } });
  await ok("storage", "create", "p1", "dir");
});

afterAll(async () => {
  await d?.stop();
});

describe("pool volume.snapshots.* keys", () => {
  test("are validated, and copied into new volumes unless the volume sets its own", async () => {
    await ok("storage", "set", "p1", "volume.snapshots.expiry=1d", "volume.snapshots.pattern=auto-%d", "volume.snapshots.schedule=0 1,13 * * *");
    const bad = await d.lxd("storage", "set", "p1", "volume.snapshots.schedule", "bogus");
    expect(bad.code).not.toBe(0);
    expect((await d.lxd("storage", "set", "p1", "volume.snapshots.expiry", "soon")).code).not.toBe(0);
    expect((await ok("storage", "get", "p1", "volume.snapshots.schedule")).trim()).toBe("0 1,13 * * *");

    await ok("storage", "volume", "create", "p1", "v1");
    expect((await d.api("GET", volUrl("v1"))).body.metadata.config).toEqual({
      "snapshots.expiry": "1d", "snapshots.pattern": "auto-%d", "snapshots.schedule": "0 1,13 * * *",
    });
    await ok("storage", "volume", "create", "p1", "v2", "snapshots.expiry=2w");
    expect((await d.api("GET", volUrl("v2"))).body.metadata.config["snapshots.expiry"]).toBe("2w");
  });

  test("volume keys are validated as LXD does", async () => {
    expect((await d.lxd("storage", "volume", "set", "p1", "v1", "snapshots.expiry", "bad")).code).not.toBe(0);
    expect((await d.lxd("storage", "volume", "set", "p1", "v1", "snapshots.schedule.stopped", "true")).code).not.toBe(0);
    await ok("storage", "volume", "set", "p1", "v1", "snapshots.schedule", "@hourly");
    await ok("storage", "volume", "set", "p1", "v1", "snapshots.schedule", "0 1,13 * * *");
  });
});

describe("snapshot expiry", () => {
  test("manual snapshots expire after snapshots.expiry unless --no-expiry or expires_at says otherwise", async () => {
    await ok("storage", "volume", "snapshot", "p1", "v1");
    await ok("storage", "volume", "snapshot", "p1", "v1", "kept", "--no-expiry");
    expect((await d.lxc("storage", "volume", "snapshot", "p1", "v1", "by-lxc")).code).toBe(0);
    expect((await d.lxc("storage", "volume", "snapshot", "p1", "v1", "by-lxc-kept", "--no-expiry")).code).toBe(0);
    const r = await d.api("POST", `${volUrl("v1")}/snapshots`, { name: "dated", expires_at: "2030-01-01T00:00:00Z" });
    await d.wait(r);
    const byName = Object.fromEntries((await snaps("v1")).map((s) => [s.name, s]));
    // Unnamed manual snapshots are snap%d in LXD 5.0.2 (the pattern names scheduled ones).
    expect(Object.keys(byName).sort()).toEqual(["by-lxc", "by-lxc-kept", "dated", "kept", "snap0"]);
    for (const n of ["snap0", "by-lxc"]) expect(hoursFromNow(byName[n]!.expires_at)).toBeCloseTo(24, 0);
    for (const n of ["kept", "by-lxc-kept"]) expect(byName[n]!.expires_at).toBe(NO_EXPIRY);
    expect(byName.dated!.expires_at).toBe("2030-01-01T00:00:00.000Z");
    // A snapshot keeps the volume's config as it was.
    expect(byName.snap0!.config["snapshots.pattern"]).toBe("auto-%d");

    // PUT changes description and expiry (what lxc storage volume edit sends).
    expect((await d.api("PUT", `${volUrl("v1")}/snapshots/dated`, { description: "d", expires_at: "2031-01-01T00:00:00Z" })).status).toBe(200);
    const shown = (await d.api("GET", `${volUrl("v1")}/snapshots/dated`)).body.metadata;
    expect([shown.description, shown.expires_at]).toEqual(["d", "2031-01-01T00:00:00.000Z"]);
    expect((await d.api("PUT", `${volUrl("v1")}/snapshots/dated`, { expires_at: "tomorrow" })).status).toBe(400);
  });

  test("an expired snapshot is deleted by the timer, with its tree", async () => {
    const soon = new Date(Date.now() + 1500).toISOString();
    await d.wait(await d.api("POST", `${volUrl("v2")}/snapshots`, { name: "short", expires_at: soon }));
    await d.wait(await d.api("POST", `${volUrl("v2")}/snapshots`, { name: "long" }));
    const tree = join(d.dir, "storage-pools", "p1", "custom-snapshots", "v2", "short");
    await until(async () => !(await snaps("v2")).some((s) => s.name === "short"), "expired snapshot deleted", 20_000);
    expect((await snaps("v2")).map((s) => s.name)).toEqual(["long"]);
    expect(existsSync(tree)).toBe(false);
  });
});

describe("scheduled snapshots", () => {
  test("are taken on the clock, named by snapshots.pattern, dated by snapshots.expiry, with the volume's data", async () => {
    await ok("storage", "volume", "create", "p1", "v3", "snapshots.pattern=auto-%d", "snapshots.expiry=3H");
    const file = join(d.dir, "storage-pools", "p1", "custom", "v3", "data");
    writeFileSync(file, "scheduled\n");
    // lxc sets it, as an LXD user would; every minute: the first timer pass takes one.
    expect((await d.lxc("storage", "volume", "set", "p1", "v3", "snapshots.schedule", "* * * * *")).code).toBe(0);
    await until(async () => (await snaps("v3")).length > 0, "scheduled snapshot", 20_000);
    const [first] = await snaps("v3");
    expect(first!.name).toBe("auto-0");
    expect(hoursFromNow(first!.expires_at)).toBeCloseTo(3, 0);
    expect(readFileSync(join(d.dir, "storage-pools", "p1", "custom-snapshots", "v3", "auto-0", "data"), "utf8")).toBe("scheduled\n");
    // At most once a minute, and nothing for volumes without a schedule.
    await Bun.sleep(1000);
    expect((await snaps("v3")).length).toBeLessThanOrEqual(2);
    expect((await snaps("v2")).map((s) => s.name)).toEqual(["long"]);
    await ok("storage", "volume", "unset", "p1", "v3", "snapshots.schedule");
  });
});
