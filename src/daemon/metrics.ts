// GET /1.0/metrics: running instances' CPU, memory, disk, network and processes in LXD's
// OpenMetrics text. Over HTTPS, certificates of type "metrics" may read this and nothing else.
import { Elysia } from "elysia";
import { rawAnswer } from "../api/envelope.ts";
import { renderMetrics } from "../instance/metrics.ts";
import type { DaemonContext } from "./context.ts";
import { RawResponse } from "./response.ts";

export const metricsRoutes = (ctx: Pick<DaemonContext, "instances">) =>
  new Elysia({ name: "metrics" })
    .get("/1.0/metrics", async () => {
      const names = ctx.instances.list().map((r) => r.name);
      const samples = (await Promise.all(names.map((n) => ctx.instances.metricsSample(n).catch(() => undefined)))).filter((s) => s !== undefined);
      return new RawResponse(renderMetrics(samples), { headers: { "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8" } });
    }, {
      detail: {
        summary: "Instance metrics (OpenMetrics text: lxd_cpu_seconds_total, lxd_memory_*, lxd_filesystem_*, lxd_network_*, lxd_procs_total)",
        tags: ["server"], responses: rawAnswer("OpenMetrics text", "application/openmetrics-text"),
      },
    });
