// End to end through the CLI: a real daemon on a temporary LXD_DIR, a real busybox image,
// real unprivileged containers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { memoryLimit } from "../helpers/cgroup.ts";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
});

afterAll(async () => {
  await d?.stop();
});

const initPid = async (name = "c1") => (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.pid as number;

const ok = (...args: string[]) => d.ok(...args);

describe("container lifecycle through the CLI", () => {
  test("launch runs init as PID 1 in its own namespaces", async () => {
    await ok("launch", "busybox", "c1");
    const list = JSON.parse(await ok("list", "--format", "json"));
    expect(list.map((i: { name: string; status: string }) => [i.name, i.status])).toEqual([["c1", "Running"]]);

    const out = await ok("exec", "c1", "--", "sh", "-c", "echo $$; id -u; hostname; cat /proc/1/cmdline | tr '\\0' ' '");
    const [pid, uid, hostname, init] = out.trim().split("\n");
    expect(Number(pid)).toBeLessThan(100);
    expect(uid).toBe("0");
    expect(hostname).toBe("c1");
    expect(init).toContain("init");
  });

  test("container root is an unprivileged host uid", async () => {
    const pid = await initPid();
    expect(pid).toBeGreaterThan(1);
    const uidLine = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("Uid:"))!;
    expect(Number(uidLine.split(/\s+/)[1])).toBeGreaterThanOrEqual(100000);
    // Init runs with container=lxc in its environment and inherits no fd beyond 0-2.
    expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")).toContain("container=lxc");
  });

  test("init starts in the container's own cgroup in every hierarchy; an exec joins them all", async () => {
    const groups = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
    const pid = await initPid();
    // Every line but blkio (the daemon makes no blkio cgroup) names c1's own cgroup.
    const own = groups(pid).filter((l) => !/^\d+:blkio:/.test(l));
    expect(own.length).toBeGreaterThan(0);
    for (const line of own) expect(line).toMatch(/\/c1$/);
    // Seen from inside (the cgroup namespace's root is init's cgroup), an exec is at the root of
    // every hierarchy: in init's cgroups, pids included.
    const inside = (await ok("exec", "c1", "--", "cat", "/proc/self/cgroup")).trim().split("\n");
    expect(inside.length).toBe(groups(pid).length);
    for (const line of inside) expect(line).toMatch(/:\/$/);
  });

  test("a container with limits.processes=1 still starts (init is then moved into its cgroups)", async () => {
    await ok("launch", "busybox", "one", "-c", "limits.processes=1");
    expect((await d.api("GET", "/1.0/instances/one/state")).body.metadata.status).toBe("Running");
    await ok("delete", "one", "--force");
  });

  test("exit codes propagate", async () => {
    const code = async (...cmd: string[]) => (await d.lxd("exec", "c1", "--", ...cmd)).code;
    expect(await code("true")).toBe(0);
    expect(await code("false")).toBe(1);
    expect(await code("sh", "-c", "exit 3")).toBe(3);
    expect(await code("/etc/passwd")).toBe(126);
    expect(await code("no-such-command")).toBe(127);
    expect(await code("sh", "-c", "kill -9 $$")).toBe(137);
  });

  test("exec passes env, cwd and user", async () => {
    const out = await ok("exec", "c1", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000", "--", "sh", "-c", "echo $FOO; pwd; id -u");
    expect(out.trim().split("\n")).toEqual(["bar", "/tmp", "1000"]);
  });

  test("-t gives a terminal from the container's own devpts", async () => {
    expect((await ok("exec", "-t", "c1", "--", "tty")).trim()).toMatch(/^\/dev\/pts\/\d+$/);
    // Without a local terminal the client reports LXD's default size.
    expect((await ok("exec", "-t", "c1", "--", "stty", "size")).trim()).toBe("24 80");
  });

  test("stdin is forwarded and its end closes the command's stdin", async () => {
    const r = await d.lxdWith({ stdin: "line one\nline two\n" }, "exec", "c1", "--", "cat");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("line one\nline two\n");
    const wc = await d.lxdWith({ stdin: "x".repeat(100_000) }, "exec", "c1", "--", "wc", "-c");
    expect(wc.stdout.trim()).toBe("100000");
  });

  test("a background child holding stdout does not hang exec", async () => {
    const started = Date.now();
    const out = await ok("exec", "c1", "--", "sh", "-c", "sleep 30 & echo done");
    expect(out.trim()).toBe("done");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("files written inside stay root-owned on disk, image untouched", async () => {
    await ok("exec", "c1", "--", "sh", "-c", "echo hello > /root/file");
    const upper = `${d.dir}/storage-pools/default/containers/c1/upper/root/file`;
    const st = statSync(upper);
    expect([st.uid, st.gid]).toEqual([0, 0]);
    expect(readFileSync(upper, "utf8")).toBe("hello\n");
  });

  test("config set applies limits live and persists", async () => {
    await ok("config", "set", "c1", "limits.memory", "128MiB");
    expect((await ok("config", "get", "c1", "limits.memory")).trim()).toBe("128MiB");
    expect(memoryLimit(await initPid())).toBe(128 * 1024 * 1024);
    await ok("config", "unset", "c1", "limits.memory");
    expect((await ok("config", "get", "c1", "limits.memory")).trim()).toBe("");
  });

  test("bad config keys are refused and change nothing", async () => {
    const r = await d.lxd("config", "set", "c1", "no.such.key", "1");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no\.such\.key/);
    const r2 = await d.lxd("config", "set", "c1", "limits.processes", "lots");
    expect(r2.code).not.toBe(0);
    expect((await ok("config", "get", "c1", "limits.processes")).trim()).toBe("");
  });

  test("stop, start, restart", async () => {
    await ok("stop", "c1", "--force");
    expect(JSON.parse(await ok("list", "--format", "json"))[0].status).toBe("Stopped");
    await ok("start", "c1");
    expect((await ok("exec", "c1", "--", "cat", "/root/file")).trim()).toBe("hello");
    await ok("restart", "c1", "--force");
    expect(JSON.parse(await ok("list", "--format", "json"))[0].status).toBe("Running");
    await ok("stop", "c1", "--timeout", "10");
    expect(JSON.parse(await ok("list", "--format", "json"))[0].status).toBe("Stopped");
  });

  test("delete refuses a running container without --force", async () => {
    await ok("start", "c1");
    const r = await d.lxd("delete", "c1");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/running/i);
    await ok("delete", "c1", "--force");
    expect(JSON.parse(await ok("list", "--format", "json"))).toEqual([]);
  });

  test("ephemeral containers vanish when stopped", async () => {
    await ok("launch", "busybox", "eph", "--ephemeral");
    await ok("stop", "eph", "--force");
    expect(JSON.parse(await ok("list", "--format", "json"))).toEqual([]);
  });

  test("init creates without starting; info shows the instance", async () => {
    await ok("init", "busybox", "c2");
    const info = await ok("info", "c2");
    expect(info).toMatch(/Name:\s+c2/);
    expect(info).toMatch(/Status:\s+STOPPED/i);
    await ok("delete", "c2");
  });
});
