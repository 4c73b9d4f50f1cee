// The import direction rule of the architecture (README "Architecture"), checked on the real tree,
// and the checker itself on small made-up graphs.
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { cycles, importGraph, importsOf, layerOf, layerViolations } from "../../scripts/check-imports.ts";

test("src/ imports only downwards and has no import cycle, type-only imports included", () => {
  const graph = importGraph(resolve(import.meta.dir, "../../src"));
  expect(graph.size).toBeGreaterThan(100);
  expect(layerViolations(graph)).toEqual([]);
  expect(cycles(graph)).toEqual([]);
});

test("the checker sees type-only and dynamic imports, upward edges and cycles", () => {
  expect(importsOf(`import type { A } from "./a.ts";\nexport { b } from "../b.ts";\nconst c = await import("./c.ts");\nimport "node:fs";`))
    .toEqual(["./a.ts", "../b.ts", "./c.ts"]);
  expect(layerOf("api/error.ts")).toBeGreaterThan(layerOf("daemon/server.ts")!);
  const graph = new Map([
    ["instance/a.ts", ["daemon/b.ts", "instance/c.ts"]],
    ["instance/c.ts", ["instance/a.ts"]],
    ["daemon/b.ts", []],
  ]);
  expect(layerViolations(graph)).toEqual(["instance/a.ts imports daemon/b.ts, a higher layer"]);
  expect(cycles(graph)).toEqual(["import cycle: instance/a.ts <-> instance/c.ts"]);
  expect(layerViolations(new Map([["nowhere/x.ts", []]]))[0]).toMatch(/in no layer/);
});
