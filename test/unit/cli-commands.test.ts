// The CLI as a process against a fake daemon: request shapes, printed output, exit codes, help.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { error, FakeLxd, sync } from "./client-fake-server.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
let fake: FakeLxd;
const state = { pools: [] as unknown[], profileDevices: {} as Record<string, unknown>, status: "Running" };

async function lxd(args: string[], stdin: string | null = null) {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    env: { ...process.env, LXD_DIR: fake.dir, TERM: "xterm" },
    stdin: stdin === null ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

beforeAll(() => {
  fake = new FakeLxd();
  fake.routes.push((req, url, body) => {
    const p = url.pathname;
    if (p === "/1.0") return sync({ api_extensions: ["instance_create_start"], config: {}, environment: { server_version: "5.0.2" } });
    if (p === "/1.0/images/aliases/busybox") return sync({ name: "busybox", target: "f".repeat(64), description: "", type: "container" });
    if (p === `/1.0/images/${"f".repeat(64)}`) return sync({ fingerprint: "f".repeat(64) });
    if (p === "/1.0/instances" && req.method === "POST") {
      const { res, op } = fake.operation("task");
      op.finish("Success");
      return res;
    }
    if (p === "/1.0/instances/missing") return error(404, "Instance not found");
    if (p === "/1.0/instances/c1" && req.method === "GET") return sync({ name: "c1", status: state.status, ephemeral: false });
    if (p === "/1.0/instances/c1/state" && req.method === "PUT") {
      state.status = JSON.parse(body).action === "stop" ? "Stopped" : "Running";
      const { res, op } = fake.operation("task");
      op.finish("Success");
      return res;
    }
    if (p === "/1.0/instances/c1" && req.method === "DELETE") {
      const { res, op } = fake.operation("task");
      op.finish("Success");
      return res;
    }
    if (p === "/1.0/images" && req.method === "POST") {
      const { res, op } = fake.operation("task");
      op.finish("Success", { fingerprint: new Bun.CryptoHasher("sha256").update(body).digest("hex"), size: String(body.length) });
      return res;
    }
    if (p === "/1.0/images/aliases" && req.method === "POST") return sync({});
    if (p === "/1.0/storage-pools" && req.method === "GET") return sync(state.pools);
    if (p === "/1.0/storage-pools" && req.method === "POST") {
      state.pools.push({ name: JSON.parse(body).name });
      return sync({});
    }
    if (p === "/1.0/profiles/default" && req.method === "GET") return sync({ name: "default", config: {}, devices: state.profileDevices, used_by: [] }, { ETag: "pe" });
    if (p === "/1.0/profiles/default" && req.method === "PATCH") {
      state.profileDevices = JSON.parse(body).devices;
      return sync({});
    }
    return undefined;
  });
});

afterAll(() => fake.stop());

describe("exec", () => {
  test("pipes stdin, splits stdout/stderr and exits with the command's code", async () => {
    fake.execScript = async ({ interactive, command, stdin, out, err }) => {
      out(`${interactive}:${command.join(" ")}:${new TextDecoder().decode(await stdin())}`);
      err("to stderr\n");
      return 42;
    };
    const r = await lxd(["exec", "c1", "--", "sh", "-c", "exit 42"], "input data");
    expect(r.stdout).toBe("false:sh -c exit 42:input data");
    expect(r.stderr).toBe("to stderr\n");
    expect(r.code).toBe(42);
    const post = fake.requests.findLast((x) => x.path === "/1.0/instances/c1/exec")!;
    expect(JSON.parse(post.body)).toEqual({
      command: ["sh", "-c", "exit 42"], environment: { TERM: "xterm" }, interactive: false, "wait-for-websocket": true,
      "record-output": false, width: 0, height: 0, user: 0, group: 0, cwd: "",
    });
  });

  test("large output is fully flushed before exit", async () => {
    const big = "x".repeat(1 << 20);
    fake.execScript = async ({ out }) => {
      for (let i = 0; i < 4; i++) out(big);
      return 0;
    };
    const r = await lxd(["exec", "c1", "--", "cat"]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(4 << 20);
  });
});

describe("instances", () => {
  test("launch resolves the alias and creates with start:true", async () => {
    const r = await lxd(["launch", "busybox", "c1", "-c", "limits.cpu=1"]);
    expect(r).toEqual({ stdout: "Creating c1\nStarting c1\n", stderr: "", code: 0 });
    const post = fake.requests.findLast((x) => x.path === "/1.0/instances" && x.method === "POST")!;
    expect(JSON.parse(post.body)).toMatchObject({ name: "c1", source: { type: "image", fingerprint: "f".repeat(64) }, config: { "limits.cpu": "1" }, start: true });
  });

  test("server errors print as Error: <message> with exit code 1", async () => {
    expect(await lxd(["info", "missing"])).toEqual({ stdout: "", stderr: "Error: Instance not found\n", code: 1 });
  });

  test("delete refuses a running instance without --force, stops it first with --force", async () => {
    state.status = "Running";
    const refused = await lxd(["delete", "c1"]);
    expect(refused.stderr).toBe("Error: The instance is currently running, stop it first or pass --force\n");
    expect(refused.code).toBe(1);
    const forced = await lxd(["delete", "c1", "--force"]);
    expect(forced.code).toBe(0);
    const stop = fake.requests.findLast((x) => x.path === "/1.0/instances/c1/state")!;
    expect(JSON.parse(stop.body)).toEqual({ action: "stop", timeout: -1, force: true, stateful: false });
    expect(fake.requests.some((x) => x.method === "DELETE" && x.path === "/1.0/instances/c1")).toBe(true);
  });
});

test("image import streams the file with LXD's headers, then creates aliases", async () => {
  const file = join(fake.dir, "img.tar.gz");
  await Bun.write(file, "pretend tarball");
  const fp = new Bun.CryptoHasher("sha256").update("pretend tarball").digest("hex");
  const r = await lxd(["image", "import", file, "--alias", "a1", "--alias", "a2", "--public"]);
  expect(r).toEqual({ stdout: `Image imported with fingerprint: ${fp}\n`, stderr: "", code: 0 });
  const post = fake.requests.findLast((x) => x.path === "/1.0/images")!;
  expect(post.body).toBe("pretend tarball");
  expect(post.headers.get("content-type")).toBe("application/octet-stream");
  expect(post.headers.get("x-lxd-filename")).toBe("img.tar.gz");
  expect(post.headers.get("x-lxd-public")).toBe("true");
  const aliases = fake.requests.filter((x) => x.path === "/1.0/images/aliases").map((x) => JSON.parse(x.body));
  expect(aliases).toEqual([{ name: "a1", target: fp, description: "" }, { name: "a2", target: fp, description: "" }]);
});

test("init --auto creates the default pool and root disk once", async () => {
  expect((await lxd(["init", "--auto"])).code).toBe(0);
  expect(state.pools).toEqual([{ name: "default" }]);
  expect(state.profileDevices).toEqual({ root: { type: "disk", path: "/", pool: "default" } });
  const patch = fake.requests.findLast((x) => x.method === "PATCH")!;
  expect(patch.headers.get("if-match")).toBe("pe");
  const before = fake.requests.length;
  expect((await lxd(["init", "--auto"])).code).toBe(0);
  expect(fake.requests.slice(before).filter((x) => x.method !== "GET")).toEqual([]);
});

describe("help", () => {
  test("bare binary prints usage with examples", async () => {
    const r = await lxd([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage:");
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toContain("lxd launch busybox c1");
  });

  test("every command's --help has an example", async () => {
    for (const cmd of [["launch"], ["exec"], ["list"], ["serve"], ["image", "import"], ["config", "set"], ["profile", "show"], ["monitor"]]) {
      const r = await lxd([...cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Examples");
    }
  });

  test("unknown commands and flags are errors on stderr", async () => {
    expect(await lxd(["frobnicate"])).toEqual({ stdout: "", stderr: 'Error: unknown command "frobnicate" for "lxd"\n', code: 1 });
    const r = await lxd(["list", "--bogus"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("Error: ");
  });
});
