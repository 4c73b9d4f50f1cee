// Pure logic of file transfer: LXD's header rules, path rules, the helper's stat line, CLI targets.
import { describe, expect, test } from "bun:test";
import { parseMode, splitTarget } from "../../src/cli/file.ts";
import { fileHeaders, filePath, goTimeString, modeHeader, putOptions } from "../../src/daemon/instance-files.ts";
import { parseStat } from "../../src/kernel/files.ts";

describe("X-LXD-* request headers", () => {
  test("mode: decimal, or octal with a leading 0; only permission bits", () => {
    expect(modeHeader("0644")).toBe(0o644);
    expect(modeHeader("420")).toBe(0o644);
    expect(modeHeader("04755")).toBe(0o755);
    expect(modeHeader("0")).toBe(0);
    expect(modeHeader(null)).toBe(-1);
    expect(modeHeader("")).toBe(-1);
    for (const bad of ["0o644", "0x1a4", "rwx", "0999", "-5"]) expect(() => modeHeader(bad)).toThrow(/X-LXD-mode/);
  });

  test("type, write mode and ids with LXD's defaults", () => {
    expect(putOptions(new Headers())).toEqual({ type: "file", write: "overwrite", uid: -1, gid: -1, mode: -1 });
    const h = new Headers({ "X-LXD-type": "directory", "X-LXD-write": "append", "X-LXD-uid": "1000", "X-LXD-gid": "0", "X-LXD-mode": "0700" });
    expect(putOptions(h)).toEqual({ type: "directory", write: "append", uid: 1000, gid: 0, mode: 0o700 });
    expect(() => putOptions(new Headers({ "X-LXD-type": "fifo" }))).toThrow(/Bad file type/);
    expect(() => putOptions(new Headers({ "X-LXD-write": "truncate" }))).toThrow(/Bad file write mode/);
    expect(() => putOptions(new Headers({ "X-LXD-uid": "root" }))).toThrow(/X-LXD-uid/);
    expect(() => putOptions(new Headers({ "X-LXD-gid": "4294967295" }))).toThrow(/X-LXD-gid/);
  });
});

describe("paths", () => {
  test("required; relative ones start at /; nothing else is rewritten (the kernel resolves inside)", () => {
    expect(filePath({ path: "/etc/hosts" })).toBe("/etc/hosts");
    expect(filePath({ path: "etc/hosts" })).toBe("/etc/hosts");
    expect(filePath({ path: "../../etc/passwd" })).toBe("/../../etc/passwd");
    expect(() => filePath({})).toThrow("Missing path argument");
    expect(() => filePath({ path: "/a\0b" })).toThrow(/NUL/);
  });

  test("CLI targets", () => {
    expect(splitTarget("c1/etc/hosts")).toEqual({ name: "c1", path: "/etc/hosts" });
    expect(splitTarget("c1/")).toEqual({ name: "c1", path: "/" });
    expect(splitTarget("c1//a/../b/")).toEqual({ name: "c1", path: "/b/" });
    expect(() => splitTarget("c1")).toThrow(/Invalid path/);
    expect(parseMode("644")).toBe(0o644);
    expect(parseMode("0755")).toBe(0o755);
    expect(() => parseMode("9")).toThrow(/Invalid mode/);
  });
});

describe("response headers", () => {
  test("the helper's stat line becomes LXD's headers", () => {
    const st = parseStat("file 1000 1001 4755 1700000000 120000000 42");
    expect(st).toEqual({ type: "file", uid: 1000, gid: 1001, mode: 0o4755, mtimeNs: 1700000000120000000n, size: 42 });
    expect(fileHeaders(st)).toEqual({
      "X-LXD-uid": "1000", "X-LXD-gid": "1001", "X-LXD-mode": "0755",
      "X-LXD-modified": "2023-11-14 22:13:20.12 +0000 UTC", "X-LXD-type": "file",
    });
    expect(() => parseStat("fifo 0 0 644 0 0 0")).toThrow(/unexpected file type/);
  });

  test("X-LXD-modified uses Go's time format", () => {
    expect(goTimeString(0n)).toBe("1970-01-01 00:00:00 +0000 UTC");
    expect(goTimeString(1_500_000_000_000_000_001n)).toBe("2017-07-14 02:40:00.000000001 +0000 UTC");
  });
});
