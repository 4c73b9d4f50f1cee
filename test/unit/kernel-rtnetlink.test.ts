// rtnetlink dumps of another network namespace, named by netnsid, against a real namespace
// made with util-linux `unshare --net` (root): what `lxd list` reads for every container.
import { afterAll, expect, test } from "bun:test";
import { addresses, links, netnsId } from "../../src/kernel/rtnetlink.ts";

const setup = "ip link set lo up && ip addr add 10.99.7.5/24 dev lo && ip addr add fd42:7::5/64 dev lo && echo ready && sleep 60";
const ns = Bun.spawn(["unshare", "--net", "sh", "-c", setup], { stdout: "pipe" });
afterAll(() => ns.kill(9));

async function ready() {
  const reader = ns.stdout.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("ready");
}

test("a namespace gets one netnsid, and its links and addresses are dumped by it", async () => {
  await ready();
  const id = netnsId(ns.pid);
  expect(id).toBeGreaterThanOrEqual(0);
  expect(netnsId(ns.pid)).toBe(id);

  const own = links(id);
  expect(own.map((l) => l.name)).toEqual(["lo"]);
  const [lo] = own;
  expect(lo.type).toBe(772);
  expect(lo.mtu).toBe(65536);
  expect(lo.flags & 1).toBe(1);
  expect(lo.stats).toBeDefined();

  const addrs = addresses(id).map((a) => `${a.family} ${a.address}/${a.prefixlen} ${a.scope}`).sort();
  expect(addrs).toEqual(["inet 10.99.7.5/24 0", "inet 127.0.0.1/8 254", "inet6 0:0:0:0:0:0:0:1/128 254", "inet6 fd42:7:0:0:0:0:0:5/64 0"]);
});

test("without a netnsid the dump is the host's own namespace", () => {
  expect(links().some((l) => l.name === "lo" && l.index === 1)).toBe(true);
});
