// `top`: a live view of the running instances, from the same host counters as `info`: CPU (share of
// one CPU over the last interval), memory, swap, processes, and network traffic per second.
import { Command, Option } from "clipanion";
import type { InstanceFull } from "../api/instance.ts";
import { LxdCommand } from "./base.ts";
import { compactTable } from "./format.ts";
import { bytesIEC, bytesSI } from "../config/values.ts";

/** Cumulative counters of one instance at one moment. */
export interface Sample { at: number; cpuNs: number; rx: number; tx: number }

const HEADER = ["NAME", "CPU%", "MEMORY", "SWAP", "PROCESSES", "RX/s", "TX/s"];

/** Table rows for the running instances, with rates against the previous samples (none yet: "-"). */
export function topRows(instances: InstanceFull[], prev: Map<string, Sample>, now: number): { rows: string[][]; samples: Map<string, Sample> } {
  const samples = new Map<string, Sample>();
  const rows: string[][] = [];
  const running = instances.filter((i) => i.state?.pid).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const inst of running) {
    const state = inst.state!;
    const nets = Object.entries(state.network ?? {}).filter(([, n]) => n.type !== "loopback");
    const sample: Sample = {
      at: now, cpuNs: state.cpu?.usage ?? 0,
      rx: nets.reduce((s, [, n]) => s + (n.counters?.bytes_received ?? 0), 0),
      tx: nets.reduce((s, [, n]) => s + (n.counters?.bytes_sent ?? 0), 0),
    };
    samples.set(inst.name, sample);
    const before = prev.get(inst.name);
    const secs = before ? (now - before.at) / 1000 : 0;
    // A restarted instance's counters start again from zero: no rate for that interval.
    const rate = (a: number, b: number) => (before && secs > 0 && a >= b ? (a - b) / secs : undefined);
    const cpu = rate(sample.cpuNs, before?.cpuNs ?? 0);
    const rx = rate(sample.rx, before?.rx ?? 0);
    const tx = rate(sample.tx, before?.tx ?? 0);
    rows.push([
      inst.name,
      cpu === undefined ? "-" : (cpu / 1e7).toFixed(1),
      bytesIEC(state.memory?.usage ?? 0),
      bytesIEC(state.memory?.swap_usage ?? 0),
      String(state.processes ?? 0),
      rx === undefined ? "-" : bytesSI(rx),
      tx === undefined ? "-" : bytesSI(tx),
    ]);
  }
  return { rows, samples };
}

export class TopCommand extends LxdCommand {
  static override paths = [["top"]];
  static override usage = Command.Usage({
    category: "Instances",
    description: "Show the running instances' resource use, refreshed live",
    details: "CPU% is the share of one CPU used over the last interval (200 = two CPUs busy). Press ctrl-c to quit.",
    examples: [
      ["Refresh every 2 seconds until interrupted", "$0 top"],
      ["Three frames, one per second", "$0 top --interval 1 --count 3"],
    ],
  });

  interval = Option.String("--interval", "2", { description: "Seconds between refreshes (default 2)" });
  count = Option.String("--count", "0", { description: "Stop after this many frames (default 0: until interrupted)" });

  protected async run(): Promise<void> {
    const interval = Number(this.interval);
    const count = Number(this.count);
    if (!Number.isFinite(interval) || interval < 0.1) throw new Error(`Invalid --interval "${this.interval}" (seconds, at least 0.1)`);
    if (!Number.isInteger(count) || count < 0) throw new Error(`Invalid --count "${this.count}" (a whole number, 0 for no limit)`);
    const tty = Boolean((this.context.stdout as NodeJS.WriteStream).isTTY);
    let prev = new Map<string, Sample>();
    for (let frame = 1; count === 0 || frame <= count; frame++) {
      if (frame > 1) await Bun.sleep(interval * 1000);
      const { rows, samples } = topRows(await this.client.instances(), prev, Date.now());
      prev = samples;
      const table = rows.length ? compactTable(HEADER, rows) : "No running instances\n";
      // On a terminal each frame replaces the last; otherwise frames follow each other.
      this.context.stdout.write(tty ? `\x1b[H\x1b[2J${table}` : `${frame > 1 ? "\n" : ""}${table}`);
    }
  }
}
