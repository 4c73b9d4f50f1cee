// A small renderer for the pongo2 (Django-like) syntax LXD image templates use. The package list
// is fixed, so this implements the subset images rely on rather than pulling in an engine:
//   {{ expr }}  {# comment #}  {% if %}/{% elif %}/{% else %}/{% endif %}
//   {% for x in list [reversed] [sorted] %} / {% for k, v in map %} ... {% empty %} ... {% endfor %}
//   (with forloop.counter, .counter0, .first, .last; maps iterate in key order)
//   expressions: names with .attr and ["key"], string/number/bool literals, function calls
//   (config_get("key", "default")), == != < > <= >= in, not/and/or, parentheses,
//   filters: default, default_if_none, upper, lower, capfirst, title, length, join, first, last, safe, escape, yesno.
// Unlike pongo2 there is no HTML autoescaping: templates render configuration files, not HTML.

export type Value = unknown;
export type Context = Record<string, Value>;

export class TemplateError extends Error {}

type Expr =
  | { k: "lit"; v: Value }
  | { k: "name"; name: string }
  | { k: "attr"; obj: Expr; key: Expr }
  | { k: "call"; fn: string; args: Expr[] }
  | { k: "filter"; value: Expr; name: string; arg?: Expr }
  | { k: "not"; e: Expr }
  | { k: "bin"; op: string; a: Expr; b: Expr };

type Node =
  | { k: "text"; s: string }
  | { k: "out"; e: Expr }
  | { k: "if"; branches: { cond: Expr; body: Node[] }[]; otherwise: Node[] }
  | { k: "for"; vars: string[]; iter: Expr; reversed: boolean; sorted: boolean; body: Node[]; empty: Node[] };

// ---- expressions -----------------------------------------------------------------------

const TOKEN = /\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(\d+(?:\.\d+)?)|(==|!=|<=|>=|&&|\|\||[<>()[\].,|:!])|([A-Za-z_][A-Za-z0-9_]*))/y;

function lex(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    if (/^\s*$/.test(src.slice(TOKEN.lastIndex))) break;
    const m = TOKEN.exec(src);
    if (!m) throw new TemplateError(`cannot parse "${src.slice(TOKEN.lastIndex).trim()}" in "${src.trim()}"`);
    out.push(m[0].trim());
  }
  return out;
}

class ExprParser {
  private i = 0;
  constructor(private readonly t: string[], private readonly src: string) {}

  private peek(): string | undefined { return this.t[this.i]; }
  private next(): string {
    const v = this.t[this.i++];
    if (v === undefined) throw new TemplateError(`unexpected end of expression "${this.src}"`);
    return v;
  }
  private expect(tok: string): void {
    const v = this.next();
    if (v !== tok) throw new TemplateError(`expected "${tok}" but found "${v}" in "${this.src}"`);
  }

  parseAll(): Expr {
    const e = this.or();
    if (this.i < this.t.length) throw new TemplateError(`unexpected "${this.peek()}" in "${this.src}"`);
    return e;
  }

  private or(): Expr {
    let a = this.and();
    while (this.peek() === "or" || this.peek() === "||") { this.next(); a = { k: "bin", op: "or", a, b: this.and() }; }
    return a;
  }
  private and(): Expr {
    let a = this.not();
    while (this.peek() === "and" || this.peek() === "&&") { this.next(); a = { k: "bin", op: "and", a, b: this.not() }; }
    return a;
  }
  private not(): Expr {
    if (this.peek() === "not" || this.peek() === "!") { this.next(); return { k: "not", e: this.not() }; }
    return this.compare();
  }
  private compare(): Expr {
    const a = this.filtered();
    const op = this.peek();
    if (op && ["==", "!=", "<", ">", "<=", ">=", "in"].includes(op)) { this.next(); return { k: "bin", op, a, b: this.filtered() }; }
    if (op === "not" && this.t[this.i + 1] === "in") { this.i += 2; return { k: "not", e: { k: "bin", op: "in", a, b: this.filtered() } }; }
    return a;
  }
  private filtered(): Expr {
    let value = this.postfix();
    while (this.peek() === "|") {
      this.next();
      const name = this.next();
      let arg: Expr | undefined;
      if (this.peek() === ":") { this.next(); arg = this.postfix(); }
      value = { k: "filter", value, name, arg };
    }
    return value;
  }
  private postfix(): Expr {
    let e = this.primary();
    for (;;) {
      if (this.peek() === ".") { this.next(); e = { k: "attr", obj: e, key: { k: "lit", v: this.next() } }; }
      else if (this.peek() === "[") { this.next(); const key = this.or(); this.expect("]"); e = { k: "attr", obj: e, key }; }
      else return e;
    }
  }
  private primary(): Expr {
    const tok = this.next();
    if (tok === "(") { const e = this.or(); this.expect(")"); return e; }
    if (tok[0] === '"' || tok[0] === "'") return { k: "lit", v: tok.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c)) };
    if (/^\d/.test(tok)) return { k: "lit", v: Number(tok) };
    if (tok === "true" || tok === "True") return { k: "lit", v: true };
    if (tok === "false" || tok === "False") return { k: "lit", v: false };
    if (tok === "nil" || tok === "None") return { k: "lit", v: null };
    if (!/^[A-Za-z_]/.test(tok)) throw new TemplateError(`unexpected "${tok}" in "${this.src}"`);
    if (this.peek() === "(") {
      this.next();
      const args: Expr[] = [];
      while (this.peek() !== ")") {
        args.push(this.or());
        if (this.peek() === ",") this.next();
        else break;
      }
      this.expect(")");
      return { k: "call", fn: tok, args };
    }
    return { k: "name", name: tok };
  }
}

const parseExpr = (src: string): Expr => new ExprParser(lex(src), src.trim()).parseAll();

// ---- values ----------------------------------------------------------------------------

const truthy = (v: Value): boolean => {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return Boolean(v);
};

/** Go/pongo2 rendering of a value. */
export function show(v: Value): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === "string" ? `'${x}'` : show(x))).join(", ")}]`;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

const FILTERS: Record<string, (v: Value, arg: Value) => Value> = {
  default: (v, a) => (truthy(v) ? v : a),
  default_if_none: (v, a) => (v === null || v === undefined ? a : v),
  upper: (v) => show(v).toUpperCase(),
  lower: (v) => show(v).toLowerCase(),
  capfirst: (v) => { const s = show(v); return s.charAt(0).toUpperCase() + s.slice(1); },
  title: (v) => show(v).replace(/\w\S*/g, (w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()),
  length: (v) => (Array.isArray(v) ? v.length : v && typeof v === "object" ? Object.keys(v).length : show(v).length),
  join: (v, a) => (Array.isArray(v) ? v.map(show).join(show(a)) : show(v)),
  first: (v) => (Array.isArray(v) ? v[0] : show(v).charAt(0)),
  last: (v) => (Array.isArray(v) ? v[v.length - 1] : show(v).slice(-1)),
  safe: (v) => v,
  escape: (v) => show(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;"),
  yesno: (v, a) => { const [y = "yes", n = "no", u = "maybe"] = show(a ?? "yes,no,maybe").split(","); return v === null || v === undefined ? u : truthy(v) ? y : n; },
};

function evaluate(e: Expr, ctx: Context): Value {
  switch (e.k) {
    case "lit": return e.v;
    case "name": return ctx[e.name];
    case "attr": {
      const obj = evaluate(e.obj, ctx);
      const key = evaluate(e.key, ctx);
      if (obj === null || obj === undefined || typeof obj !== "object") return undefined;
      return (obj as Record<string, Value>)[String(key)];
    }
    case "call": {
      const fn = ctx[e.fn];
      if (typeof fn !== "function") throw new TemplateError(`unknown function "${e.fn}"`);
      return (fn as (...a: Value[]) => Value)(...e.args.map((a) => evaluate(a, ctx)));
    }
    case "filter": {
      const f = FILTERS[e.name];
      if (!f) throw new TemplateError(`unknown filter "${e.name}"`);
      return f(evaluate(e.value, ctx), e.arg ? evaluate(e.arg, ctx) : undefined);
    }
    case "not": return !truthy(evaluate(e.e, ctx));
    case "bin": {
      if (e.op === "and") return truthy(evaluate(e.a, ctx)) && truthy(evaluate(e.b, ctx));
      if (e.op === "or") return truthy(evaluate(e.a, ctx)) || truthy(evaluate(e.b, ctx));
      const a = evaluate(e.a, ctx), b = evaluate(e.b, ctx);
      switch (e.op) {
        case "==": return a === b || (a != null && b != null && show(a) === show(b) && typeof a === typeof b);
        case "!=": return !(a === b || (a != null && b != null && show(a) === show(b) && typeof a === typeof b));
        case "<": return (a as number) < (b as number);
        case ">": return (a as number) > (b as number);
        case "<=": return (a as number) <= (b as number);
        case ">=": return (a as number) >= (b as number);
        case "in":
          if (Array.isArray(b)) return b.some((x) => x === a);
          if (b && typeof b === "object") return String(a) in b;
          return show(b).includes(show(a));
      }
    }
  }
  throw new TemplateError("bad expression");
}

// ---- statements ------------------------------------------------------------------------

const TAG = /\{\{([\s\S]*?)\}\}|\{%-?([\s\S]*?)-?%\}|\{#[\s\S]*?#\}/g;

interface Tag { kind: "text" | "out" | "stmt"; s: string }

function tokenize(src: string): Tag[] {
  const out: Tag[] = [];
  let last = 0;
  for (const m of src.matchAll(TAG)) {
    if (m.index > last) out.push({ kind: "text", s: src.slice(last, m.index) });
    if (m[1] !== undefined) out.push({ kind: "out", s: m[1] });
    else if (m[2] !== undefined) out.push({ kind: "stmt", s: m[2].trim() });
    last = m.index + m[0].length;
  }
  if (last < src.length) out.push({ kind: "text", s: src.slice(last) });
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly tags: Tag[]) {}

  /** Parses nodes until one of `stops` (a statement keyword); returns the nodes and the stop tag. */
  block(stops: string[]): { nodes: Node[]; stop?: string } {
    const nodes: Node[] = [];
    while (this.i < this.tags.length) {
      const t = this.tags[this.i++]!;
      if (t.kind === "text") { nodes.push({ k: "text", s: t.s }); continue; }
      if (t.kind === "out") { nodes.push({ k: "out", e: parseExpr(t.s) }); continue; }
      const word = t.s.split(/\s+/)[0]!;
      if (stops.includes(word)) return { nodes, stop: t.s };
      if (word === "if") nodes.push(this.ifNode(t.s.slice(2)));
      else if (word === "for") nodes.push(this.forNode(t.s.slice(3)));
      else throw new TemplateError(`unsupported tag "{% ${t.s} %}"`);
    }
    if (stops.length) throw new TemplateError(`missing {% ${stops[stops.length - 1]} %}`);
    return { nodes };
  }

  private ifNode(cond: string): Node {
    const branches: { cond: Expr; body: Node[] }[] = [];
    let otherwise: Node[] = [];
    let current = parseExpr(cond);
    for (;;) {
      const { nodes, stop } = this.block(["elif", "else", "endif"]);
      branches.push({ cond: current, body: nodes });
      if (stop!.startsWith("elif")) { current = parseExpr(stop!.slice(4)); continue; }
      if (stop === "else") otherwise = this.block(["endif"]).nodes;
      return { k: "if", branches, otherwise };
    }
  }

  private forNode(spec: string): Node {
    const m = /^\s*([A-Za-z_]\w*)(?:\s*,\s*([A-Za-z_]\w*))?\s+in\s+([\s\S]+)$/.exec(spec);
    if (!m) throw new TemplateError(`bad for loop "{% for ${spec.trim()} %}"`);
    const vars = m[2] ? [m[1]!, m[2]] : [m[1]!];
    let src = m[3]!.trim();
    const modifier = (word: string) => {
      const found = new RegExp(`\\s+${word}$`).test(src);
      if (found) src = src.slice(0, -word.length).trim();
      return found;
    };
    const sorted = modifier("sorted");
    const reversed = modifier("reversed");
    const first = this.block(["empty", "endfor"]);
    const empty = first.stop === "empty" ? this.block(["endfor"]).nodes : [];
    return { k: "for", vars, iter: parseExpr(src), reversed, sorted, body: first.nodes, empty };
  }
}

function run(nodes: Node[], ctx: Context, out: string[]): void {
  for (const n of nodes) {
    switch (n.k) {
      case "text": out.push(n.s); break;
      case "out": out.push(show(evaluate(n.e, ctx))); break;
      case "if": {
        const hit = n.branches.find((b) => truthy(evaluate(b.cond, ctx)));
        run(hit ? hit.body : n.otherwise, ctx, out);
        break;
      }
      case "for": {
        const v = evaluate(n.iter, ctx);
        const items: [Value, Value][] = Array.isArray(v)
          ? v.map((x, i) => [x, i])
          : v && typeof v === "object"
            ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
            : typeof v === "string" ? [...v].map((c, i) => [c, i]) : [];
        if (n.sorted && Array.isArray(v)) items.sort(([a], [b]) => (show(a) < show(b) ? -1 : show(a) > show(b) ? 1 : 0));
        if (n.reversed) items.reverse();
        if (!items.length) { run(n.empty, ctx, out); break; }
        items.forEach(([a, b], i) => {
          const scope: Context = { ...ctx, forloop: { counter: i + 1, counter0: i, first: i === 0, last: i === items.length - 1 } };
          scope[n.vars[0]!] = a;
          if (n.vars[1]) scope[n.vars[1]] = b;
          run(n.body, scope, out);
        });
        break;
      }
    }
  }
}

/** Parses a template (throws TemplateError with the reason); the result renders any context. */
export function compileTemplate(src: string): (ctx: Context) => string {
  const nodes = new Parser(tokenize(src)).block([]).nodes;
  return (ctx) => {
    const out: string[] = [];
    run(nodes, ctx, out);
    return out.join("");
  };
}

export const renderTemplate = (src: string, ctx: Context): string => compileTemplate(src)(ctx);
