// Stateful stop and start (CRIU): where a checkpoint lives and the one sentence a stateful request
// gets while this daemon cannot checkpoint containers.
import { criuUnavailable } from "../kernel/criu.ts";
import { instanceVolume, type PoolBackend } from "../storage/backend.ts";

/** The sentence for a stateful request CRIU cannot serve here; undefined when it can. */
export const statefulUnavailable = (what: string): string | undefined => criuUnavailable(what);

export function statefulRefusal(what: string): string {
  return criuUnavailable(what) ?? `${what} is not supported by this server yet`;
}

/** As LXD: the checkpoint of a stateful stop is `state/` in the instance's volume. */
export const stateDir = (backend: PoolBackend, instance: string): string => backend.stateDir(instanceVolume(instance));
