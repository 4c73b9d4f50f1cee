// The `proxy` device driver: one forwarder process per device (`lxd-helper proxy`, native/proxy.c)
// listens on one side and connects on the other, creating each socket in the right network
// namespace. It is a small static C process, not a copy of the daemon, and like LXD's forkproxy it
// outlives a daemon restart; at daemon start, and while the daemon runs (supervise), a dead one is
// started again. It exits by itself when
// the container's init does.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { helperPath, pidfdForHelper } from "../kernel/native.ts";
import { containerDir } from "../paths.ts";
import { parseProxyAddress, unsupportedProxyOption } from "./proxy-address.ts";
import type { DeviceDriver, RunningInstance } from "./devices.ts";

type Dev = Record<string, string>;

const START_TIMEOUT_MS = 5000;

const pidFile = (inst: string, device: string) => join(containerDir(inst), `proxy.${device}.pid`);

/** The forwarder's pid when it is alive and serves this device. */
async function runningPid(inst: string, device: string): Promise<number | undefined> {
  const file = pidFile(inst, device);
  const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
  if (!pid) return undefined;
  const [cmdline, stat] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""), readFile(`/proc/${pid}/stat`, "utf8").catch(() => ""),
  ]);
  const zombie = / Z /.test(stat.slice(stat.lastIndexOf(")")));
  return !zombie && cmdline.split("\0").includes("proxy") && cmdline.includes(file) ? pid : undefined;
}

async function launch(inst: RunningInstance, device: string, dev: Dev): Promise<void> {
  const fail = (why: string) => new Error(`proxy device "${device}" of instance "${inst.name}": ${why}`);
  const refused = unsupportedProxyOption(dev);
  if (refused) throw fail(refused);
  // The forwarder keeps its copy of init's pidfd (fd 3): it stops when init exits.
  const args = [helperPath(), "proxy", "--pidfd", "3", "--listen", dev.listen, "--connect", dev.connect,
    "--bind", dev.bind || "host", "--pidfile", pidFile(inst.name, device)];
  if (dev.mode) args.push("--mode", dev.mode);
  if (dev.uid) args.push("--uid", dev.uid);
  if (dev.gid) args.push("--gid", dev.gid);
  const proc = Bun.spawn(args, { stdio: ["ignore", "pipe", "pipe", pidfdForHelper(inst.pidfd())] });
  // The helper detaches once it listens and prints "ok" (or "error: why"); stdout closes then.
  const timer = setTimeout(() => proc.kill("SIGKILL"), START_TIMEOUT_MS);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    .finally(() => clearTimeout(timer));
  if (out.trim() !== "ok") throw fail(out.trim().replace(/^error: /, "") || err.trim() || "the forwarder did not start");
}

async function kill(inst: string, device: string, dev: Dev): Promise<void> {
  const pid = await runningPid(inst, device);
  if (pid) {
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 200 && (await runningPid(inst, device)); i++) await Bun.sleep(5);
  }
  await rm(pidFile(inst, device), { force: true });
  // A killed forwarder leaves its host socket file behind.
  const listen = parseProxyAddress(dev.listen ?? "");
  if (typeof listen !== "string" && listen.protocol === "unix" && listen.host.startsWith("/") && (dev.bind || "host") === "host") {
    await rm(listen.host, { force: true });
  }
}

async function restartIfDead(inst: RunningInstance, device: string, dev: Dev): Promise<void> {
  if (!(await runningPid(inst.name, device))) await launch(inst, device, dev);
}

export function proxyDriver(): DeviceDriver {
  return {
    async start(inst, device, dev) {
      await kill(inst.name, device, dev);
      await launch(inst, device, dev);
    },
    stop: (inst, device, dev) => kill(inst.name, device, dev),
    resume: restartIfDead,
    supervise: restartIfDead,
  };
}
