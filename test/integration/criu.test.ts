// CRIU as a host dependency: the daemon finds it at start (LXD_CRIU, else `criu` on PATH), runs
// `criu check`, says in GET /1.0 (environment.lxc_features.criu, criu_version) and `lxd info`
// whether stateful work is possible, raises LXD's "CRIU isn't available" warning with the reason
// when it is not, and then refuses stateful snapshots, stops, restores and live moves with one
// sentence naming what is missing; the container is left running.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { criuWrapper } from "../helpers/criu.ts";
import { importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon({ env: { LXD_CRIU: "/nonexistent/criu" } });
  expect((await d.lxd("init", "--auto")).code).toBe(0);
  await importBusybox(d);
  await d.ok("launch", "busybox", "c1");
});

afterAll(async () => {
  await d?.stop();
});

const features = async () => (await d.api("GET", "/1.0")).body.metadata.environment.lxc_features as Record<string, string>;
const criuWarnings = async () =>
  ((await d.api("GET", "/1.0/warnings?recursion=1")).body.metadata as { type: string; last_message: string }[])
    .filter((w) => w.type === "CRIU isn't available");

describe("CRIU as a host dependency", () => {
  test("without criu: environment says so, a warning names it, stateful requests get one sentence", async () => {
    expect((await features()).criu).toBe("false");
    const [warning] = await criuWarnings();
    expect(warning?.last_message).toBe("Stateful snapshots and live migration are unavailable: LXD_CRIU names /nonexistent/criu, which does not exist");

    const snap = await d.lxd("snapshot", "c1", "s1", "--stateful");
    expect(snap.code).not.toBe(0);
    expect(snap.stderr.trim()).toBe(
      "Error: A stateful snapshot needs CRIU 4 or later, which is not available on this server: LXD_CRIU names /nonexistent/criu, which does not exist");
    const stop = await d.lxd("stop", "c1", "--stateful");
    expect(stop.stderr.trim()).toStartWith("Error: A stateful stop needs CRIU 4 or later");
    // Debian's lxc sends the same requests.
    expect((await d.lxc("stop", "c1", "--stateful")).stderr).toContain("A stateful stop needs CRIU 4 or later");
    await d.ok("snapshot", "c1", "plain");
    const restore = await d.lxd("restore", "c1", "plain", "--stateful");
    expect(restore.stderr.trim()).toStartWith("Error: A stateful restore needs CRIU 4 or later");
    // A live migration request (live absent means live, as in LXD) names --stateless.
    const live = await d.api("POST", "/1.0/instances/c1", { name: "c2", migration: true });
    expect(live.status).toBe(400);
    expect(live.body.error).toStartWith("Live migration needs CRIU 4 or later");
    expect(live.body.error).toEndWith("copy or move the instance with --stateless");

    // Nothing was taken or stopped.
    const snaps = (await d.api("GET", "/1.0/instances/c1/snapshots")).body.metadata;
    expect(snaps).toEqual(["/1.0/instances/c1/snapshots/plain"]);
    expect((await d.api("GET", "/1.0/instances/c1")).body.metadata.status).toBe("Running");
  });

  test("a criu whose check fails (as Debian 12's 3.17 on this kernel) is named with its error", async () => {
    const fake = join(d.dir, "old-criu");
    writeFileSync(fake, `#!/bin/sh
case "$1" in
  --version) echo "Version: 3.17.1" ;;
  check) echo "Error (criu/vdso.c:307): vdso: Unexpected rt vDSO area bounds" >&2; exit 1 ;;
esac
`);
    chmodSync(fake, 0o755);
    d.setEnv({ LXD_CRIU: fake });
    await d.restart();
    expect(await features()).toMatchObject({ criu: "false", criu_version: "3.17.1" });
    const [warning] = await criuWarnings();
    expect(warning?.last_message).toBe(`Stateful snapshots and live migration are unavailable: "${fake} check" failed: vdso: Unexpected rt vDSO area bounds`);
    expect((await d.lxd("stop", "c1", "--stateful")).stderr).toContain(`"${fake} check" failed: vdso: Unexpected rt vDSO area bounds`);
  });

  test("CRIU 4 from the trixie tree passes its check: the environment and `lxd info` say so", async () => {
    d.setEnv({ LXD_CRIU: await criuWrapper() });
    await d.restart();
    const f = await features();
    expect(f.criu).toBe("true");
    expect(f.criu_version).toMatch(/^4\./);
    expect(await criuWarnings()).toEqual([]);
    const info = await d.ok("info");
    expect(info).toContain('criu: "true"');
    expect((await d.api("GET", "/1.0/instances/c1")).body.metadata.status).toBe("Running");
  });
});
