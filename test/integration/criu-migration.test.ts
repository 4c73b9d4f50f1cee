// Live migration between two daemons (CRIU 4 on both) of stock busybox containers: `lxd move` of a
// running container is live in pull, push and relay modes — a counter kept in a shell's memory,
// another shell's variable and the console shell's go on on the far side, the source is gone only once the target runs; `lxd copy` of a running
// container is live too and both run afterwards; a restore that fails on the target resumes the
// source and leaves nothing on the target.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { criuWrapper, startCounting, typeOnConsole } from "../helpers/criu.ts";
import { run, type TestDaemon } from "../helpers/daemon.ts";
import { startPair, stopPair, type Clients, type Pair } from "../helpers/migration.ts";
import { until } from "../helpers/until.ts";

let a: TestDaemon;
let b: TestDaemon;
let clients: Clients;
let pair: Pair;
let criu = "";

beforeAll(async () => {
  criu = await criuWrapper();
  pair = await startPair({ env: { LXD_CRIU: criu } });
  ({ a, b, clients } = pair);
});

afterAll(async () => {
  await stopPair(pair ?? {});
});

const read = async (d: TestDaemon, name: string, file: string) => (await d.ok("exec", name, "--", "cat", file)).trim();
const counter = async (d: TestDaemon, name: string) => Number(await read(d, name, "/run/count"));
const status = async (d: TestDaemon, name: string) => {
  const r = await d.api("GET", `/1.0/instances/${name}`);
  return r.status === 404 ? "absent" : r.body.metadata.status;
};

/** Restarts b with a CRIU that runs `onRestore` (shell) before each restore. */
async function targetCriu(file: string, onRestore: string): Promise<void> {
  const path = join(b.dir, file);
  writeFileSync(path, `#!/bin/sh\n[ "$1" = restore ] && { ${onRestore}; }\nexec ${criu} "$@"\n`);
  chmodSync(path, 0o755);
  b.setEnv({ LXD_CRIU: path });
  await b.restart();
}

async function launch(d: TestDaemon, name: string): Promise<void> {
  await d.ok("launch", "busybox", name);
  await startCounting(d, name);
}

describe("live migration", () => {
  test("move is live in pull, push and relay modes: the counter and a shell variable go on", async () => {
    await launch(a, "m1");
    expect(await typeOnConsole(a, "m1", "kept=console-$((6*7)); echo set-$kept\n")).toContain("set-console-42\r\n");
    const kept = await read(a, "m1", "/run/secret");
    let at = await counter(a, "m1");
    const hops: [TestDaemon, TestDaemon, string, string][] = [[a, b, "a:m1", "b:m1"], [b, a, "b:m1", "a:m1"], [a, b, "a:m1", "b:m1"]];
    for (const [[from, to, src, dst], mode] of hops.map((h, i) => [h, ["pull", "push", "relay"][i]] as const)) {
      await clients.ok(clients.lxd("move", src, dst, "--mode", mode), `lxd move ${mode}`);
      expect(await status(from, "m1")).toBe("absent");
      expect(await status(to, "m1")).toBe("Running");
      const now = await counter(to, "m1");
      // Where it was (a boot would start again at 1), and counting on.
      expect(now).toBeGreaterThanOrEqual(at);
      await until(async () => (await counter(to, "m1")) > now, `the counter runs on after the ${mode} move`);
      expect(await read(to, "m1", "/run/secret")).toBe(kept);
      // The console shell, on the target's console, with its variable and job control.
      const shell = await typeOnConsole(to, "m1", `echo $kept; tty; echo ${mode}-$((6*7))\n`);
      expect(shell).toContain(`\r\nconsole-42\r\n/dev/console\r\n${mode}-42\r\n`);
      expect(shell).not.toContain("can't set tty process group");
      at = await counter(to, "m1");
    }
    // In the target daemon's cgroups (each test daemon has its own, named by its tag), not the source's.
    const pid = (await b.api("GET", "/1.0/instances/m1/state")).body.metadata.pid as number;
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n").filter((l) => !l.endsWith(":/"));
    for (const line of cgroups) expect(line).toMatch(new RegExp(`lxd-test-${b.tag}(/|$)`));
    // Debian's lxc: a running instance's move is live by default.
    await clients.ok(clients.lxc("move", "b:m1", "a:m1"), "lxc move");
    expect(await status(a, "m1")).toBe("Running");
    expect(await counter(a, "m1")).toBeGreaterThanOrEqual(at);
    expect(await read(a, "m1", "/run/secret")).toBe(kept);
    await a.ok("delete", "m1", "--force");
  });

  test("copy of a running instance is live: both run, the copy from where the source was", async () => {
    await launch(a, "c1");
    const kept = await read(a, "c1", "/run/secret");
    const at = await counter(a, "c1");
    await clients.ok(clients.lxd("copy", "a:c1", "b:c1"), "lxd copy");
    expect(await status(a, "c1")).toBe("Running");
    expect(await status(b, "c1")).toBe("Running");
    expect(await counter(b, "c1")).toBeGreaterThanOrEqual(at);
    expect(await read(b, "c1", "/run/secret")).toBe(kept);
    await until(async () => (await counter(a, "c1")) > at + 5, "the source counts on");
    await Promise.all([a.ok("delete", "c1", "--force"), b.ok("delete", "c1", "--force")]);
  });

  test("a restore that fails on the target resumes the source and leaves nothing there", async () => {
    // The target's CRIU passes its check but fails every restore.
    await targetCriu("criu-no-restore", `echo "Error (test): restore refused" >&2; exit 1`);
    try {
      await launch(a, "f1");
      const kept = await read(a, "f1", "/run/secret");
      const at = await counter(a, "f1");
      const moved = await clients.lxd("move", "a:f1", "b:f1");
      expect(moved.code).not.toBe(0);
      expect(moved.stderr).toContain("f1");
      expect(await status(a, "f1")).toBe("Running");
      expect(await counter(a, "f1")).toBeGreaterThanOrEqual(at);
      expect(await read(a, "f1", "/run/secret")).toBe(kept);
      expect(await status(b, "f1")).toBe("absent");
      expect(existsSync(join(b.dir, "storage-pools/default/containers/f1"))).toBe(false);
      await a.ok("delete", "f1", "--force");
    } finally {
      b.setEnv({ LXD_CRIU: criu });
      await b.restart();
    }
  });

  test("the target daemon SIGKILLed while it restores: the source resumes, the target keeps nothing", async () => {
    // The target's CRIU says when a restore begins, then takes its time.
    const marker = join(b.dir, "restoring");
    await targetCriu("criu-slow-restore", `touch ${marker}; sleep 5`);
    try {
      await launch(a, "k1");
      const kept = await read(a, "k1", "/run/secret");
      const moving = clients.lxd("move", "a:k1", "b:k1");
      await until(() => existsSync(marker), "the target restores", 60_000);
      await b.kill("SIGKILL");
      expect((await moving).code).not.toBe(0);
      await until(async () => (await status(a, "k1")) === "Running", "the source resumes", 30_000);
      expect(await read(a, "k1", "/run/secret")).toBe(kept);
      // The monitor, which outlives its daemon, finishes the restore; the daemon, started again,
      // finds a live migration it never finished and removes it, processes included.
      await Bun.sleep(6000);
      b.setEnv({ LXD_CRIU: criu });
      await b.start();
      expect(await status(b, "k1")).toBe("absent");
      expect(existsSync(join(b.dir, "storage-pools/default/containers/k1"))).toBe(false);
      const left = await run(["sh", "-c", `grep -l 'lxd-test-${b.tag}/lxd.payload[^/]*/k1' /proc/[0-9]*/cgroup 2>/dev/null || true`]);
      expect(left.stdout.trim()).toBe("");
      await a.ok("delete", "k1", "--force");
    } finally {
      b.setEnv({ LXD_CRIU: criu });
      if (!b.pid) await b.start();
    }
  });
});
