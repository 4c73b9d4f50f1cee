// File transfer end to end: a real daemon, a real busybox container, `lxd file` and `lxc file`,
// and a hostile container root trying to make transfers touch the host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
let work: string;
/** A name unique to this run, for files an attack might drop on the host. */
const tag = `lxd-files-${process.pid}-${Date.now()}`;

const ok = (...args: string[]) => d.ok(...args);
const sh = (script: string) => ok("exec", "c1", "--", "sh", "-c", script);
const sha = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");
const upper = (path: string) => `${d.dir}/storage-pools/default/containers/c1/upper${path}`;
const files = (path: string) => `/1.0/instances/c1/files?path=${encodeURIComponent(path)}`;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await ok("launch", "busybox", "c1");
  work = mkdtempSync("/tmp/lxd-files-test-");
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
  await d?.stop();
  for (const p of [`/etc/${tag}`, `/${tag}`, `/${tag}-2`]) rmSync(p, { force: true });
});

describe("file transfer with lxd file", () => {
  test("a 5 MB binary file round-trips byte for byte", async () => {
    const data = randomBytes(5 * 1024 * 1024);
    writeFileSync(join(work, "blob"), data);
    await ok("file", "push", join(work, "blob"), "c1/root/blob");
    expect((await sh("sha256sum /root/blob")).split(" ")[0]).toBe(sha(data));
    await ok("file", "pull", "c1/root/blob", join(work, "blob.back"));
    expect(sha(readFileSync(join(work, "blob.back")))).toBe(sha(data));
  });

  test("uid, gid and mode are container ids, seen inside and stored mapped on disk", async () => {
    writeFileSync(join(work, "owned"), "owned\n");
    await ok("file", "push", "--uid", "1000", "--gid", "1001", "--mode", "0640", join(work, "owned"), "c1/root/owned");
    expect((await sh("stat -c '%u %g %a' /root/owned")).trim()).toBe("1000 1001 640");
    const st = statSync(upper("/root/owned"));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1000, 1001, 0o640]);

    // Pushed by (host) root without options: container root inside, 0 on disk (idmapped), never a host id.
    await ok("file", "push", join(work, "owned"), "c1/root/plain");
    expect((await sh("stat -c '%u %g' /root/plain")).trim()).toBe("0 0");
    expect([statSync(upper("/root/plain")).uid, statSync(upper("/root/plain")).gid]).toEqual([0, 0]);

    const r = await d.api("GET", files("/root/owned"));
    expect([r.headers.get("x-lxd-uid"), r.headers.get("x-lxd-gid"), r.headers.get("x-lxd-mode")]).toEqual(["1000", "1001", "0640"]);
    expect(r.headers.get("x-lxd-modified")).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$/);
    expect(r.body).toBe("owned\n");
    const head = await fetch(`http://lxd${files("/root/owned")}`, { method: "HEAD", unix: d.socket } as RequestInit);
    expect([head.status, head.headers.get("x-lxd-uid"), head.headers.get("x-lxd-type"), await head.text()]).toEqual([200, "1000", "file", ""]);
  });

  test("X-LXD-mode in decimal or octal; existing files keep owner and mode (as LXD)", async () => {
    expect((await d.api("POST", files("/root/m1"), "x", { "X-LXD-mode": "384" })).status).toBe(200);
    expect((await d.api("POST", files("/root/m2"), "x", { "X-LXD-mode": "0600" })).status).toBe(200);
    expect((await sh("stat -c %a /root/m1 /root/m2")).trim().split("\n")).toEqual(["600", "600"]);
    expect((await d.api("POST", files("/root/m2"), "y", { "X-LXD-mode": "0777", "X-LXD-uid": "5" })).status).toBe(200);
    expect((await sh("stat -c '%u %a' /root/m2; cat /root/m2")).trim().split("\n")).toEqual(["0 600", "y"]);
    expect((await d.api("POST", files("/root/m3"), "x", { "X-LXD-mode": "rwx" })).status).toBe(400);
    expect((await d.api("POST", files("/root/m3"), "x", { "X-LXD-write": "sideways" })).status).toBe(400);
  });

  test("append, directories, symlinks and delete through the API", async () => {
    expect((await d.api("POST", files("/root/log"), "one\n")).status).toBe(200);
    expect((await d.api("POST", files("/root/log"), "two\n", { "X-LXD-write": "append" })).status).toBe(200);
    expect(await sh("cat /root/log")).toBe("one\ntwo\n");
    // Append never creates (as LXD); the unread body does not upset the daemon.
    expect((await d.api("POST", files("/root/nolog"), "x".repeat(1 << 20), { "X-LXD-write": "append" })).status).toBe(404);

    expect((await d.api("POST", files("/root/d"), undefined, { "X-LXD-type": "directory", "X-LXD-mode": "0700" })).status).toBe(200);
    expect((await d.api("POST", files("/root/d/link"), "../log", { "X-LXD-type": "symlink" })).status).toBe(200);
    expect((await sh("stat -c %a /root/d; readlink /root/d/link")).trim().split("\n")).toEqual(["700", "../log"]);

    const dir = await d.api("GET", files("/root/d"));
    expect(dir.headers.get("x-lxd-type")).toBe("directory");
    expect(dir.body.metadata).toEqual(["link"]);
    // A symlink is reported as such, its target as the body: never followed.
    const link = await d.api("GET", files("/root/d/link"));
    expect([link.headers.get("x-lxd-type"), link.body]).toEqual(["symlink", "../log"]);

    expect((await d.api("DELETE", files("/root/d"))).status).toBe(400); // not empty
    expect((await d.api("DELETE", files("/root/d/link"))).status).toBe(200);
    expect((await d.api("DELETE", files("/root/d"))).status).toBe(200);
    expect((await d.api("GET", files("/root/d"))).status).toBe(404);
    expect((await d.api("GET", "/1.0/instances/c1/files")).body.error).toBe("Missing path argument");
  });

  test("push -p creates parents; push -r and pull -r copy trees with symlinks", async () => {
    writeFileSync(join(work, "deep"), "deep\n");
    await ok("file", "push", "-p", join(work, "deep"), "c1/root/a/b/c/deep");
    expect(await sh("cat /root/a/b/c/deep")).toBe("deep\n");

    const tree = join(work, "tree");
    mkdirSync(join(tree, "sub"), { recursive: true });
    writeFileSync(join(tree, "sub", "f"), "f\n");
    writeFileSync(join(tree, "top"), "top\n");
    symlinkSync("sub/f", join(tree, "link"));
    await ok("file", "push", "-r", tree, "c1/root/");
    expect((await sh("cat /root/tree/top /root/tree/sub/f; readlink /root/tree/link"))).toBe("top\nf\nsub/f\n");

    const back = join(work, "back");
    await ok("file", "pull", "-r", "c1/root/tree", back);
    expect(readFileSync(join(back, "tree", "sub", "f"), "utf8")).toBe("f\n");
    expect(readFileSync(join(back, "tree", "top"), "utf8")).toBe("top\n");
    expect(lstatSync(join(back, "tree", "link")).isSymbolicLink()).toBe(true);

    // edit keeps owner and mode of an existing file.
    await sh("chown 7:8 /root/a/b/c/deep; chmod 600 /root/a/b/c/deep");
    expect((await d.lxdWith({ stdin: "edited\n" }, "file", "edit", "c1/root/a/b/c/deep")).code).toBe(0);
    expect(await sh("cat /root/a/b/c/deep; stat -c '%u %g %a' /root/a/b/c/deep")).toBe("edited\n7 8 600\n");
    await ok("file", "delete", "c1/root/a/b/c/deep");
    expect((await d.lxd("exec", "c1", "--", "test", "-e", "/root/a/b/c/deep")).code).toBe(1);
  });

  test("an unknown instance is 404", async () => {
    expect((await d.api("GET", "/1.0/instances/nope/files?path=/")).status).toBe(404);
  });
});

describe("a stopped instance (through its root filesystem, as LXD)", () => {
  const upper2 = (path: string) => `${d.dir}/storage-pools/default/containers/c2/upper${path}`;
  const sh2 = (script: string) => ok("exec", "c2", "--", "sh", "-c", script);

  beforeAll(async () => {
    await ok("launch", "busybox", "c2");
    // Planted while running: links a hostile root would leave for the next transfer.
    await sh2("echo before > /root/gone; ln -s /etc /root/etc-link; ln -s ../../../../../.. /root/up; " +
      "echo c2-shadow > /etc/shadow; ln -s /etc/shadow /root/shadow-link");
    await ok("stop", "c2", "--force");
  });

  test("push, pull and delete with lxd file; the container sees it all at its next start", async () => {
    const data = randomBytes(2 * 1024 * 1024);
    writeFileSync(join(work, "stopped-blob"), data);
    await ok("file", "push", "--uid", "1000", "--gid", "1001", "--mode", "0640", join(work, "stopped-blob"), "c2/root/blob");
    await ok("file", "push", "-p", join(work, "stopped-blob"), "c2/opt/x/y/blob");
    await ok("file", "pull", "c2/root/blob", join(work, "stopped-back"));
    expect(sha(readFileSync(join(work, "stopped-back")))).toBe(sha(data));
    // Container ids on disk (the idmapped mount at start maps them), never host-shifted ones.
    const st = statSync(upper2("/root/blob"));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1000, 1001, 0o640]);
    const r = await d.api("GET", "/1.0/instances/c2/files?path=/root/blob");
    expect([r.status, r.headers.get("x-lxd-uid"), r.headers.get("x-lxd-gid"), r.headers.get("x-lxd-mode")]).toEqual([200, "1000", "1001", "0640"]);
    const dir = await d.api("GET", "/1.0/instances/c2/files?path=/root");
    expect(dir.body.metadata).toEqual(expect.arrayContaining(["blob", "gone", "etc-link"]));
    // A file of the image layer and one the container wrote, deleted while stopped.
    expect((await d.api("GET", "/1.0/instances/c2/files?path=/etc/passwd")).status).toBe(200);
    await ok("file", "delete", "c2/etc/passwd");
    await ok("file", "delete", "c2/root/gone");
    expect((await d.api("GET", "/1.0/instances/c2/files?path=/root/gone")).status).toBe(404);
    // Nothing stays mounted in between.
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(`${d.dir}/storage-pools/default/exports`);

    await ok("start", "c2");
    expect((await sh2("stat -c '%u %g %a' /root/blob; sha256sum /root/blob /opt/x/y/blob | cut -d' ' -f1")).trim().split("\n"))
      .toEqual(["1000 1001 640", sha(data), sha(data)]);
    expect((await d.lxd("exec", "c2", "--", "test", "-e", "/etc/passwd")).code).toBe(1);
    expect((await d.lxd("exec", "c2", "--", "test", "-e", "/root/gone")).code).toBe(1);
    await ok("stop", "c2", "--force");
  });

  test("lxc file push, pull and delete", async () => {
    writeFileSync(join(work, "lxc-stopped"), "from lxc\n");
    expect((await d.lxc("file", "push", "--mode", "0600", join(work, "lxc-stopped"), "c2/root/lxc")).code).toBe(0);
    const pulled = await d.lxc("file", "pull", "c2/root/lxc", join(work, "lxc-stopped-back"));
    expect(pulled.code).toBe(0);
    expect(readFileSync(join(work, "lxc-stopped-back"), "utf8")).toBe("from lxc\n");
    expect(statSync(upper2("/root/lxc")).mode & 0o777).toBe(0o600);
    expect((await d.lxc("file", "delete", "c2/root/lxc")).code).toBe(0);
    expect(existsSync(upper2("/root/lxc"))).toBe(false);
  });

  test("symlinks pointing outside and .. resolve inside the root filesystem", async () => {
    writeFileSync(join(work, "pwned2"), "pwned\n");
    // Through a directory link to /etc: the container's /etc, not the host's.
    await ok("file", "push", join(work, "pwned2"), `c2/root/etc-link/${tag}`);
    expect(existsSync(`/etc/${tag}`)).toBe(false);
    expect(readFileSync(upper2(`/etc/${tag}`), "utf8")).toBe("pwned\n");
    // Through a relative link climbing past the root, and through .. in the path.
    expect((await d.api("POST", `/1.0/instances/c2/files?path=${encodeURIComponent(`/root/up/${tag}`)}`, "x")).status).toBe(200);
    expect((await d.api("POST", `/1.0/instances/c2/files?path=${encodeURIComponent(`/root/../../../${tag}-2`)}`, "y")).status).toBe(200);
    expect(existsSync(`/${tag}`) || existsSync(`/${tag}-2`)).toBe(false);
    expect(readFileSync(upper2(`/${tag}`), "utf8")).toBe("x");
    expect(readFileSync(upper2(`/${tag}-2`), "utf8")).toBe("y");
    // A link to /etc/shadow reads the container's file; the link itself is reported as one.
    const link = await d.api("GET", "/1.0/instances/c2/files?path=/root/shadow-link");
    expect([link.headers.get("x-lxd-type"), link.body]).toEqual(["symlink", "/etc/shadow"]);
    const r = await d.lxd("file", "pull", "c2/root/shadow-link", "-");
    expect([r.code, r.stdout]).toEqual([0, "c2-shadow\n"]);
    const passwd = await d.api("GET", `/1.0/instances/c2/files?path=${encodeURIComponent("../../../../etc/group")}`);
    expect(passwd.status).toBe(200);
    expect(passwd.body).not.toBe(readFileSync("/etc/group", "utf8"));
  });
});

describe("LXD's lxc client", () => {
  test("lxc file push, pull (also -r) and delete", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(work, "lxc-in"), data);
    const push = await d.lxc("file", "push", "--uid", "1000", "--mode", "0600", join(work, "lxc-in"), "c1/root/lxc-file");
    expect(push.code).toBe(0);
    expect((await sh("stat -c '%u %a' /root/lxc-file")).trim()).toBe("1000 600");
    const pull = await d.lxc("file", "pull", "c1/root/lxc-file", join(work, "lxc-out"));
    expect(pull.code).toBe(0);
    expect(sha(readFileSync(join(work, "lxc-out")))).toBe(sha(data));

    const tree = join(work, "lxc-tree");
    mkdirSync(join(tree, "x"), { recursive: true });
    writeFileSync(join(tree, "x", "y"), "y\n");
    expect((await d.lxc("file", "push", "-r", tree, "c1/root/")).code).toBe(0);
    expect(await sh("cat /root/lxc-tree/x/y")).toBe("y\n");
    const pulled = join(work, "lxc-pulled");
    expect((await d.lxc("file", "pull", "-r", "c1/root/lxc-tree", pulled)).code).toBe(0);
    expect(readFileSync(join(pulled, "lxc-tree", "x", "y"), "utf8")).toBe("y\n");

    expect((await d.lxc("file", "push", "-p", join(work, "lxc-in"), "c1/root/p/q/r")).code).toBe(0);
    expect((await d.lxc("file", "delete", "c1/root/lxc-file")).code).toBe(0);
    expect((await d.lxd("exec", "c1", "--", "test", "-e", "/root/lxc-file")).code).toBe(1);
  });
});

describe("a hostile container cannot make transfers touch the host", () => {
  test("a symlink to /etc inside the container is resolved inside it", async () => {
    await sh("ln -s /etc /root/etc");
    writeFileSync(join(work, "pwned"), "pwned\n");
    await d.lxd("file", "push", join(work, "pwned"), `c1/root/etc/${tag}`);
    expect(existsSync(`/etc/${tag}`)).toBe(false);
    // It went to the container's own /etc (container root may write there).
    expect(await sh(`cat /etc/${tag}`)).toBe("pwned\n");
  });

  test("a symlink to /etc/shadow yields the container's file, never the host's", async () => {
    await sh("echo container-shadow > /etc/shadow; ln -s /etc/shadow /root/link-to-host-shadow");
    const link = await d.api("GET", files("/root/link-to-host-shadow"));
    expect([link.headers.get("x-lxd-type"), link.body]).toEqual(["symlink", "/etc/shadow"]);
    // Following it (lxd file pull to stdout follows links) reads inside the container.
    const r = await d.lxd("file", "pull", "c1/root/link-to-host-shadow", "-");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("container-shadow\n");
  });

  test("../ in paths stays inside the container", async () => {
    const containerPasswd = await sh("cat /etc/passwd");
    const r = await d.api("GET", files("../../../../../etc/passwd"));
    expect(r.status).toBe(200);
    expect(r.body).toBe(containerPasswd);
    expect(r.body).not.toBe(readFileSync("/etc/passwd", "utf8"));
    expect((await d.api("POST", files(`/root/../../../../${tag}`), "x")).status).toBe(200);
    expect(existsSync(`/${tag}`)).toBe(false);
    expect(await sh(`cat /${tag}`)).toBe("x");
  });

  test("a hard link made inside is just a file inside", async () => {
    await sh("ln /etc/passwd /root/hard");
    expect((await d.api("GET", files("/root/hard"))).body).toBe(await sh("cat /etc/passwd"));
  });

  test("device nodes and fifos are refused, not read (no hang)", async () => {
    await sh("mkfifo /root/fifo");
    const started = Date.now();
    for (const path of ["/dev/zero", "/root/fifo", "/dev/null"]) {
      const r = await d.api("GET", files(path));
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/not a regular file, directory or symlink/);
    }
    expect((await d.api("POST", files("/root/fifo"), "x")).status).toBe(400);
    expect((await d.api("POST", files("/dev/null"), "x")).status).toBe(400);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("writes run as the container's root: host-only files under /proc are refused", async () => {
    const before = readFileSync("/proc/sys/kernel/panic", "utf8");
    // The same value: nothing would change even if the kernel let it through.
    const r = await d.api("POST", files("/proc/sys/kernel/panic"), before);
    expect(r.status).toBe(403);
    expect(readFileSync("/proc/sys/kernel/panic", "utf8")).toBe(before);
  });

  test("a symlink pushed with a host target stays a plain symlink inside", async () => {
    expect((await d.api("POST", files("/root/hostlink"), "/etc/hostname", { "X-LXD-type": "symlink" })).status).toBe(200);
    expect(readlinkSync(upper("/root/hostlink"))).toBe("/etc/hostname");
    // Writing through it lands in the container's /etc/hostname.
    const hostHostname = readFileSync("/etc/hostname", "utf8");
    expect((await d.api("POST", files("/root/hostlink"), "c1-name\n")).status).toBe(200);
    expect(readFileSync("/etc/hostname", "utf8")).toBe(hostHostname);
    expect(await sh("cat /etc/hostname")).toBe("c1-name\n");
  });
});
