// unix-char and unix-block devices: a device node in the running container's /dev, created by
// lxd-helper as host root (container root may not create device nodes), owned by the container
// ids the device names. Major and minor come from the device or from `source` on the host.
import { isTrue } from "../config/values.ts";
import { existsSync, statSync } from "node:fs";
import { type DeviceRule, STANDARD_RULES } from "../kernel/devcg.ts";
import { helperPath, pidfdForHelper } from "../kernel/native.ts";
import type { DeviceDriver, RunningInstance } from "./devices.ts";
import { readInitProc } from "./init-proc.ts";

type Device = Record<string, string>;

/** Host id of container id `id` by /proc/PID/{uid,gid}_map ("NS HOST RANGE" lines). */
export function hostId(mapText: string, id: number): number | undefined {
  for (const line of mapText.trim().split("\n")) {
    const [ns, host, range] = line.trim().split(/\s+/).map(Number);
    if (id >= ns && id < ns + range) return host + id - ns;
  }
  return undefined;
}

/** `pidfd` (of the container's init) is passed as the helper's fd 3. */
async function helper(pidfd: number, args: string[]): Promise<void> {
  const proc = Bun.spawn([helperPath(), "device", "--pidfd", "3", ...args], { stdio: ["ignore", "pipe", "pipe", pidfdForHelper(pidfd)] });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const line = out.trim();
  if (code !== 0 || line !== "ok") throw new Error(line.startsWith("error ") ? line.slice(6) : `lxd-helper device exited with ${code}`);
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
        const host = hostId(readInitProc(inst, `${kindName}_map`), Number(id ?? 0));
        if (host === undefined) throw fail(`${kindName} ${id} is not mapped in the container`);
        return String(host);
      };
      const args = ["add", pathOf(c), kind, major, minor, map("uid", c.uid), map("gid", c.gid), c.mode ?? "0660"];
      await helper(inst.pidfd(), args).catch((err) => {
        throw fail((err as Error).message);
      });
    },
    async stop(inst: RunningInstance, _device: string, c: Device) {
      // The container's /dev goes with it: only a running container needs the node removed.
      if (!inst.exited && inst.pidfd() >= 0) await helper(inst.pidfd(), ["remove", pathOf(c)]);
    },
  };
}
