// Runs the host's network tools (ip, nft, nsenter) and turns a failure into an error that says
// which command failed and what it printed.
export async function sh(argv: string[], input?: string): Promise<string> {
  const p = Bun.spawn(argv, { stdin: input === undefined ? "ignore" : new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")}: ${err.trim() || `exit ${code}`}`);
  return out;
}

/** Like sh but never throws: for teardown of things that may already be gone. */
export const shQuiet = (argv: string[]): Promise<void> => sh(argv).then(() => {}, () => {});

/** `ip -j ...` output as objects; nothing when the command fails or prints no JSON (the
 *  callers only look for what is there). */
export async function ipJson(argv: string[]): Promise<Record<string, unknown>[]> {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "ignore" });
  const text = await new Response(p.stdout).text();
  await p.exited;
  try {
    return JSON.parse(text) as Record<string, unknown>[];
  } catch {
    return [];
  }
}
