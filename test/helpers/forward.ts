// Byte pipes between a TCP port and a unix socket, for the browser tests' network namespace
// (chromium-isolated.sh): inside it, `bun forward.ts PORT SOCKET PID READY` listens on
// 127.0.0.1:PORT and connects each client to SOCKET, until process PID (the browser) is gone;
// outside, the test serves SOCKET with `serveUnixToTcp`, connecting to the daemon's real port.
import type { Socket } from "bun";

type Target = { unix: string } | { hostname: string; port: number };

/** One side of a pipe: what could not be written to it yet waits here until it drains. */
interface End { peer?: Socket<End>; queue: Uint8Array[]; closed: boolean }

function send(to: Socket<End>, bytes: Uint8Array) {
  if (to.data.queue.length) {
    to.data.queue.push(new Uint8Array(bytes));
    return;
  }
  const n = Math.max(0, to.write(bytes));
  if (n < bytes.length) to.data.queue.push(new Uint8Array(bytes.subarray(n)));
}

function drain(s: Socket<End>) {
  while (s.data.queue.length) {
    const next = s.data.queue[0];
    const n = Math.max(0, s.write(next));
    if (n < next.length) {
      s.data.queue[0] = next.subarray(n);
      return;
    }
    s.data.queue.shift();
  }
  if (s.data.closed) s.end();
}

/** Ends `s` once everything queued for it is written. */
function finish(s: Socket<End> | undefined) {
  if (!s) return;
  s.data.closed = true;
  if (!s.data.queue.length) s.end();
}

const handlers = (target: Target) => ({
  open(client: Socket<End>) {
    client.data = { queue: [], closed: false };
    Bun.connect<End>({
      ...target,
      data: { queue: [], closed: false },
      socket: {
        open(up: Socket<End>) {
          up.data.peer = client;
          // Bytes the client sent before this side was up were queued on it: move them over.
          const early = client.data.queue;
          client.data.queue = [];
          client.data.peer = up;
          for (const b of early) send(up, b);
        },
        data: (_up: Socket<End>, b: Uint8Array) => send(client, b),
        drain,
        close: () => finish(client),
        error: () => finish(client),
      },
    } as Parameters<typeof Bun.connect<End>>[0]).catch(() => client.end());
  },
  data(client: Socket<End>, b: Uint8Array) {
    if (client.data.peer) send(client.data.peer, b);
    else client.data.queue.push(new Uint8Array(b));
  },
  drain(client: Socket<End>) {
    if (client.data.peer) drain(client);
  },
  close: (client: Socket<End>) => finish(client.data.peer),
  error: (client: Socket<End>) => finish(client.data.peer),
});

/** Serves `socket`: each connection is piped to 127.0.0.1:`port`. Returns the stop function. */
export function serveUnixToTcp(socket: string, port: number): () => void {
  const l = Bun.listen<End>({ unix: socket, socket: handlers({ hostname: "127.0.0.1", port }) } as unknown as Parameters<typeof Bun.listen<End>>[0]);
  return () => l.stop(true);
}

if (import.meta.main) {
  const [port, socket, pid, ready] = process.argv.slice(2);
  Bun.listen<End>({ hostname: "127.0.0.1", port: Number(port), socket: handlers({ unix: socket }) } as unknown as Parameters<typeof Bun.listen<End>>[0]);
  await Bun.write(ready, "");
  setInterval(() => {
    try {
      process.kill(Number(pid), 0);
    } catch {
      process.exit(0);
    }
  }, 500);
}
