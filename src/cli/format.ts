// Output formatting shared by the commands, matching LXD's client: box tables (tablewriter look),
// compact tables, CSV, JSON, go-yaml v2 style YAML, byte sizes and dates.
import { existsSync } from "node:fs";

export type OutputFormat = "table" | "compact" | "csv" | "json" | "yaml";
export const OUTPUT_FORMATS: OutputFormat[] = ["table", "compact", "csv", "json", "yaml"];

export function parseFormat(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as string[]).includes(value)) throw new Error(`Invalid format "${value}"`);
  return value as OutputFormat;
}

/** Renders rows in the requested format; json/yaml print `raw` (the API objects) like lxc does. */
export function renderTable(format: OutputFormat, header: string[], rows: string[][], raw: unknown): string {
  switch (format) {
    case "table":
      return boxTable(header, rows);
    case "compact":
      return compactTable(header, rows);
    case "csv":
      return csv(rows);
    case "json":
      return `${JSON.stringify(raw)}\n`;
    case "yaml":
      return toYaml(raw);
  }
}

// ---- tables ----

const width = (s: string) => [...s].length;
const padRight = (s: string, n: number) => s + " ".repeat(Math.max(0, n - width(s)));
const center = (s: string, n: number) => {
  const left = Math.floor((n - width(s)) / 2);
  return padRight(" ".repeat(Math.max(0, left)) + s, n);
};

/** Column widths over the header and every line of every (possibly multi-line) cell. */
function columnWidths(header: string[], rows: string[][]): number[] {
  return header.map((h, i) =>
    Math.max(width(h), ...rows.map((r) => Math.max(0, ...(r[i] ?? "").split("\n").map(width)))),
  );
}

/** Expands a row whose cells hold several lines into one physical line per text line. */
function physicalLines(row: string[], columns: number): string[][] {
  const split = Array.from({ length: columns }, (_, i) => (row[i] ?? "").split("\n"));
  const height = Math.max(1, ...split.map((c) => c.length));
  return Array.from({ length: height }, (_, line) => split.map((c) => c[line] ?? ""));
}

export function boxTable(header: string[], rows: string[][]): string {
  const widths = columnWidths(header, rows);
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+\n`;
  const line = (cells: string[], fmt: (s: string, n: number) => string) =>
    `|${cells.map((c, i) => ` ${fmt(c, widths[i]!)} `).join("|")}|\n`;
  let out = rule + line(header, center) + rule;
  for (const row of rows) {
    for (const cells of physicalLines(row, header.length)) out += line(cells, padRight);
    out += rule;
  }
  return out;
}

export function compactTable(header: string[], rows: string[][]): string {
  const widths = columnWidths(header, rows);
  const line = (cells: string[], fmt: (s: string, n: number) => string) =>
    ` ${cells.map((c, i) => ` ${fmt(c, widths[i]!)} `).join("")} \n`;
  let out = line(header, center);
  for (const row of rows) for (const cells of physicalLines(row, header.length)) out += line(cells, padRight);
  return out;
}

/** RFC 4180 CSV as Go's encoding/csv writes it (quotes only when needed). */
export function csv(rows: string[][]): string {
  const field = (f: string) =>
    f === "" || !/[",\r\n]/.test(f) && !/^\s/.test(f) ? f : `"${f.replace(/"/g, '""')}"`;
  return rows.map((r) => `${r.map(field).join(",")}\n`).join("");
}

// ---- YAML (go-yaml v2 style: block style, sequences not indented under keys) ----

/** Strings a YAML parser would read as something else (null, bool, number) must be quoted. */
function resolvesToNonString(s: string): boolean {
  if (s === "" || s === "~" || /^(null|Null|NULL)$/.test(s)) return true;
  if (/^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/.test(s)) return true;
  if (/^[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$/.test(s)) return true;
  if (/^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return true;
  if (/^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$/.test(s)) return true;
  return /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$/.test(s); // YAML 1.1 base-60 numbers
}

/** Whether a string can be written unquoted in block context (yaml_emitter_analyze_scalar rules). */
function plainAllowed(s: string): boolean {
  if (/^\s|\s$/.test(s)) return false;
  if (/^[#,[\]{}&*!|>'"%@`]/.test(s)) return false;
  if (/^[-?:](\s|$)/.test(s)) return false;
  if (/:(\s|$)/.test(s) || /\s#/.test(s)) return false;
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(s);
}

function yamlString(s: string, indent: string): string {
  if (s.includes("\n")) {
    const chomp = s.endsWith("\n") ? (s.endsWith("\n\n") ? "+" : "") : "-";
    const body = (chomp === "-" ? s : s.replace(/\n$/, "")).split("\n");
    return `|${chomp}\n${body.map((l) => (l ? `${indent}  ${l}` : "")).join("\n")}`;
  }
  if (resolvesToNonString(s)) return JSON.stringify(s);
  if (plainAllowed(s)) return s;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(s)) return JSON.stringify(s);
  return `'${s.replace(/'/g, "''")}'`;
}

function yamlScalar(v: unknown, indent: string): string | undefined {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean" || typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return yamlString(v, indent);
  if (Array.isArray(v) && v.length === 0) return "[]";
  if (typeof v === "object" && Object.keys(v as object).length === 0) return "{}";
  return undefined;
}

function yamlNode(v: unknown, indent: string): string {
  if (Array.isArray(v)) {
    return v
      .map((item) => {
        const scalar = yamlScalar(item, indent);
        if (scalar !== undefined) return `${indent}- ${scalar}\n`;
        // The first line of a nested block shares the "- " line.
        return `${indent}- ${yamlNode(item, `${indent}  `).slice(indent.length + 2)}`;
      })
      .join("");
  }
  return Object.entries(v as Record<string, unknown>)
    .filter(([, val]) => val !== undefined)
    .map(([key, val]) => {
      const k = yamlString(key, indent);
      const scalar = yamlScalar(val, indent);
      if (scalar !== undefined) return `${indent}${k}: ${scalar}\n`;
      // Sequences sit at the key's own indentation, maps one level deeper (go-yaml v2).
      return `${indent}${k}:\n${yamlNode(val, Array.isArray(val) ? indent : `${indent}  `)}`;
    })
    .join("");
}

export function toYaml(value: unknown): string {
  const scalar = yamlScalar(value, "");
  return scalar !== undefined ? `${scalar}\n` : yamlNode(value, "");
}

// ---- sizes ----

/** `lxc image list` size column: always MiB-based, labelled MB. */
export const imageSize = (n: number) => `${(n / 1024 / 1024).toFixed(2)}MB`;

// ---- dates (local time, like the Go client) ----

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

/** Zero times ("0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z") mean "never" in LXD. */
export function parseTime(iso: string | undefined): Date | undefined {
  if (!iso) return undefined;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return undefined;
  return d;
}

function zoneName(d: Date): string {
  // Without /etc/localtime (and TZ) the host is on UTC; asking Intl would make ICU search the whole
  // zoneinfo tree first, which takes seconds on small hosts.
  if (!process.env.TZ && !existsSync("/etc/localtime")) return "UTC";
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName");
  const name = part?.value ?? "UTC";
  return name === "GMT" ? "UTC" : name;
}

/** "2006/01/02 15:04 MST", or "" for a zero time. */
export function formatDate(iso: string | undefined): string {
  const d = parseTime(iso);
  if (!d) return "";
  return `${d.getFullYear()}/${two(d.getMonth() + 1)}/${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())} ${zoneName(d)}`;
}

/** "Jan 2, 2006 at 3:04pm (MST)", the image list upload date. */
export function formatUploadDate(iso: string | undefined): string {
  const d = parseTime(iso);
  if (!d) return "";
  const h = d.getHours() % 12 || 12;
  const ampm = d.getHours() < 12 ? "am" : "pm";
  return `${MONTHS[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()} at ${h}:${two(d.getMinutes())}${ampm} (${zoneName(d)})`;
}
