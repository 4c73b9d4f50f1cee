// /1.0/instances/{name}/state: live state, and power actions (start, stop, restart, freeze, unfreeze).
import { Elysia } from "elysia";
import { AsyncResponse } from "../api/envelope.ts";
import { InstanceName, InstanceState, InstanceStatePut } from "../api/instance.ts";
import type { DaemonContext } from "./context.ts";
import { sync } from "./response.ts";
import { ApiError } from "../api/error.ts";
import { statefulUnavailable } from "../instance/stateful.ts";
import { instanceUrl } from "../api/project-names.ts";

const DESCRIPTIONS: Record<string, string> = {
  start: "Starting instance", stop: "Stopping instance", restart: "Restarting instance",
  freeze: "Freezing instance", unfreeze: "Unfreezing instance",
};

export const instanceStateRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "instance-state" })
    .get("/1.0/instances/:name/state", async ({ params }) => sync(await ctx.instances.state(params.name)), {
      params: InstanceName,
      response: InstanceState,
      detail: { summary: "Show an instance's live state", tags: ["instances"] },
    })

    .put("/1.0/instances/:name/state", ({ params, body }) => {
      const { name } = params;
      ctx.instances.get(name);
      const refusal = body.stateful && body.action === "stop" ? statefulUnavailable("A stateful stop") : undefined;
      if (refusal) throw new ApiError(400, refusal);
      const opts = { force: body.force ?? false, timeout: body.timeout ?? -1 };
      const actions: Record<string, () => Promise<void>> = {
        start: () => ctx.instances.start(name),
        stop: () => ctx.instances.stop(name, { ...opts, stateful: body.stateful ?? false }),
        restart: () => ctx.instances.restart(name, opts),
        freeze: () => ctx.instances.freeze(name),
        unfreeze: () => ctx.instances.unfreeze(name),
      };
      return ctx.ops.create({
        class: "task",
        description: DESCRIPTIONS[body.action],
        resources: { instances: [instanceUrl(name)] },
        run: async () => { await actions[body.action](); },
      });
    }, {
      params: InstanceName, body: InstanceStatePut,
      response: AsyncResponse,
      detail: { summary: "Change an instance's power state", tags: ["instances"] },
    });
