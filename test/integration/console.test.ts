// Console, logs and `info` end to end: the busybox shell on /dev/console answers through our CLI,
// LXD's `lxc console` and the REST API; the monitor's buffered output (--show-log, GET/DELETE)
// outlives the run; `lxd info` and `lxc info` show the live state read from the host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { run, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { until } from "../helpers/until.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await d.ok("launch", "busybox", "c1");
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);
const consoleWith = (stdin: string, ...args: string[]) => d.lxdWith({ stdin, timeoutMs: 30_000 }, "console", ...args);

describe("console", () => {
  test("init's stdio is /dev/console, a pty owned by container root, and nobody's controlling tty", async () => {
    const out = await ok("exec", "c1", "--", "sh", "-c",
      "for f in 0 1 2; do readlink /proc/1/fd/$f; done; stat -c '%U %t' /dev/console; cut -d' ' -f6,7 /proc/1/stat; grep -c ' /dev/console ' /proc/self/mountinfo");
    const [f0, f1, f2, owner, stat, mounts] = out.trim().split("\n");
    expect([f0, f1, f2]).toEqual(["/dev/console", "/dev/console", "/dev/console"]);
    expect(owner).toBe("root 88"); // major 136 (0x88): a Unix98 pty
    // Field 6 is the session (init leads its own: 1), field 7 the controlling tty (none: 0).
    expect(stat).toBe("1 0");
    expect(mounts).toBe("1");
  });

  test("piped input reaches the shell on the console and its output comes back", async () => {
    await until(async () => (await ok("exec", "c1", "--", "ps")).includes("-/bin/sh"));
    const r = await consoleWith("echo out-$((6*7)); tty; stty size\n", "c1");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("out-42\r\n/dev/console\r\n24 80\r\n");
  });

  test("ctrl-a q detaches: nothing typed after it is sent", async () => {
    const r = await consoleWith("echo before-$((1+1))\n\x01qecho after-$((2+2))\n", "c1");
    expect(r.code, r.stderr).toBe(0);
    // The shell may echo after the client has detached: wait for it, then check nothing followed.
    await until(async () => (await ok("console", "c1", "--show-log")).includes("before-2"), "before-2 in the console log");
    expect(await ok("console", "c1", "--show-log")).not.toContain("after-4");
  });

  test("--show-log and GET return the buffered output; DELETE clears it; a stopped container keeps its last run's", async () => {
    expect(await ok("console", "c1", "--show-log")).toContain("out-42");
    const get = await d.api("GET", "/1.0/instances/c1/console");
    expect(get.status).toBe(200);
    expect(get.body).toContain("out-42");

    expect((await d.api("DELETE", "/1.0/instances/c1/console")).status).toBe(200);
    expect(await ok("console", "c1", "--show-log")).toBe("");
    await consoleWith("echo again-$((3*3))\n", "c1");
    const after = await ok("console", "c1", "--show-log");
    expect(after).toContain("again-9");
    expect(after).not.toContain("out-42");

    await ok("stop", "c1", "--force");
    expect(await ok("console", "c1", "--show-log")).toContain("again-9");
    // Attaching needs a running instance.
    const r = await consoleWith("", "c1");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: Instance is not running\n");
    await ok("start", "c1");
  });

  test("bad requests get clear errors", async () => {
    const vga = await d.api("POST", "/1.0/instances/c1/console", { type: "vga", width: 80, height: 24 });
    expect(vga.status).toBe(400);
    expect(vga.body.error).toContain('Console type "vga" is not supported by containers');
    expect((await d.api("POST", "/1.0/instances/c1/console", { width: -1 })).status).toBe(400);
    const missing = await d.lxd("console", "nope", "--show-log");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: .*not found/i);
    const badType = await d.lxd("console", "c1", "--type", "vga");
    expect(badType.stderr).toBe('Error: Unsupported console type "vga" (containers only have "console")\n');
    expect((await d.api("GET", "/1.0/instances/c1/logs/secret.txt")).status).toBe(404);
    // The console still works after all that.
    await until(async () => (await ok("exec", "c1", "--", "ps")).includes("-/bin/sh"));
    expect((await consoleWith("echo still-$((5+5))\n", "c1")).stdout).toContain("still-10");
  });

  test("API: the websocket pair carries keystrokes, output and window-resize; closing control ends the operation", async () => {
    const r = await d.api("POST", "/1.0/instances/c1/console", { width: 100, height: 30, type: "console" });
    expect(r.status).toBe(202);
    const op = r.body.metadata;
    expect(op.class).toBe("websocket");
    expect(Object.keys(op.metadata.fds).sort()).toEqual(["0", "control"]);
    const open = async (secret: string) => {
      const ws = new WebSocket(`ws+unix://${d.socket}:${r.body.operation}/websocket?secret=${secret}`);
      ws.binaryType = "arraybuffer";
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      return ws;
    };
    const control = await open(op.metadata.fds.control);
    const data = await open(op.metadata.fds["0"]);
    let out = "";
    data.onmessage = (ev) => (out += typeof ev.data === "string" ? "" : new TextDecoder().decode(ev.data));
    // The size asked for in the POST, then a resize as lxc sends it (strings).
    data.send(new TextEncoder().encode("stty size\r"));
    await until(async () => out.includes("30 100"));
    control.send(JSON.stringify({ command: "window-resize", args: { width: "132", height: "43" } }));
    await Bun.sleep(100);
    data.send(new TextEncoder().encode("stty size\r"));
    await until(async () => out.includes("43 132"));
    control.close();
    const done = await d.wait(r);
    expect(done.body.metadata.status).toBe("Success");
  });

  test("lxc console: attach, type, detach with ctrl-a q; --show-log", async () => {
    // lxc puts its terminal in raw mode: give it one with script(1); input arrives paced like typing
    // (lxc sees ctrl-a and q only in separate reads).
    const env = { LXD_DIR: d.dir, HOME: d.clientHome, LXD_CONF: join(d.clientHome, ".config/lxc") };
    const r = await run(["sh", "-c", "(sleep 1; printf 'echo lxc-$((20+1))\\r'; sleep 1; printf '\\001'; sleep 0.3; printf q; sleep 1) | script -qec 'lxc console c1' /dev/null"], { env, timeoutMs: 30_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("To detach from the console, press: <ctrl>+a q");
    expect(r.stdout).toContain("lxc-21");
    const log = await d.lxc("console", "c1", "--show-log");
    expect(log.code, log.stderr).toBe(0);
    expect(log.stdout).toContain("lxc-21");
    // The console operation ended with the detach.
    await until(async () => {
      const ops = (await d.api("GET", "/1.0/operations?recursion=1")).body.metadata;
      return !(ops.running ?? []).some((o: { description: string }) => o.description === "Showing console");
    });
  });
});

describe("info", () => {
  test("lxd info shows processes, CPU, memory and network counters read from the host", async () => {
    await ok("exec", "c1", "--", "sh", "-c", "head -c 3000000 /dev/zero > /dev/null; ping -c 1 -W 1 127.0.0.1 >/dev/null; true");
    const state = (await d.api("GET", "/1.0/instances/c1/state")).body.metadata;
    expect(state.processes).toBeGreaterThanOrEqual(2); // init and the console shell at least
    expect(state.cpu.usage).toBeGreaterThan(0);
    expect(state.memory.usage).toBeGreaterThan(0);
    expect(state.disk.root.usage).toBeGreaterThan(0); // what the container wrote over its image
    expect(state.memory.usage_peak).toBeGreaterThanOrEqual(state.memory.usage);
    expect(state.memory.swap_usage).toBeGreaterThanOrEqual(0);
    expect(state.memory.swap_usage_peak).toBeGreaterThanOrEqual(0);
    expect(state.network.lo.counters.packets_received).toBeGreaterThan(0);
    expect(state.network.eth0.host_name).not.toBe("");
    expect(state.network.eth0.hwaddr).toMatch(/^00:16:3e:/);

    const info = await ok("info", "c1");
    expect(info).toMatch(/^Name: c1\nStatus: RUNNING\nType: container\nArchitecture: \S+\nPID: \d+\n/);
    expect(info).toContain(`\nResources:\n  Processes: ${state.processes}\n`);
    expect(info).toMatch(/\n {2}Memory usage:\n {4}Memory \(current\): [\d.]+[KM]iB\n {4}Memory \(peak\): /);
    expect(info).toMatch(/\n {4}eth0:\n {6}Type: broadcast\n {6}State: UP\n {6}Host interface: \w+\n {6}MAC address: 00:16:3e:/);
    expect(info).toMatch(/\n {4}lo:\n {6}Type: loopback\n {6}State: UP\n {6}MTU: 65536\n/);
    expect(info).toMatch(/\n {2}Disk usage:\n {4}root: [\d.]+k?B\n/);
  });

  test("lxd top shows the running instances' use, with rates from the second frame on", async () => {
    const out = await ok("top", "--interval", "0.5", "--count", "2");
    const frames = out.split("\n\n");
    expect(frames.length).toBe(2);
    expect(frames[0]).toMatch(/NAME +CPU% +MEMORY +SWAP +PROCESSES +RX\/s +TX\/s/);
    expect(frames[0]).toMatch(/\bc1 +- +[\d.]+[KM]iB +[\d.]+K?i?B +\d+ +- +- /);
    expect(frames[1]).toMatch(/\bc1 +\d+\.\d +[\d.]+[KM]iB +[\d.]+K?i?B +\d+ +[\d.]+k?B +[\d.]+k?B /);
    const bad = await d.lxd("top", "--interval", "0");
    expect(bad.stderr).toBe('Error: Invalid --interval "0" (seconds, at least 0.1)\n');
  });

  test("lxd info --show-log prints the monitor's log", async () => {
    const out = await ok("info", "c1", "--show-log");
    expect(out).toMatch(/\nLog:\n\n.*starting c1\n.*init \d+ running\n/s);
    expect((await d.api("GET", "/1.0/instances/c1/logs")).body.metadata).toEqual(
      ["/1.0/instances/c1/logs/lxc.log", "/1.0/instances/c1/logs/console.log"]);
  });

  test("lxc info works against this daemon, with --show-log", async () => {
    const r = await d.lxc("info", "c1", "--show-log");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Name: c1\nStatus: RUNNING\nType: container\n/);
    expect(r.stdout).toContain("Processes: ");
    expect(r.stdout).toContain("Memory (current): ");
    expect(r.stdout).toMatch(/Host interface: \w+\n {6}MAC address: 00:16:3e:/);
    expect(r.stdout).toMatch(/Log:\n\n.*starting c1/s);
    await ok("snapshot", "c1", "s1");
    expect((await d.lxc("info", "c1")).stdout).toMatch(/Snapshots:\n.*\n.*\| s1 /s);
  });
});
