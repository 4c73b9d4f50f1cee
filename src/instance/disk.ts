// `disk` devices other than the root disk: a host directory or file (`source=/host/path`) or a
// custom volume (`pool=P source=VOLUME`) mounted at `path` inside the container, idmapped so
// files owned by host root show as owned by container root, `readonly=true` for a read-only
// mount. At boot the monitor attaches them before init runs (launch mounts); on hot-plug the
// mount helper attaches them to the running container; hot-unplug detaches them.
import { stat } from "node:fs/promises";
import type { LaunchMount } from "../kernel/monitor.ts";
import { mountInContainer, umountInContainer } from "../kernel/mounts.ts";
import { isTrue } from "../config/values.ts";
import type { DeviceDriver } from "./devices.ts";

/** Resolves `pool`/`source` of a volume disk to its host path. */
export type VolumePath = (instance: string, pool: string, volume: string) => string;

export function diskDriver(volumePath: VolumePath): DeviceDriver {
  /** The host path to mount, or undefined when an optional source is missing. */
  const resolve = async (instance: string, device: string, config: Record<string, string>) => {
    const source = config.pool ? volumePath(instance, config.pool, config.source) : config.source;
    if (!source.startsWith("/")) throw new Error(`disk "${device}" of instance "${instance}": source "${source}" must be an absolute host path`);
    if (await stat(source).then(() => true, () => false)) return source;
    if (isTrue(config.optional) || (config.required !== undefined && !isTrue(config.required))) return undefined;
    throw new Error(`disk "${device}" of instance "${instance}": source "${source}" does not exist`);
  };
  return {
    async launchMounts(instance, device, config): Promise<LaunchMount[]> {
      const source = await resolve(instance, device, config);
      return source ? [{ source, path: config.path, readonly: isTrue(config.readonly) }] : [];
    },
    async start(inst, device, config) {
      if (inst.booting) return;
      const source = await resolve(inst.name, device, config);
      if (!source) return;
      await mountInContainer(inst.pidfd(), source, config.path, isTrue(config.readonly))
        .catch((err) => { throw new Error(`disk "${device}" of instance "${inst.name}": ${(err as Error).message}`); });
    },
    async stop(inst, device, config) {
      // The mount went with the container's mount namespace (and its pid may be reused by now).
      if (inst.exited) return;
      await umountInContainer(inst.pidfd(), config.path)
        .catch((err) => { throw new Error(`disk "${device}" of instance "${inst.name}": ${(err as Error).message}`); });
    },
  };
}
