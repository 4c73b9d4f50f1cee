// Networks per project (`features.networks`) through LXD's `lxc`, our CLI and REST: a project's
// bridge named like default's is its own (own host interface, own subnet), nics of its instances
// use it, `limits.networks` is enforced with LXD's message; without the feature default's are used.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { linkExists } from "../../src/network/bridge.ts";
import { bridgeLinkName, projectBridgeLinkName } from "../../src/network/names.ts";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  // p1 uses default's images and profiles (whose eth0 says network=lxdbr0) but has its own networks.
  await d.lxcOk("project", "create", "p1", "-c", "features.images=false", "-c", "features.profiles=false", "-c", "features.networks=true", "-c", "limits.networks=1");
});

afterAll(async () => {
  await d?.stop();
});

const ok = (...args: string[]) => d.ok(...args);
type Net = { name: string; managed: boolean; project: string; config: Record<string, string>; used_by: string[] };
const managed = async (project: string) =>
  ((await d.api("GET", `/1.0/networks?recursion=1&project=${project}`)).body.metadata as Net[]).filter((n) => n.managed).map((n) => `${n.project}/${n.name}`);

async function ipv4(project: string, name: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const net = (await d.api("GET", `/1.0/instances/${name}/state?project=${project}`)).body.metadata?.network ?? {};
    const addr = (net.eth0?.addresses ?? []).find((a: { family: string }) => a.family === "inet");
    if (addr) return addr.address;
    if (Date.now() > deadline) throw new Error(`${project}/${name} got no IPv4 address: ${JSON.stringify(net)}`);
    await Bun.sleep(100);
  }
}

test("a project's lxdbr0 is its own: own host bridge and subnet; its instances' nics use it", async () => {
  expect(await managed("p1")).toEqual([]);
  // Without a network of its own, p1's instances cannot use default's lxdbr0.
  expect((await d.lxc("--project", "p1", "launch", "busybox", "c0")).stderr).toContain('Network "lxdbr0" not found');
  await d.lxc("--project", "p1", "delete", "-f", "c0");
  await d.lxcOk("--project", "p1", "network", "create", "lxdbr0", "ipv4.address=auto", "ipv6.address=none");
  expect(await managed("p1")).toEqual(["p1/lxdbr0"]);
  expect(await managed("default")).toEqual(["default/lxdbr0"]);
  const mine = (await d.api("GET", "/1.0/networks/lxdbr0?project=p1")).body.metadata as Net;
  const theirs = (await d.api("GET", "/1.0/networks/lxdbr0")).body.metadata as Net;
  expect(mine.project).toBe("p1");
  expect(await ok("--project", "p1", "network", "show", "lxdbr0")).toContain(`ipv4.address: ${mine.config["ipv4.address"]}`);
  const link = projectBridgeLinkName("p1_lxdbr0", d.tag);
  expect(link).not.toBe(bridgeLinkName("lxdbr0", d.tag));
  expect(linkExists(link)).toBe(true);
  // A restarted daemon knows it is p1's and brings it up again under that host name.
  await d.restart();
  expect(await managed("p1")).toEqual(["p1/lxdbr0"]);
  expect(linkExists(link)).toBe(true);
  expect(mine.config["ipv4.address"]).not.toBe(theirs.config["ipv4.address"]);
  expect((await d.api("GET", "/1.0/projects/p1")).body.metadata.used_by).toContain("/1.0/networks/lxdbr0?project=p1");

  await ok("--project", "p1", "launch", "busybox", "c1");
  await ok("launch", "busybox", "c1");
  const [a, b] = [await ipv4("p1", "c1"), await ipv4("default", "c1")];
  const prefix = (cidr: string) => cidr.split(".").slice(0, 3).join(".");
  expect(prefix(a)).toBe(prefix(mine.config["ipv4.address"]));
  expect(prefix(b)).toBe(prefix(theirs.config["ipv4.address"]));
  expect((await d.api("GET", "/1.0/networks/lxdbr0?project=p1")).body.metadata.used_by).toEqual(["/1.0/instances/c1?project=p1"]);
  expect((await d.api("GET", "/1.0/networks/lxdbr0")).body.metadata.used_by).toContain("/1.0/instances/c1");
  expect((await d.api("GET", "/1.0/networks/lxdbr0")).body.metadata.used_by).not.toContain("/1.0/instances/c1?project=p1");

  // limits.networks=1, with LXD's words.
  expect((await d.lxc("--project", "p1", "network", "create", "second")).stderr).toContain(`Networks limit of project "p1" reached`);
  expect((await d.api("GET", "/1.0/projects/p1/state")).body.metadata.resources.networks).toEqual({ Limit: 1, Usage: 1 });
  // The project's network cannot go while used, and goes with its own host bridge.
  expect((await d.lxc("--project", "p1", "network", "delete", "lxdbr0")).stderr).toContain("in use");
  await ok("--project", "p1", "delete", "-f", "c1");
  await ok("delete", "-f", "c1");
  await d.lxcOk("--project", "p1", "network", "delete", "lxdbr0");
  expect(await managed("p1")).toEqual([]);
  expect(linkExists(link)).toBe(false);
  expect(await managed("default")).toEqual(["default/lxdbr0"]);
  expect(linkExists(bridgeLinkName("lxdbr0", d.tag))).toBe(true);
});

test("a project without the feature uses default's networks", async () => {
  await d.lxcOk("project", "create", "p2", "-c", "features.images=false", "-c", "features.profiles=false");
  expect(await managed("p2")).toEqual(["default/lxdbr0"]);
  expect((await d.api("GET", "/1.0/projects/p2")).body.metadata.config["features.networks"]).toBeUndefined();
});
