// LXD_HELPER_TRACE=1: `lxd-helper start` reports the phases of a start and its processes' CPU
// time, which the daemon logs with its own start phases (what the density benchmark reads).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon({ env: { LXD_HELPER_TRACE: "1" } });
});

afterAll(async () => {
  await d?.stop();
});

const startedLine = (name: string) => d.log().split("\n").find((l) => l.includes('msg="Started instance"') && l.includes(`name=${name} `));
const ms = (line: string, key: string) => Number(new RegExp(` ${key}=([\\d.]+)ms`).exec(line)?.[1]);

describe("helper start trace", () => {
  test("a traced start logs the monitor's, init's and the builder's phases and their CPU time", async () => {
    await d.ok("launch", "busybox", "t1");
    const line = startedLine("t1");
    expect(line).toBeDefined();
    // One phase of each process: monitor, forker, init, builder; then the totals.
    for (const key of ["m_stdio", "f_clone", "i_overlay", "b_pivot", "i_seccomp", "m_exec_seen", "cpu_user", "cpu_sys", "run_wait"]) {
      expect(ms(line!, key)).toBeGreaterThanOrEqual(0);
    }
    expect(ms(line!, "cpu_user") + ms(line!, "cpu_sys")).toBeGreaterThan(0);
    // The phases happen inside the helper's run as the daemon timed it.
    const phases = [...line!.matchAll(/ ([smfib]_\w+)=([\d.]+)ms/g)].reduce((sum, m) => sum + Number(m[2]), 0);
    expect(phases).toBeLessThanOrEqual(ms(line!, "helper") + 0.5);
    expect((await d.ok("exec", "t1", "--", "echo", "ok")).trim()).toBe("ok");
  });

  test("without it the start reports no trace", async () => {
    d.setEnv({ LXD_HELPER_TRACE: undefined });
    await d.restart();
    await d.ok("launch", "busybox", "t2");
    const line = startedLine("t2");
    expect(line).toBeDefined();
    expect(line).not.toContain("m_stdio=");
    expect(line).not.toContain("cpu_user=");
  });
});
