// Shared pieces: data loading, sortable tables, dialogs, forms and the status line screen
// readers announce.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { events, type LxdEvent } from "./api.ts";

/** Loads data, reloads it on demand and whenever an event matching `on` arrives. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], on?: (e: LxdEvent) => boolean) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const seq = useRef(0);
  const reload = useCallback(() => {
    const mine = ++seq.current;
    load().then(
      (v) => { if (mine === seq.current) { setData(v); setError(undefined); } },
      (e: Error) => { if (mine === seq.current) setError(e.message); },
    );
  }, deps);
  useEffect(() => {
    reload();
    if (!on) return;
    return events.subscribe((e) => { if (on(e)) reload(); }, reload);
  }, [reload]);
  return { data, error, reload, setData };
}

/** A lifecycle event whose source is under `prefix` (e.g. "/1.0/images"). */
export const lifecycleUnder = (prefix: string) => (e: LxdEvent) =>
  e.type === "lifecycle" && String((e.metadata as { source?: string }).source ?? "").startsWith(prefix);

const announcer = { set: (_: string) => {} };
/** Announces a result ("c1 started") on the page's live region. */
export const announce = (text: string) => announcer.set(text);

export function StatusLine() {
  const [text, setText] = useState("");
  useEffect(() => {
    announcer.set = (t) => {
      setText(t);
      setTimeout(() => setText((cur) => (cur === t ? "" : cur)), 6000);
    };
  }, []);
  return <div class="status-line" role="status" aria-live="polite">{text}</div>;
}

export function ErrorText({ error }: { error?: string }) {
  return error ? <p class="error" role="alert">{error}</p> : null;
}

export interface Column<T> {
  key: string;
  label: string;
  value: (row: T) => string | number;
  render?: (row: T) => ComponentChildren;
  class?: string;
}

/** Columns of buttons, not values: their headers do not sort. */
const ACTIONS = new Set(["x", "actions"]);

/** A table whose headers sort it (click or Enter/Space), with aria-sort for screen readers. */
export function Table<T>({ rows, columns, rowKey, caption, empty, initialSort }: {
  rows: T[]; columns: Column<T>[]; rowKey: (row: T) => string; caption: string; empty?: string;
  initialSort?: { key: string; dir: 1 | -1 };
}) {
  const [sort, setSort] = useState<{ key: string; dir: 1 | -1 }>(initialSort ?? { key: columns[0].key, dir: 1 });
  const col = columns.find((c) => c.key === sort.key) ?? columns[0];
  const sorted = [...rows].sort((a, b) => {
    const x = col.value(a), y = col.value(b);
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true })) * sort.dir;
  });
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (ACTIONS.has(c.key) ? <th key={c.key} class={c.class} scope="col">{c.label}</th> : (
              <th key={c.key} class={c.class} scope="col" aria-sort={c.key === sort.key ? (sort.dir === 1 ? "ascending" : "descending") : "none"}>
                <button type="button" class="sort" onClick={() => setSort({ key: c.key, dir: c.key === sort.key ? (-sort.dir as 1 | -1) : 1 })}>
                  {c.label}{c.key === sort.key ? (sort.dir === 1 ? " ▲" : " ▼") : ""}
                </button>
              </th>
            )))}
          </tr>
        </thead>
        <tbody>
          {sorted.length === 0 && <tr><td colSpan={columns.length} class="empty">{empty ?? "Nothing here yet."}</td></tr>}
          {sorted.map((r) => (
            <tr key={rowKey(r)}>
              {columns.map((c) => <td key={c.key} class={c.class} data-label={c.label}>{c.render ? c.render(r) : c.value(r)}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A modal <dialog>: focus moves in, Escape closes, focus returns to what opened it. */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    ref.current?.showModal();
    return () => opener?.focus?.();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onClose={onClose} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id="dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}

/** A form in a dialog whose submit runs `action`; its error stays in the dialog. */
export function FormDialog({ title, submit, action, onClose, children, danger }: {
  title: string; submit: string; action: () => Promise<void>; onClose: () => void; children?: ComponentChildren; danger?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <Dialog title={title} onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        try {
          await action();
          onClose();
        } catch (err) {
          setError((err as Error).message);
        } finally {
          setBusy(false);
        }
      }}>
        {children}
        <ErrorText error={error} />
        <div class="buttons">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class={danger ? "danger" : "primary"} disabled={busy}>{busy ? "Working…" : submit}</button>
        </div>
      </form>
    </Dialog>
  );
}

let fieldIds = 0;
/** A labelled input; `error` is shown under it and tied to it for screen readers. */
export function Field({ label, value, onInput, error, type, placeholder, required, hint, autoFocus }: {
  label: string; value: string; onInput: (v: string) => void; error?: string; type?: string; placeholder?: string;
  required?: boolean; hint?: string; autoFocus?: boolean;
}) {
  const id = useRef(`f${++fieldIds}`).current;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} type={type ?? "text"} value={value} placeholder={placeholder} required={required} autoFocus={autoFocus}
        aria-invalid={error ? "true" : undefined} aria-describedby={error ? `${id}-err` : hint ? `${id}-hint` : undefined}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)} />
      {hint && !error && <small id={`${id}-hint`}>{hint}</small>}
      {error && <small id={`${id}-err`} class="error">{error}</small>}
    </div>
  );
}

export function Select({ label, value, options, onChange }: {
  label: string; value: string; options: { value: string; label: string }[]; onChange: (v: string) => void;
}) {
  const id = useRef(`f${++fieldIds}`).current;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
      </select>
    </div>
  );
}

export const bytes = (n: number | undefined) => {
  if (!n) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
};

export const when = (iso: string | undefined) => (!iso || iso.startsWith("0001") ? "–" : new Date(iso).toLocaleString());

/** key=value pairs (space or newline separated) -> a map; throws on a pair without "=". */
export function parsePairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(/[\s]+/).filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`"${pair}" is not key=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export const pairs = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1 tabIndex={-1} id="page-title">{title}</h1>
      <div class="actions">{children}</div>
    </div>
  );
}
