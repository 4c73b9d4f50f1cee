// A single self-overwriting status line on a terminal (like lxc's "Retrieving image: 42%"); silent when
// stdout is not a TTY so scripts and pipes only see final results.
export class Progress {
  private last = "";

  constructor(private readonly out: NodeJS.WriteStream = process.stdout, private readonly quiet = false) {}

  private get enabled(): boolean {
    return !this.quiet && Boolean(this.out.isTTY);
  }

  update(text: string): void {
    if (!this.enabled || text === this.last) return;
    const pad = " ".repeat(Math.max(0, this.last.length - text.length));
    this.out.write(`\r${text}${pad}`);
    this.last = text;
  }

  /** Clears the line, optionally leaving a final message in its place. */
  done(message = ""): void {
    if (this.enabled && this.last) this.out.write(`\r${" ".repeat(this.last.length)}\r`);
    this.last = "";
    if (message) this.out.write(`${message}\n`);
  }
}
