// The fault test: the daemon is SIGKILLed at every named step of every operation
// (src/kernel/faults.ts, LXD_TEST_CRASH_AT), and a container's monitor at chosen ones
// (LXD_TEST_KILL_MONITOR_AT). After the restart each operation is finished or undone: no orphan
// mount, cgroup, veth, dnsmasq entry, volume or row, and no RUNNING instance without its nic.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CRASH_POINTS, type CrashOp } from "../../src/kernel/faults.ts";
import { bridgeLinkName } from "../../src/network/names.ts";
import { run, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
});

afterAll(async () => {
  await d?.stop();
});

const pool = () => join(d.dir, "storage-pools", "default");
const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith(".")).sort() : []);

/** Instance cgroups below this daemon's payload roots (every hierarchy). */
async function instanceCgroups(): Promise<string[]> {
  const tag = createHash("sha256").update(d.dir).digest("hex").slice(0, 8);
  const found = (await run(["find", "/sys/fs/cgroup", "-maxdepth", "9", "-type", "d", "-name", `lxd.payload.${tag}`])).stdout.trim().split("\n").filter(Boolean);
  return [...new Set(found.flatMap((root) => readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)))].sort();
}

/** Everything that must agree after a restart; returns a list of violations. */
async function violations(): Promise<string[]> {
  const out: string[] = [];
  const instances = (await d.api("GET", "/1.0/instances?recursion=2")).body.metadata as any[];
  const names = instances.map((i) => i.name).sort();
  const running = instances.filter((i) => i.status === "Running").map((i) => i.name).sort();
  for (const i of instances) {
    if (i.status !== "Running" && i.status !== "Stopped") out.push(`${i.name} is ${i.status}`);
    if (i.status === "Running") {
      const links = await d.lxd("exec", i.name, "--", "ip", "-o", "link");
      if (!links.stdout.includes("eth0")) out.push(`${i.name} runs without eth0: ${links.stdout}${links.stderr}`);
    }
  }
  const cgroups = await instanceCgroups();
  for (const c of cgroups) if (!running.includes(c)) out.push(`orphan cgroup ${c}`);
  const ports = (await run(["ip", "-o", "link", "show", "master", bridgeLinkName("lxdbr0", d.tag)])).stdout.trim().split("\n").filter(Boolean);
  if (ports.length !== running.length) out.push(`${ports.length} veths on the bridge for ${running.length} running instances`);
  const hostsDir = join(d.dir, "networks", "lxdbr0", "dnsmasq.hosts");
  const hosts = ls(hostsDir).map((f) => readFileSync(join(hostsDir, f), "utf8").trim());
  for (const h of hosts) if (!names.includes(h.split(",")[1])) out.push(`dnsmasq entry for a missing instance: ${h}`);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(`${d.dir}/`));
  for (const m of mounts) out.push(`mount left: ${m}`);
  const volumes = ls(join(pool(), "containers"));
  if (JSON.stringify(volumes) !== JSON.stringify(names)) out.push(`instance volumes ${volumes} for rows ${names}`);
  for (const i of instances) {
    const rows = (i.snapshots ?? []).map((s: any) => s.name).sort();
    const dirs = ls(join(pool(), "containers-snapshots", i.name));
    if (JSON.stringify(rows) !== JSON.stringify(dirs)) out.push(`snapshots of ${i.name}: volumes ${dirs}, rows ${rows}`);
  }
  for (const dir of ls(join(pool(), "containers-snapshots"))) if (!names.includes(dir)) out.push(`snapshots of a missing instance: ${dir}`);
  const custom = ((await d.api("GET", "/1.0/storage-pools/default/volumes/custom")).body.metadata as string[]).map((u) => u.split("/").pop()!).sort();
  const customDirs = ls(join(pool(), "custom"));
  if (JSON.stringify(custom) !== JSON.stringify(customDirs)) out.push(`custom volumes ${customDirs} for rows ${custom}`);
  for (const v of custom) {
    const rows = ((await d.api("GET", `/1.0/storage-pools/default/volumes/custom/${v}/snapshots`)).body.metadata as string[]).map((u) => u.split("/").pop()!).sort();
    const dirs = ls(join(pool(), "custom-snapshots", v));
    if (JSON.stringify(rows) !== JSON.stringify(dirs)) out.push(`snapshots of volume ${v}: ${dirs} for rows ${rows}`);
  }
  for (const dir of ls(join(d.dir, "containers"))) if (!names.includes(dir)) out.push(`runtime dir of a missing instance: ${dir}`);
  return out;
}

/** How each operation is set up, triggered, and cleaned away afterwards. */
const SCENARIOS: Record<CrashOp, { setup: () => Promise<void>; trigger: string[]; reset: () => Promise<void> }> = {
  start: { setup: () => ensure("c1", false), trigger: ["start", "c1"], reset: () => forceStop("c1") },
  stop: { setup: () => ensure("c1", true), trigger: ["stop", "c1", "--timeout", "20"], reset: () => forceStop("c1") },
  snapshot: { setup: () => ensure("c1", true), trigger: ["snapshot", "c1", "s1"], reset: () => dropSnapshots("c1") },
  copy: { setup: () => ensure("c1", false), trigger: ["copy", "c1", "c2"], reset: () => dropInstances("c2") },
  rename: { setup: () => ensure("c1", false), trigger: ["move", "c1", "c9"], reset: async () => { if (await exists("c9")) await d.ok("move", "c9", "c1"); } },
  delete: { setup: () => ensure("c3", false), trigger: ["delete", "c3"], reset: () => dropInstances("c3") },
  "volume-create": { setup: async () => {}, trigger: ["storage", "volume", "create", "default", "v1"], reset: () => dropVolumes("v1") },
  "volume-snapshot": { setup: () => ensureVolume("v2"), trigger: ["storage", "volume", "snapshot", "default", "v2", "vs1"], reset: () => dropVolumes("v2") },
  "volume-rename": { setup: () => ensureVolume("v3"), trigger: ["storage", "volume", "rename", "default", "v3", "v4"], reset: () => dropVolumes("v3", "v4") },
  "volume-delete": { setup: () => ensureVolume("v5"), trigger: ["storage", "volume", "delete", "default", "v5"], reset: () => dropVolumes("v5") },
};

const exists = async (name: string) => (await d.api("GET", `/1.0/instances/${name}`)).status === 200;
async function ensure(name: string, running: boolean) {
  if (!(await exists(name))) await d.ok("init", "busybox", name);
  const status = (await d.api("GET", `/1.0/instances/${name}`)).body.metadata.status;
  if (running && status !== "Running") await d.ok("start", name);
  if (!running && status === "Running") await d.ok("stop", name, "--force");
}
async function forceStop(name: string) {
  if ((await d.api("GET", `/1.0/instances/${name}`)).body.metadata?.status === "Running") await d.ok("stop", name, "--force");
}
async function dropSnapshots(name: string) {
  for (const url of (await d.api("GET", `/1.0/instances/${name}/snapshots`)).body.metadata as string[]) await d.ok("delete", `${name}/${url.split("/").pop()}`);
}
async function dropInstances(...names: string[]) {
  for (const n of names) if (await exists(n)) await d.ok("delete", n, "--force");
}
const volumeExists = async (v: string) => (await d.api("GET", `/1.0/storage-pools/default/volumes/custom/${v}`)).status === 200;
async function ensureVolume(v: string) {
  if (!(await volumeExists(v))) await d.ok("storage", "volume", "create", "default", v);
}
async function dropVolumes(...vs: string[]) {
  for (const v of vs) {
    if (!(await volumeExists(v))) continue;
    for (const url of (await d.api("GET", `/1.0/storage-pools/default/volumes/custom/${v}/snapshots`)).body.metadata as string[]) {
      await d.ok("storage", "volume", "delete", "default", `${v}/${url.split("/").pop()}`);
    }
    await d.ok("storage", "volume", "delete", "default", v);
  }
}

describe("the daemon killed at each step of each operation", () => {
  for (const [op, steps] of Object.entries(CRASH_POINTS) as [CrashOp, readonly string[]][]) {
    for (const step of steps) {
      test(`${op}:${step}`, async () => {
        const s = SCENARIOS[op];
        await s.setup();
        d.setEnv({ LXD_TEST_CRASH_AT: `${op}:${step}` });
        await d.restart();
        const r = await d.lxdWith({ timeoutMs: 60_000 }, ...s.trigger);
        // The client must not hang on a daemon that died under it.
        expect(r.stderr).not.toContain("killed after");
        await d.exited();
        expect(d.pid).toBeUndefined();
        d.setEnv({ LXD_TEST_CRASH_AT: undefined });
        await d.start();
        expect(await violations()).toEqual([]);
        // Whatever was left is usable: the operation can be done (again) and undone.
        await s.reset();
        expect(await violations()).toEqual([]);
      });
    }
  }
});

describe("the container's monitor killed at chosen steps", () => {
  for (const [op, step] of [["start", "after-launch"], ["start", "after-devices"], ["stop", "after-signal"]] as const) {
    test(`${op}:${step}`, async () => {
      const s = SCENARIOS[op];
      await s.setup();
      d.setEnv({ LXD_TEST_KILL_MONITOR_AT: `${op}:${step}` });
      await d.restart();
      await d.lxdWith({ timeoutMs: 60_000 }, ...s.trigger);
      expect(d.pid).toBeDefined();
      // The exit is reported asynchronously: wait until the instance settles as stopped.
      const deadline = Date.now() + 20_000;
      while ((await d.api("GET", "/1.0/instances/c1")).body.metadata.status !== "Stopped" && Date.now() < deadline) await Bun.sleep(100);
      expect((await d.api("GET", "/1.0/instances/c1")).body.metadata.status).toBe("Stopped");
      expect(await violations()).toEqual([]);
      d.setEnv({ LXD_TEST_KILL_MONITOR_AT: undefined });
      await d.restart();
      await d.ok("start", "c1");
      expect(await violations()).toEqual([]);
      await s.reset();
    });
  }
});
