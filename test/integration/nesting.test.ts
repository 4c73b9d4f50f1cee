// security.nesting=true lets a container run containers: our own daemon, bind-mounted read-only
// from the host, runs inside a Debian container and launches a busybox container there, which
// answers exec. Without nesting the nested start fails with an error that says what to set.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { busyboxImage, lxdBinary, startInitializedDaemon, type RunResult, type TestDaemon } from "../helpers/daemon.ts";
import { importDebian, waitSystemd } from "../helpers/debian-image.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await importDebian(d);
}, 900_000);

afterAll(async () => {
  await d?.stop();
});

/** The nested daemon's ids: 65536 container ids above the 65536 its own root range takes, so the
 *  outer container needs 131072 (an isolated range of that size). */
const OUTER_IDS = 131072;

/** Sets up and starts a nested daemon in `name`, then launches and execs into a busybox container.
 *  LXD_DIR is a tmpfs mounted inside: the container's rootfs is an idmapped mount owned by the
 *  host, which cannot be idmapped again for nested containers. No network: no nic in the profile. */
const NESTED = `
set -e
echo root:65536:65536 > /etc/subuid
echo root:65536:65536 > /etc/subgid
export LXD_DIR=/var/lib/nested-lxd
mkdir -p $LXD_DIR
mount -t tmpfs -o size=256m,mode=0711 tmpfs $LXD_DIR
lxd=/opt/lxd/lxd
setsid $lxd serve --logfile $LXD_DIR/lxd.log > $LXD_DIR/daemon.out 2>&1 < /dev/null &
$lxd waitready --timeout 60
$lxd storage create default dir > /dev/null
$lxd profile device add default root disk path=/ pool=default > /dev/null
$lxd image import /root/busybox.tar.gz --alias busybox > /dev/null
$lxd launch busybox inner > /dev/null
$lxd exec inner -- sh -c 'echo "inner: $(hostname) $(cat /proc/self/uid_map | tr -s " " | sed "s/^ //")"'
$lxd list --format csv -c ns
`;

async function outer(name: string, ...config: string[]): Promise<void> {
  await d.ok("init", "debian", name, ...config.flatMap((c) => ["-c", c]));
  await d.ok("config", "device", "add", name, "bin", "disk", `source=${dirname(lxdBinary())}`, "path=/opt/lxd", "readonly=true");
  await d.ok("start", name);
  expect(await waitSystemd(d, name)).toBe("running");
  await d.ok("file", "push", await busyboxImage(), `${name}/root/busybox.tar.gz`);
}

/** Host processes whose real uid is `uid`. */
function hostPidsOfUid(uid: number): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1]) === uid;
    } catch {
      return false; // exited meanwhile
    }
  }).map(Number);
}

const nested = (name: string): Promise<RunResult> => d.lxdWith({ timeoutMs: 120_000 }, "exec", name, "--", "bash", "-c", NESTED);

describe("security.nesting", () => {
  test("a nesting container runs our daemon, which runs a container that answers exec", async () => {
    await outer("n1", "security.nesting=true", "security.idmap.isolated=true", `security.idmap.size=${OUTER_IDS}`);
    const r = await nested("n1");
    if (r.code !== 0) console.log(r.stderr, (await d.lxd("exec", "n1", "--", "tail", "-20", "/var/lib/nested-lxd/lxd.log")).stdout);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // Container id 0 of the inner container is id 65536 of the outer one.
    expect(r.stdout).toContain("inner: inner 0 65536 65536\n");
    expect(r.stdout).toContain("inner,RUNNING");
    // Seen from the host: the inner container's processes run as the host id that the outer
    // container maps its id 65536 to.
    const base = Number((await d.api("GET", "/1.0/instances/n1")).body.metadata.config["volatile.idmap.base"]);
    expect(base).toBeGreaterThan(0);
    expect(hostPidsOfUid(base + 65536).length).toBeGreaterThan(0);
    await d.ok("delete", "n1", "--force");
  }, 300_000);

  test("without security.nesting the nested start fails and says what to set", async () => {
    await outer("n2", "security.idmap.isolated=true", `security.idmap.size=${OUTER_IDS}`);
    const r = await nested("n2");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error: Failed to start instance "inner"');
    expect(r.stderr).toContain("security.nesting=true");
    await d.ok("delete", "n2", "--force");
  }, 300_000);
});
