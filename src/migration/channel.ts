// One migration websocket (control, fs) as LXD frames it: a protobuf message or a chunk of stream
// data is one binary message; an empty text message is a "barrier" that ends one data stream
// while the socket stays open for the next. Works over an accepted server socket and over a
// socket this daemon dialled.

/** The shape of an accepted websocket (the daemon's ServerWebSocketLike) or a dialled one. */
export interface WsEndpoint {
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onMessage(cb: (data: string | Uint8Array) => void): void;
  onClose(cb: () => void): void;
  /** Resolves once the outgoing buffer is small again. */
  drained(): Promise<void>;
}

const HIGH_WATER = 4 * 1024 * 1024;

/** Adapts a dialled WebSocket (Bun's client) to WsEndpoint. */
export function clientEndpoint(ws: WebSocket): WsEndpoint {
  ws.binaryType = "arraybuffer";
  let closed = ws.readyState >= WebSocket.CLOSING;
  const closeCbs: (() => void)[] = [];
  let listener: ((d: string | Uint8Array) => void) | undefined;
  const early: (string | Uint8Array)[] = [];
  ws.addEventListener("message", (ev) => {
    const d = typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer);
    if (listener) listener(d);
    else early.push(d);
  });
  ws.addEventListener("close", () => {
    closed = true;
    for (const cb of closeCbs.splice(0)) cb();
  });
  return {
    send: (d) => { if (!closed) ws.send(d); },
    close: (code = 1000, reason) => { if (!closed) ws.close(code, reason); },
    onMessage(cb) {
      listener = cb;
      for (const d of early.splice(0)) cb(d);
    },
    onClose(cb) { if (closed) cb(); else closeCbs.push(cb); },
    async drained() {
      while (!closed && ws.bufferedAmount > HIGH_WATER) await Bun.sleep(5);
    },
  };
}

export class ChannelClosed extends Error {}

export class Channel {
  private queue: (string | Uint8Array)[] = [];
  private waiter?: () => void;
  private isClosed = false;
  /** Bytes of stream data received and sent (progress). */
  received = 0;
  sent = 0;

  constructor(readonly name: string, private readonly ws: WsEndpoint) {
    ws.onMessage((d) => {
      this.queue.push(d);
      this.wake();
    });
    ws.onClose(() => {
      this.isClosed = true;
      this.wake();
    });
  }

  get closed(): boolean { return this.isClosed; }

  private wake() {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next message; throws once the socket is closed and nothing is left. */
  async next(): Promise<string | Uint8Array> {
    for (;;) {
      const d = this.queue.shift();
      if (d !== undefined) return d;
      if (this.isClosed) throw new ChannelClosed(`the ${this.name} connection closed`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** A message already received, without waiting. */
  poll(): string | Uint8Array | undefined {
    return this.queue.shift();
  }

  /** One protobuf message (binary). */
  async recvMessage(): Promise<Uint8Array> {
    const d = await this.next();
    if (typeof d === "string") throw new Error(`only binary messages are allowed on the ${this.name} channel`);
    return d;
  }

  /** Feeds a stream's data to `sink` until its barrier. */
  async readStream(sink: (chunk: Uint8Array) => void | Promise<void>): Promise<void> {
    for (;;) {
      const d = await this.next();
      if (typeof d === "string") return;
      this.received += d.length;
      await sink(d);
    }
  }

  /** A whole stream (small: JSON index headers). */
  async readAll(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    await this.readStream((c) => { parts.push(c.slice()); });
    return Buffer.concat(parts);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.isClosed) throw new ChannelClosed(`the ${this.name} connection closed`);
    this.ws.send(chunk);
    this.sent += chunk.length;
    await this.ws.drained();
  }

  sendMessage(data: Uint8Array): void {
    if (this.isClosed) throw new ChannelClosed(`the ${this.name} connection closed`);
    this.ws.send(data);
  }

  /** Ends the current stream (an empty text message). */
  barrier(): void {
    if (!this.isClosed) this.ws.send("");
  }

  close(): void {
    this.ws.close(1000, "");
    this.isClosed = true;
    this.wake();
  }
}
