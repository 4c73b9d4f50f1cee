// LXD's `?filter=` query language (extension api_filtering): `FIELD eq|ne VALUE` clauses joined by
// `and`/`or`, each optionally prefixed with `not`. Fields are dotted paths into the API object; once a
// path reaches a map (config, devices...), the rest of the path is one key: `config.image.os`.
import { ApiError } from "./error.ts";

export interface Clause { not: boolean; field: string; op: "eq" | "ne"; value: string }
export interface Filter { clauses: Clause[]; joins: ("and" | "or")[] }

/** Splits on spaces, keeping quoted values ("a b" or 'a b') whole. */
function tokens(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The parsed filter, or none for an empty one; a malformed one is the request's 400. */
export function parseFilter(text: string): Filter | undefined {
  const words = tokens(text.trim());
  if (!words.length) return undefined;
  const filter: Filter = { clauses: [], joins: [] };
  for (let i = 0; i < words.length;) {
    const not = words[i].toLowerCase() === "not";
    if (not) i++;
    const [field, op, value] = words.slice(i, i + 3);
    if (value === undefined || !["eq", "ne"].includes(op?.toLowerCase())) {
      throw new ApiError(400, `Invalid filter "${text}": expected FIELD eq|ne VALUE`);
    }
    filter.clauses.push({ not, field, op: op.toLowerCase() as "eq" | "ne", value });
    i += 3;
    if (i < words.length) {
      const join = words[i].toLowerCase();
      if (join !== "and" && join !== "or") throw new ApiError(400, `Invalid filter "${text}": expected "and" or "or" after a clause`);
      filter.joins.push(join);
      i++;
    }
  }
  return filter;
}

function lookup(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== "object") return undefined;
    const rec = cur as Record<string, unknown>;
    if (path[i] in rec) cur = rec[path[i]];
    else return rec[path.slice(i).join(".")];
  }
  return cur;
}

function clauseMatches(obj: unknown, c: Clause): boolean {
  const actual = lookup(obj, c.field.split("."));
  const equal = actual !== undefined && actual !== null && String(actual).toLowerCase() === c.value.toLowerCase();
  return (c.op === "eq" ? equal : !equal) !== c.not;
}

/** Evaluates left to right with `and` binding tighter than `or`, as LXD does. */
export function matchesFilter(obj: unknown, filter: Filter | undefined): boolean {
  if (!filter) return true;
  let any = false;
  let all = clauseMatches(obj, filter.clauses[0]);
  filter.joins.forEach((join, i) => {
    const next = clauseMatches(obj, filter.clauses[i + 1]);
    if (join === "and") all = all && next;
    else { any = any || all; all = next; }
  });
  return any || all;
}
