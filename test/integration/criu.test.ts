// CRIU as a host dependency: the daemon finds it at start (LXD_CRIU, else `criu` on PATH), runs
// `criu check`, says in GET /1.0 (environment.lxc_features.criu, criu_version) and `lxd info`
// whether stateful work is possible, raises LXD's "CRIU isn't available" warning with the reason
// when it is not, and then refuses stateful snapshots, stops, restores and live moves with one
// sentence naming what is missing; the container is left running.
// With CRIU 4: `lxd stop --stateful` then `lxd start` resumes a stock busybox container where it
// was (a counter in memory, a shell variable, the console shell with its variable and controlling
// terminal), under its monitor (exec, console, stop work after).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { criuWrapper, startCounting, typeOnConsole } from "../helpers/criu.ts";
import { importBusybox, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { until } from "../helpers/until.ts";

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

const counter = async (name: string) => Number((await d.ok("exec", name, "--", "cat", "/run/count")).trim());
const secret = async (name: string) => (await d.ok("exec", name, "--", "cat", "/run/secret")).trim();

const features = async () => (await d.api("GET", "/1.0")).body.metadata.environment.lxc_features as Record<string, string>;
/** The CRIU warning while its condition holds (a later start that finds CRIU resolves it). */
const criuWarnings = async () =>
  ((await d.api("GET", "/1.0/warnings?recursion=1")).body.metadata as { type: string; last_message: string; status: string }[])
    .filter((w) => w.type === "CRIU isn't available" && w.status !== "resolved");

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

describe("stateful stop, start, snapshot and restore (CRIU 4)", () => {
  beforeAll(async () => {
    if ((await features()).criu === "true") return;
    d.setEnv({ LXD_CRIU: await criuWrapper() });
    await d.restart();
  });

  test("stop --stateful then start resumes the container where it was, under its monitor", async () => {
    await d.ok("launch", "busybox", "s1");
    await startCounting(d, "s1");
    // The console shell (it holds /dev/tty, its controlling terminal) keeps a variable.
    expect(await typeOnConsole(d, "s1", "kept=console-$((6*7)); echo set-$kept\n")).toContain("set-console-42\r\n");
    // The nic's DHCP address: the network namespace is restored empty and refilled by the daemon.
    const ipv4 = () => d.ok("exec", "s1", "--", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'; ip -4 route show default | cut -d' ' -f1-3");
    await until(async () => (await ipv4()).includes("default via"), "a DHCP address");
    const network = await ipv4();
    const before = await counter("s1");
    const kept = await secret("s1");
    expect(kept).toMatch(/^v\d+-kept$/);

    await d.ok("stop", "s1", "--stateful");
    const stopped = (await d.api("GET", "/1.0/instances/s1")).body.metadata;
    expect(stopped).toMatchObject({ status: "Stopped", stateful: true });
    expect(existsSync(join(d.dir, "storage-pools/default/containers/s1/state/inventory.img"))).toBe(true);

    await d.ok("start", "s1");
    const after = await counter("s1");
    // The counter went on from where it was (a boot would restart it at 1), and keeps counting.
    expect(after).toBeGreaterThanOrEqual(before);
    await until(async () => (await counter("s1")) > after, "the restored counter counts on");
    expect(await secret("s1")).toBe(kept);
    expect(await ipv4()).toBe(network);
    const running = (await d.api("GET", "/1.0/instances/s1")).body.metadata;
    expect(running).toMatchObject({ status: "Running", stateful: false });
    expect(existsSync(join(d.dir, "storage-pools/default/containers/s1/state"))).toBe(false);
    // The console shell is back on the new console, with its variable and as its controlling
    // terminal's foreground (job control works: no "can't set tty process group").
    const shell = await typeOnConsole(d, "s1", "echo $kept; tty; sleep 0; echo fg-$((6*7))\n");
    expect(shell).toContain("\r\nconsole-42\r\n/dev/console\r\nfg-42\r\n");
    expect(shell).not.toContain("can't set tty process group");
    // Under the monitor: exec, the console (a new pty behind /dev/console), a clean stop.
    expect((await d.ok("exec", "s1", "--", "sh", "-c", "echo exec-$((6*7))")).trim()).toBe("exec-42");
    await d.ok("exec", "s1", "--", "sh", "-c", "echo console-$((6*7)) > /dev/console");
    await until(async () => (await d.ok("console", "s1", "--show-log")).includes("console-42"), "the console log");
    expect((await d.api("GET", "/1.0/instances/s1/state")).body.metadata.pid).toBeGreaterThan(0);
    await d.ok("stop", "s1", "--force");
    expect((await d.api("GET", "/1.0/instances/s1")).body.metadata.status).toBe("Stopped");
  });

  test("a checkpoint that cannot be restored is discarded with CRIU's reason; the next start boots", async () => {
    await d.ok("start", "s1");
    await startCounting(d, "s1");
    await d.ok("stop", "s1", "--stateful");
    // Damage the checkpoint: CRIU cannot read the process tree.
    writeFileSync(join(d.dir, "storage-pools/default/containers/s1/state/pstree.img"), "garbage");
    const start = await d.lxd("start", "s1");
    expect(start.code).not.toBe(0);
    expect(start.stderr).toContain('Failed to start instance "s1" from its saved state (discarded; start it again to boot it)');
    const after = (await d.api("GET", "/1.0/instances/s1")).body.metadata;
    expect(after).toMatchObject({ status: "Stopped", stateful: false });
    await d.ok("start", "s1");
    // A fresh boot: nothing counts until started again.
    expect((await d.lxd("exec", "s1", "--", "cat", "/run/count")).code).not.toBe(0);
    await d.ok("stop", "s1", "--force");
  });

  test("a failing checkpoint leaves the container running as it was", async () => {
    // A nested UTS namespace, which CRIU 4.1 cannot dump (see the README).
    await d.ok("launch", "busybox", "tty1");
    await d.ok("exec", "tty1", "--", "sh", "-c", "setsid unshare -u sleep 1000 </dev/null >/dev/null 2>&1 &");
    await until(async () => (await d.ok("exec", "tty1", "--", "ps")).includes("sleep 1000"), "the nested namespace");
    const stop = await d.lxd("stop", "tty1", "--stateful");
    expect(stop.code).not.toBe(0);
    expect(stop.stderr).toContain('Stateful stop of "tty1" failed: criu dump failed:');
    expect(stop.stderr).toContain("criu dump failed: Can't make utsns id");
    expect((await d.api("GET", "/1.0/instances/tty1")).body.metadata).toMatchObject({ status: "Running", stateful: false });
    expect((await d.ok("exec", "tty1", "--", "echo", "alive")).trim()).toBe("alive");
    await d.ok("stop", "tty1", "--force");
  });

  test("snapshot --stateful keeps the container running; restore --stateful brings its processes back", async () => {
    await d.ok("start", "s1");
    await startCounting(d, "s1");
    const kept = await secret("s1");
    const atSnapshot = await counter("s1");
    await d.ok("snapshot", "s1", "live1", "--stateful");
    expect((await d.api("GET", "/1.0/instances/s1")).body.metadata.status).toBe("Running");
    const snap = (await d.api("GET", "/1.0/instances/s1/snapshots/live1")).body.metadata;
    expect(snap.stateful).toBe(true);
    expect(existsSync(join(d.dir, "storage-pools/default/containers-snapshots/s1/live1/state/inventory.img"))).toBe(true);
    expect(existsSync(join(d.dir, "storage-pools/default/containers/s1/state"))).toBe(false);
    // It counts on after the snapshot...
    await until(async () => (await counter("s1")) > atSnapshot + 10, "the counter runs on");
    const later = await counter("s1");
    // ...and a stateful restore takes it back to the snapshot's moment, running.
    await d.ok("restore", "s1", "live1", "--stateful");
    const restored = await counter("s1");
    expect(restored).toBeGreaterThanOrEqual(atSnapshot);
    expect(restored).toBeLessThan(later);
    await until(async () => (await counter("s1")) > restored, "the restored counter counts on");
    expect(await secret("s1")).toBe(kept);
    expect((await d.api("GET", "/1.0/instances/s1")).body.metadata).toMatchObject({ status: "Running", stateful: false });
    // LXD's client sees the same; a stateless snapshot cannot be restored statefully.
    expect(await d.lxcOk("info", "s1")).toMatch(/live1 .*\| YES/);
    await d.ok("snapshot", "s1", "plain1");
    const refused = await d.lxd("restore", "s1", "plain1", "--stateful");
    expect(refused.stderr.trim()).toBe("Error: Stateful snapshot restore requested but snapshot is stateless");
    await d.ok("stop", "s1", "--force");
  });

  test("on a btrfs pool: the read-only snapshot keeps the checkpoint taken into the volume", async () => {
    await d.ok("storage", "create", "bt", "btrfs", "size=512MiB");
    await d.ok("launch", "busybox", "b1", "-s", "bt");
    await startCounting(d, "b1");
    const atSnapshot = await counter("b1");
    await d.ok("snapshot", "b1", "bs", "--stateful");
    expect((await d.api("GET", "/1.0/instances/b1/snapshots/bs")).body.metadata.stateful).toBe(true);
    await until(async () => (await counter("b1")) > atSnapshot + 10, "the counter runs on");
    await d.ok("restore", "b1", "bs", "--stateful");
    expect(await counter("b1")).toBeLessThan(atSnapshot + 10);
    await d.ok("stop", "b1", "--stateful");
    await d.ok("start", "b1");
    await until(async () => (await counter("b1")) > atSnapshot + 1, "the restored counter counts on");
    await d.ok("delete", "b1", "--force");
    await d.ok("storage", "delete", "bt");
  });
});
