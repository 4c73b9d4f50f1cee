// Progress lines: bars with speed on a terminal, quiet plain lines otherwise; LXD's progress strings.
import { expect, test } from "bun:test";
import { operationProgress, Progress, withBar } from "../../src/cli/progress.ts";
import { byteProgress } from "../../src/image/progress.ts";
import { bytesSI } from "../../src/config/values.ts";

const sink = (isTTY: boolean) => {
  const written: string[] = [];
  return { out: { isTTY, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream, written };
};

test("bars on a terminal", () => {
  expect(withBar("Unpack: 50% (1.00MB/s)", 10)).toBe("Unpack: [====>     ]  50% (1.00MB/s)");
  expect(withBar("Unpack: 100% (1.00MB/s)", 4)).toBe("Unpack: [====] 100% (1.00MB/s)");
  expect(withBar("Image pack: 12.00MB (3.00MB/s)")).toBe("Image pack: 12.00MB (3.00MB/s)");
  const t = sink(true);
  const p = new Progress(t.out);
  p.update("Unpack: 10% (1B/s)");
  p.done("ok");
  expect(t.written[0]).toStartWith("\rUnpack: [");
  expect(t.written.at(-1)).toBe("ok\n");
});

test("downloads off a terminal: a labelled line per 10% step, even for quick work", () => {
  const t = sink(false);
  const p = new Progress(t.out, false, { label: "Retrieving image", deciles: true });
  for (const pct of [0, 5, 45, 48, 100]) p.update(`metadata: ${pct}% (1.00MB/s)`);
  p.done();
  expect(t.written).toEqual([
    "Retrieving image: metadata: 0% (1.00MB/s)\n", "Retrieving image: metadata: 45% (1.00MB/s)\n", "Retrieving image: metadata: 100% (1.00MB/s)\n",
  ]);
  const tty = sink(true);
  new Progress(tty.out, false, { label: "Retrieving image" }).update("rootfs: 50% (1.00MB/s)");
  expect(tty.written[0]).toStartWith("\rRetrieving image: rootfs: [");
});

test("no redraws off a terminal for quick work", () => {
  const t = sink(false);
  const p = new Progress(t.out);
  p.update("Unpack: 10% (1B/s)");
  p.done("done");
  expect(t.written).toEqual(["done\n"]);
});

test("operation metadata and LXD-style strings", () => {
  expect(operationProgress({ fingerprint: "x", create_image_from_container_pack_progress: "Image pack: 1.00MB (1.00MB/s)" })).toBe("Image pack: 1.00MB (1.00MB/s)");
  expect(operationProgress(null)).toBeUndefined();
  expect(bytesSI(999)).toBe("999B");
  expect(bytesSI(1_500_000)).toBe("1.50MB");
  const seen: Record<string, unknown>[] = [];
  const report = byteProgress((m) => seen.push(m), "k", "Label", 200, 0);
  report(100);
  report(200);
  expect(String(seen[0]!.k)).toMatch(/^Label: 50% \(\S+\/s\)$/);
  expect(String(seen[1]!.k)).toMatch(/^Label: 100% /);
});
