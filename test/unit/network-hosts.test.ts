// The DHCP hosts directory (dnsmasq --dhcp-hostsdir): one file per instance nic, written whole,
// and what each write tells the caller about reloading dnsmasq.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dnsmasqArgs, hostEntryName, hostsDir, readHostLines, removeHostEntries, syncHostEntries, writeHostEntry } from "../../src/network/dnsmasq.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lxd-hosts-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("dnsmasq hosts directory", () => {
  test("dnsmasq reads the directory (inotify picks up new files)", () => {
    expect(dnsmasqArgs({ dir, link: "br0", domain: "lxd", leaseTime: "1h" })).toContain(`--dhcp-hostsdir=${hostsDir(dir)}`);
  });

  test("a hosts file of an older daemon gives way to the directory", async () => {
    writeFileSync(hostsDir(dir), "00:16:3e:00:00:01,old\n");
    expect(await writeHostEntry(dir, hostEntryName("c1", "eth0"), "00:16:3e:00:00:01,c1")).toBe("added");
    expect(readdirSync(hostsDir(dir))).toEqual(["c1.eth0"]);
  });

  test("a new entry is added, the same one is left alone, a different one is a change", async () => {
    expect(await writeHostEntry(dir, hostEntryName("c2", "eth0"), "00:16:3e:00:00:02,c2")).toBe("added");
    expect(await writeHostEntry(dir, hostEntryName("c2", "eth0"), "00:16:3e:00:00:02,c2")).toBe("same");
    expect(await writeHostEntry(dir, hostEntryName("c2", "eth0"), "00:16:3e:00:00:02,c2,10.0.0.5")).toBe("changed");
    // No temporary file is left where dnsmasq reads.
    expect(readdirSync(hostsDir(dir)).sort()).toEqual(["c1.eth0", "c2.eth0"]);
    expect((await readHostLines(dir)).sort()).toEqual(["00:16:3e:00:00:01,c1", "00:16:3e:00:00:02,c2,10.0.0.5"]);
  });

  test("device names are encoded into one file name", () => {
    expect(hostEntryName("c1", "a/b")).toBe("c1.a%2Fb");
  });

  test("removing entries says whether one was there", async () => {
    expect(await removeHostEntries(dir, ["c1.eth0", "nope.eth0"])).toBe(true);
    expect(await removeHostEntries(dir, ["c1.eth0"])).toBe(false);
  });

  test("a full sync writes what differs and removes the rest", async () => {
    const entries = new Map([["c3.eth0", "00:16:3e:00:00:03,c3"], ["c2.eth0", "00:16:3e:00:00:02,c2,10.0.0.5"]]);
    writeFileSync(join(hostsDir(dir), "gone.eth0"), "00:16:3e:00:00:09,gone\n");
    expect(await syncHostEntries(dir, entries)).toBe(true);
    expect(readdirSync(hostsDir(dir)).sort()).toEqual(["c2.eth0", "c3.eth0"]);
    expect(await syncHostEntries(dir, entries)).toBe(false);
  });
});
