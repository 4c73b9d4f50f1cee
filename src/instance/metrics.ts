// /1.0/metrics in LXD's OpenMetrics text: per running instance its CPU time (user, system), memory,
// root filesystem, network counters and process count, labelled name/project/type as LXD does.
import type { InstanceState } from "../api/instance.ts";

export interface InstanceSample {
  name: string;
  project: string;
  state: InstanceState;
  cpuUserNs: number;
  cpuSystemNs: number;
  /** limits.memory, or the host's memory without a limit. */
  memoryTotal: number;
  /** Bytes still free where the root volume lives (its pool's filesystem). */
  rootAvail: number;
}

type Labels = Record<string, string>;
interface Family { name: string; help: string; type: "counter" | "gauge"; points: [Labels, number][] }

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labelText = (l: Labels) => `{${Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;

/** Network counters by LXD metric name and the state's counter key. */
const NET: [string, string, string][] = [
  ["receive_bytes_total", "bytes_received", "The amount of received bytes on a given interface."],
  ["transmit_bytes_total", "bytes_sent", "The amount of transmitted bytes on a given interface."],
  ["receive_packets_total", "packets_received", "The amount of received packets on a given interface."],
  ["transmit_packets_total", "packets_sent", "The amount of transmitted packets on a given interface."],
  ["receive_errs_total", "errors_received", "The amount of received errors on a given interface."],
  ["transmit_errs_total", "errors_sent", "The amount of transmitted errors on a given interface."],
  ["receive_drop_total", "packets_dropped_inbound", "The amount of received dropped bytes on a given interface."],
  ["transmit_drop_total", "packets_dropped_outbound", "The amount of transmitted dropped bytes on a given interface."],
];

export function renderMetrics(samples: InstanceSample[]): string {
  const families = new Map<string, Family>();
  const add = (name: string, type: Family["type"], help: string, labels: Labels, value: number) => {
    const f = families.get(name) ?? { name, help, type, points: [] };
    f.points.push([labels, value]);
    families.set(name, f);
  };
  for (const s of samples) {
    const id = { name: s.name, project: s.project, type: "container" };
    const cpuHelp = "The total number of CPU time used in seconds.";
    add("lxd_cpu_seconds_total", "counter", cpuHelp, { cpu: "0", mode: "system", ...id }, s.cpuSystemNs / 1e9);
    add("lxd_cpu_seconds_total", "counter", cpuHelp, { cpu: "0", mode: "user", ...id }, s.cpuUserNs / 1e9);
    const used = s.state.memory.usage;
    add("lxd_memory_MemTotal_bytes", "gauge", "The amount of used memory.", id, s.memoryTotal);
    add("lxd_memory_MemFree_bytes", "gauge", "The amount of free memory.", id, Math.max(0, s.memoryTotal - used));
    add("lxd_memory_MemAvailable_bytes", "gauge", "The amount of available memory.", id, Math.max(0, s.memoryTotal - used));
    add("lxd_memory_Swap_bytes", "gauge", "The amount of used swap memory.", id, s.state.memory.swap_usage);
    const root = s.state.disk?.root?.usage;
    if (root !== undefined) {
      const fs = { device: "", fstype: "", mountpoint: "/", ...id };
      add("lxd_filesystem_size_bytes", "gauge", "The size of the filesystem in bytes.", fs, root + s.rootAvail);
      add("lxd_filesystem_avail_bytes", "gauge", "The number of available space in bytes.", fs, s.rootAvail);
      add("lxd_filesystem_free_bytes", "gauge", "The number of free space in bytes.", fs, s.rootAvail);
    }
    for (const [device, net] of Object.entries(s.state.network ?? {})) {
      for (const [metric, key, help] of NET) add(`lxd_network_${metric}`, "counter", help, { device, ...id }, net.counters[key] ?? 0);
    }
    add("lxd_procs_total", "gauge", "The number of running processes.", id, s.state.processes);
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const [labels, value] of f.points) out.push(`${f.name}${labelText(labels)} ${value}`);
  }
  out.push("# EOF");
  return `${out.join("\n")}\n`;
}
