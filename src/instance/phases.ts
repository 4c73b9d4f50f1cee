// Per-phase durations of one lifecycle step, for the daemon's debug log (`lxd serve --debug`):
// how a launch's time splits between storage, cgroups, templates, the monitor and devices.

export interface Phases {
  /** Ends the current phase under `name` and starts the next. */
  mark(name: string): void;
  /** `{phase: "1.2ms", …, total: "…ms"}` for a log record. */
  fields(): Record<string, string>;
}

export function phases(): Phases {
  const start = performance.now();
  let last = start;
  const out: Record<string, string> = {};
  return {
    mark(name) {
      const now = performance.now();
      out[name] = `${(now - last).toFixed(1)}ms`;
      last = now;
    },
    fields: () => ({ ...out, total: `${(last - start).toFixed(1)}ms` }),
  };
}
