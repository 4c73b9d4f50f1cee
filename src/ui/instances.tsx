// The instances list (state, addresses, image, memory, CPU; filter and sort; updated from the
// event stream), the create form, and the actions shared with the detail page.
import { useEffect, useState } from "preact/hooks";
import type { Image } from "../api/image.ts";
import type { InstanceFull } from "../api/instance.ts";
import type { Profile } from "../api/profile.ts";
import { api, events, get, run, sourceParts } from "./api.ts";
import {
  announce, bytes, type Column, ErrorText, Field, FormDialog, PageHeader, parsePairs, Select, Table,
} from "./components.tsx";
import { link, navigate } from "./router.ts";

export type Inst = InstanceFull;

const enc = encodeURIComponent;

/** Global addresses of one family, the way `lxd list` shows them. */
export function addresses(inst: Inst, family: "inet" | "inet6"): string[] {
  const out: string[] = [];
  for (const [nic, st] of Object.entries(inst.state?.network ?? {})) {
    if (nic === "lo") continue;
    for (const a of st.addresses ?? []) if (a.family === family && a.scope === "global") out.push(`${a.address} (${nic})`);
  }
  return out;
}

export const imageOf = (inst: Inst) =>
  inst.config["image.description"] || inst.config["image.os"] || (inst.config["volatile.base_image"] ?? "").slice(0, 12) || "–";

export function StateBadge({ status }: { status: string }) {
  return <span class={`badge state-${status.toLowerCase()}`}>{status}</span>;
}

/** What the list shows first (no live state: cheap for the daemon); main.tsx prefetches it. */
export const LIST = "/1.0/instances?recursion=1";

const fetchOne = (name: string) => api<Inst>("GET", `/1.0/instances/${enc(name)}?recursion=1`);

/** The instance list, kept current by lifecycle events: only the instance an event names is refetched. */
function useInstances() {
  const [list, setList] = useState<Inst[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let alive = true;
    // Names, states and config first (cheap), then live state (addresses, memory, CPU), which
    // costs the daemon a look at every running instance.
    const all = () => get<Inst[]>(LIST)
      .then((l) => alive && setList((cur) => l.map((i) => ({ ...i, state: cur?.find((c) => c.name === i.name)?.state ?? null }))))
      .then(() => api<Inst[]>("GET", "/1.0/instances?recursion=2"))
      .then((l) => alive && setList(l), (e: Error) => setError(e.message));
    const refresh = (name: string) =>
      fetchOne(name).then(
        (inst) => alive && setList((cur) => [...(cur ?? []).filter((i) => i.name !== name), inst]),
        () => alive && setList((cur) => (cur ?? []).filter((i) => i.name !== name)),
      );
    all();
    const off = events.subscribe((e) => {
      if (e.type !== "lifecycle") return;
      const md = e.metadata as { action: string; source: string; context?: { old_name?: string } };
      const [kind, name, sub] = sourceParts(md.source);
      if (kind !== "instances" || !name || sub) return;
      if (md.action === "instance-deleted") setList((cur) => (cur ?? []).filter((i) => i.name !== name));
      else {
        if (md.context?.old_name) setList((cur) => (cur ?? []).filter((i) => i.name !== md.context!.old_name));
        refresh(name);
      }
    }, all);
    // Memory and CPU figures change without events: refreshed while the page is open.
    const usage = setInterval(() => document.visibilityState === "visible" && all(), 15_000);
    return () => { alive = false; off(); clearInterval(usage); };
  }, []);
  return { list, error };
}

export function InstancesPage() {
  const { list, error } = useInstances();
  const [filter, setFilter] = useState("");
  const [creating, setCreating] = useState(false);
  const clustered = (list ?? []).some((i) => i.location && i.location !== "none");
  const q = filter.trim().toLowerCase();
  const shown = (list ?? []).filter((i) => !q || [i.name, i.status, imageOf(i), ...addresses(i, "inet"), ...addresses(i, "inet6"), i.location]
    .some((s) => s.toLowerCase().includes(q)));
  const columns: Column<Inst>[] = [
    { key: "name", label: "Name", value: (i) => i.name, render: (i) => <a {...link(`/instances/${enc(i.name)}`)}>{i.name}</a> },
    { key: "state", label: "State", value: (i) => i.status, render: (i) => <StateBadge status={i.status} /> },
    { key: "ipv4", label: "IPv4", value: (i) => addresses(i, "inet").join(" "), render: (i) => addresses(i, "inet").map((a) => <div key={a}>{a}</div>) },
    { key: "ipv6", label: "IPv6", value: (i) => addresses(i, "inet6").join(" "), render: (i) => addresses(i, "inet6").map((a) => <div key={a}>{a}</div>), class: "wide-only" },
    { key: "image", label: "Image", value: imageOf },
    { key: "memory", label: "Memory", value: (i) => i.state?.memory.usage ?? 0, render: (i) => bytes(i.state?.memory.usage) },
    { key: "cpu", label: "CPU time", value: (i) => i.state?.cpu.usage ?? 0, render: (i) => (i.state?.cpu.usage ? `${(i.state.cpu.usage / 1e9).toFixed(1)} s` : "–") },
    ...(clustered ? [{ key: "location", label: "Location", value: (i: Inst) => i.location }] : []),
    { key: "actions", label: "Actions", value: (i) => i.name, render: (i) => <QuickAction inst={i} /> },
  ];
  return (
    <>
      <PageHeader title="Instances">
        <button type="button" class="primary" onClick={() => setCreating(true)}>Create instance</button>
      </PageHeader>
      <div class="toolbar">
        <label for="filter" class="sr-only">Filter instances</label>
        <input id="filter" type="search" placeholder="Filter by name, state, image or address" value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <span aria-live="polite">{list ? `${shown.length} of ${list.length}` : "Loading…"}</span>
      </div>
      <ErrorText error={error} />
      {list && <Table caption="Instances" rows={shown} columns={columns} rowKey={(i) => i.name} empty="No instances. Create one to begin." />}
      {creating && <CreateInstance onClose={() => setCreating(false)} />}
    </>
  );
}

export async function setState(name: string, action: "start" | "stop" | "restart" | "freeze" | "unfreeze", force = false) {
  await run("PUT", `/1.0/instances/${enc(name)}/state`, { action, timeout: force ? -1 : 30, force });
  announce(`${name}: ${action} done`);
}

function QuickAction({ inst }: { inst: Inst }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const act = async (action: "start" | "stop") => {
    setBusy(true);
    setError(undefined);
    try { await setState(inst.name, action); } catch (e) { setError((e as Error).message); } finally { setBusy(false); }
  };
  const running = inst.status === "Running";
  return (
    <span class="quick">
      <button type="button" disabled={busy} aria-label={`${running ? "Stop" : "Start"} ${inst.name}`} onClick={() => act(running ? "stop" : "start")}>
        {busy ? "…" : running ? "Stop" : "Start"}
      </button>
      {error && <span class="error" role="alert">{error}</span>}
    </span>
  );
}

/** "NAME TYPE key=value ..." per line -> devices. */
function parseDevices(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const [name, type, ...rest] = line.split(/\s+/);
    if (!type) throw new Error(`Device "${name}": give a name and a type (disk, nic, proxy, …)`);
    out[name] = { type, ...parsePairs(rest.join(" ")) };
  }
  return out;
}

function CreateInstance({ onClose }: { onClose: () => void }) {
  const [images, setImages] = useState<Image[]>([]);
  const [profiles, setProfiles] = useState<Profile[]>([]);
  const [name, setName] = useState("");
  const [image, setImage] = useState("");
  const [chosen, setChosen] = useState<string[]>(["default"]);
  const [cpu, setCpu] = useState("");
  const [memory, setMemory] = useState("");
  const [config, setConfig] = useState("");
  const [devices, setDevices] = useState("");
  const [start, setStart] = useState(true);
  useEffect(() => {
    api<Image[]>("GET", "/1.0/images?recursion=1").then((l) => {
      setImages(l);
      if (l[0]) setImage((cur) => cur || l[0].fingerprint);
    });
    api<Profile[]>("GET", "/1.0/profiles?recursion=1").then(setProfiles);
  }, []);
  const imageLabel = (i: Image) => `${(i.aliases ?? []).map((a) => a.name).join(", ") || i.fingerprint.slice(0, 12)} — ${i.properties?.description ?? ""}`;
  const create = async () => {
    const cfg = parsePairs(config);
    if (cpu) cfg["limits.cpu"] = cpu;
    if (memory) cfg["limits.memory"] = memory;
    await run("POST", "/1.0/instances", {
      name: name.trim(), source: { type: "image", fingerprint: image }, profiles: chosen, config: cfg, devices: parseDevices(devices), start,
    });
    announce(`Instance ${name} created`);
    navigate(`/instances/${enc(name.trim())}`);
  };
  return (
    <FormDialog title="Create instance" submit="Create" action={create} onClose={onClose}>
      <Field label="Name" value={name} onInput={setName} required autoFocus />
      <Select label="Image" value={image} onChange={setImage} options={images.map((i) => ({ value: i.fingerprint, label: imageLabel(i) }))} />
      <fieldset>
        <legend>Profiles</legend>
        {profiles.map((p) => (
          <label key={p.name} class="check">
            <input type="checkbox" checked={chosen.includes(p.name)}
              onChange={(e) => setChosen((c) => ((e.target as HTMLInputElement).checked ? [...c, p.name] : c.filter((n) => n !== p.name)))} />
            {p.name}
          </label>
        ))}
      </fieldset>
      <div class="row">
        <Field label="CPU limit (limits.cpu)" value={cpu} onInput={setCpu} placeholder="e.g. 2" />
        <Field label="Memory limit (limits.memory)" value={memory} onInput={setMemory} placeholder="e.g. 512MiB" />
      </div>
      <Field label="Other configuration" value={config} onInput={setConfig} placeholder="key=value key=value" />
      <div class="field">
        <label for="devices">Devices, one per line: name type key=value…</label>
        <textarea id="devices" rows={3} value={devices} placeholder="data disk source=/srv/data path=/data"
          onInput={(e) => setDevices((e.target as HTMLTextAreaElement).value)} />
      </div>
      <label class="check"><input type="checkbox" checked={start} onChange={(e) => setStart((e.target as HTMLInputElement).checked)} /> Start it</label>
    </FormDialog>
  );
}

/** The full action bar of the detail page. */
export function InstanceActions({ inst }: { inst: Inst }) {
  const [dialog, setDialog] = useState<"delete" | "rename" | "copy">();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [newName, setNewName] = useState("");
  const act = (action: Parameters<typeof setState>[1], force = false) => async () => {
    setBusy(true);
    setError(undefined);
    try { await setState(inst.name, action, force); } catch (e) { setError((e as Error).message); } finally { setBusy(false); }
  };
  const s = inst.status;
  return (
    <>
      <div class="actions" role="group" aria-label="Instance actions">
        {(s === "Stopped" || s === "Frozen") && <button type="button" disabled={busy} onClick={act(s === "Frozen" ? "unfreeze" : "start")}>Start</button>}
        {s !== "Stopped" && <button type="button" disabled={busy} onClick={act("stop")}>Stop</button>}
        {s !== "Stopped" && <button type="button" disabled={busy} onClick={act("stop", true)}>Force stop</button>}
        {s === "Running" && <button type="button" disabled={busy} onClick={act("restart")}>Restart</button>}
        {s === "Running" && <button type="button" disabled={busy} onClick={act("freeze")}>Freeze</button>}
        <button type="button" onClick={() => { setNewName(inst.name); setDialog("rename"); }}>Rename</button>
        <button type="button" onClick={() => { setNewName(`${inst.name}-copy`); setDialog("copy"); }}>Copy</button>
        <button type="button" class="danger" onClick={() => setDialog("delete")}>Delete</button>
      </div>
      <ErrorText error={error} />
      {dialog === "delete" && (
        <FormDialog title={`Delete ${inst.name}?`} submit={s === "Stopped" ? "Delete" : "Stop and delete"} danger onClose={() => setDialog(undefined)}
          action={async () => {
            if (s !== "Stopped") await run("PUT", `/1.0/instances/${enc(inst.name)}/state`, { action: "stop", timeout: -1, force: true });
            await run("DELETE", `/1.0/instances/${enc(inst.name)}`);
            announce(`${inst.name} deleted`);
            navigate("/");
          }}>
          <p>This deletes the instance and all its snapshots. It cannot be undone.</p>
        </FormDialog>
      )}
      {dialog === "rename" && (
        <FormDialog title={`Rename ${inst.name}`} submit="Rename" onClose={() => setDialog(undefined)}
          action={async () => {
            await run("POST", `/1.0/instances/${enc(inst.name)}`, { name: newName.trim() });
            navigate(`/instances/${enc(newName.trim())}`, true);
          }}>
          <Field label="New name" value={newName} onInput={setNewName} required autoFocus hint="The instance must be stopped." />
        </FormDialog>
      )}
      {dialog === "copy" && (
        <FormDialog title={`Copy ${inst.name}`} submit="Copy" onClose={() => setDialog(undefined)}
          action={async () => {
            await run("POST", "/1.0/instances", { name: newName.trim(), source: { type: "copy", source: inst.name } });
            announce(`${inst.name} copied to ${newName}`);
            navigate(`/instances/${enc(newName.trim())}`);
          }}>
          <Field label="Name of the copy" value={newName} onInput={setNewName} required autoFocus />
        </FormDialog>
      )}
    </>
  );
}
