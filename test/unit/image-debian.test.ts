import { describe, expect, test } from "bun:test";
import { checkDebianOptions, DEFAULT_MIRROR } from "../../src/image/build-debian.ts";

describe("lxd image build debian: options", () => {
  test("defaults: minbase from deb.debian.org", () => {
    expect(checkDebianOptions({ release: "bookworm" })).toEqual({ release: "bookworm", variant: "minbase", mirror: DEFAULT_MIRROR, include: [] });
  });

  test("bad input is refused before anything is downloaded", () => {
    expect(() => checkDebianOptions({ release: "../etc" })).toThrow('invalid Debian release "../etc"');
    expect(() => checkDebianOptions({ release: "bookworm", variant: "huge" })).toThrow('invalid variant "huge"');
    expect(() => checkDebianOptions({ release: "bookworm", mirror: "ftp://x" })).toThrow('invalid mirror "ftp://x"');
    expect(() => checkDebianOptions({ release: "bookworm", include: ["curl", "--force"] })).toThrow('invalid package name "--force"');
  });
});
