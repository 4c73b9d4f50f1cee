// What LXD 5.0's clients rely on beyond lxc's own paths: the legacy /1.0/containers* API as
// pylxd 2.2 drives it (raw REST, and pylxd itself when python3-pylxd is installed), exec
// without a control websocket, and image uploads told apart from JSON by their body.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpus } from "node:os";
import { statfsSync } from "node:fs";
import { busyboxImage, lxdBinary, run, startInitializedDaemon, type ApiResult, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;

beforeAll(async () => {
  // No LXCFS where the daemon looks: a condition it must report as a warning.
  d = await startInitializedDaemon({ env: { LXD_LXCFS_DIR: "/nonexistent/lxcfs" } });
});

afterAll(async () => {
  await d?.stop();
});

/** Waits for the operation of a 202 answer and returns it (fails the test on a failed one). */
async function done(r: ApiResult): Promise<any> {
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  const op = (await d.wait(r)).body.metadata;
  expect(op.status, op.err).toBe("Success");
  return op;
}

/** Connects one websocket of an operation. */
const connect = (op: string, secret: string) => new Promise<WebSocket>((resolve, reject) => {
  const ws = new WebSocket(`ws+unix://${d.socket}:${op}/websocket?secret=${secret}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => resolve(ws);
  ws.onerror = reject;
});

describe("/1.0/containers is /1.0/instances (as pylxd uses it)", () => {
  test("create, list, state, config, exec, files, snapshots, logs, rename, delete", async () => {
    await done(await d.api("POST", "/1.0/containers", { name: "pc1", source: { type: "image", alias: "busybox" } }));
    const list = await d.api("GET", "/1.0/containers");
    expect(list.body.metadata).toContain("/1.0/instances/pc1");
    expect((await d.api("GET", "/1.0/containers/pc1")).body.metadata.name).toBe("pc1");

    await done(await d.api("PUT", "/1.0/containers/pc1/state", { action: "start", timeout: 30 }));
    expect((await d.api("GET", "/1.0/containers/pc1/state")).body.metadata.status).toBe("Running");

    const patched = await d.api("PATCH", "/1.0/containers/pc1", { config: { "user.from": "pylxd" } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const shown = await d.api("GET", "/1.0/containers/pc1");
    expect(shown.body.metadata.config["user.from"]).toBe("pylxd");
    const put = { ...shown.body.metadata, config: { ...shown.body.metadata.config, "user.put": "yes" } };
    await done(await d.api("PUT", "/1.0/containers/pc1", put));
    expect((await d.api("GET", "/1.0/instances/pc1")).body.metadata.config["user.put"]).toBe("yes");

    // pylxd's exec: stdin, stdout and stderr websockets, never the control one.
    const ex = await d.api("POST", "/1.0/containers/pc1/exec", {
      command: ["sh", "-c", "cat; echo err >&2; exit 4"], "wait-for-websocket": true, interactive: false, environment: {},
    });
    expect(ex.status).toBe(202);
    const fds = ex.body.metadata.metadata.fds;
    const [stdin, stdout, stderr] = await Promise.all(["0", "1", "2"].map((k) => connect(ex.body.operation, fds[k])));
    let out = "";
    let err = "";
    // Text frames are LXD's end-of-stream barrier (empty); the output comes as binary frames.
    const text = (m: MessageEvent) => (typeof m.data === "string" ? m.data : new TextDecoder().decode(m.data as ArrayBuffer));
    stdout!.onmessage = (m) => (out += text(m));
    stderr!.onmessage = (m) => (err += text(m));
    stdin!.send(new TextEncoder().encode("from stdin\n"));
    stdin!.close();
    const op = (await d.wait(ex.body.operation, 30)).body.metadata;
    expect(op.status, op.err).toBe("Success");
    expect(op.metadata.return).toBe(4);
    await Bun.sleep(50);
    expect(out).toBe("from stdin\n");
    expect(err).toBe("err\n");

    const pushed = await d.api("POST", "/1.0/containers/pc1/files?path=/root/hello.txt", "hello pylxd\n",
      { "Content-Type": "application/octet-stream", "X-LXD-type": "file", "X-LXD-mode": "0644" });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);
    expect((await d.api("GET", "/1.0/containers/pc1/files?path=/root/hello.txt")).body).toBe("hello pylxd\n");

    await done(await d.api("POST", "/1.0/containers/pc1/snapshots", { name: "s0" }));
    expect((await d.api("GET", "/1.0/containers/pc1/snapshots")).body.metadata).toEqual(["/1.0/instances/pc1/snapshots/s0"]);
    expect((await d.api("GET", "/1.0/containers/pc1/snapshots/s0")).body.metadata.name).toBe("s0");
    expect((await d.api("GET", "/1.0/containers/pc1/logs")).status).toBe(200);
    const consoleLog = await d.api("GET", "/1.0/containers/pc1/console");
    expect(consoleLog.status).toBe(200);

    await done(await d.api("PUT", "/1.0/containers/pc1/state", { action: "stop", timeout: 30, force: true }));
    await done(await d.api("POST", "/1.0/containers/pc1", { name: "pc2" }));
    expect((await d.api("GET", "/1.0/instances/pc2")).status).toBe(200);
    await done(await d.api("DELETE", "/1.0/containers/pc2"));
    expect((await d.api("GET", "/1.0/containers/pc2")).status).toBe(404);
  });

  test("pylxd 2.2 creates, starts, execs in and deletes a container", async () => {
    const probe = await run(["/usr/bin/python3", "-c", "import pylxd"]);
    if (probe.code !== 0) {
      console.warn("skipped: python3-pylxd is not installed (apt-get install python3-pylxd)");
      return;
    }
    const script = `
import pylxd
c = pylxd.Client()
ct = c.containers.create({"name": "py1", "source": {"type": "image", "alias": "busybox"}}, wait=True)
ct.start(wait=True)
r = ct.execute(["sh", "-c", "hostname; echo oops >&2; exit 3"])
print("exec", r.exit_code, r.stdout.strip(), r.stderr.strip())
ct.files.put("/root/f.txt", b"via pylxd")
print("file", ct.files.get("/root/f.txt").decode())
print("names", sorted(x.name for x in c.containers.all()))
ct.stop(wait=True, force=True)
ct.delete(wait=True)
print("exists", c.containers.exists("py1"))
`;
    const r = await run(["/usr/bin/python3", "-c", script], { env: { LXD_DIR: d.dir }, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("exec 3 py1 oops");
    expect(r.stdout).toContain("file via pylxd");
    expect(r.stdout).toContain("names ['py1']");
    expect(r.stdout).toContain("exists False");
  });
});

describe("image uploads are told from JSON by their body, as LXD does", () => {
  for (const type of [undefined, "application/x-www-form-urlencoded", "text/plain"]) {
    test(`a tarball sent as ${type ?? "no Content-Type"} is an upload`, async () => {
      const file = await busyboxImage();
      const fp = new Bun.CryptoHasher("sha256").update(await Bun.file(file).bytes()).digest("hex");
      const old = await d.api("DELETE", `/1.0/images/${fp}`);
      if (old.status === 202) await d.wait(old);
      const res = await fetch("http://lxd/1.0/images", {
        method: "POST", unix: d.socket, body: await Bun.file(file).bytes(),
        headers: type ? { "Content-Type": type } : {},
      } as RequestInit);
      const body = await res.json() as any;
      expect(res.status, JSON.stringify(body)).toBe(202);
      const op = (await d.wait(body.operation)).body.metadata;
      expect(op.status, op.err).toBe("Success");
      expect(op.metadata.fingerprint).toBe(fp);
      expect((await d.api("GET", `/1.0/images/${fp}`)).status).toBe(200);
      // The other tests launch "busybox", whose alias went with the deleted image.
      await d.ok("image", "alias", "create", "busybox", fp);
    });
  }

  test("a body declared JSON must be JSON; JSON without a type is still a request", async () => {
    const bad = await d.api("POST", "/1.0/images", "not json", { "Content-Type": "application/json" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("Malformed JSON");
    const res = await fetch("http://lxd/1.0/images", {
      method: "POST", unix: d.socket, body: JSON.stringify({ source: { type: "nonsense" } }),
    } as RequestInit);
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toContain("nonsense");
  });
});

describe("resources", () => {
  test("lxc info --resources and lxc storage info read /1.0/resources and the pool's resources", async () => {
    const r = (await d.api("GET", "/1.0/resources")).body.metadata;
    expect(r.cpu.total).toBe(cpus().length);
    expect(r.cpu.sockets[0].cores.length).toBeGreaterThan(0);
    expect(r.memory.total).toBeGreaterThan(r.memory.used);
    const info = await d.lxc("info", "--resources");
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^CPU \(/m);
    expect(info.stdout).toMatch(/^Memory:\n {2}Free: .*\n {2}Used: .*\n {2}Total: /m);

    const pool = (await d.api("GET", "/1.0/storage-pools/default/resources")).body.metadata;
    const fs = statfsSync(d.dir);
    expect(pool.space.total).toBe(fs.blocks * fs.bsize);
    expect(pool.inodes.total).toBe(fs.files);
    const storage = await d.lxc("storage", "info", "default");
    expect(storage.code, storage.stderr).toBe(0);
    expect(storage.stdout).toContain("total space:");
    expect((await d.api("GET", "/1.0/storage-pools/nope/resources")).status).toBe(404);
  });
});

describe("lxd monitor --type logging", () => {
  /** `lxd monitor ARGS` in the background, its output collected. */
  function monitor(...args: string[]) {
    const proc = Bun.spawn([lxdBinary(), "monitor", "--type", "logging", "--format", "json", ...args], {
      env: { ...process.env, LXD_DIR: d.dir }, stdout: "pipe", stderr: "pipe",
    });
    const lines: any[] = [];
    (async () => {
      let buf = "";
      for await (const chunk of proc.stdout) {
        buf += new TextDecoder().decode(chunk);
        const parts = buf.split("\n");
        buf = parts.pop()!;
        for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
      }
    })();
    return { proc, lines };
  }

  test("streams the daemon's log records, filtered by --loglevel", async () => {
    const all = monitor();
    const info = monitor("--loglevel", "info");
    try {
      const port = 20000 + Math.floor(Math.random() * 20000);
      for (let i = 0; i < 100 && !info.lines.some((l) => l.metadata.message === "HTTPS listener started"); i++) {
        await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
        await d.ok("config", "unset", "core.https_address");
        await Bun.sleep(100);
      }
      const started = info.lines.find((l) => l.metadata.message === "HTTPS listener started");
      expect(started?.type).toBe("logging");
      expect(started?.metadata.level).toBe("info");
      expect(started?.metadata.context.address).toBe(`127.0.0.1:${port}`);
      expect(info.lines.every((l) => l.metadata.level !== "debug")).toBe(true);
      expect(all.lines.some((l) => l.metadata.level === "debug" && l.metadata.message === "Handling API request")).toBe(true);
      const bad = await d.lxd("monitor", "--loglevel", "loud");
      expect(bad.stderr).toContain('Invalid log level "loud"');
    } finally {
      all.proc.kill();
      info.proc.kill();
    }
  });
});

describe("lists as LXD shows them", () => {
  test("storage volume list shows container and image volumes beside custom ones; filter= narrows it", async () => {
    await d.ok("init", "busybox", "vol1");
    await d.ok("storage", "volume", "create", "default", "data");
    const fp = (await d.api("GET", "/1.0/images/aliases/busybox")).body.metadata.target;
    const csv = (await d.lxc("storage", "volume", "list", "default", "--format", "csv")).stdout;
    expect(csv).toContain("container,vol1,");
    expect(csv).toContain(`image,${fp},`);
    expect(csv).toContain("custom,data,");
    const urls = (await d.api("GET", "/1.0/storage-pools/default/volumes")).body.metadata;
    expect(urls).toContain("/1.0/storage-pools/default/volumes/container/vol1");
    const containers = (await d.api("GET", "/1.0/storage-pools/default/volumes/container?recursion=1")).body.metadata;
    expect(containers.map((v: { name: string }) => v.name)).toEqual(["vol1"]);
    expect(containers[0].used_by).toEqual(["/1.0/instances/vol1"]);
    const filtered = await d.api("GET", `/1.0/storage-pools/default/volumes?filter=${encodeURIComponent("type eq custom")}`);
    expect(filtered.body.metadata).toEqual(["/1.0/storage-pools/default/volumes/custom/data"]);
    expect(await d.ok("storage", "volume", "list", "default", "type=custom", "--format", "csv")).toStartWith("custom,data,");
    await d.ok("delete", "vol1");
    await d.ok("storage", "volume", "delete", "default", "data");
  });

  test("network list shows the host's interfaces as unmanaged", async () => {
    const nets = (await d.api("GET", "/1.0/networks?recursion=1")).body.metadata;
    expect(nets.find((n: { name: string }) => n.name === "lo")).toMatchObject({ managed: false, type: "loopback" });
    expect(nets.find((n: { name: string }) => n.name === "lxdbr0")).toMatchObject({ managed: true, type: "bridge" });
    // lxc itself leaves loopback and unknown (veth) interfaces out of its table.
    const table = (await d.lxc("network", "list", "--format", "csv")).stdout;
    expect(table).toMatch(/^\S+,(physical|bridge),NO,/m);
    expect(table).toMatch(/^lxdbr0,bridge,YES,/m);
    expect((await d.api("GET", "/1.0/networks/lo")).body.metadata.managed).toBe(false);
  });
});

test("filter= on /1.0/images, as LXD's api_filtering", async () => {
  const q = (f: string) => d.api("GET", `/1.0/images?filter=${encodeURIComponent(f)}`);
  const all = (await d.api("GET", "/1.0/images")).body.metadata;
  expect(all.length).toBeGreaterThan(0);
  expect((await q("properties.os eq busybox")).body.metadata).toEqual(all);
  expect((await q("properties.os eq debian")).body.metadata).toEqual([]);
  expect((await q("public eq true or properties.os ne busybox")).body.metadata).toEqual([]);
  const bad = await q("properties.os is busybox");
  expect(bad.status).toBe(400);
  expect(bad.body.error).toContain("Invalid filter");
});

test("exec starts with the client's first websocket; what it wrote before the data sockets came reaches them", async () => {
  await d.ok("launch", "busybox", "early1");
  try {
    const ex = await d.api("POST", "/1.0/instances/early1/exec", {
      command: ["sh", "-c", "echo early; echo early-err >&2; touch /root/ran; exit 3"], "wait-for-websocket": true, interactive: false, environment: {},
    });
    expect(ex.status).toBe(202);
    const fds = ex.body.metadata.metadata.fds;
    // Debian's lxc connects control first, then 0, 1 and 2 one after another.
    const control = await connect(ex.body.operation, fds.control);
    let ran = false;
    for (let i = 0; i < 100 && !ran; i++, await Bun.sleep(50)) {
      ran = (await d.api("GET", "/1.0/instances/early1/files?path=/root/ran")).status === 200;
    }
    expect(ran).toBe(true);
    const text = (m: MessageEvent) => (typeof m.data === "string" ? m.data : new TextDecoder().decode(m.data as ArrayBuffer));
    let out = "";
    let err = "";
    const stdout = await connect(ex.body.operation, fds["1"]);
    stdout.onmessage = (m) => (out += text(m));
    const stderr = await connect(ex.body.operation, fds["2"]);
    stderr.onmessage = (m) => (err += text(m));
    const stdin = await connect(ex.body.operation, fds["0"]);
    stdin.send("");
    const op = (await d.wait(ex.body.operation, 30)).body.metadata;
    expect(op.status, op.err).toBe("Success");
    expect(op.metadata.return).toBe(3);
    for (let i = 0; i < 50 && !(out && err); i++) await Bun.sleep(20);
    expect(out).toBe("early\n");
    expect(err).toBe("early-err\n");
    for (const ws of [control, stdout, stderr, stdin]) ws.close();
  } finally {
    await d.lxd("delete", "-f", "early1");
  }
});

test("exec record-output keeps stdout and stderr as instance log files, as LXD does", async () => {
  await d.ok("launch", "busybox", "rec1");
  try {
    const r = await d.api("POST", "/1.0/instances/rec1/exec", {
      command: ["sh", "-c", "echo out; echo err >&2; cat; exit 2"], "wait-for-websocket": false, "record-output": true, interactive: false,
    });
    const op = (await d.wait(r, 30)).body.metadata;
    expect(op.status, op.err).toBe("Success");
    expect(op.metadata.return).toBe(2);
    const { 1: stdout, 2: stderr } = op.metadata.output;
    expect(stdout).toMatch(/^\/1\.0\/instances\/rec1\/logs\/exec_[0-9a-f]+\.stdout$/);
    expect((await d.api("GET", stdout)).body).toBe("out\n");
    expect((await d.api("GET", stderr)).body).toBe("err\n");
    expect((await d.api("GET", "/1.0/instances/rec1/logs")).body.metadata).toEqual(expect.arrayContaining([stdout, stderr]));
    expect((await d.api("DELETE", stdout)).status).toBe(200);
    expect((await d.api("GET", stdout)).status).toBe(404);
    expect((await d.api("DELETE", "/1.0/instances/rec1/logs/lxc.log")).status).toBe(400);
  } finally {
    await d.ok("delete", "-f", "rec1");
  }
});

test("warnings: the daemon reports what it noticed; list, show, ack and delete (ours and lxc's)", async () => {
  const list = async (...args: string[]) => (await d.ok("warning", "list", "--format", "csv", ...args)).trim().split("\n").filter(Boolean);
  const line = (await list()).find((l) => l.includes("LXCFS isn't running"));
  expect(line).toMatch(/^[0-9a-f-]{36},LXCFS isn't running,NEW,LOW,1,/);
  const uuid = line!.split(",")[0]!;
  const lxcList = await d.lxc("warning", "list", "--format", "csv");
  expect(lxcList.code, lxcList.stderr).toBe(0);
  expect(lxcList.stdout).toContain(uuid);
  expect(await d.ok("warning", "show", uuid.slice(0, 8))).toContain("type: LXCFS isn't running");

  await d.ok("warning", "ack", uuid);
  expect((await list()).some((l) => l.startsWith(uuid))).toBe(false);
  expect((await list("--all")).find((l) => l.startsWith(uuid))).toContain(",ACKNOWLEDGED,");
  const lxcDelete = await d.lxc("warning", "delete", uuid);
  expect(lxcDelete.code, lxcDelete.stderr).toBe(0);
  expect((await d.api("GET", `/1.0/warnings/${uuid}`)).status).toBe(404);
  expect((await d.lxd("warning", "show", uuid)).stderr).toContain("not found");
});

test("/1.0/metrics in LXD's OpenMetrics text; a metrics certificate reads it and nothing else", async () => {
  await d.ok("launch", "busybox", "m1", "-c", "limits.memory=128MiB");
  try {
    await d.ok("exec", "m1", "--", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
    const res = await fetch("http://lxd/1.0/metrics", { unix: d.socket } as RequestInit);
    expect(res.headers.get("content-type")).toContain("openmetrics-text");
    const text = await res.text();
    const value = (metric: string, labels: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${metric}{${labels}`));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    const id = 'name="m1",project="default",type="container"';
    expect(text).toContain("# TYPE lxd_cpu_seconds_total counter");
    expect(value("lxd_cpu_seconds_total", `cpu="0",mode="user",${id}`)).toBeGreaterThan(0);
    expect(value("lxd_memory_MemTotal_bytes", id)).toBe(128 * 1024 * 1024);
    expect(value("lxd_procs_total", id)).toBeGreaterThanOrEqual(1);
    expect(value("lxd_filesystem_size_bytes", `device="",fstype="",mountpoint="/",${id}`)).toBeGreaterThan(0);
    expect(value("lxd_network_receive_bytes_total", `device="lo",${id}`)).toBeGreaterThanOrEqual(0);
    expect(text.endsWith("# EOF\n")).toBe(true);

    // A metrics certificate, added with Debian's lxc as an LXD user would.
    const work = `${d.dir}/metrics-cert`;
    await run(["mkdir", "-p", work]);
    const gen = await run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-nodes", "-days", "1",
      "-subj", "/CN=prometheus", "-keyout", `${work}/key.pem`, "-out", `${work}/cert.pem`]);
    expect(gen.code, gen.stderr).toBe(0);
    const added = await d.lxc("config", "trust", "add", "--type=metrics", `${work}/cert.pem`);
    expect(added.code, added.stderr).toBe(0);
    expect(await d.ok("config", "trust", "list", "--format", "csv")).toMatch(/^metrics,cert.pem,prometheus,/m);
    const port = 20000 + Math.floor(Math.random() * 20000);
    await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
    const tls = { rejectUnauthorized: false, cert: await Bun.file(`${work}/cert.pem`).text(), key: await Bun.file(`${work}/key.pem`).text() };
    const scraped = await fetch(`https://127.0.0.1:${port}/1.0/metrics`, { tls } as RequestInit);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain(`lxd_procs_total{${id}}`);
    const other = await fetch(`https://127.0.0.1:${port}/1.0/instances`, { tls } as RequestInit);
    expect(other.status).toBe(403);
    await d.ok("config", "unset", "core.https_address");
  } finally {
    await d.ok("delete", "-f", "m1");
  }
});

test("the container's lo is up before init runs, whatever the image does", async () => {
  // An init that only prints lo's flags (the busybox image's own rcS would bring lo up later).
  await d.lxd("launch", "busybox", "lo1", "-c", "raw.lxc=lxc.init.cmd = /bin/cat /sys/class/net/lo/flags");
  try {
    let out = "";
    // Until cat's line is there: before init writes, the log may be empty or not exist yet (a 404 body).
    for (let i = 0; i < 300 && !/^0x[0-9a-f]+$/.test(out.trim()); i++, await Bun.sleep(100)) {
      const r = await d.api("GET", "/1.0/instances/lo1/logs/console.log");
      out = r.status === 200 && typeof r.body === "string" ? r.body : "";
    }
    expect(Number.parseInt(out.trim(), 16) & 1).toBe(1); // IFF_UP
  } finally {
    await d.lxd("delete", "-f", "lo1");
  }
});
