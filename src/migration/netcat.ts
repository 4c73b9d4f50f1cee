// `lxd netcat SOCKET NAME`: the "remote shell" rsync runs on the sending side of a migration
// (rsync.ts). It joins rsync's stdio to the daemon's unix socket. rsync appends the remote
// command line (`localhost rsync --server …`), which is ignored: the receiver runs its own.
// When rsync closes our stdin its output is all through, and the socket is closed.

export async function netcat(argv: string[]): Promise<number> {
  const path = argv[0];
  if (!path) {
    process.stderr.write("Error: usage: lxd netcat SOCKET NAME\n");
    return 1;
  }
  const stdout = Bun.stdout.writer();
  const pending: Uint8Array[] = [];
  let drained: (() => void) | undefined;
  let closed!: () => void;
  const gone = new Promise<void>((resolve) => (closed = resolve));
  const socket = await Bun.connect<undefined>({
    unix: path,
    socket: {
      data(_s, data) {
        stdout.write(data);
        void stdout.flush();
      },
      drain(s) {
        while (pending.length) {
          const head = pending[0]!;
          const n = Math.max(0, s.write(head));
          if (n < head.length) { pending[0] = head.subarray(n); return; }
          pending.shift();
        }
        drained?.();
      },
      close() { closed(); },
      error() { closed(); },
    },
  }).catch((err: Error) => {
    process.stderr.write(`Error: netcat: ${err.message}\n`);
    return undefined;
  });
  if (!socket) return 1;
  const pump = (async () => {
    for await (const chunk of Bun.stdin.stream()) {
      const bytes = new Uint8Array(chunk);
      if (pending.length) pending.push(bytes);
      else {
        const n = Math.max(0, socket.write(bytes));
        if (n < bytes.length) pending.push(bytes.subarray(n));
      }
      if (pending.length) await new Promise<void>((resolve) => (drained = resolve));
    }
    socket.end();
  })();
  await Promise.race([pump, gone]);
  await gone;
  await stdout.flush();
  return 0;
}
