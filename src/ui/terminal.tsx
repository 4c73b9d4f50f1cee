// A shell (exec) or the console of an instance in xterm.js, over the same operation websockets
// `lxc exec` and `lxc console` use: channel "0" carries the terminal's bytes both ways (UTF-8
// decoded by xterm), "control" carries window-resize messages.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal as XTerm } from "@xterm/xterm";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, operationSocket, type Operation } from "./api.ts";
import { ErrorText } from "./components.tsx";

const enc = encodeURIComponent;
/** bash when the instance has it, else sh; both as a login shell, in root's home. */
const SHELL = ["/bin/sh", "-c", "cd ~ 2>/dev/null; if command -v bash >/dev/null; then exec bash -l; fi; exec sh -l"];

export function Terminal({ name, mode }: { name: string; mode: "terminal" | "console" }) {
  const box = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string>();
  const [ended, setEnded] = useState(false);
  const [generation, setGeneration] = useState(0);
  const term = useRef<XTerm>();

  useEffect(() => {
    const xterm = new XTerm({ cursorBlink: true, fontSize: 14, scrollback: 5000, screenReaderMode: false, fontFamily: "ui-monospace, monospace" });
    const fit = new FitAddon();
    xterm.loadAddon(fit);
    xterm.open(box.current!);
    fit.fit();
    term.current = xterm;
    setEnded(false);
    setError(undefined);
    const sockets: WebSocket[] = [];
    let closed = false;

    // Ctrl+Shift+C / Ctrl+Shift+V copy and paste, as in desktop terminals (Ctrl+C stays SIGINT).
    xterm.attachCustomKeyEventHandler((e) => {
      if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === "KeyC") { navigator.clipboard?.writeText(xterm.getSelection()); return false; }
      if (e.code === "KeyV") { navigator.clipboard?.readText().then((t) => xterm.paste(t)); return false; }
      return true;
    });

    // Keys typed before the socket is open are sent once it is, not lost.
    let socket: WebSocket | undefined;
    const early: Uint8Array[] = [];
    const encoder = new TextEncoder();
    const send = (bytes: Uint8Array) => {
      if (socket?.readyState === WebSocket.OPEN) socket.send(bytes);
      else if (!socket || socket.readyState === WebSocket.CONNECTING) early.push(bytes);
    };
    xterm.onData((d) => send(encoder.encode(d)));
    xterm.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0))));

    (async () => {
      const size = { width: xterm.cols, height: xterm.rows };
      const op = mode === "terminal"
        ? await api<Operation>("POST", `/1.0/instances/${enc(name)}/exec`, {
          command: SHELL, environment: { TERM: "xterm-256color", HOME: "/root", USER: "root", LANG: "C.UTF-8" },
          interactive: true, "wait-for-websocket": true, ...size,
        })
        : await api<Operation>("POST", `/1.0/instances/${enc(name)}/console`, { type: "console", ...size });
      if (closed) return;
      const fds = (op.metadata as { fds: Record<string, string> }).fds;
      const data = operationSocket(op, fds["0"]);
      data.binaryType = "arraybuffer";
      const control = operationSocket(op, fds.control);
      sockets.push(data, control);
      socket = data;
      data.onopen = () => {
        for (const b of early.splice(0)) data.send(b);
        xterm.focus();
      };
      data.onmessage = (m) => xterm.write(typeof m.data === "string" ? m.data : new Uint8Array(m.data as ArrayBuffer));
      data.onclose = () => {
        if (closed) return;
        xterm.write(`\r\n\x1b[2m[${mode === "terminal" ? "shell exited" : "console closed"}]\x1b[0m\r\n`);
        setEnded(true);
      };
      xterm.onResize(({ cols, rows }) => control.readyState === WebSocket.OPEN &&
        control.send(JSON.stringify({ command: "window-resize", args: { width: String(cols), height: String(rows) } })));
    })().catch((e: Error) => setError(e.message));

    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(box.current!);
    return () => {
      closed = true;
      observer.disconnect();
      for (const s of sockets) s.close();
      xterm.dispose();
    };
  }, [name, mode, generation]);

  return (
    <div class="terminal-wrap">
      <div class="toolbar" role="group" aria-label={`${mode === "terminal" ? "Terminal" : "Console"} controls`}>
        <button type="button" onClick={() => navigator.clipboard?.writeText(term.current?.getSelection() ?? "")}>Copy selection</button>
        <button type="button" onClick={() => navigator.clipboard?.readText().then((t) => term.current?.paste(t))}>Paste</button>
        {ended && <button type="button" onClick={() => setGeneration((g) => g + 1)}>Reconnect</button>}
        <small>Ctrl+Shift+C / Ctrl+Shift+V copy and paste{mode === "console" ? "; the console keeps running when you leave" : ""}.</small>
      </div>
      <ErrorText error={error} />
      <div class="terminal" ref={box} data-testid="terminal" aria-label={mode === "terminal" ? `Shell in ${name}` : `Console of ${name}`} />
    </div>
  );
}
