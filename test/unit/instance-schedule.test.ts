// Pure rules of automatic snapshots: cron parsing and matching, expiry arithmetic, next names.
import { describe, expect, test } from "bun:test";
import { cronMatches, expiryDate, nextSnapshotName, parseCron, parseSchedule, scheduleMatches } from "../../src/config/schedule.ts";

// Local-time dates (the schedule is in the server's local time, as cron).
const at = (y: number, mo: number, d: number, h: number, mi: number) => new Date(y, mo - 1, d, h, mi);

describe("cron expressions", () => {
  test("fields: *, lists, ranges, steps, names", () => {
    const c = parseCron("*/15 9-17 * jan,MAR-may mon-fri");
    expect([...c.values[0]!]).toEqual([0, 15, 30, 45]);
    expect([...c.values[1]!]).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect([...c.values[3]!].sort((a, b) => a - b)).toEqual([1, 3, 4, 5]);
    expect([...c.values[4]!]).toEqual([1, 2, 3, 4, 5]);
    expect([...parseCron("5/20 * * * *").values[0]!]).toEqual([5, 25, 45]);
    expect([...parseCron("1-10/3 * * * *").values[0]!]).toEqual([1, 4, 7, 10]);
  });

  test("matching a minute", () => {
    const weekdayMorning = parseCron("30 8 * * 1-5");
    expect(cronMatches(weekdayMorning, at(2026, 11, 27, 8, 30))).toBe(true); // a Friday
    expect(cronMatches(weekdayMorning, at(2026, 11, 28, 8, 30))).toBe(false); // Saturday
    expect(cronMatches(weekdayMorning, at(2026, 11, 27, 8, 31))).toBe(false);
    // Sunday is 0 or 7.
    expect(cronMatches(parseCron("0 0 * * 7"), at(2026, 11, 29, 0, 0))).toBe(true);
    expect(cronMatches(parseCron("0 0 * * 0"), at(2026, 11, 29, 0, 0))).toBe(true);
  });

  test("day of month OR day of week when both are restricted (classic cron)", () => {
    const c = parseCron("0 12 1 * mon");
    expect(cronMatches(c, at(2026, 12, 1, 12, 0))).toBe(true); // the 1st, a Tuesday
    expect(cronMatches(c, at(2026, 11, 30, 12, 0))).toBe(true); // a Monday
    expect(cronMatches(c, at(2026, 12, 2, 12, 0))).toBe(false);
    // With only one restricted, both must hold.
    expect(cronMatches(parseCron("0 12 1 * *"), at(2026, 11, 30, 12, 0))).toBe(false);
  });

  test("aliases and comma-separated schedules", () => {
    expect(scheduleMatches("@hourly", at(2026, 1, 1, 5, 0))).toBe(true);
    expect(scheduleMatches("@hourly", at(2026, 1, 1, 5, 1))).toBe(false);
    expect(scheduleMatches("@daily", at(2026, 3, 4, 0, 0))).toBe(true);
    expect(scheduleMatches("@midnight", at(2026, 3, 4, 0, 0))).toBe(true);
    expect(scheduleMatches("@weekly", at(2026, 11, 29, 0, 0))).toBe(true);
    expect(scheduleMatches("@monthly", at(2026, 2, 1, 0, 0))).toBe(true);
    expect(scheduleMatches("@yearly", at(2027, 1, 1, 0, 0))).toBe(true);
    expect(scheduleMatches("@annually", at(2027, 1, 2, 0, 0))).toBe(false);
    expect(scheduleMatches("@daily, 30 6 * * *", at(2026, 3, 4, 6, 30))).toBe(true);
    // A comma inside a field is a cron list (LXD takes "0 1,13 * * *"), not two schedules.
    expect(parseSchedule("0 1,13 * * *")).toHaveLength(1);
    expect(scheduleMatches("0 1,13 * * *", at(2026, 3, 4, 13, 0))).toBe(true);
    expect(scheduleMatches("0 1,13 * * *", at(2026, 3, 4, 12, 0))).toBe(false);
    expect(parseSchedule("@daily, @hourly, 0 1,13 * * *")).toHaveLength(3);
    expect(parseSchedule("@never")).toEqual([]);
    expect(parseSchedule("")).toEqual([]);
  });

  test("bad expressions say what is wrong", () => {
    expect(() => parseCron("* * * *")).toThrow(/5 fields/);
    expect(() => parseCron("60 * * * *")).toThrow(/minute.*0-59/);
    expect(() => parseCron("* 24 * * *")).toThrow(/hour/);
    expect(() => parseCron("* * 0 * *")).toThrow(/day of month/);
    expect(() => parseCron("* * * foo *")).toThrow(/month/);
    expect(() => parseCron("*/0 * * * *")).toThrow(/step/);
    expect(() => parseCron("5-1 * * * *")).toThrow(/backwards/);
    expect(() => parseCron("1/2/3 * * * *")).toThrow(/bad part/);
  });
});

describe("snapshots.expiry", () => {
  const from = at(2026, 1, 31, 10, 0);
  test("units and sums", () => {
    expect(expiryDate("30M", from)).toEqual(at(2026, 1, 31, 10, 30));
    expect(expiryDate("2H", from)).toEqual(at(2026, 1, 31, 12, 0));
    expect(expiryDate("1d", from)).toEqual(at(2026, 2, 1, 10, 0));
    expect(expiryDate("2w", from)).toEqual(at(2026, 2, 14, 10, 0));
    expect(expiryDate("1y", from)).toEqual(at(2027, 1, 31, 10, 0));
    expect(expiryDate("1d 2H 3M", from)).toEqual(at(2026, 2, 1, 12, 3));
    expect(expiryDate("1m", at(2026, 3, 15, 0, 0))).toEqual(at(2026, 4, 15, 0, 0));
  });
  test("empty is never; junk is refused", () => {
    expect(expiryDate("", from)).toBeNull();
    expect(expiryDate("  ", from)).toBeNull();
    expect(() => expiryDate("3x", from)).toThrow(/Invalid expiry/);
    expect(() => expiryDate("d", from)).toThrow(/Invalid expiry/);
  });
});

describe("snapshot names", () => {
  test("one past the highest number of the pattern", () => {
    expect(nextSnapshotName("", new Set())).toBe("snap0");
    expect(nextSnapshotName("snap%d", new Set(["snap0", "snap1"]))).toBe("snap2");
    expect(nextSnapshotName("snap%d", new Set(["snap1", "other"]))).toBe("snap2");
    expect(nextSnapshotName("auto-%d-x", new Set(["auto-4-x"]))).toBe("auto-5-x");
    expect(nextSnapshotName("fixed", new Set())).toBe("fixed");
    expect(nextSnapshotName("fixed", new Set(["fixed"]))).toBe("fixed-0");
  });
});
