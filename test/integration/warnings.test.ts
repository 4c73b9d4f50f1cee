// Warnings outlast daemon restarts, as LXD keeps them in its database: an acknowledged warning
// stays acknowledged while its condition is seen again (count and last_seen_at go up), a
// condition no longer seen at start is resolved and comes back as new when seen again, and a
// deleted warning returns as a new one only if its condition still holds.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Warning } from "../../src/api/warning.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
/** A PATH where the daemon finds a `criu` whose version and `criu check` pass, and one where it finds none. */
const fakeBin = mkdtempSync("/tmp/lxd-warnings-bin-");
const withoutCriu = (process.env.PATH ?? "").split(delimiter).filter((p) => p && !Bun.which("criu", { PATH: p })).join(delimiter);
const withCriu = [fakeBin, withoutCriu].join(delimiter);
const LXCFS = "LXCFS isn't running";
const CRIU = "CRIU isn't available";

const all = async (): Promise<Warning[]> => (await d.api("GET", "/1.0/warnings?recursion=1")).body.metadata;
const byType = async (type: string) => (await all()).find((w) => w.type === type);
const listed = async (...args: string[]) => (await d.ok("warning", "list", "--format", "csv", ...args)).trim().split("\n").filter(Boolean);

beforeAll(async () => {
  writeFileSync(join(fakeBin, "criu"), '#!/bin/sh\n[ "$1" = --version ] && echo "Version: 4.1.1"\nexit 0\n');
  chmodSync(join(fakeBin, "criu"), 0o755);
  d = await startDaemon({ env: { LXD_LXCFS_DIR: "/nonexistent/lxcfs", PATH: withoutCriu } });
});

afterAll(async () => {
  await d?.stop();
  rmSync(fakeBin, { recursive: true, force: true });
});

test("an acknowledged warning stays acknowledged across restarts while its count goes up", async () => {
  const first = (await byType(LXCFS))!;
  expect([first.status, first.count]).toEqual(["new", 1]);
  await d.ok("warning", "ack", first.uuid.slice(0, 8));
  await d.restart();
  const again = (await byType(LXCFS))!;
  expect(again.uuid).toBe(first.uuid);
  expect([again.status, again.count, again.first_seen_at]).toEqual(["acknowledged", 2, first.first_seen_at]);
  expect(again.last_seen_at > first.last_seen_at).toBe(true);
  expect((await listed()).some((l) => l.startsWith(first.uuid))).toBe(false);
  expect((await listed("--all")).find((l) => l.startsWith(first.uuid))).toContain(",ACKNOWLEDGED,");
  const lxc = await d.lxc("warning", "show", first.uuid);
  expect(lxc.code, lxc.stderr).toBe(0);
  expect(lxc.stdout).toContain("status: acknowledged");
});

test("a condition gone at start is resolved, and new again when it returns", async () => {
  const before = (await byType(CRIU))!;
  expect(before.status).toBe("new");
  d.setEnv({ PATH: withCriu });
  await d.restart();
  const resolved = (await byType(CRIU))!;
  expect([resolved.uuid, resolved.status, resolved.count]).toEqual([before.uuid, "resolved", before.count]);
  expect((await listed()).some((l) => l.startsWith(before.uuid))).toBe(false);
  expect((await listed("--all")).find((l) => l.startsWith(before.uuid))).toContain(",RESOLVED,");
  // The acknowledged one was seen again meanwhile: not resolved.
  expect((await byType(LXCFS))!.status).toBe("acknowledged");

  d.setEnv({ PATH: withoutCriu });
  await d.restart();
  const back = (await byType(CRIU))!;
  expect([back.uuid, back.status, back.count]).toEqual([before.uuid, "new", before.count + 1]);
});

test("a deleted warning returns as a new one while its condition holds", async () => {
  const old = (await byType(LXCFS))!;
  const del = await d.lxc("warning", "delete", old.uuid);
  expect(del.code, del.stderr).toBe(0);
  expect(await byType(LXCFS)).toBeUndefined();
  await d.restart();
  const fresh = (await byType(LXCFS))!;
  expect(fresh.uuid).not.toBe(old.uuid);
  expect([fresh.status, fresh.count]).toEqual(["new", 1]);
});
