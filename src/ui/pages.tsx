// The other resources, each a page with the create/edit/delete the CLI has: images, profiles,
// networks (with DHCP leases), storage pools and volumes, operations (with progress), events,
// and warnings (only on servers that have them).
import { useEffect, useRef, useState } from "preact/hooks";
import type { Image } from "../api/image.ts";
import type { Network, NetworkLease } from "../api/network.ts";
import type { Profile } from "../api/profile.ts";
import type { StoragePool, StorageVolume } from "../api/storage.ts";
import { api, events, run, wait, wsUrl, type LxdEvent, type Operation } from "./api.ts";
import {
  announce, bytes, type Column, ErrorText, Field, FormDialog, lifecycleUnder, PageHeader, pairs, parsePairs, Select, Table, useLoad, when,
} from "./components.tsx";
import { link } from "./router.ts";

const enc = encodeURIComponent;
const lines = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).map(([k, v]) => `${k}=${v}`).join("\n");

/** key=value per line (values may contain spaces) -> a map. */
function parseLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`"${line}" is not key=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

function TextArea({ label, value, onInput, rows = 6, hint }: { label: string; value: string; onInput: (v: string) => void; rows?: number; hint?: string }) {
  const id = useRef(`ta${Math.random().toString(36).slice(2)}`).current;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea id={id} rows={rows} value={value} aria-describedby={hint ? `${id}-h` : undefined} onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)} />
      {hint && <small id={`${id}-h`}>{hint}</small>}
    </div>
  );
}

/** Edits a resource's description and config as key=value lines; PUT keeps what is not shown. */
function EditDialog({ title, url, item, onClose, extra }: {
  title: string; url: string; item: { description: string; config: Record<string, string> } & Record<string, unknown>; onClose: () => void;
  extra?: Record<string, unknown>;
}) {
  const [description, setDescription] = useState(item.description);
  const [config, setConfig] = useState(lines(item.config));
  return (
    <FormDialog title={title} submit="Save" onClose={onClose} action={async () => {
      await run("PUT", url, { ...extra, description, config: parseLines(config) });
      announce("Saved");
    }}>
      <Field label="Description" value={description} onInput={setDescription} />
      <TextArea label="Configuration (key=value, one per line)" value={config} onInput={setConfig} />
    </FormDialog>
  );
}

function DeleteDialog({ what, url, onClose, onDone }: { what: string; url: string; onClose: () => void; onDone?: () => void }) {
  return (
    <FormDialog title={`Delete ${what}?`} submit="Delete" danger onClose={onClose} action={async () => {
      await run("DELETE", url);
      announce(`${what} deleted`);
      onDone?.();
    }}>
      <p>This cannot be undone.</p>
    </FormDialog>
  );
}

type Dialog = { kind: string; name?: string } | undefined;

const rowButtons = (name: string, open: (d: Dialog) => void, kinds: [string, string][]) => (
  <span class="quick">
    {kinds.map(([kind, label]) => (
      <button key={kind} type="button" class={kind === "delete" ? "danger" : undefined} aria-label={`${label} ${name}`} onClick={() => open({ kind, name })}>{label}</button>
    ))}
  </span>
);

// ---- images ---------------------------------------------------------------------------------

export function ImagesPage() {
  const { data, error, reload } = useLoad(() => api<Image[]>("GET", "/1.0/images?recursion=1"), [], lifecycleUnder("/1.0/images"));
  const [dialog, setDialog] = useState<Dialog>();
  const [file, setFile] = useState<File>();
  const [alias, setAlias] = useState("");
  const [description, setDescription] = useState("");
  const byFp = (fp?: string) => data?.find((i) => i.fingerprint === fp);
  const columns: Column<Image>[] = [
    { key: "alias", label: "Aliases", value: (i) => (i.aliases ?? []).map((a) => a.name).join(", ") || "–" },
    { key: "fp", label: "Fingerprint", value: (i) => i.fingerprint.slice(0, 12), render: (i) => <code>{i.fingerprint.slice(0, 12)}</code> },
    { key: "desc", label: "Description", value: (i) => i.properties?.description ?? "" },
    { key: "arch", label: "Architecture", value: (i) => i.architecture, class: "wide-only" },
    { key: "public", label: "Public", value: (i) => (i.public ? "yes" : "no"), class: "wide-only" },
    { key: "size", label: "Size", value: (i) => i.size, render: (i) => bytes(i.size) },
    { key: "uploaded", label: "Uploaded", value: (i) => i.uploaded_at, render: (i) => when(i.uploaded_at), class: "wide-only" },
    {
      key: "x", label: "Actions", value: (i) => i.fingerprint, render: (i) => rowButtons(i.fingerprint, (d) => {
        setAlias("");
        setDescription(i.properties?.description ?? "");
        setDialog(d);
      }, [["alias", "Add alias"], ["edit", "Edit"], ["delete", "Delete"]]),
    },
  ];
  const img = byFp(dialog?.name);
  return (
    <>
      <PageHeader title="Images"><button type="button" class="primary" onClick={() => { setAlias(""); setDialog({ kind: "import" }); }}>Import image</button></PageHeader>
      <ErrorText error={error} />
      {data && <Table caption="Images" rows={data} columns={columns} rowKey={(i) => i.fingerprint} empty="No images. Import one, or run lxd image build busybox." />}
      {dialog?.kind === "import" && (
        <FormDialog title="Import image" submit="Import" onClose={() => setDialog(undefined)} action={async () => {
          if (!file) throw new Error("Choose an image file (a unified tarball)");
          const res = await fetch("/1.0/images", { method: "POST", body: file, headers: { "content-type": "application/octet-stream" } });
          const env = await res.json() as { type: string; error?: string; metadata: Operation };
          if (env.type === "error") throw new Error(env.error);
          const done = await wait(env.metadata);
          const fp = (done.metadata as { fingerprint?: string } | null)?.fingerprint;
          if (alias.trim() && fp) await api("POST", "/1.0/images/aliases", { name: alias.trim(), target: fp });
          announce("Image imported");
          reload();
        }}>
          <div class="field">
            <label for="image-file">Image file (tar, tar.gz, tar.xz)</label>
            <input id="image-file" type="file" required onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0])} />
          </div>
          <Field label="Alias" value={alias} onInput={setAlias} />
        </FormDialog>
      )}
      {dialog?.kind === "alias" && img && (
        <FormDialog title="Add alias" submit="Add" onClose={() => setDialog(undefined)} action={async () => {
          await api("POST", "/1.0/images/aliases", { name: alias.trim(), target: img.fingerprint });
          reload();
        }}>
          <Field label="Alias" value={alias} onInput={setAlias} required autoFocus />
        </FormDialog>
      )}
      {dialog?.kind === "edit" && img && (
        <FormDialog title={`Edit image ${img.fingerprint.slice(0, 12)}`} submit="Save" onClose={() => setDialog(undefined)} action={async () => {
          await api("PATCH", `/1.0/images/${img.fingerprint}`, { properties: { ...img.properties, description } });
          reload();
        }}>
          <Field label="Description" value={description} onInput={setDescription} />
        </FormDialog>
      )}
      {dialog?.kind === "delete" && img && (
        <DeleteDialog what={`image ${img.aliases?.[0]?.name ?? img.fingerprint.slice(0, 12)}`} url={`/1.0/images/${img.fingerprint}`} onClose={() => setDialog(undefined)} onDone={reload} />
      )}
    </>
  );
}

// ---- profiles -------------------------------------------------------------------------------

export function ProfilesPage() {
  const { data, error, reload } = useLoad(() => api<Profile[]>("GET", "/1.0/profiles?recursion=1"), [], lifecycleUnder("/1.0/profiles"));
  const [dialog, setDialog] = useState<Dialog>();
  const [name, setName] = useState("");
  const [config, setConfig] = useState("");
  const [devices, setDevices] = useState("");
  const p = data?.find((x) => x.name === dialog?.name);
  const deviceLines = (d: Record<string, Record<string, string>>) =>
    Object.entries(d).map(([n, { type, ...rest }]) => `${n} ${type} ${pairs(rest)}`.trim()).join("\n");
  const parseDevices = (text: string) => Object.fromEntries(text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [n, type, ...rest] = l.split(/\s+/);
    return [n, { type, ...parsePairs(rest.join(" ")) }];
  }));
  return (
    <>
      <PageHeader title="Profiles">
        <button type="button" class="primary" onClick={() => { setName(""); setConfig(""); setDevices(""); setDialog({ kind: "create" }); }}>Create profile</button>
      </PageHeader>
      <ErrorText error={error} />
      {data && <Table caption="Profiles" rows={data} rowKey={(x) => x.name} columns={[
        { key: "name", label: "Name", value: (x) => x.name },
        { key: "desc", label: "Description", value: (x) => x.description },
        { key: "config", label: "Configuration", value: (x) => pairs(x.config), class: "wide-only" },
        { key: "devices", label: "Devices", value: (x) => Object.keys(x.devices).join(", ") },
        { key: "used", label: "Used by", value: (x) => x.used_by?.length ?? 0 },
        {
          key: "x", label: "Actions", value: (x) => x.name, render: (x) => rowButtons(x.name, (d) => {
            setConfig(lines(x.config));
            setDevices(deviceLines(x.devices));
            setDialog(d);
          }, [["edit", "Edit"], ["delete", "Delete"]]),
        },
      ]} />}
      {(dialog?.kind === "create" || (dialog?.kind === "edit" && p)) && (
        <FormDialog title={p ? `Edit profile ${p.name}` : "Create profile"} submit={p ? "Save" : "Create"} onClose={() => setDialog(undefined)} action={async () => {
          const body = { config: parseLines(config), devices: parseDevices(devices) };
          if (p) await api("PUT", `/1.0/profiles/${enc(p.name)}`, { ...body, description: p.description });
          else await api("POST", "/1.0/profiles", { name: name.trim(), ...body });
          reload();
        }}>
          {!p && <Field label="Name" value={name} onInput={setName} required autoFocus />}
          <TextArea label="Configuration (key=value, one per line)" value={config} onInput={setConfig} />
          <TextArea label="Devices (name type key=value…, one per line)" value={devices} onInput={setDevices} />
        </FormDialog>
      )}
      {dialog?.kind === "delete" && p && <DeleteDialog what={`profile ${p.name}`} url={`/1.0/profiles/${enc(p.name)}`} onClose={() => setDialog(undefined)} onDone={reload} />}
    </>
  );
}

// ---- networks -------------------------------------------------------------------------------

export function NetworksPage() {
  const { data, error, reload } = useLoad(() => api<Network[]>("GET", "/1.0/networks?recursion=1"), [], lifecycleUnder("/1.0/networks"));
  const [dialog, setDialog] = useState<Dialog>();
  const [name, setName] = useState("");
  const [config, setConfig] = useState("ipv4.address=auto\nipv6.address=none");
  const n = data?.find((x) => x.name === dialog?.name);
  return (
    <>
      <PageHeader title="Networks"><button type="button" class="primary" onClick={() => { setName(""); setDialog({ kind: "create" }); }}>Create network</button></PageHeader>
      <ErrorText error={error} />
      {data && <Table caption="Networks" rows={data} rowKey={(x) => x.name} columns={[
        { key: "name", label: "Name", value: (x) => x.name, render: (x) => (x.managed ? <a {...link(`/networks/${enc(x.name)}`)}>{x.name}</a> : x.name) },
        { key: "type", label: "Type", value: (x) => x.type },
        { key: "managed", label: "Managed", value: (x) => (x.managed ? "yes" : "no") },
        { key: "ipv4", label: "IPv4", value: (x) => x.config["ipv4.address"] ?? "" },
        { key: "ipv6", label: "IPv6", value: (x) => x.config["ipv6.address"] ?? "", class: "wide-only" },
        { key: "used", label: "Used by", value: (x) => x.used_by?.length ?? 0 },
        { key: "x", label: "Actions", value: (x) => x.name, render: (x) => x.managed && rowButtons(x.name, setDialog, [["edit", "Edit"], ["delete", "Delete"]]) },
      ]} />}
      {dialog?.kind === "create" && (
        <FormDialog title="Create network" submit="Create" onClose={() => setDialog(undefined)} action={async () => {
          await run("POST", "/1.0/networks", { name: name.trim(), type: "bridge", config: parseLines(config) });
          reload();
        }}>
          <Field label="Name" value={name} onInput={setName} required autoFocus hint="At most 15 characters (it names the bridge)." />
          <TextArea label="Configuration (key=value, one per line)" value={config} onInput={setConfig} />
        </FormDialog>
      )}
      {dialog?.kind === "edit" && n && <EditDialog title={`Edit network ${n.name}`} url={`/1.0/networks/${enc(n.name)}`} item={n} onClose={() => { setDialog(undefined); reload(); }} />}
      {dialog?.kind === "delete" && n && <DeleteDialog what={`network ${n.name}`} url={`/1.0/networks/${enc(n.name)}`} onClose={() => setDialog(undefined)} onDone={reload} />}
    </>
  );
}

export function NetworkPage({ name }: { name: string }) {
  const { data, error } = useLoad(() => api<Network>("GET", `/1.0/networks/${enc(name)}`), [name], lifecycleUnder(`/1.0/networks/${name}`));
  const leases = useLoad(() => api<NetworkLease[]>("GET", `/1.0/networks/${enc(name)}/leases`), [name], lifecycleUnder("/1.0/instances"));
  return (
    <>
      <nav aria-label="Breadcrumb" class="crumbs"><a {...link("/networks")}>Networks</a> › {name}</nav>
      <PageHeader title={name} />
      <ErrorText error={error ?? leases.error} />
      {data && (
        <dl class="facts">
          <dt>Type</dt><dd>{data.type}</dd>
          <dt>Status</dt><dd>{data.status}</dd>
          <dt>Description</dt><dd>{data.description || "–"}</dd>
          {Object.entries(data.config).map(([k, v]) => [<dt key={`${k}t`}>{k}</dt>, <dd key={`${k}d`}>{v}</dd>])}
        </dl>
      )}
      <h2>DHCP leases</h2>
      {leases.data && <Table caption="DHCP leases" rows={leases.data} rowKey={(l) => `${l.hwaddr}${l.address}`} empty="No leases." columns={[
        { key: "host", label: "Hostname", value: (l) => l.hostname },
        { key: "mac", label: "MAC address", value: (l) => l.hwaddr },
        { key: "ip", label: "IP address", value: (l) => l.address },
        { key: "type", label: "Type", value: (l) => l.type },
      ]} />}
    </>
  );
}

// ---- storage --------------------------------------------------------------------------------

export function StoragePage() {
  const { data, error, reload } = useLoad(() => api<StoragePool[]>("GET", "/1.0/storage-pools?recursion=1"), [], lifecycleUnder("/1.0/storage-pools"));
  const [dialog, setDialog] = useState<Dialog>();
  const [name, setName] = useState("");
  const [driver, setDriver] = useState("dir");
  const [config, setConfig] = useState("");
  const p = data?.find((x) => x.name === dialog?.name);
  return (
    <>
      <PageHeader title="Storage pools"><button type="button" class="primary" onClick={() => { setName(""); setDialog({ kind: "create" }); }}>Create pool</button></PageHeader>
      <ErrorText error={error} />
      {data && <Table caption="Storage pools" rows={data} rowKey={(x) => x.name} columns={[
        { key: "name", label: "Name", value: (x) => x.name, render: (x) => <a {...link(`/storage/${enc(x.name)}`)}>{x.name}</a> },
        { key: "driver", label: "Driver", value: (x) => x.driver },
        { key: "source", label: "Source", value: (x) => x.config.source ?? "", class: "wide-only" },
        { key: "status", label: "Status", value: (x) => x.status },
        { key: "used", label: "Used by", value: (x) => x.used_by?.length ?? 0 },
        { key: "x", label: "Actions", value: (x) => x.name, render: (x) => rowButtons(x.name, setDialog, [["edit", "Edit"], ["delete", "Delete"]]) },
      ]} />}
      {dialog?.kind === "create" && (
        <FormDialog title="Create storage pool" submit="Create" onClose={() => setDialog(undefined)} action={async () => {
          await run("POST", "/1.0/storage-pools", { name: name.trim(), driver, config: parseLines(config) });
          reload();
        }}>
          <Field label="Name" value={name} onInput={setName} required autoFocus />
          <Select label="Driver" value={driver} onChange={setDriver} options={[{ value: "dir", label: "dir" }, { value: "btrfs", label: "btrfs" }]} />
          <TextArea label="Configuration (key=value, one per line)" value={config} onInput={setConfig} rows={3} hint="e.g. size=10GiB for a btrfs loop file, or source=/path" />
        </FormDialog>
      )}
      {dialog?.kind === "edit" && p && <EditDialog title={`Edit pool ${p.name}`} url={`/1.0/storage-pools/${enc(p.name)}`} item={p} onClose={() => { setDialog(undefined); reload(); }} />}
      {dialog?.kind === "delete" && p && <DeleteDialog what={`pool ${p.name}`} url={`/1.0/storage-pools/${enc(p.name)}`} onClose={() => setDialog(undefined)} onDone={reload} />}
    </>
  );
}

export function PoolPage({ name }: { name: string }) {
  const url = `/1.0/storage-pools/${enc(name)}/volumes/custom`;
  const { data, error, reload } = useLoad(() => api<StorageVolume[]>("GET", `${url}?recursion=1`), [name], lifecycleUnder(`/1.0/storage-pools/${name}`));
  const [dialog, setDialog] = useState<Dialog>();
  const [vol, setVol] = useState("");
  const [config, setConfig] = useState("");
  const v = data?.find((x) => x.name === dialog?.name);
  return (
    <>
      <nav aria-label="Breadcrumb" class="crumbs"><a {...link("/storage")}>Storage pools</a> › {name}</nav>
      <PageHeader title={`Volumes in ${name}`}><button type="button" class="primary" onClick={() => { setVol(""); setDialog({ kind: "create" }); }}>Create volume</button></PageHeader>
      <ErrorText error={error} />
      {data && <Table caption="Custom volumes" rows={data} rowKey={(x) => x.name} empty="No custom volumes." columns={[
        { key: "name", label: "Name", value: (x) => x.name },
        { key: "type", label: "Content", value: (x) => x.content_type },
        { key: "config", label: "Configuration", value: (x) => pairs(x.config as Record<string, string>), class: "wide-only" },
        { key: "used", label: "Used by", value: (x) => (x.used_by ?? []).map((u) => u.split("/").pop()).join(", ") || "–" },
        { key: "created", label: "Created", value: (x) => x.created_at, render: (x) => when(x.created_at), class: "wide-only" },
        { key: "x", label: "Actions", value: (x) => x.name, render: (x) => rowButtons(x.name, setDialog, [["snapshot", "Snapshot"], ["delete", "Delete"]]) },
      ]} />}
      {dialog?.kind === "create" && (
        <FormDialog title="Create volume" submit="Create" onClose={() => setDialog(undefined)} action={async () => {
          await run("POST", url, { name: vol.trim(), type: "custom", config: parseLines(config) });
          reload();
        }}>
          <Field label="Name" value={vol} onInput={setVol} required autoFocus />
          <TextArea label="Configuration (key=value, one per line)" value={config} onInput={setConfig} rows={3} />
        </FormDialog>
      )}
      {dialog?.kind === "snapshot" && v && (
        <FormDialog title={`Snapshot ${v.name}`} submit="Take snapshot" onClose={() => setDialog(undefined)} action={async () => {
          await run("POST", `${url}/${enc(v.name)}/snapshots`, vol.trim() ? { name: vol.trim() } : {});
          announce("Snapshot taken");
        }}>
          <Field label="Snapshot name" value={vol} onInput={setVol} hint="Leave empty for the next snapN." />
        </FormDialog>
      )}
      {dialog?.kind === "delete" && v && <DeleteDialog what={`volume ${v.name}`} url={`${url}/${enc(v.name)}`} onClose={() => setDialog(undefined)} onDone={reload} />}
    </>
  );
}

// ---- operations, events, warnings -------------------------------------------------------------

/** "create_instance_from_image_unpack_progress": "Unpack: 45% (12MB/s)" and the like. */
const progressOf = (op: Operation) =>
  Object.entries(op.metadata ?? {}).filter(([k]) => k.endsWith("_progress")).map(([, v]) => String(v)).join(", ");
const percentOf = (text: string) => Number(/(\d+)%/.exec(text)?.[1] ?? NaN);

export function OperationsPage() {
  const [ops, setOps] = useState<Operation[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = () => api<Record<string, Operation[]>>("GET", "/1.0/operations?recursion=1")
      .then((byStatus) => setOps(Object.values(byStatus ?? {}).flat()), (e: Error) => setError(e.message));
    load();
    // Operation events carry the whole operation: progress and status changes arrive as they happen.
    return events.subscribe((e) => {
      if (e.type !== "operation") return;
      const op = e.metadata as Operation;
      setOps((cur) => [op, ...cur.filter((o) => o.id !== op.id)].slice(0, 200));
    }, load);
  }, []);
  return (
    <>
      <PageHeader title="Operations" />
      <ErrorText error={error} />
      <Table caption="Operations" rows={ops} rowKey={(o) => o.id} empty="No operations." initialSort={{ key: "created", dir: -1 }} columns={[
        { key: "created", label: "Started", value: (o) => o.created_at, render: (o) => when(o.created_at) },
        { key: "desc", label: "Description", value: (o) => o.description },
        { key: "status", label: "Status", value: (o) => o.status, render: (o) => <span class={`badge op-${o.status.toLowerCase()}`}>{o.status}</span> },
        {
          key: "progress", label: "Progress", value: progressOf, render: (o) => {
            const text = progressOf(o);
            const pct = percentOf(text);
            return text ? <>{!Number.isNaN(pct) && <progress max={100} value={pct} aria-label={`${o.description} progress`} />} <small>{text}</small></> : o.err || "";
          },
        },
        { key: "resources", label: "Resources", value: (o) => Object.values(o.resources ?? {}).flat().map((r) => r.split("/").pop()).join(", "), class: "wide-only" },
        {
          key: "x", label: "Actions", value: (o) => o.id, render: (o) => o.may_cancel && (o.status === "Running" || o.status === "Pending") && (
            <button type="button" aria-label={`Cancel ${o.description}`} onClick={() => api("DELETE", `/1.0/operations/${o.id}`).catch((e: Error) => setError(e.message))}>Cancel</button>
          ),
        },
      ]} />
    </>
  );
}

/** A live log of every event, on a websocket of its own that also asks for logging events. */
export function EventsPage() {
  const [list, setList] = useState<LxdEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [types, setTypes] = useState("lifecycle,operation,logging");
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  useEffect(() => {
    const ws = new WebSocket(wsUrl(`/1.0/events?type=${types}`));
    ws.onmessage = (m) => {
      if (pausedRef.current) return;
      setList((cur) => [JSON.parse(String(m.data)) as LxdEvent, ...cur].slice(0, 500));
    };
    return () => ws.close();
  }, [types]);
  const summary = (e: LxdEvent) => {
    const md = e.metadata as Record<string, unknown>;
    if (e.type === "lifecycle") return `${md.action} ${md.source}`;
    if (e.type === "operation") return `${md.description}: ${md.status}${md.err ? ` (${md.err})` : ""}`;
    return `[${md.level}] ${md.message} ${Object.entries((md.context ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(" ")}`;
  };
  return (
    <>
      <PageHeader title="Events">
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>{paused ? "Resume" : "Pause"}</button>
        <button type="button" onClick={() => setList([])}>Clear</button>
      </PageHeader>
      <Select label="Show" value={types} onChange={(v) => { setList([]); setTypes(v); }} options={[
        { value: "lifecycle,operation,logging", label: "All events" }, { value: "lifecycle", label: "Lifecycle" },
        { value: "operation", label: "Operations" }, { value: "logging", label: "Daemon log" },
      ]} />
      <ol class="events" aria-label="Events, newest first" aria-live="off">
        {list.length === 0 && <li class="empty">Waiting for events…</li>}
        {list.map((e, i) => (
          <li key={`${e.timestamp}-${list.length - i}`}>
            <time dateTime={e.timestamp}>{new Date(e.timestamp).toLocaleTimeString()}</time>
            <span class={`badge ev-${e.type}`}>{e.type}</span> <span>{summary(e)}</span>
          </li>
        ))}
      </ol>
    </>
  );
}

interface Warning { uuid: string; type: string; status: string; severity: string; count: number; last_message: string; last_seen_at: string; location?: string }

export function WarningsPage() {
  const { data, error, reload } = useLoad(() => api<Warning[]>("GET", "/1.0/warnings?recursion=1"), []);
  return (
    <>
      <PageHeader title="Warnings"><button type="button" onClick={reload}>Refresh</button></PageHeader>
      <ErrorText error={error} />
      {data && <Table caption="Warnings" rows={data} rowKey={(w) => w.uuid} empty="No warnings." columns={[
        { key: "severity", label: "Severity", value: (w) => w.severity },
        { key: "type", label: "Type", value: (w) => w.type },
        { key: "message", label: "Message", value: (w) => w.last_message },
        { key: "count", label: "Count", value: (w) => w.count },
        { key: "status", label: "Status", value: (w) => w.status },
        { key: "seen", label: "Last seen", value: (w) => w.last_seen_at, render: (w) => when(w.last_seen_at) },
        {
          key: "x", label: "Actions", value: (w) => w.uuid, render: (w) => (
            <span class="quick">
              {w.status !== "acknowledged" && <button type="button" onClick={() => api("PUT", `/1.0/warnings/${w.uuid}`, { status: "acknowledged" }).then(reload)}>Acknowledge</button>}
              <button type="button" class="danger" onClick={() => api("DELETE", `/1.0/warnings/${w.uuid}`).then(reload)}>Delete</button>
            </span>
          ),
        },
      ]} />}
    </>
  );
}
