// `lxd top`'s rates: CPU share and network bytes per second from two samples of cumulative counters.
import { expect, test } from "bun:test";
import { topRows } from "../../src/cli/top.ts";
import type { InstanceFull } from "../../src/api/instance.ts";

const inst = (name: string, pid: number, cpuNs: number, rx: number, tx: number) => ({
  name,
  state: {
    pid, processes: 3, cpu: { usage: cpuNs },
    memory: { usage: 2 * 1024 * 1024, usage_peak: 0, swap_usage: 0, swap_usage_peak: 0 },
    network: {
      lo: { type: "loopback", counters: { bytes_received: 1e9, bytes_sent: 1e9 } },
      eth0: { type: "broadcast", counters: { bytes_received: rx, bytes_sent: tx } },
    },
  },
}) as unknown as InstanceFull;

test("first frame has no rates; the next has CPU% and traffic per second, loopback left out", () => {
  const first = topRows([inst("c2", 20, 1e9, 1000, 0), inst("c1", 10, 0, 0, 0), inst("off", 0, 0, 0, 0)], new Map(), 0);
  expect(first.rows).toEqual([
    ["c1", "-", "2.00MiB", "0B", "3", "-", "-"],
    ["c2", "-", "2.00MiB", "0B", "3", "-", "-"],
  ]);
  // Two seconds later: c1 used 1 s of CPU (50%) and received 4 kB (2 kB/s).
  const next = topRows([inst("c1", 10, 1e9, 4000, 2000)], first.samples, 2000);
  expect(next.rows).toEqual([["c1", "50.0", "2.00MiB", "0B", "3", "2.00kB", "1.00kB"]]);
});

test("counters that went backwards (a restart) give no rate", () => {
  const first = topRows([inst("c1", 10, 5e9, 5000, 5000)], new Map(), 0);
  expect(topRows([inst("c1", 11, 1e8, 10, 10)], first.samples, 1000).rows[0]).toEqual(["c1", "-", "2.00MiB", "0B", "3", "-", "-"]);
});
