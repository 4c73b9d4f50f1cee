// The daemon is not the containers' parent: killing it (SIGKILL) leaves them running under their
// monitors, and a restarted daemon finds them again. State survives restarts.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
});

afterAll(async () => {
  await d?.stop();
});

const status = async (name: string) => (await d.api("GET", `/1.0/instances/${name}`)).body.metadata?.status;

test("a daemon killed with SIGKILL finds its running container after restart", async () => {
  expect((await d.lxd("launch", "busybox", "k1")).code).toBe(0);
  const pid = (await d.api("GET", "/1.0/instances/k1/state")).body.metadata.pid;
  await d.kill("SIGKILL");
  // The container keeps running without the daemon.
  expect(() => process.kill(pid, 0)).not.toThrow();
  await d.restart();
  expect(await status("k1")).toBe("Running");
  expect((await d.api("GET", "/1.0/instances/k1/state")).body.metadata.pid).toBe(pid);
  const r = await d.lxd("exec", "k1", "--", "hostname");
  expect(r.stdout.trim()).toBe("k1");
  // And reaps it when it exits.
  expect((await d.lxd("stop", "k1", "--force")).code).toBe(0);
  expect(await status("k1")).toBe("Stopped");
});

test("a container that exits while the daemon is down shows Stopped after restart", async () => {
  expect((await d.lxd("start", "k1")).code).toBe(0);
  const pid = (await d.api("GET", "/1.0/instances/k1/state")).body.metadata.pid;
  await d.kill("SIGKILL");
  process.kill(pid, "SIGKILL");
  await Bun.sleep(200);
  await d.restart();
  expect(await status("k1")).toBe("Stopped");
});

/** The freezer control file of a process's cgroup: freezer.state (cgroup v1) or cgroup.freeze (v2). */
function freezerOf(pid: number): { file: string; frozen: string; thawed: string } {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n").map((l) => l.split(":"));
  const v1 = lines.find(([, controllers]) => controllers.split(",").includes("freezer"));
  if (v1) return { file: `/sys/fs/cgroup/freezer${v1[2]}/freezer.state`, frozen: "FROZEN", thawed: "THAWED" };
  return { file: `/sys/fs/cgroup${lines.find(([id]) => id === "0")![2]}/cgroup.freeze`, frozen: "1", thawed: "0" };
}

test("over a restart a paused container stays frozen and one a killed daemon froze (mid-snapshot) is thawed", async () => {
  expect((await d.lxd("start", "k1")).code).toBe(0);
  expect((await d.lxd("launch", "busybox", "k2")).code).toBe(0);
  const setState = async (name: string, action: string) =>
    expect((await d.wait(await d.api("PUT", `/1.0/instances/${name}/state`, { action }))).body.metadata.status).toBe("Success");
  await setState("k2", "freeze");
  // What a snapshot of a running container does first; the daemon dies before it thaws k1.
  const freezer = freezerOf((await d.api("GET", "/1.0/instances/k1/state")).body.metadata.pid);
  writeFileSync(freezer.file, freezer.frozen);
  await d.kill("SIGKILL");
  await d.restart();
  expect(await status("k1")).toBe("Running");
  expect(readFileSync(freezer.file, "utf8").trim()).toBe(freezer.thawed);
  expect((await d.lxd("exec", "k1", "--", "true")).code).toBe(0);
  expect(await status("k2")).toBe("Frozen");
  await setState("k2", "unfreeze");
  expect(await status("k2")).toBe("Running");
  expect((await d.lxd("delete", "--force", "k2")).code).toBe(0);
});

test("restart keeps instances, images, profiles and server config", async () => {
  expect((await d.lxd("config", "set", "k1", "user.marker", "kept")).code).toBe(0);
  expect((await d.lxd("config", "set", "core.https_address", "127.0.0.1:18443")).code).toBe(0);
  await d.restart();
  expect((await d.lxd("config", "get", "k1", "user.marker")).stdout.trim()).toBe("kept");
  expect((await d.lxd("config", "get", "core.https_address")).stdout.trim()).toBe("127.0.0.1:18443");
  const images = (await d.api("GET", "/1.0/images/aliases/busybox")).body.metadata;
  expect(images.name).toBe("busybox");
  const profile = (await d.api("GET", "/1.0/profiles/default")).body.metadata;
  expect(profile.devices.root).toMatchObject({ type: "disk", path: "/", pool: "default" });
  expect((await d.lxd("delete", "k1", "--force")).code).toBe(0);
});

test("a daemon killed in the middle of creating instances leaves no orphan volume", async () => {
  const fp = (await d.api("GET", "/1.0/images/aliases/busybox")).body.metadata.target;
  const posts = ["m1", "m2", "m3"].map((name) =>
    d.api("POST", "/1.0/instances", { name, source: { type: "image", fingerprint: fp }, start: true }).catch(() => undefined));
  await Bun.sleep(5);
  await d.kill("SIGKILL");
  await Promise.all(posts);
  await d.restart();
  const names: string[] = (await d.api("GET", "/1.0/instances")).body.metadata.map((u: string) => u.split("/").pop());
  // Every volume on disk belongs to an instance the database knows, and every such instance works.
  const volumes = readdirSync(`${d.dir}/storage-pools/default/containers`);
  for (const v of volumes) expect(names).toContain(v);
  for (const name of names) {
    if ((await d.api("GET", `/1.0/instances/${name}`)).body.metadata.status !== "Running") {
      expect((await d.lxd("start", name)).code).toBe(0);
    }
    expect((await d.lxd("exec", name, "--", "true")).code).toBe(0);
    expect((await d.lxd("delete", name, "--force")).code).toBe(0);
  }
});
