// Benchmark rows for networking: launch with the default profile's bridged nic against launch
// without any nic, and the time from `lxd launch` to the busybox container holding its DHCP lease.
import type { TestDaemon } from "../helpers/daemon.ts";
import { cliOf, timed } from "./timing.ts";

export interface NetworkRow {
  key: string;
  what: string;
  times: number[];
}

export async function networkTimings(d: TestDaemon, runs: number): Promise<NetworkRow[]> {
  const cli = cliOf(d);
  /** Polls the container's own view of eth0 (cheaper than `lxd list`, so the poll adds little). */
  const ipv4 = async (name: string) => {
    const pid = (await d.api("GET", `/1.0/instances/${name}/state`)).body.metadata.pid;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
      const fib = await Bun.file(`/proc/${pid}/net/fib_trie`).text().catch(() => "");
      if (/\|-- (?!127\.)[\d.]+\n\s+\/32 host LOCAL/.test(fib)) return;
      await Bun.sleep(5);
    }
    throw new Error(`${name} got no IPv4 address`);
  };
  await cli("profile", "create", "bench-nonic");
  await cli("profile", "device", "add", "bench-nonic", "root", "disk", "path=/", "pool=default");
  const t = { bare: [] as number[], nic: [] as number[], lease: [] as number[] };
  for (let i = 0; i < runs; i++) {
    t.bare.push(await timed(() => cli("launch", "busybox", `nn${i}`, "-p", "bench-nonic")));
    t.nic.push(await timed(() => cli("launch", "busybox", `nw${i}`)));
    t.lease.push(await timed(async () => {
      await cli("launch", "busybox", `nl${i}`);
      await ipv4(`nl${i}`);
    }));
    for (const n of [`nn${i}`, `nw${i}`, `nl${i}`]) await cli("delete", "--force", n);
  }
  await cli("profile", "delete", "bench-nonic");
  return [
    { key: "launch-nonic", what: "launch busybox without a nic", times: t.bare },
    { key: "launch-nic", what: "launch busybox with a bridged nic (default profile)", times: t.nic },
    { key: "launch-ipv4", what: "launch until the container has its DHCP IPv4", times: t.lease },
  ];
}
