// The CLI loads a command module only when the command line names one of its words
// (src/main.ts COMMAND_MODULES): the table must name exactly the words of each module's commands,
// and every command the cli/ modules export must be registered.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Command, type CommandClass } from "clipanion";
import { allCommands, COMMAND_MODULES, commandsFor } from "../../src/main.ts";

const CLI_DIR = join(import.meta.dir, "../../src/cli");
const topWords = (classes: CommandClass[]) => [...new Set(classes.flatMap((c) => (c.paths ?? []).map((p) => p[0]).filter(Boolean)))].sort();

describe("lazily loaded command modules", () => {
  test("each entry's words are exactly its commands' top-level words", async () => {
    for (const m of COMMAND_MODULES) expect([...m.words].sort()).toEqual(topWords(await m.load()));
  });

  test("every command a cli/ module exports is registered", async () => {
    const registered = new Set(await allCommands());
    const exported: string[] = [];
    for (const file of readdirSync(CLI_DIR).filter((f) => f.endsWith(".ts"))) {
      const mod = (await import(join(CLI_DIR, file))) as Record<string, unknown>;
      for (const [name, value] of Object.entries(mod)) {
        if (typeof value !== "function" || !(value.prototype instanceof Command) || !Object.hasOwn(value, "paths")) continue;
        if (!registered.has(value as CommandClass)) exported.push(`${file}: ${name}`);
      }
    }
    expect(exported).toEqual([]);
  });

  test("a command line registers only the commands of its word; flags and the bare binary see all", async () => {
    const all = await allCommands();
    expect(topWords(await commandsFor(["exec", "c1", "--", "true"]))).toEqual(["exec"]);
    expect((await commandsFor(["config", "set"])).length).toBe(all.filter((c) => topWords([c]).includes("config")).length);
    expect(await commandsFor(["--version"])).toHaveLength(1);
    expect(await commandsFor(["--help"])).toEqual(all);
    expect(await commandsFor([])).toEqual(all);
    expect(await commandsFor(["nosuchcommand"])).toEqual([]);
  });
});
