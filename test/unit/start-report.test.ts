// `lxd-helper start`'s report line: init's pid, and with LXD_HELPER_TRACE=1 its phases and CPU time.
import { describe, expect, test } from "bun:test";
import { parseStartReport } from "../../src/kernel/monitor.ts";

describe("start report", () => {
  test("a plain report carries init's pid", () => {
    expect(parseStartReport("ok 1234")).toEqual({ initPid: 1234, trace: {} });
  });

  test("a traced report carries each phase and the CPU time", () => {
    expect(parseStartReport("ok 77 m_stdio=0.61ms i_overlay=1.02ms cpu_user=3.50ms cpu_sys=0.70ms run_wait=4.99ms")).toEqual({
      initPid: 77,
      trace: { m_stdio: "0.61ms", i_overlay: "1.02ms", cpu_user: "3.50ms", cpu_sys: "0.70ms", run_wait: "4.99ms" },
    });
  });

  test("errors and malformed lines are not a success", () => {
    expect(parseStartReport("error exec /sbin/init: No such file or directory")).toBeUndefined();
    expect(parseStartReport("ok 12 junk")).toBeUndefined();
    expect(parseStartReport("ok")).toBeUndefined();
  });
});
