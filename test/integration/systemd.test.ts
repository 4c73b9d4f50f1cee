// A real distribution as a guest: the Debian bookworm image from `lxd image build debian`
// boots systemd in an unprivileged container on this host's cgroup layout, reaches "running",
// gets its address by DHCP through systemd-networkd, and stops cleanly and fast.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { importDebian, waitSystemd } from "../helpers/debian-image.ts";

let d: TestDaemon;

beforeAll(async () => {
  d = await startInitializedDaemon();
  await importDebian(d);
}, 900_000);

afterAll(async () => {
  await d?.stop();
});

const sh = (name: string, script: string) => d.ok("exec", name, "--", "bash", "-c", script);

describe("Debian with systemd", () => {
  test("start reaches `systemctl is-system-running` = running", async () => {
    // Created first: the first instance from an image unpacks it into the pool.
    await d.ok("init", "debian", "d1");
    const t0 = performance.now();
    await d.ok("start", "d1");
    const state = await waitSystemd(d, "d1");
    const ms = Math.round(performance.now() - t0);
    const failed = (await d.lxd("exec", "d1", "--", "systemctl", "--failed", "--no-legend", "--plain")).stdout.trim();
    console.log(`start to ${state}: ${ms} ms${failed ? `; failed units:\n${failed}` : ""}`);
    expect(failed).toBe("");
    expect(state).toBe("running");
  });

  test("exec bash as root, hostname is the instance name, PID 1 is systemd with container=lxc", async () => {
    const out = await sh("d1", "echo $BASH_VERSION; id -u; hostname; cat /proc/1/comm; tr '\\0' '\\n' < /proc/1/environ | grep ^container=");
    const [bash, uid, hostname, comm, env] = out.trim().split("\n");
    expect(bash).toMatch(/^5\./);
    expect(uid).toBe("0");
    expect(hostname).toBe("d1");
    expect(comm).toBe("systemd");
    expect(env).toBe("container=lxc");
    expect((await sh("d1", "systemd-detect-virt")).trim()).toBe("lxc");
  });

  test("its own writable cgroup2 tree, /run tmpfs, /proc/sys read-only except net", async () => {
    const out = await sh("d1", [
      "stat -fc %T /sys/fs/cgroup", "cat /proc/self/cgroup", "test -d /sys/fs/cgroup/init.scope && echo init.scope",
      "findmnt -no FSTYPE /run", "findmnt -no FSTYPE /run/lock",
      "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo sys-rw || echo sys-ro",
      "echo 1 > /proc/sys/net/ipv4/ip_forward && echo net-rw",
    ].join("; "));
        // v1 hierarchies (hybrid hosts) are not mounted inside; exec joins init's cgroups.
    const lines = out.trim().split("\n").filter((l) => !/^\d+:[^:]+:/.test(l));
    expect(lines).toEqual(["cgroup2fs", "0::/init.scope", "init.scope", "tmpfs", "tmpfs", "sys-ro", "net-rw"]);
  });

  test("DHCP through systemd-networkd gives eth0 an address from the bridge", async () => {
    let addr = "";
    for (let i = 0; i < 100 && !addr; i++) {
      addr = (await sh("d1", "ip -4 -o addr show dev eth0 | awk '{print $4}'")).trim();
      if (!addr) await Bun.sleep(100);
    }
    expect(addr).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    const list = JSON.parse(await d.ok("list", "--format", "json"));
    const v4 = list[0].state.network.eth0.addresses.filter((a: { family: string }) => a.family === "inet").map((a: { address: string }) => a.address);
    expect(v4).toContain(addr.split("/")[0]);
  });

  test("a clean stop shuts systemd down within a second or so", async () => {
    const t0 = performance.now();
    await d.ok("stop", "d1");
    const ms = Math.round(performance.now() - t0);
    console.log(`clean stop: ${ms} ms`);
    expect(JSON.parse(await d.ok("list", "--format", "json"))[0].status).toBe("Stopped");
    expect(ms).toBeLessThan(3000);
  });

  test("SIGPWR (LXD's stop signal) powers the image off too", async () => {
    await d.ok("start", "d1");
    expect(await waitSystemd(d, "d1")).toBe("running");
    const pid = (await d.api("GET", "/1.0/instances/d1/state")).body.metadata.pid as number;
    expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("systemd");
    process.kill(pid, 30);
    let status = "";
    for (let i = 0; i < 100 && status !== "Stopped"; i++) {
      await Bun.sleep(100);
      status = (await d.api("GET", "/1.0/instances/d1")).body.metadata.status;
    }
    expect(status).toBe("Stopped");
  });
});
