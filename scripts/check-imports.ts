// Import direction check (run by CI and by test/unit/import-layers.test.ts): every module under
// src/ imports only from its own layer or lower ones (docs: /README.md "Architecture"), and no
// import cycle exists between files. Type-only imports count: they tie the layers together too.
// Usage: bun scripts/check-imports.ts  (exit 1 and one line per violation when the tree breaks it)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** Layers top to bottom; a module may import from its own layer and every layer below it. */
export const LAYERS: readonly (readonly string[])[] = [
  ["main.ts"],
  ["cli", "ui"],
  ["client"],
  ["daemon"],
  ["migration", "cluster"],
  ["instance", "image", "network", "profile", "project"],
  ["storage"],
  ["db", "events", "tls", "log.ts", "lock.ts", "kernel", "paths.ts"],
  ["config"],
  ["api"],
];

/** The layer of a path below src/ (0 = top), or undefined for a folder the table does not name. */
export function layerOf(path: string): number | undefined {
  const top = path.split("/")[0];
  const i = LAYERS.findIndex((names) => names.includes(top));
  return i < 0 ? undefined : i;
}

const SPECIFIER = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Relative imports of one source text, as written. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2];
    if (spec?.startsWith(".")) out.push(spec);
  }
  return out;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (path.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** File graph of src/: path below src/ -> the paths below src/ it imports. */
export function importGraph(srcDir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of walk(srcDir)) {
    const from = relative(srcDir, file);
    const targets = importsOf(readFileSync(file, "utf8"))
      .map((spec) => relative(srcDir, resolve(dirname(file), spec)))
      .filter((to) => !to.startsWith(".."));
    graph.set(from, [...new Set(targets)]);
  }
  return graph;
}

export function layerViolations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const mine = layerOf(from);
    if (mine === undefined) {
      out.push(`${from}: its folder is in no layer (add it to LAYERS in scripts/check-imports.ts and to the README)`);
      continue;
    }
    for (const to of targets) {
      const theirs = layerOf(to);
      if (theirs !== undefined && theirs < mine) out.push(`${from} imports ${to}, a higher layer`);
    }
  }
  return out;
}

/** Every cycle once, as "a -> b -> a" (Tarjan's strongly connected components). */
export function cycles(graph: Map<string, string[]>): string[] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) out.push(`import cycle: ${component.sort().join(" <-> ")}`);
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

if (import.meta.main) {
  const graph = importGraph(resolve(import.meta.dir, "../src"));
  const problems = [...layerViolations(graph), ...cycles(graph)];
  for (const p of problems) console.error(p);
  if (problems.length) process.exit(1);
  console.log(`imports: ${graph.size} modules, layers respected, no cycles`);
}
