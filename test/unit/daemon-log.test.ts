import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventHub, type LxdEvent } from "../../src/events/hub.ts";
import { configureLog, log } from "../../src/log.ts";

const dir = mkdtempSync(join(tmpdir(), "lxd-log-"));
afterAll(() => {
  configureLog({ quiet: true });
  rmSync(dir, { recursive: true, force: true });
});

test("logfmt lines to the logfile (debug only with --debug), logging events of every level for listeners", () => {
  const events = new EventHub();
  const seen: LxdEvent[] = [];
  events.subscribe(["logging"], (e) => seen.push(e));
  const logfile = join(dir, "lxd.log");
  configureLog({ logfile, events });
  log.debug("hidden");
  log.warn("Disk almost full", { pool: "default", free: 5, path: "/var/lib/lxd pool" });
  configureLog({ logfile, events, debug: true });
  log.debug("shown");
  const lines = readFileSync(logfile, "utf8").trim().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^time="[^"]+" level=warning msg="Disk almost full" pool=default free=5 path="\/var\/lib\/lxd pool"$/);
  expect(lines[1]).toContain('level=debug msg="shown"');
  expect(seen.map((e) => e.metadata)).toEqual([
    // As in LXD, `monitor --loglevel debug` sees debug records even when the log file does not.
    { message: "hidden", level: "debug", context: {} },
    { message: "Disk almost full", level: "warning", context: { pool: "default", free: "5", path: "/var/lib/lxd pool" } },
    { message: "shown", level: "debug", context: {} },
  ]);
  // Logging events are server-wide: no project, so every project's listener gets them.
  expect(seen[1].project).toBeUndefined();
});

test("event filters: type and project", () => {
  const events = new EventHub();
  const got: string[] = [];
  const off = events.subscribe({ types: ["lifecycle"], project: "p1" }, (e) => got.push(`${e.type}:${e.project}`));
  events.send("lifecycle", {}, "p1");
  events.send("lifecycle", {}, "default");
  events.send("operation", {}, "p1");
  events.send("lifecycle", {}, null);
  off();
  events.send("lifecycle", {}, "p1");
  expect(got).toEqual(["lifecycle:p1", "lifecycle:undefined"]);
});
