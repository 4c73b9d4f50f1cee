// The one sentence a stateful request (snapshot, stop, restore, live migration) gets while this
// daemon cannot checkpoint containers: which CRIU is missing or failing `criu check`, else that
// checkpoint and restore under the container's monitor are not implemented yet.
import { criuStatus, criuUnavailable } from "../kernel/criu.ts";

export function statefulRefusal(what: string): string {
  return criuUnavailable(what) ?? `${what} is not supported by this server yet (CRIU ${criuStatus().version ?? ""} passes its check, but checkpointing containers is not implemented)`;
}
