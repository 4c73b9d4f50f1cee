// The migration header codec (LXD's migrate.proto, proto2) and the idmap shift of received trees.
import { expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chownSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { shiftTree } from "../../src/migration/idmap.ts";
import {
  CriuType, decodeControl, decodeHeader, encodeControl, encodeHeader, FsType, headerSeconds, headerTime, type MigrationHeader,
} from "../../src/migration/proto.ts";

test("a header round-trips with every field LXD sends", () => {
  const h: MigrationHeader = {
    fs: FsType.BTRFS, criu: CriuType.NONE,
    idmap: [{ isuid: true, isgid: false, hostid: 1000000, nsid: 0, maprange: 1000000000 }],
    snapshotNames: ["s0", "s1"],
    snapshots: [{
      name: "s0", localConfig: { "user.a": "b" }, profiles: ["default"], ephemeral: false,
      localDevices: { root: { type: "disk", path: "/", pool: "default" } }, architecture: 2, stateful: false,
      creationDate: 1764800000, lastUsedDate: 0, expiryDate: headerSeconds(""),
    }],
    predump: false, rsyncFeatures: { xattrs: true, delete: true, compress: false, bidirectional: true },
    btrfsFeatures: { migrationHeader: true, headerSubvolumes: false, headerSubvolumeUuids: false },
    refresh: false, indexHeaderVersion: 1,
  };
  expect(decodeHeader(encodeHeader(h))).toEqual({ ...h, snapshots: [{ ...h.snapshots[0]! }] });
  // Go's zero time (a negative int64, ten varint bytes) means "never".
  expect(headerSeconds("")).toBe(-62135596800);
  expect(decodeHeader(encodeHeader(h)).snapshots[0]!.expiryDate).toBe(-62135596800);
  expect(headerTime(-62135596800)).toBeUndefined();
  expect(headerTime(1764800000)).toBe("2025-12-03T22:13:20.000Z");
});

test("fields a newer peer adds are skipped; a control message where a header was due is its error", () => {
  const base = encodeHeader({ fs: FsType.RSYNC, idmap: [], snapshotNames: [], snapshots: [] });
  // Field 14 (Incus's DependentVolume, length-delimited) and field 15 (a varint).
  const extended = Uint8Array.from([...base, (14 << 3) | 2, 2, 0x08, 0x01, (15 << 3) | 0, 0x05]);
  expect(decodeHeader(extended).fs).toBe(FsType.RSYNC);
  expect(() => decodeHeader(encodeControl({ success: false, message: "Instance exists" }))).toThrow("Instance exists");
  expect(decodeControl(encodeControl({ success: true }))).toEqual({ success: true, message: "" });
  expect(() => decodeHeader(Uint8Array.from([0x08]))).toThrow("truncated");
});

test("a received tree's shifted host ids go back to the container's own; symlinks are not followed", async () => {
  const dir = mkdtempSync("/tmp/lxd-shift-");
  try {
    mkdirSync(join(dir, "rootfs"));
    writeFileSync(join(dir, "rootfs", "file"), "x");
    chownSync(join(dir, "rootfs"), 1000000, 1000000);
    chownSync(join(dir, "rootfs", "file"), 1001000, 1000005);
    chmodSync(join(dir, "rootfs", "file"), 0o4755);
    symlinkSync("/etc/passwd", join(dir, "rootfs", "link"));
    const before = lstatSync("/etc/passwd");
    await shiftTree(dir, [
      { isuid: true, isgid: false, hostid: 1000000, nsid: 0, maprange: 65536 },
      { isuid: false, isgid: true, hostid: 1000000, nsid: 0, maprange: 65536 },
    ]);
    const f = lstatSync(join(dir, "rootfs", "file"));
    expect([f.uid, f.gid]).toEqual([1000, 5]);
    // lchown drops setuid: the mode is put back.
    expect(f.mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(dir, "rootfs")).uid).toBe(0);
    expect(lstatSync("/etc/passwd").uid).toBe(before.uid);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("our extensions travel in field 1000 and are absent from a plain header (what LXD sends)", () => {
  const h: MigrationHeader = { fs: FsType.RSYNC, idmap: [], snapshotNames: [], snapshots: [], extensions: ["tar"] };
  const wire = encodeHeader(h);
  expect(decodeHeader(wire).extensions).toEqual(["tar"]);
  // Tag of field 1000, length-delimited: a varint of 8002 (0xc2 0x3e).
  expect([...wire].join(",")).toContain([0xc2, 0x3e, 3].join(","));
  expect(decodeHeader(encodeHeader({ ...h, extensions: undefined })).extensions).toBeUndefined();
});
