// Compatibility: the `lxc` client from Debian's lxd-client package, pointed at our unix socket.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
});

afterAll(async () => {
  await d?.stop();
});

const lxc = async (...args: string[]) => {
  const r = await d.lxc(...args);
  return { ...r, all: `${r.stdout}\n${r.stderr}` };
};

test("lxc list, launch, exec, stop --force, delete", async () => {
  const list = await lxc("list");
  expect(list.code).toBe(0);
  expect(list.stdout).toContain("NAME");

  const launch = await lxc("launch", "busybox", "c1");
  expect(launch.code, launch.all).toBe(0);

  const listed = await lxc("list", "--format", "csv", "-c", "ns");
  expect(listed.stdout.trim()).toBe("c1,RUNNING");

  expect((await lxc("exec", "c1", "--", "true")).code).toBe(0);
  expect((await lxc("exec", "c1", "--", "sh", "-c", "exit 3")).code).toBe(3);
  const out = await lxc("exec", "c1", "--", "hostname");
  expect(out.stdout.trim()).toBe("c1");

  const stop = await lxc("stop", "c1", "--force");
  expect(stop.code, stop.all).toBe(0);
  const del = await lxc("delete", "c1");
  expect(del.code, del.all).toBe(0);
  expect((await lxc("list", "--format", "csv")).stdout.trim()).toBe("");
});

test("lxc image list and operation list", async () => {
  const images = await lxc("image", "list", "--format", "csv");
  expect(images.code, images.all).toBe(0);
  expect(images.stdout).toContain("busybox");
  expect((await lxc("operation", "list")).code).toBe(0);
});
