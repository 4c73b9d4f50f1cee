// Our `lxd` client against a real LXD 5.0.2 (Debian's `lxd` package, run on a temporary LXD_DIR):
// the README tour works there as it does against our daemon, over the unix socket and over
// HTTPS; and an image LXD itself published imports and runs on our daemon.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { lxdBinary, run, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { RealLxd, realLxdMissing } from "../helpers/real-lxd.ts";

const missing = await realLxdMissing();
if (missing) console.warn(`skipped: ${missing}`);

let real: RealLxd;
/** A port for the real daemon's HTTPS listener (loopback only). */
const port = 20000 + Math.floor(Math.random() * 20000);

/** Our CLI against the real daemon; fails the test with its stderr unless it succeeds. */
async function ours(...args: string[]): Promise<string> {
  const r = await run([lxdBinary(), ...args], { env: real.env(), timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Debian's lxc against the real daemon. */
const lxc = (...args: string[]) => real.ok(...args);

const state = async (name: string) => (await ours("list", name, "--format", "csv", "-c", "ns")).trim();

describe.skipIf(Boolean(missing))("our CLI against LXD 5.0.2", () => {
  beforeAll(async () => {
    real = new RealLxd();
    try {
      await real.start();
    } catch (e) {
      await real.stop();
      throw e;
    }
  });

  afterAll(async () => {
    await real?.stop();
  });

  test("the README tour: build, launch (started), exec, info, files, proxy, snapshot, copy, stop, delete", async () => {
    const c1 = `c1-${real.tag}`;
    const c2 = `c2-${real.tag}`;
    await ours("image", "build", "busybox", "--alias", "busybox", "--public");
    // LXD 5.0.2 has no instance_create_start: the client must start the instance itself.
    const launched = await ours("launch", "busybox", c1, "-c", "limits.memory=256MiB");
    expect(launched).toContain(`Starting ${c1}`);
    expect(await state(c1)).toBe(`${c1},RUNNING`);
    expect((await ours("exec", c1, "--", "hostname")).trim()).toBe(c1);
    expect(await ours("info", c1, "--show-log")).toContain("Status: RUNNING");

    const work = mkdtempSync(join(real.dir, "files-"));
    writeFileSync(join(work, "notes.txt"), "tour notes\n");
    await ours("file", "push", join(work, "notes.txt"), `${c1}/root/`);
    await ours("file", "pull", `${c1}/root/notes.txt`, join(work, "back.txt"));
    expect(readFileSync(join(work, "back.txt"), "utf8")).toBe("tour notes\n");

    await ours("config", "device", "add", c1, "web", "proxy", `listen=tcp:127.0.0.1:${port + 1}`, "connect=tcp:127.0.0.1:80");
    expect(await lxc("config", "device", "show", c1)).toContain(`listen: tcp:127.0.0.1:${port + 1}`);
    await ours("config", "device", "remove", c1, "web"); // a copy would listen on the same port
    await ours("snapshot", c1, "before-upgrade");
    await ours("restore", c1, "before-upgrade");
    // LXD takes a copy's config, devices and profiles from the request only, and ignores `start`.
    await ours("copy", c1, c2, "--start");
    expect(await state(c2)).toBe(`${c2},RUNNING`);
    expect(await lxc("config", "get", c2, "limits.memory")).toBe("256MiB\n");

    await ours("stop", c1, "--force");
    expect(await state(c1)).toBe(`${c1},STOPPED`);
    await ours("delete", c1);
    await ours("delete", c2, "--force");
    expect((await ours("list", "--format", "csv")).trim()).toBe("");
  });

  test("over HTTPS: a join token, `launch srv:busybox srv:NAME`, a download waited on with an integer timeout", async () => {
    const c3 = `c3-${real.tag}`;
    const c4 = `c4-${real.tag}`;
    await ours("config", "set", "core.https_address", `127.0.0.1:${port}`);
    const token = (await ours("config", "trust", "add", "--name", "ours")).trim().split("\n").at(-1)!;
    await ours("remote", "add", "srv", token);
    // Image and instance on the same remote: the prefix only names the server.
    await ours("launch", "srv:busybox", `srv:${c3}`);
    expect((await ours("list", `srv:${c3}`, "--format", "csv", "-c", "ns")).trim()).toBe(`${c3},RUNNING`);
    expect((await ours("exec", `srv:${c3}`, "--", "hostname")).trim()).toBe(c3);
    await ours("delete", "--force", `srv:${c3}`);

    // From another remote: LXD pulls the image (here from itself over HTTPS) while the client
    // follows the operation with /wait?timeout=N, which LXD parses as an integer.
    await ours("launch", "srv:busybox", c4);
    expect(await state(c4)).toBe(`${c4},RUNNING`);
    await ours("delete", "--force", c4);
  });

  test("an image LXD published imports and runs on our daemon", async () => {
    const c5 = `c5-${real.tag}`;
    await ours("init", "busybox", c5);
    await lxc("publish", c5, "--alias", "published");
    const out = mkdtempSync(join(real.dir, "export-"));
    await lxc("image", "export", "published", join(out, "published"));
    const files = readdirSync(out).map((f) => join(out, f));
    expect(files.length).toBeGreaterThan(0);

    let d: TestDaemon | undefined;
    try {
      d = await startInitializedDaemon();
      await d.ok("image", "import", ...files, "--alias", "from-lxd");
      await d.ok("launch", "from-lxd", "p1");
      expect((await d.ok("exec", "p1", "--", "hostname")).trim()).toBe("p1");
    } finally {
      await d?.stop();
    }
  });
});
