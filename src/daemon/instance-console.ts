// /1.0/instances/{name}/console and /logs: the console (LXD's websocket pair "0" data + "control"),
// its buffered output, and the instance's log files (lxc.log is the monitor's log here).
import { Elysia, t } from "elysia";
import { AsyncResponse, Empty, rawAnswer } from "../api/envelope.ts";
import { randomBytes } from "node:crypto";
import { InstanceConsolePost, InstanceName } from "../api/instance.ts";
import type { ConsoleAttachment } from "../instance/console.ts";
import type { DaemonContext } from "./context.ts";
import type { ServerWebSocketLike } from "./operations.ts";
import { RawResponse, sync } from "./response.ts";
import { instanceUrl, containerUrl } from "../api/project-names.ts";

/** How long the client has to connect its websockets before the operation fails. */
const CONNECT_TIMEOUT_MS = 10_000;

const octets = (body: Uint8Array) => new RawResponse(body, { headers: { "content-type": "application/octet-stream" } });
const text = (data: string | Uint8Array) => (typeof data === "string" ? data : new TextDecoder().decode(data));

/** Control messages as LXD's console sends them: {"command":"window-resize","args":{"width":"80","height":"24"}}. */
function onControl(console: ConsoleAttachment, data: string | Uint8Array) {
  try {
    const msg = JSON.parse(text(data));
    if (msg.command === "window-resize") console.resize(Number(msg.args?.width) || 80, Number(msg.args?.height) || 24);
  } catch {
    // Malformed control messages are ignored, as LXD does.
  }
}

export const instanceConsoleRoutes = (ctx: DaemonContext) =>
  new Elysia({ name: "instance-console" })
    .get("/1.0/instances/:name/console", async ({ params }) => {
      return octets(await ctx.instances.console.log(params.name));
    }, {
      params: InstanceName,
      detail: {
        summary: "Get the console's buffered output (the last 128 KiB; of the last run when stopped)", tags: ["instances"],
        responses: rawAnswer("The console's bytes"),
      },
    })

    .delete("/1.0/instances/:name/console", async ({ params }) => {
      await ctx.instances.console.clear(params.name);
      return sync({});
    }, { params: InstanceName, response: Empty, detail: { summary: "Clear the console's buffered output", tags: ["instances"] } })

    .post("/1.0/instances/:name/console", ({ params, body }) => {
      const { name } = params;
      ctx.instances.console.checkAttach(name, body.type ?? "console");
      const fds: Record<string, string> = { "0": randomBytes(32).toString("hex"), control: randomBytes(32).toString("hex") };
      const sockets = new Map<string, ServerWebSocketLike>();
      let allConnected!: () => void;
      const connected = new Promise<void>((resolve) => (allConnected = resolve));
      let attached: ConsoleAttachment | undefined;
      let cancelled = false;

      return ctx.ops.create({
        class: "websocket",
        description: "Showing console",
        resources: { instances: [instanceUrl(name)], containers: [containerUrl(name)] },
        metadata: { fds },
        connect: (_op, secret, ws) => {
          const key = Object.keys(fds).find((k) => fds[k] === secret);
          if (!key || sockets.has(key)) return ws.close(1008);
          sockets.set(key, ws);
          if (sockets.size === 2) allConnected();
        },
        run: async () => {
          const timeout = Bun.sleep(CONNECT_TIMEOUT_MS).then(() => { throw new Error("Timed out waiting for websockets to connect"); });
          await Promise.race([connected, timeout]);
          const data = sockets.get("0")!;
          const control = sockets.get("control")!;
          attached = await ctx.instances.console.attach(name, { cols: body.width || 80, rows: body.height || 24 }, (out) => data.send(out));
          const c = attached;
          if (cancelled) c.close();
          // Text messages are stream barriers (nothing to forward); binary ones are keystrokes.
          data.onMessage((msg) => { if (typeof msg !== "string" && msg.length) c.write(msg); });
          control.onMessage((msg) => onControl(c, msg));
          // Detaching closes the control socket (or the data one); a stopping container closes the console.
          await Promise.race([c.closed, new Promise<void>((r) => control.onClose(r)), new Promise<void>((r) => data.onClose(r))]);
          c.close();
          for (const ws of sockets.values()) ws.close(1000);
          return {};
        },
        cancel: () => {
          cancelled = true;
          attached?.close();
        },
      });
    }, {
      params: InstanceName, body: InstanceConsolePost,
      response: AsyncResponse,
      detail: { summary: "Attach to the console (websocket operation: fds \"0\" data and \"control\")", tags: ["instances"] },
    })

    .get("/1.0/instances/:name/logs", async ({ params }) => {
      const files = await ctx.instances.console.logFiles(params.name);
      return sync(files.map((f) => instanceUrl(params.name, `/logs/${f}`)));
    }, { params: InstanceName, response: t.Array(t.String(), { description: "URLs of the log files" }), detail: { summary: "List the instance's log files", tags: ["instances"] } })

    .get("/1.0/instances/:name/logs/:file", async ({ params }) => {
      return octets(await ctx.instances.console.logFile(params.name, params.file));
    }, {
      params: t.Object({ name: t.String(), file: t.String() }),
      detail: {
        summary: "Get one log file (lxc.log: the monitor's log; console.log: the last run's console; exec_*.stdout|stderr: recorded exec output)",
        tags: ["instances"], responses: rawAnswer("The log file's bytes"),
      },
    })

    .delete("/1.0/instances/:name/logs/:file", async ({ params }) => {
      await ctx.instances.console.deleteLogFile(params.name, params.file);
      return sync({});
    }, {
      params: t.Object({ name: t.String(), file: t.String() }),
      response: Empty,
      detail: { summary: "Delete a recorded exec output file", tags: ["instances"] },
    });
