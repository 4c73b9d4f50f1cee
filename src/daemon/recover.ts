// /internal/recover/validate and /internal/recover/import (`lxd recover`), in LXD 5.0's shapes:
// {pools: [{name, driver, config: {source}}]} names pools the database lacks; the answer lists the
// unknown volumes found and what they depend on that is missing.
import { Elysia } from "elysia";
import { Empty } from "../api/envelope.ts";
import { RecoverPost, RecoverResult } from "../api/recover.ts";
import { Recover } from "../instance/recover.ts";
import type { DaemonContext } from "./context.ts";
import { sync } from "./response.ts";

export const recoverRoutes = (ctx: DaemonContext) => {
  const recover = new Recover(ctx.db, ctx.instances, ctx.pools);
  const pools = (body: typeof RecoverPost.static) => (body.pools ?? []).map((p) => ({ ...p, config: p.config ?? {} }));
  return new Elysia({ name: "recover" })
    .post("/internal/recover/validate", async ({ body }) => sync(await recover.validate(pools(body))), {
      body: RecoverPost,
      response: RecoverResult,
      detail: { summary: "Scan the pools for instance volumes the database lacks (lxd recover)", tags: ["internal"] },
    })
    .post("/internal/recover/import", async ({ body }) => {
      await recover.import(pools(body));
      return sync({});
    }, {
      body: RecoverPost, response: Empty,
      detail: { summary: "Bring back the instances the scan found, creating the pools named", tags: ["internal"] },
    });
};
