// A stray error (a rejection nobody handles, a throw out of a timer) is one error line in the
// daemon's log and the process carries on (src/daemon/stray-errors.ts). Run in a child process:
// the point is what Bun does with the process once the handlers are installed.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { strayErrorFields } from "../../src/daemon/stray-errors.ts";

const dir = mkdtempSync(join(tmpdir(), "lxd-stray-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a stray rejection and a throw from a timer are logged as one line each; the process keeps running", async () => {
  const logfile = join(dir, "lxd.log");
  const script = join(dir, "daemon-like.ts");
  const src = (f: string) => JSON.stringify(resolve(import.meta.dir, "../../src", f));
  writeFileSync(script, `
import { configureLog, log } from ${src("log.ts")};
import { logStrayErrors } from ${src("daemon/stray-errors.ts")};
configureLog({ logfile: ${JSON.stringify(logfile)} });
logStrayErrors();
async function handler() {
  await Bun.sleep(1);
  throw new Error("handler failed after its response");
}
void handler();
setTimeout(() => { throw new Error("timer callback failed"); }, 5);
setTimeout(() => { log.info("still serving"); }, 200);
`);
  const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  const lines = readFileSync(logfile, "utf8").trim().split("\n");
  expect(lines).toHaveLength(3);
  // The two failures come in either order; the process outlived both.
  const errors = lines.slice(0, 2);
  expect(errors.find((l) => l.includes("Uncaught"))).toMatch(/level=error msg="Uncaught exception" err="timer callback failed" where=".*daemon-like\.ts:\d+:\d+\)?"$/);
  expect(errors.find((l) => l.includes("Unhandled"))).toMatch(/level=error msg="Unhandled promise rejection" err="handler failed after its response" where="handler \(.*daemon-like\.ts:\d+:\d+\)"$/);
  expect(lines[2]).toContain('msg="still serving"');
});

test("whatever was thrown, the fields are plain text", () => {
  expect(strayErrorFields("no Error object")).toEqual({ err: "no Error object" });
  expect(strayErrorFields(Object.create(null))).toEqual({ err: "[object Object]" });
  expect(strayErrorFields(new Error("boom")).where).toContain("stray-errors.test.ts");
});
