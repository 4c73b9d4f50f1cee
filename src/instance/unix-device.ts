// unix-char and unix-block devices: a device node in the running container's /dev, created by
// lxd-helper as host root (container root may not create device nodes), owned by the container
// ids the device names. Major and minor come from the device or from `source` on the host.
import { isTrue } from "../config/values.ts";
import { existsSync, readFileSync, statSync } from "node:fs";
import { type DeviceRule, STANDARD_RULES } from "../kernel/devcg.ts";
import { helperPath } from "../kernel/native.ts";
import type { DeviceDriver, RunningInstance } from "./devices.ts";

type Device = Record<string, string>;

/** Host id of container id `id` by /proc/PID/{uid,gid}_map ("NS HOST RANGE" lines). */
export function hostId(mapText: string, id: number): number | undefined {
  for (const line of mapText.trim().split("\n")) {
    const [ns, host, range] = line.trim().split(/\s+/).map(Number);
    if (id >= ns && id < ns + range) return host + id - ns;
  }
  return undefined;
}

async function helper(args: string[]): Promise<void> {
  const proc = Bun.spawn([helperPath(), "device", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const line = out.trim();
  if (code !== 0 || line !== "ok") throw new Error(line.startsWith("error ") ? line.slice(6) : `lxd-helper device exited with ${code}`);
}

/** Whether `pid` still is a container's init (pid 1 of a nested pid namespace), not a reused pid. */
function isContainerInit(pid: number): boolean {
  try {
    const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1].trim().split(/\s+/) ?? [];
    return nspid.length > 1 && nspid[nspid.length - 1] === "1";
  } catch {
    return false;
  }
}

const pathOf = (c: Device) => c.path || c.source;

/** Major and minor of a unix-char/unix-block device: given, or those of `source` on the host;
 *  undefined when the source is absent and the device is optional (required=false). */
export function deviceNumbers(type: "unix-char" | "unix-block", c: Device, fail: (why: string) => Error): [number, number] | undefined {
  const kind = type === "unix-char" ? "c" : "b";
  if (c.major !== undefined && c.minor !== undefined) return [Number(c.major), Number(c.minor)];
  const source = c.source || c.path;
  if (!existsSync(source)) {
    if (c.required === undefined || isTrue(c.required)) {
      throw fail(`${source} does not exist on the host (set major and minor, or required=false)`);
    }
    return undefined;
  }
  const st = statSync(source);
  if (kind === "c" ? !st.isCharacterDevice() : !st.isBlockDevice()) {
    throw fail(`${source} is not a ${kind === "c" ? "character" : "block"} device`);
  }
  return [
    c.major !== undefined ? Number(c.major) : Math.floor(st.rdev / 256) & 0xfff,
    c.minor !== undefined ? Number(c.minor) : (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
  ];
}

/** The device access rules of a container: the standard set and its unix-char/unix-block
 *  devices (those whose numbers cannot be resolved are left out: starting them fails anyway). */
export function deviceRules(devices: Record<string, Device>): DeviceRule[] {
  const out = [...STANDARD_RULES];
  for (const c of Object.values(devices)) {
    if (c.type !== "unix-char" && c.type !== "unix-block") continue;
    try {
      const n = deviceNumbers(c.type, c, (why) => new Error(why));
      if (n) out.push({ type: c.type === "unix-char" ? "c" : "b", major: n[0], minor: n[1], access: "rwm" });
    } catch {
      // Reported by the driver's start().
    }
  }
  return out;
}

export function unixDeviceDriver(type: "unix-char" | "unix-block"): DeviceDriver {
  const kind = type === "unix-char" ? "c" : "b";
  return {
    async start(inst: RunningInstance, device: string, c: Device) {
      const fail = (why: string) => new Error(`device "${device}" (${type}) of instance "${inst.name}": ${why}`);
      const numbers = deviceNumbers(type, c, fail);
      if (!numbers) return; // optional and absent: nothing to add
      const [major, minor] = numbers.map(String);
      const map = (kindName: "uid" | "gid", id: string | undefined) => {
        const host = hostId(readFileSync(`/proc/${inst.initPid}/${kindName}_map`, "utf8"), Number(id ?? 0));
        if (host === undefined) throw fail(`${kindName} ${id} is not mapped in the container`);
        return String(host);
      };
      const args = ["--pid", String(inst.initPid), "add", pathOf(c), kind, major, minor, map("uid", c.uid), map("gid", c.gid), c.mode ?? "0660"];
      await helper(args).catch((err) => {
        throw fail((err as Error).message);
      });
    },
    async stop(inst: RunningInstance, _device: string, c: Device) {
      // The container's /dev goes with it: only a running container needs the node removed.
      if (isContainerInit(inst.initPid)) await helper(["--pid", String(inst.initPid), "remove", pathOf(c)]);
    },
  };
}
