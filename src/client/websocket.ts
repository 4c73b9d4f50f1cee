// A thin wrapper over an open WebSocket speaking LXD's stream conventions:
// data travels as binary messages; the end of one direction's stream is a "barrier", an empty text
// message (LXD's shared/ws wrapper), after which the socket stays open until either side closes it.
// A reader treats a barrier (any text message) or a close frame as EOF.

export type WsData = string | Uint8Array;
export interface CloseInfo { code: number; reason: string }

export class WsConn {
  /** Resolves when the socket is closed, by either side. */
  readonly closed: Promise<CloseInfo>;
  private queue: WsData[] = [];
  private listener?: (data: WsData) => void;
  private isClosed = false;

  constructor(readonly ws: WebSocket) {
    ws.binaryType = "arraybuffer";
    this.closed = new Promise((resolve) => {
      ws.onclose = (ev) => {
        this.isClosed = true;
        resolve({ code: ev.code, reason: ev.reason });
      };
    });
    ws.onmessage = (ev) => {
      const data: WsData = typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer);
      if (this.listener) this.listener(data);
      else this.queue.push(data);
    };
  }

  /** Registers the single consumer of incoming messages; messages that arrived earlier are replayed. */
  onMessage(listener: (data: WsData) => void): void {
    this.listener = listener;
    for (const data of this.queue.splice(0)) listener(data);
  }

  get open(): boolean {
    return !this.isClosed && this.ws.readyState === WebSocket.OPEN;
  }

  send(data: WsData): void {
    if (this.open) this.ws.send(data);
  }

  sendJSON(value: unknown): void {
    this.send(JSON.stringify(value));
  }

  /** Marks the end of what this side sends (stdin EOF) without closing the socket. */
  sendBarrier(): void {
    this.send("");
  }

  close(code = 1000, reason = ""): void {
    if (this.open) this.ws.close(code, reason);
  }
}

/** Feeds binary messages to `sink` until a barrier or the close frame; resolves at that EOF. */
export function recvStream(conn: WsConn, sink: (chunk: Uint8Array) => void): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    conn.onMessage((data) => {
      if (done) return;
      if (typeof data === "string") finish();
      else sink(data);
    });
    conn.closed.then(finish);
  });
}
