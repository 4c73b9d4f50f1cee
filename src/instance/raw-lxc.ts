// `raw.lxc`: LXC configuration lines. There is no liblxc here, so only the keys this runtime
// honours are accepted (documented in the README); the keys LXD itself forbids are refused with
// LXD's messages, and any other key is refused rather than silently ignored.
export const RAW_LXC_KEYS: Record<string, string> = {
  "lxc.environment": "KEY=VALUE added to init's environment (repeatable)",
  "lxc.init.cmd": "the command run as init instead of /sbin/init",
};

export interface RawLxc { environment: string[]; initCmd?: string[] }

/** Parses and checks raw.lxc; throws with the first problem. */
export function parseRawLxc(text: string): RawLxc {
  const out: RawLxc = { environment: [] };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`Invalid raw.lxc line "${line}": expected "key = value"`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    // LXD's own refusals, in its words.
    if (key === "lxc.logfile" || key === "lxc.log.file") throw new Error("Setting lxc.logfile is not allowed");
    if (key === "lxc.syslog" || key === "lxc.log.syslog") throw new Error("Setting lxc.log.syslog is not allowed");
    if (key === "lxc.ephemeral") throw new Error("Setting lxc.ephemeral is not allowed");
    if (key.startsWith("lxc.prlimit.")) throw new Error('Process limits should be set via "limits.kernel.[limit name]" and not directly via "lxc.prlimit.[limit name]"');
    if (key.startsWith("lxc.net.")) throw new Error("Only interface-specific ipv4/ipv6 lxc.net. keys are allowed");
    if (!(key in RAW_LXC_KEYS)) throw new Error(`The raw.lxc key "${key}" is not supported (accepted: ${Object.keys(RAW_LXC_KEYS).join(", ")})`);
    if (key === "lxc.environment") {
      if (!/^[^=\s]+=/.test(value)) throw new Error(`Invalid lxc.environment "${value}": expected KEY=VALUE`);
      out.environment.push(value);
    } else {
      const argv = value.split(/\s+/).filter(Boolean);
      if (!argv.length) throw new Error("lxc.init.cmd needs a command");
      out.initCmd = argv;
    }
  }
  return out;
}
