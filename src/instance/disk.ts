// `disk` devices other than the root disk: a host directory or file (`source=/host/path`) or a
// custom volume (`pool=P source=VOLUME`) mounted at `path` inside the container, idmapped so
// files owned by host root show as owned by container root, `readonly=true` for a read-only
// mount. Attached right after init starts and on hot-plug; detached on hot-unplug.
import { stat } from "node:fs/promises";
import { mountInContainer, umountInContainer } from "../kernel/mounts.ts";
import { isTrue } from "./config.ts";
import type { DeviceDriver } from "./devices.ts";

/** Resolves `pool`/`source` of a volume disk to its host path. */
export type VolumePath = (pool: string, volume: string) => string;

export function diskDriver(volumePath: VolumePath): DeviceDriver {
  return {
    async start(inst, device, config) {
      const source = config.pool ? volumePath(config.pool, config.source) : config.source;
      if (!source.startsWith("/")) throw new Error(`disk "${device}": source "${source}" must be an absolute host path`);
      const optional = isTrue(config.optional) || config.required === "false";
      if (!(await stat(source).then(() => true, () => false))) {
        if (optional) return;
        throw new Error(`disk "${device}": source "${source}" does not exist`);
      }
      await mountInContainer(inst.initPid, source, config.path, isTrue(config.readonly))
        .catch((err) => { throw new Error(`disk "${device}" of instance "${inst.name}": ${(err as Error).message}`); });
    },
    async stop(inst, device, config) {
      // The mount went with the container's mount namespace (and its pid may be reused by now).
      if (inst.exited) return;
      await umountInContainer(inst.initPid, config.path)
        .catch((err) => { throw new Error(`disk "${device}" of instance "${inst.name}": ${(err as Error).message}`); });
    },
  };
}
