// Questions on the terminal as LXD's interactive commands ask them: one answer per line of stdin
// (a terminal or a pipe), yes/no questions with a default, invalid answers asked again.

export interface Asker {
  ask(question: string): Promise<string>;
  /** `end`: what follows "[default=...]" (LXD writes a few of its questions without the colon). */
  yes(question: string, dflt: boolean, end?: string): Promise<boolean>;
}

export function asker(out: (s: string) => void): Asker {
  const it = console[Symbol.asyncIterator]();
  const ask = async (question: string) => {
    out(question);
    const next = await it.next();
    if (next.done) throw new Error("No answer on standard input");
    return String(next.value).trim();
  };
  const yes = async (question: string, dflt: boolean, end = ": ") => {
    for (;;) {
      const a = (await ask(`${question} (yes/no) [default=${dflt ? "yes" : "no"}]${end}`)).toLowerCase();
      if (!a) return dflt;
      if (["yes", "y"].includes(a)) return true;
      if (["no", "n"].includes(a)) return false;
      out("Invalid input, try again.\n\n");
    }
  };
  return { ask, yes };
}
