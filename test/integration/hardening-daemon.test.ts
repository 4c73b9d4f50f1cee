// Hardening of the daemon process: a state directory made 0700 (as `mktemp -d` makes it) still
// gives working DNS and lease names; a second `lxd serve` on a live directory exits without
// touching anything; a live daemon brings back the helpers it supervises when they die.
import { chmodSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { importBusybox, lxdBinary, run, TestDaemon } from "../helpers/daemon.ts";
import { nftTableName } from "../../src/network/names.ts";
import { freePort } from "../helpers/net.ts";

let d: TestDaemon;
let gateway = "";
const ips: Record<string, string> = {};

const exec = (name: string, ...cmd: string[]) => d.lxd("exec", name, "--", ...cmd);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last lookup: ${lastLookup})`);
    await Bun.sleep(100);
  }
}

async function ipv4(name: string): Promise<string | undefined> {
  const list = JSON.parse(await d.ok("list", "--format", "json")) as any[];
  return (list.find((i) => i.name === name)?.state?.network?.eth0?.addresses ?? []).find((a: any) => a.family === "inet")?.address;
}

/** `NAME.lxd` resolves through the bridge's dnsmasq from inside c1. */
let lastLookup = "";
const resolves = async (name: string) => {
  const r = await exec("c1", "nslookup", `${name}.lxd`, gateway);
  lastLookup = `${r.code} ${r.stdout} ${r.stderr}`;
  return r.stdout.includes(ips[name]);
};

beforeAll(async () => {
  d = new TestDaemon({});
  chmodSync(d.dir, 0o700);
  await d.start();
  await d.ok("init", "--auto");
  await importBusybox(d);
  await d.ok("launch", "busybox", "c1");
  await d.ok("launch", "busybox", "c2");
  for (const c of ["c1", "c2"]) ips[c] = await waitFor(`${c}'s address`, () => ipv4(c));
  gateway = ((await d.api("GET", "/1.0/networks/lxdbr0")).body.metadata.config["ipv4.address"] as string).split("/")[0];
});

afterAll(async () => {
  await d?.stop();
});

describe("a state directory created 0700", () => {
  test("is set to 0711 at start, and NAME.lxd DNS and lease host names work", async () => {
    expect(statSync(d.dir).mode & 0o777).toBe(0o711);
    expect(await waitFor("c2.lxd to resolve", async () => (await resolves("c2")) || undefined)).toBe(true);
    const leases = (await d.api("GET", "/1.0/networks/lxdbr0/leases")).body.metadata as any[];
    expect(leases.map((l) => [l.hostname, l.address]).sort()).toEqual([["c1", ips.c1], ["c2", ips.c2]].sort());
    // A name added after dnsmasq started is picked up too (dnsmasq, as nobody, re-reads its hosts file).
    await d.ok("launch", "busybox", "c3");
    ips.c3 = await waitFor("c3's address", () => ipv4("c3"));
    expect(await waitFor("c3.lxd to resolve", async () => (await resolves("c3")) || undefined)).toBe(true);
  });
});

describe("a second daemon on a live state directory", () => {
  test("exits with a clear message and disturbs nothing", async () => {
    const dnsmasq = d.dnsmasqPids();
    expect(dnsmasq.length).toBe(1);
    const nftBefore = (await run(["nft", "list", "table", "inet", nftTableName(d.tag)])).stdout;
    const socketIno = statSync(d.socket).ino;
    const second = await run([lxdBinary(), "serve", "--debug"], { env: { LXD_DIR: d.dir }, timeoutMs: 30_000 });
    expect(second.code).not.toBe(0);
    // A startup failure is one sentence, not a stack trace (stray errors are only logged, never this).
    expect(second.stderr).toBe(`Error: Another lxd daemon is already running on ${d.dir} (it holds ${join(d.dir, ".lock")})\n`);
    expect(d.dnsmasqPids()).toEqual(dnsmasq);
    expect((await run(["nft", "list", "table", "inet", nftTableName(d.tag)])).stdout).toBe(nftBefore);
    expect(statSync(d.socket).ino).toBe(socketIno);
    expect(await resolves("c2")).toBe(true);
    // DHCP still answers: a renewal from c2 gets its address again.
    expect((await exec("c2", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-s", "/bin/true")).code).toBe(0);
    expect((await d.api("GET", "/1.0")).status).toBe(200);
  });

  test("only the daemon holds the lock: monitors and helpers do not inherit it, so a restart takes it again", async () => {
    const lock = join(d.dir, ".lock");
    const holders = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((pid) => {
      try {
        return readdirSync(`/proc/${pid}/fd`).some((fd) => {
          try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === lock; } catch { return false; }
        });
      } catch {
        return false;
      }
    }).map(Number);
    expect(holders).toEqual([d.pid!]);
    await d.restart();
    expect((await exec("c1", "true")).code).toBe(0);
  });
});

describe("supervised helpers come back while the daemon runs", () => {
  test("a killed dnsmasq is restarted and serves names again", async () => {
    const [old] = d.dnsmasqPids();
    process.kill(old, "SIGKILL");
    const fresh = await waitFor("a new dnsmasq", () => d.dnsmasqPids().find((p) => p !== old));
    expect(fresh).not.toBe(old);
    expect(await waitFor("c2.lxd to resolve again", async () => (await resolves("c2")) || undefined)).toBe(true);
  });

  test("a killed proxy forwarder is restarted", async () => {
    const port = freePort();
    await d.ok("config", "device", "add", "c1", "web", "proxy", `listen=tcp:127.0.0.1:${port}`, "connect=tcp:127.0.0.1:80");
    const pidFile = join(d.dir, "containers", "c1", "proxy.web.pid");
    const old = Number(readFileSync(pidFile, "utf8").trim());
    process.kill(old, "SIGKILL");
    const fresh = await waitFor("a new forwarder", () => {
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      return pid && pid !== old && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("proxy") ? pid : undefined;
    });
    expect(fresh).not.toBe(old);
    await d.ok("config", "device", "remove", "c1", "web");
  });
});
