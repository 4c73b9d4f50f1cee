// One instance: overview with live graphs, configuration (validated by the daemon, errors next
// to the key), devices, snapshots (with their schedule), log, terminal and console.
import { useEffect, useRef, useState } from "preact/hooks";
import type { InstanceState } from "../api/instance.ts";
import type { InstanceSnapshot } from "../api/snapshot.ts";
import { ApiError, api, run, sourceParts, type LxdEvent } from "./api.ts";
import {
  announce, bytes, ErrorText, Field, FormDialog, PageHeader, pairs, parsePairs, Table, useLoad, when,
} from "./components.tsx";
import { addresses, imageOf, type Inst, InstanceActions, StateBadge } from "./instances.tsx";
import { link } from "./router.ts";
import { lazy } from "./lazy.tsx";

// xterm.js is most of the console's code: loaded only when a terminal is opened.
const Terminal = lazy(() => import("./terminal.tsx").then((m) => m.Terminal));

const enc = encodeURIComponent;
const TABS = [
  ["overview", "Overview"], ["configuration", "Configuration"], ["devices", "Devices"], ["snapshots", "Snapshots"],
  ["log", "Log"], ["terminal", "Terminal"], ["console", "Console"],
] as const;

/** Lifecycle events about this instance or its snapshots. */
const about = (name: string) => (e: LxdEvent) => {
  if (e.type !== "lifecycle") return false;
  const [kind, n] = sourceParts((e.metadata as { source: string }).source);
  return kind === "instances" && n === name;
};

export function InstanceDetail({ name, tab }: { name: string; tab: string }) {
  const { data: inst, error, reload } = useLoad(() => api<Inst>("GET", `/1.0/instances/${enc(name)}?recursion=1`), [name], about(name));
  const base = `/instances/${enc(name)}`;
  return (
    <>
      <nav aria-label="Breadcrumb" class="crumbs"><a {...link("/")}>Instances</a> › {name}</nav>
      <PageHeader title={name}>{inst && <StateBadge status={inst.status} />}</PageHeader>
      <ErrorText error={error} />
      {inst && <InstanceActions inst={inst} />}
      <nav aria-label="Instance sections" class="tabs">
        {TABS.map(([t, label]) => (
          <a key={t} {...link(t === "overview" ? base : `${base}/${t}`)} aria-current={tab === t ? "page" : undefined}>{label}</a>
        ))}
      </nav>
      {inst && (
        <section class="tab-body" aria-label={TABS.find(([t]) => t === tab)?.[1]}>
          {tab === "overview" && <Overview inst={inst} />}
          {tab === "configuration" && <ConfigEditor inst={inst} onSaved={reload} />}
          {tab === "devices" && <Devices inst={inst} onSaved={reload} />}
          {tab === "snapshots" && <Snapshots inst={inst} />}
          {tab === "log" && <Log name={name} />}
          {(tab === "terminal" || tab === "console") && (inst.status === "Running"
            ? <Terminal key={`${tab}-${inst.status}`} name={name} mode={tab} />
            : <p>Start the instance to open its {tab}.</p>)}
        </section>
      )}
    </>
  );
}

interface Sample { t: number; cpu: number; mem: number }

/** A small SVG line chart of the last samples; the newest value is in the label for screen readers. */
function Graph({ label, values, max, format }: { label: string; values: number[]; max: number; format: (v: number) => string }) {
  const w = 300, h = 80;
  // A fixed scale (CPU: 100 %) when given, else a quarter above the highest sample.
  const top = max || Math.max(...values, 1e-9) * 1.25;
  const pts = values.map((v, i) => `${(i / Math.max(values.length - 1, 1)) * w},${h - (v / top) * h}`).join(" ");
  const last = values.at(-1);
  return (
    <figure class="graph">
      <figcaption>{label}: <strong>{last === undefined ? "–" : format(last)}</strong></figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" role="img" aria-label={`${label} over the last minute`}>
        <polyline points={pts} fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke" />
      </svg>
    </figure>
  );
}

const SAMPLE_MS = 2000;

function Overview({ inst }: { inst: Inst }) {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [state, setState] = useState<InstanceState | null>(inst.state);
  const running = inst.status === "Running";
  // Live resource graphs: the state is sampled while this tab is open and the instance runs.
  useEffect(() => {
    if (!running) return;
    let prev: { t: number; cpu: number } | undefined;
    const tick = async () => {
      const st = await api<InstanceState>("GET", `/1.0/instances/${enc(inst.name)}/state`).catch(() => undefined);
      if (!st) return;
      setState(st);
      const now = performance.now();
      if (prev) {
        const cpu = ((st.cpu.usage - prev.cpu) / 1e6 / (now - prev.t)) * 100;
        setSamples((s) => [...s.slice(-29), { t: now, cpu: Math.max(cpu, 0), mem: st.memory.usage }]);
      }
      prev = { t: now, cpu: st.cpu.usage };
    };
    tick();
    const timer = setInterval(tick, SAMPLE_MS);
    return () => clearInterval(timer);
  }, [inst.name, running]);
  const limit = inst.expanded_config["limits.memory"];
  const disks = Object.entries(state?.disk ?? {});
  return (
    <>
      <dl class="facts">
        <dt>Status</dt><dd>{inst.status}</dd>
        <dt>Image</dt><dd>{imageOf(inst)}</dd>
        <dt>IPv4</dt><dd>{addresses(inst, "inet").join(", ") || "–"}</dd>
        <dt>IPv6</dt><dd>{addresses(inst, "inet6").join(", ") || "–"}</dd>
        <dt>Profiles</dt><dd>{inst.profiles.join(", ")}</dd>
        <dt>Processes</dt><dd>{state?.processes ?? "–"}</dd>
        <dt>PID</dt><dd>{state?.pid || "–"}</dd>
        <dt>Memory limit</dt><dd>{limit || "none"}</dd>
        <dt>CPU limit</dt><dd>{inst.expanded_config["limits.cpu"] || "none"}</dd>
        {disks.map(([d, u]) => [<dt key={`${d}t`}>Disk {d}</dt>, <dd key={`${d}d`}>{bytes(u.usage)}{u.total ? ` of ${bytes(u.total)}` : ""}</dd>])}
        <dt>Created</dt><dd>{when(inst.created_at)}</dd>
        <dt>Last used</dt><dd>{when(inst.last_used_at)}</dd>
        {inst.location && inst.location !== "none" && <><dt>Location</dt><dd>{inst.location}</dd></>}
      </dl>
      {running && (
        <div class="graphs">
          <Graph label="CPU" values={samples.map((s) => s.cpu)} max={100} format={(v) => `${v.toFixed(1)} %`} />
          <Graph label="Memory" values={samples.map((s) => s.mem)} max={0} format={bytes} />
        </div>
      )}
    </>
  );
}

/** Which edited key a daemon error is about: its name, or its new value, quoted in the message. */
function keyOfError(message: string, config: Record<string, string>, before: Record<string, string>): string | undefined {
  const keys = Object.keys(config);
  return keys.find((k) => message.includes(`"${k}"`) || message.endsWith(`: ${k}`))
    ?? keys.find((k) => config[k] !== before[k] && config[k] !== "" && message.includes(`"${config[k]}"`));
}

function ConfigEditor({ inst, onSaved }: { inst: Inst; onSaved: () => void }) {
  const editable = (c: Record<string, string>) => Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith("volatile.")));
  const [rows, setRows] = useState<[string, string][]>(Object.entries(editable(inst.config)));
  const [errors, setErrors] = useState<{ key?: string; message: string }>();
  const [busy, setBusy] = useState(false);
  useEffect(() => setRows(Object.entries(editable(inst.config))), [inst.config]);
  const set = (i: number, k: string, v: string) => setRows((r) => r.map((row, j) => (j === i ? [k, v] : row)));
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors(undefined);
    const config: Record<string, string> = Object.fromEntries(Object.entries(inst.config).filter(([k]) => k.startsWith("volatile.")));
    for (const [k, v] of rows) if (k.trim()) config[k.trim()] = v;
    try {
      await run("PUT", `/1.0/instances/${enc(inst.name)}`, {
        architecture: inst.architecture, config, devices: inst.devices, ephemeral: inst.ephemeral, profiles: inst.profiles, description: inst.description,
      });
      announce("Configuration saved");
      onSaved();
    } catch (err) {
      const message = (err as Error).message;
      setErrors({ key: err instanceof ApiError ? keyOfError(message, config, inst.config) : undefined, message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={save} class="config">
      <p>Settings that apply to this instance only (profiles add more; the effective values are in the overview).</p>
      <table>
        <caption class="sr-only">Configuration keys</caption>
        <thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col"><span class="sr-only">Remove</span></th></tr></thead>
        <tbody>
          {rows.map(([k, v], i) => {
            const err = errors?.key && errors.key === k.trim() ? errors.message : undefined;
            return (
              <tr key={i} class={err ? "invalid" : undefined}>
                <td><input aria-label={`Key ${i + 1}`} value={k} onInput={(e) => set(i, (e.target as HTMLInputElement).value, v)} /></td>
                <td>
                  <input aria-label={`Value of ${k || `key ${i + 1}`}`} value={v} aria-invalid={err ? "true" : undefined}
                    aria-describedby={err ? `cfg-err-${i}` : undefined} onInput={(e) => set(i, k, (e.target as HTMLInputElement).value)} />
                  {err && <small id={`cfg-err-${i}`} class="error" role="alert">{err}</small>}
                </td>
                <td><button type="button" aria-label={`Remove ${k}`} onClick={() => setRows((r) => r.filter((_, j) => j !== i))}>✕</button></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {errors && !errors.key && <ErrorText error={errors.message} />}
      <div class="buttons">
        <button type="button" onClick={() => setRows((r) => [...r, ["", ""]])}>Add key</button>
        <button type="submit" class="primary" disabled={busy}>{busy ? "Saving…" : "Save"}</button>
      </div>
    </form>
  );
}

function Devices({ inst, onSaved }: { inst: Inst; onSaved: () => void }) {
  const [adding, setAdding] = useState(false);
  const [name, setName] = useState("");
  const [type, setType] = useState("disk");
  const [props, setProps] = useState("");
  const [error, setError] = useState<string>();
  const put = (devices: Record<string, Record<string, string>>) =>
    run("PUT", `/1.0/instances/${enc(inst.name)}`, {
      architecture: inst.architecture, config: inst.config, devices, ephemeral: inst.ephemeral, profiles: inst.profiles, description: inst.description,
    });
  const rows = Object.entries(inst.expanded_devices).map(([n, d]) => ({ n, d, local: n in inst.devices }));
  return (
    <>
      <Table caption="Devices" rows={rows} rowKey={(r) => r.n} columns={[
        { key: "name", label: "Name", value: (r) => r.n },
        { key: "type", label: "Type", value: (r) => r.d.type },
        { key: "props", label: "Settings", value: (r) => pairs(Object.fromEntries(Object.entries(r.d).filter(([k]) => k !== "type"))) },
        { key: "from", label: "From", value: (r) => (r.local ? "instance" : "profile") },
        {
          key: "x", label: "Actions", value: (r) => r.n, render: (r) => r.local && (
            <button type="button" aria-label={`Remove device ${r.n}`} onClick={async () => {
              setError(undefined);
              const { [r.n]: _, ...rest } = inst.devices;
              try { await put(rest); onSaved(); announce(`Device ${r.n} removed`); } catch (e) { setError((e as Error).message); }
            }}>Remove</button>
          ),
        },
      ]} />
      <ErrorText error={error} />
      <div class="buttons"><button type="button" onClick={() => setAdding(true)}>Add device</button></div>
      {adding && (
        <FormDialog title="Add device" submit="Add" onClose={() => setAdding(false)} action={async () => {
          await put({ ...inst.devices, [name.trim()]: { type, ...parsePairs(props) } });
          onSaved();
          announce(`Device ${name} added`);
        }}>
          <Field label="Name" value={name} onInput={setName} required autoFocus />
          <Field label="Type" value={type} onInput={setType} hint="disk, nic, proxy, unix-char, unix-block, none" />
          <Field label="Settings" value={props} onInput={setProps} placeholder="source=/srv path=/srv readonly=true" />
        </FormDialog>
      )}
    </>
  );
}

function Snapshots({ inst }: { inst: Inst }) {
  const base = `/1.0/instances/${enc(inst.name)}`;
  const { data, error, reload } = useLoad(() => api<InstanceSnapshot[]>("GET", `${base}/snapshots?recursion=1`), [inst.name], about(inst.name));
  const [creating, setCreating] = useState(false);
  const [confirm, setConfirm] = useState<{ snap: string; what: "restore" | "delete" }>();
  const [snapName, setSnapName] = useState("");
  const [schedule, setSchedule] = useState(inst.config["snapshots.schedule"] ?? "");
  const [expiry, setExpiry] = useState(inst.config["snapshots.expiry"] ?? "");
  const [schedError, setSchedError] = useState<string>();
  return (
    <>
      <div class="buttons"><button type="button" class="primary" onClick={() => { setSnapName(""); setCreating(true); }}>Take snapshot</button></div>
      <ErrorText error={error} />
      {data && <Table caption="Snapshots" rows={data} rowKey={(s) => s.name} empty="No snapshots yet." columns={[
        { key: "name", label: "Name", value: (s) => s.name },
        { key: "created", label: "Taken", value: (s) => s.created_at, render: (s) => when(s.created_at) },
        { key: "expires", label: "Expires", value: (s) => s.expires_at, render: (s) => when(s.expires_at) },
        {
          key: "x", label: "Actions", value: (s) => s.name, render: (s) => (
            <span class="quick">
              <button type="button" aria-label={`Restore ${s.name}`} onClick={() => setConfirm({ snap: s.name, what: "restore" })}>Restore</button>
              <button type="button" class="danger" aria-label={`Delete ${s.name}`} onClick={() => setConfirm({ snap: s.name, what: "delete" })}>Delete</button>
            </span>
          ),
        },
      ]} />}
      <form class="schedule" onSubmit={async (e) => {
        e.preventDefault();
        setSchedError(undefined);
        try {
          await run("PATCH", base, { config: { "snapshots.schedule": schedule.trim(), "snapshots.expiry": expiry.trim() } });
          announce("Snapshot schedule saved");
        } catch (err) { setSchedError((err as Error).message); }
      }}>
        <h2>Automatic snapshots</h2>
        <div class="row">
          <Field label="Schedule (snapshots.schedule)" value={schedule} onInput={setSchedule} placeholder="@daily or 0 6 * * *" />
          <Field label="Keep for (snapshots.expiry)" value={expiry} onInput={setExpiry} placeholder="e.g. 2w" />
        </div>
        <ErrorText error={schedError} />
        <button type="submit">Save schedule</button>
      </form>
      {creating && (
        <FormDialog title="Take snapshot" submit="Take snapshot" onClose={() => setCreating(false)} action={async () => {
          await run("POST", `${base}/snapshots`, snapName.trim() ? { name: snapName.trim() } : {});
          announce("Snapshot taken");
          reload();
        }}>
          <Field label="Name" value={snapName} onInput={setSnapName} autoFocus hint="Leave empty for the next snapN." />
        </FormDialog>
      )}
      {confirm && (
        <FormDialog title={`${confirm.what === "restore" ? "Restore" : "Delete"} snapshot ${confirm.snap}?`} danger
          submit={confirm.what === "restore" ? "Restore" : "Delete"} onClose={() => setConfirm(undefined)} action={async () => {
            if (confirm.what === "restore") await run("PUT", base, { restore: confirm.snap });
            else await run("DELETE", `${base}/snapshots/${enc(confirm.snap)}`);
            announce(`Snapshot ${confirm.snap} ${confirm.what === "restore" ? "restored" : "deleted"}`);
            reload();
          }}>
          <p>{confirm.what === "restore" ? "The instance's current state is replaced by the snapshot's." : "This cannot be undone."}</p>
        </FormDialog>
      )}
    </>
  );
}

function Log({ name }: { name: string }) {
  const [file, setFile] = useState("lxc.log");
  const [text, setText] = useState<string>();
  const [error, setError] = useState<string>();
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    setError(undefined);
    fetch(`/1.0/instances/${enc(name)}/logs/${file}`).then(async (r) => {
      if (r.ok) setText(await r.text());
      else { setText(undefined); setError(((await r.json().catch(() => ({}))) as { error?: string }).error ?? `HTTP ${r.status}`); }
    });
  }, [name, file]);
  useEffect(() => { if (pre.current) pre.current.scrollTop = pre.current.scrollHeight; }, [text]);
  return (
    <>
      <div class="toolbar" role="group" aria-label="Log file">
        {["lxc.log", "console.log"].map((f) => (
          <button key={f} type="button" aria-pressed={file === f} onClick={() => setFile(f)}>{f}</button>
        ))}
      </div>
      <ErrorText error={error} />
      {text !== undefined && <pre class="log" ref={pre} tabIndex={0} aria-label={file}>{text || "(empty)"}</pre>}
    </>
  );
}
