import { expect, test } from "bun:test";
import { KeyedLock } from "../../src/lock.ts";

test("one key runs in call order, a failure does not block the next, other keys run alongside", async () => {
  const lock = new KeyedLock();
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const a1 = lock.run("a", async () => { await gate; order.push("a1"); });
  const a2 = lock.run("a", async () => { order.push("a2"); throw new Error("boom"); });
  const a3 = lock.run("a", async () => { order.push("a3"); return 3; });
  const b1 = lock.run("b", async () => { order.push("b1"); });
  await b1;
  expect(order).toEqual(["b1"]);
  release();
  await a1;
  await expect(a2).rejects.toThrow("boom");
  expect(await a3).toBe(3);
  expect(order).toEqual(["b1", "a1", "a2", "a3"]);
  await Bun.sleep(0);
  expect(lock.size).toBe(0);
});
