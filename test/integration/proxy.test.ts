// Proxy devices end to end: a real forwarder (lxd-helper proxy) per device, host clients reaching
// a busybox httpd inside the container over TCP and a unix socket, UDP relayed the other way
// (bind=instance) to the bridge's dnsmasq, hot-plug and unplug, and a daemon restart.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
const port = 20000 + Math.floor(Math.random() * 20000);
const sock = () => `/tmp/lxdtest-${d.tag}.sock`;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await d.ok("launch", "busybox", "p1");
  await d.ok("exec", "p1", "--", "sh", "-c", "mkdir -p /www && echo hello-from-p1 > /www/index.html && httpd -p 127.0.0.1:80 -h /www");
});

afterAll(async () => {
  await d?.stop();
});

const get = (url: string, unix?: string) => fetch(url, { unix, signal: AbortSignal.timeout(5000) }).then((r) => r.text());

/** Pids of this daemon's forwarders. */
async function forwarders(): Promise<number[]> {
  const r = Bun.spawnSync(["pgrep", "-f", `proxy --pidfd .*${d.dir}`]);
  return r.stdout.toString().split("\n").filter(Boolean).map(Number);
}

describe("proxy devices", () => {
  test("tcp: a host client reaches the container's loopback service; removing the device closes the listener", async () => {
    await d.ok("config", "device", "add", "p1", "web", "proxy", `listen=tcp:127.0.0.1:${port}`, "connect=tcp:127.0.0.1:80");
    expect(await get(`http://127.0.0.1:${port}/`)).toBe("hello-from-p1\n");
    // Several clients at once.
    const many = await Promise.all(Array.from({ length: 5 }, () => get(`http://127.0.0.1:${port}/`)));
    expect(many.every((t) => t === "hello-from-p1\n")).toBe(true);
    expect((await forwarders()).length).toBe(1);
    await d.ok("config", "device", "remove", "p1", "web");
    await expect(get(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    expect(await forwarders()).toEqual([]);
  });

  test("unix socket on the host to tcp in the container", async () => {
    await d.ok("config", "device", "add", "p1", "sock", "proxy", `listen=unix:${sock()}`, "connect=tcp:127.0.0.1:80", "mode=0600");
    expect(await get("http://localhost/", sock())).toBe("hello-from-p1\n");
    expect(Bun.spawnSync(["stat", "-c", "%a", sock()]).stdout.toString().trim()).toBe("600");
    await d.ok("config", "device", "remove", "p1", "sock");
    expect(existsSync(sock())).toBe(false);
  });

  test("udp with bind=instance: the container's 127.0.0.1:53 reaches the bridge's dnsmasq", async () => {
    const gateway = (await d.api("GET", "/1.0/networks/lxdbr0")).body.metadata.config["ipv4.address"].split("/")[0];
    await d.ok("config", "device", "add", "p1", "dns", "proxy", "bind=instance", "listen=udp:127.0.0.1:53", `connect=udp:${gateway}:53`);
    const r = await d.lxd("exec", "p1", "--", "nslookup", "p1.lxd", "127.0.0.1");
    expect(r.stdout).toContain("Name:");
    expect(r.stdout).toContain("p1.lxd");
    await d.ok("config", "device", "remove", "p1", "dns");
  });

  test("bad input is refused and changes nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["listen=tcp:127.0.0.1", "connect=tcp:127.0.0.1:80"], /missing port/],
      [["listen=tcp:999.0.0.1:80", "connect=tcp:127.0.0.1:80"], /not an IP address/],
      [["listen=tcp:127.0.0.1:70000", "connect=tcp:127.0.0.1:80"], /invalid port/],
      [["listen=tcp:127.0.0.1:8080-8090", "connect=tcp:127.0.0.1:80"], /port ranges/],
      [["listen=udp:127.0.0.1:8080", "connect=tcp:127.0.0.1:80"], /both ends/],
      [["listen=sctp:127.0.0.1:8080", "connect=tcp:127.0.0.1:80"], /Invalid proxy address/],
      [["listen=unix:relative.sock", "connect=tcp:127.0.0.1:80"], /absolute path/],
      [["listen=tcp:127.0.0.1:80", "connect=tcp:127.0.0.1:80", "nat=true"], /nat=true is not supported/],
    ];
    for (const [args, message] of cases) {
      const r = await d.lxd("config", "device", "add", "p1", "bad", "proxy", ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    // A port someone else holds: the forwarder's own error comes back.
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await d.lxd("config", "device", "add", "p1", "bad", "proxy", `listen=tcp:127.0.0.1:${holder.port}`, "connect=tcp:127.0.0.1:80");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("Address already in use");
    } finally {
      holder.stop(true);
    }
    expect(await d.ok("config", "device", "list", "p1")).toBe("");
    expect(await forwarders()).toEqual([]);
  });

  test("a proxy in the instance config starts with the container and comes back after a daemon restart", async () => {
    await d.ok("config", "device", "add", "p1", "web", "proxy", `listen=tcp:127.0.0.1:${port}`, "connect=tcp:127.0.0.1:80");
    const [first] = await forwarders();
    await d.restart();
    // The forwarder outlives the daemon, like LXD's forkproxy.
    expect(await forwarders()).toEqual([first]);
    expect(await get(`http://127.0.0.1:${port}/`)).toBe("hello-from-p1\n");
    // A forwarder that died while the daemon was down is started again by the next daemon.
    await d.kill("SIGKILL");
    process.kill(first, "SIGKILL");
    await d.start();
    const [second] = await forwarders();
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
    await d.ok("exec", "p1", "--", "sh", "-c", "httpd -p 127.0.0.1:80 -h /www 2>/dev/null; true");
    expect(await get(`http://127.0.0.1:${port}/`)).toBe("hello-from-p1\n");
    // Stopping the container ends its forwarder; starting it brings a new one.
    await d.ok("stop", "p1", "--force");
    expect(await forwarders()).toEqual([]);
    await d.ok("start", "p1");
    expect((await forwarders()).length).toBe(1);
  });
});
