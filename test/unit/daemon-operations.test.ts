import { describe, expect, test } from "bun:test";
import { EventHub, type LxdEvent } from "../../src/events/hub.ts";
import { OperationManager, type ServerWebSocketLike } from "../../src/daemon/operations.ts";
import { ApiError } from "../../src/api/error.ts";

const setup = (retainMs = 50) => {
  const events = new EventHub();
  const seen: LxdEvent[] = [];
  events.subscribe(["operation"], (e) => seen.push(e));
  return { events, seen, ops: new OperationManager(events, { retainMs }) };
};

const statuses = (seen: LxdEvent[]) => seen.map((e) => (e.metadata as { status: string }).status);

describe("operations", () => {
  test("lifecycle Pending -> Running -> Success, result merged, one event per change", async () => {
    const { ops, seen } = setup();
    const op = ops.create({
      class: "task", description: "Doing", resources: { instances: ["/1.0/instances/c1"] }, metadata: { a: 1 },
      run: async (o) => { o.updateMetadata({ progress: "50%" }); return { b: 2 }; },
    });
    expect(op.status).toBe("Running");
    expect(op.toJSON()).toMatchObject({ class: "task", status_code: 103, location: "none", err: "", may_cancel: false });
    expect(op.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await op.done;
    expect(op.toJSON()).toMatchObject({ status: "Success", status_code: 200, metadata: { a: 1, progress: "50%", b: 2 } });
    expect(statuses(seen)).toEqual(["Pending", "Running", "Running", "Success"]);
    expect(seen[0]).toMatchObject({ type: "operation", location: "none", project: "default" });
  });

  test("a failing run gives Failure with err; wait() still resolves", async () => {
    const { ops } = setup();
    const op = ops.create({ class: "task", description: "Failing", run: async () => { throw new Error("disk full"); } });
    expect(await op.wait(-1)).toBe(true);
    expect(op.toJSON()).toMatchObject({ status: "Failure", status_code: 400, err: "disk full", metadata: null });
  });

  test("wait(timeout) returns false when not done in time", async () => {
    const { ops } = setup();
    const op = ops.create({ class: "task", description: "Slow", run: () => Bun.sleep(200) });
    expect(await op.wait(0.02)).toBe(false);
    expect(await op.wait(5)).toBe(true);
  });

  test("cancel: only with a cancel hook, ends as Cancelled and ignores the run's late outcome", async () => {
    const { ops, seen } = setup();
    let stop!: () => void;
    const op = ops.create({
      class: "task", description: "Cancelable",
      run: () => new Promise<void>((_, reject) => (stop = () => reject(new Error("interrupted")))),
      cancel: () => stop(),
    });
    expect(op.toJSON().may_cancel).toBe(true);
    await Bun.sleep(1); // run() starts on the next tick
    await op.cancel();
    await Bun.sleep(5);
    expect(op.toJSON()).toMatchObject({ status: "Cancelled", status_code: 401, err: "", may_cancel: false });
    expect(statuses(seen)).toEqual(["Pending", "Running", "Cancelling", "Cancelled"]);
    expect(op.cancel()).rejects.toThrow("Only running operations can be cancelled");

    const fixed = ops.create({ class: "task", description: "Fixed", run: () => Bun.sleep(50) });
    const err = await fixed.cancel().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.message).toBe("This operation can't be cancelled");
  });

  test("token operations without run stay Running and are cancelable", async () => {
    const { ops } = setup();
    const op = ops.create({ class: "token", description: "Token", metadata: { secret: "s" } });
    await Bun.sleep(5);
    expect(op.status).toBe("Running");
    expect(op.mayCancel).toBe(true);
    await op.cancel();
    expect(op.status).toBe("Cancelled");
  });

  test("finished operations stay listed for retainMs, then disappear", async () => {
    const { ops } = setup(30);
    const op = ops.create({ class: "task", description: "Quick", run: async () => {} });
    await op.done;
    expect(ops.get(op.id)).toBe(op);
    await Bun.sleep(60);
    expect(ops.get(op.id)).toBeUndefined();
    expect(() => ops.find(op.id)).toThrow(ApiError);
  });

  test("websocket secrets: known secret reaches connect, unknown is 403", () => {
    const { ops } = setup();
    const connected: string[] = [];
    const op = ops.create({
      class: "websocket", description: "Exec", metadata: { fds: { "0": "aaa", control: "bbb" } },
      connect: (_op, secret) => connected.push(secret), run: () => Bun.sleep(20),
    });
    const ws = {} as ServerWebSocketLike;
    expect(op.websocketKey("bbb")).toBe("control");
    op.connectWebsocket("aaa", ws);
    expect(connected).toEqual(["aaa"]);
    const err = (() => { try { op.connectWebsocket("nope", ws); } catch (e) { return e as ApiError; } })();
    expect(err?.status).toBe(403);
    const task = ops.create({ class: "task", description: "Task", run: async () => {} });
    expect(() => task.websocketKey("aaa")).toThrow("Only websocket operations can be connected");
  });
});
