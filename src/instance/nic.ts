// The `nic` device driver. Every nic is created or moved straight into the container's network
// namespace under its final name, MAC and MTU. Veths are made over netlink in-process
// (src/kernel/netlink.ts); other kinds use the host's `ip`, inside the container only through
// `nsenter --net` (only the network namespace is entered, never from the daemon itself).
//   bridged  (or `network=NAME`): a veth pair whose host end joins the bridge
//   p2p      a veth pair whose host end stays a plain host interface
//   macvlan  a macvlan (bridge mode) on the host interface `parent`
//   physical the host interface `parent` itself, moved in, and back out when the nic stops
// Host-side names derive from the instance, so stopping needs no state kept from starting — except
// for physical nics, whose namespace is held open so the interface can still be moved back after
// the container's processes are gone (a namespace's virtual interfaces die with it otherwise).
import { isTrue } from "../config/values.ts";
import { closeSync, existsSync, fstatSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { nicNetwork } from "../db/networks.ts";
import { projectOfStored } from "../api/project-names.ts";
import { linkExists } from "../network/bridge.ts";
import { nicHwaddr } from "../network/mac.ts";
import type { NetworkManager } from "../network/manager.ts";
import { vethName } from "../network/names.ts";
import { contains, parseCidr4, parseIPv4 } from "../network/subnet.ts";
import { sh, shQuiet } from "../network/run.ts";
import { createVeth } from "../kernel/netlink.ts";
import type { DeviceDriver, RunningInstance } from "./devices.ts";
import { fdPath, openInitNetns } from "./init-proc.ts";

type Dev = Record<string, string>;
type Kind = "bridged" | "p2p" | "macvlan" | "physical";

const inNetns = (netns: string, argv: string[]) => ["nsenter", `--net=${netns}`, "--", ...argv];

/** Runs `fn` with an open fd of the container's network namespace (init confirmed through its pidfd). */
async function withNetns<T>(inst: RunningInstance, fn: (fd: number) => Promise<T> | T): Promise<T> {
  const fd = openInitNetns(inst);
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

function kindOf(dev: Dev): Kind {
  const kind = dev.network ? "bridged" : (dev.nictype ?? "");
  if (!["bridged", "p2p", "macvlan", "physical"].includes(kind)) {
    throw new Error(`nictype "${kind}" is not supported (bridged, p2p, macvlan and physical are)`);
  }
  return kind as Kind;
}

/** The host bridge a bridged nic attaches to: a managed network's bridge, or an existing host bridge named by `parent`. */
function bridgeOf(networks: NetworkManager, dev: Dev, instance: string): { link: string; network?: string } {
  const name = nicNetwork(dev, networks.networksOf(projectOfStored(instance)));
  if (!name) throw new Error(`A bridged nic needs "network" or "parent"`);
  const managed = networks.list().some((n) => n.name === name);
  if (dev.network && !managed) throw new Error(`Network "${dev.network}" not found`);
  const link = managed ? networks.link(name) : name;
  if (!linkExists(link)) throw new Error(`Parent bridge "${link}" does not exist on the host`);
  return { link, network: managed ? name : undefined };
}

/** Options this driver cannot honour: refused rather than silently ignored. */
const UNSUPPORTED = ["limits.max", "limits.priority", "vlan", "vlan.tagged", "ipv6.address", "ipv4.routes", "ipv6.routes", "ipv4.gateway", "ipv6.gateway", "queue.tx.length"];
const UNSUPPORTED_FLAGS = ["security.ipv6_filtering", "security.port_isolation"];

function checkSupported(networks: NetworkManager, kind: Kind, dev: Dev, network?: string): void {
  const key = UNSUPPORTED.find((k) => dev[k]) ?? UNSUPPORTED_FLAGS.find((k) => isTrue(dev[k]));
  if (key) throw new Error(`nic option "${key}" is not supported`);
  const veth = kind === "bridged" || kind === "p2p";
  for (const k of ["limits.ingress", "limits.egress", "host_name"]) {
    if (dev[k] && !veth) throw new Error(`nic option "${k}" only applies to bridged and p2p nics`);
  }
  for (const k of ["security.mac_filtering", "security.ipv4_filtering"]) {
    if (isTrue(dev[k]) && kind !== "bridged") throw new Error(`nic option "${k}" only applies to bridged nics`);
  }
  if ((kind === "macvlan" || kind === "physical") && !dev.parent) throw new Error(`A ${kind} nic needs "parent"`);
  const ip = dev["ipv4.address"];
  if (isTrue(dev["security.ipv4_filtering"]) && !ip) throw new Error(`security.ipv4_filtering needs the nic's "ipv4.address"`);
  if (!ip) return;
  if (kind !== "bridged") throw new Error(`nic option "ipv4.address" only applies to bridged nics`);
  const cidr = network ? parseCidr4(networks.get(network).config["ipv4.address"] ?? "") : undefined;
  if (!cidr || !contains(cidr, parseIPv4(ip)!)) throw new Error(`ipv4.address ${ip} is not in the subnet of network "${network ?? dev.parent}"`);
}

/** LXD's bit rates ("10Mbit", "1Gbit", "500kbit", "2MB") in bits per second. */
export function parseRate(value: string): number {
  const m = /^(\d+)(bit|[kMGTP]bit|B|[kMGTP]B)?$/.exec(value);
  if (!m) throw new Error(`Invalid rate "${value}"`);
  const unit = m[2] ?? "bit";
  const scale = 1000 ** Math.max(0, "_kMGTP".indexOf(unit[0]));
  return Number(m[1]) * scale * (unit.endsWith("B") ? 8 : 1);
}

/** The host end's name: `host_name`, else derived from the instance's uuid and the device name. */
const hostVeth = (inst: RunningInstance, device: string, dev: Dev) =>
  dev.host_name || vethName(`${inst.config["volatile.uuid"] || inst.name}/${device}`);

/** What a physical nic was on the host, to put it back as it was. */
interface Moved {
  netnsFd: number;
  name: string;
  hostName: string;
  mtu: string;
  mac: string;
  up: boolean;
}

export function nicDriver(networks: NetworkManager): DeviceDriver {
  const moved = new Map<string, Moved>();
  /** The namespace each macvlan was created in. */
  const macvlans = new Map<string, number | undefined>();
  const key = (inst: RunningInstance, device: string) => `${inst.name}/${device}`;

  async function upInside(inst: RunningInstance, name: string, undo: () => Promise<void>) {
    try {
      await withNetns(inst, (fd) => sh(inNetns(fdPath(fd), ["ip", "link", "set", "dev", name, "up"])));
    } catch (err) {
      await undo();
      throw err;
    }
  }

  /** Firewall filters and tc shaping of a veth's host end. */
  async function applyLimits(host: string, kind: Kind, dev: Dev, mac: string) {
    // The container's download is the host end's transmit side: a token bucket there.
    if (dev["limits.ingress"]) {
      const bits = parseRate(dev["limits.ingress"]);
      await sh(["tc", "qdisc", "replace", "dev", host, "root", "tbf", "rate", `${bits}bit`,
        "burst", String(Math.max(15_000, Math.ceil(bits / 8 / 10))), "latency", "50ms"]);
    }
    const mac_ = isTrue(dev["security.mac_filtering"]) || isTrue(dev["security.ipv4_filtering"]);
    const ipv4 = isTrue(dev["security.ipv4_filtering"]) ? dev["ipv4.address"] : undefined;
    const egress = dev["limits.egress"] ? Math.ceil(parseRate(dev["limits.egress"]) / 8) : undefined;
    if (mac_ || egress) await networks.setNicFilter({ link: host, bridged: kind === "bridged", mac: mac_ ? mac : undefined, ipv4, egressBytes: egress });
  }

  async function startVeth(inst: RunningInstance, device: string, dev: Dev, kind: Kind, name: string, mac: string) {
    const bridge = kind === "bridged" ? bridgeOf(networks, dev, inst.name) : undefined;
    checkSupported(networks, kind, dev, bridge?.network);
    // At boot `prepare` wrote the entry already.
    if (bridge?.network && !inst.booting) await networks.refreshHosts(bridge.network, { instance: inst.name, device, dev, config: inst.config, network: bridge.network });
    const host = hostVeth(inst, device, dev);
    // A previous run's pair may linger while its namespace is torn down.
    if (linkExists(host)) {
      if (dev.host_name && !(await isOurVeth(host))) throw new Error(`host_name "${host}" is already in use on the host`);
      await shQuiet(["ip", "link", "delete", "dev", host]);
    }
    const mtu = dev.mtu || (bridge ? (await readFile(`/sys/class/net/${bridge.link}/mtu`, "utf8")).trim() : "1500");
    // Over netlink, in-process: both ends up, the host end on the bridge, the peer named inside.
    await withNetns(inst, (netnsFd) => createVeth({ host, peer: name, mac, mtu: Number(mtu), master: bridge?.link, netnsFd }));
    try {
      await applyLimits(host, kind, dev, mac);
    } catch (err) {
      await shQuiet(["ip", "link", "delete", "dev", host]);
      await networks.clearNicFilter(host);
      throw err;
    }
  }

  async function startMacvlan(inst: RunningInstance, device: string, dev: Dev, name: string, mac: string) {
    checkSupported(networks, "macvlan", dev);
    if (!linkExists(dev.parent)) throw new Error(`Parent interface "${dev.parent}" does not exist on the host`);
    const mtu = dev.mtu ? ["mtu", dev.mtu] : [];
    // Created in the container's namespace and up as it is made there.
    const ns = await withNetns(inst, async (fd) => {
      await sh(["ip", "link", "add", "link", dev.parent, "name", name, "address", mac, ...mtu, "netns", fdPath(fd), "up", "type", "macvlan", "mode", "bridge"]);
      return fstatSync(fd).ino;
    });
    macvlans.set(key(inst, device), ns);
  }

  async function startPhysical(inst: RunningInstance, device: string, dev: Dev, name: string) {
    checkSupported(networks, "physical", dev);
    const parent = dev.parent;
    if (!linkExists(parent)) throw new Error(`Parent interface "${parent}" does not exist on the host`);
    if (existsSync(`/sys/class/net/${parent}/master`)) throw new Error(`Interface "${parent}" is in use (it is enslaved to another interface)`);
    const sys = (a: string) => readFile(`/sys/class/net/${parent}/${a}`, "utf8").then((t) => t.trim());
    const [mtu, mac, flags] = await Promise.all([sys("mtu"), sys("address"), sys("flags")]);
    const netnsFd = openInitNetns(inst);
    const state: Moved = { netnsFd, name, hostName: parent, mtu, mac, up: (Number.parseInt(flags, 16) & 1) === 1 };
    try {
      await sh(["ip", "link", "set", "dev", parent, "down"]);
      await sh(["ip", "link", "set", "dev", parent, "netns", fdPath(netnsFd)]);
    } catch (err) {
      closeSync(netnsFd);
      throw err;
    }
    moved.set(key(inst, device), state);
    const inside = (argv: string[]) => sh(inNetns(fdPath(netnsFd), argv));
    try {
      if (name !== parent) await inside(["ip", "link", "set", "dev", parent, "name", name]);
      if (dev.hwaddr) await inside(["ip", "link", "set", "dev", name, "address", dev.hwaddr]);
      if (dev.mtu) await inside(["ip", "link", "set", "dev", name, "mtu", dev.mtu]);
    } catch (err) {
      await stopPhysical(inst, device);
      throw err;
    }
    await upInside(inst, name, () => stopPhysical(inst, device));
  }

  /** Moves a physical nic back to the host under its own name, MTU and MAC, through the held namespace. */
  async function stopPhysical(inst: RunningInstance, device: string) {
    const m = moved.get(key(inst, device));
    if (!m) return;
    moved.delete(key(inst, device));
    const ns = fdPath(m.netnsFd);
    try {
      await shQuiet(inNetns(ns, ["ip", "link", "set", "dev", m.name, "down"]));
      if (m.name !== m.hostName) await shQuiet(inNetns(ns, ["ip", "link", "set", "dev", m.name, "name", m.hostName]));
      await sh(inNetns(ns, ["ip", "link", "set", "dev", m.hostName, "netns", String(process.pid)]));
      await shQuiet(["ip", "link", "set", "dev", m.hostName, "mtu", m.mtu, "address", m.mac, ...(m.up ? ["up"] : [])]);
    } finally {
      closeSync(m.netnsFd);
    }
  }

  return {
    async prepare(inst, device, dev) {
      // The DHCP host entry must be in place before the container's DHCP client asks.
      try {
        if (kindOf(dev) !== "bridged") return;
        const bridge = bridgeOf(networks, dev, inst.name);
        if (!bridge.network) return;
        checkSupported(networks, "bridged", dev, bridge.network);
        await networks.refreshHosts(bridge.network, { instance: inst.name, device, dev, config: inst.config, network: bridge.network });
      } catch (err) {
        throw new Error(`nic "${device}" of instance "${inst.name}": ${(err as Error).message}`);
      }
    },

    async start(inst, device, dev) {
      const kind = kindOf(dev);
      const name = dev.name || device;
      const mac = nicHwaddr(inst.name, inst.config, device, dev);
      const fail = (err: unknown) => new Error(`nic "${device}" of instance "${inst.name}": ${(err as Error).message}`);
      try {
        if (kind === "bridged" || kind === "p2p") await startVeth(inst, device, dev, kind, name, mac);
        else if (kind === "macvlan") await startMacvlan(inst, device, dev, name, mac);
        else await startPhysical(inst, device, dev, name);
      } catch (err) {
        throw fail(err);
      }
    },

    async stop(inst, device, dev) {
      const kind = dev.network ? "bridged" : dev.nictype;
      if (kind === "physical") return stopPhysical(inst, device);
      if (kind === "macvlan") {
        // Gone with the namespace when the container has stopped; removed from it on unplug (only
        // while that namespace is still the one the macvlan went into).
        const ns = macvlans.get(key(inst, device));
        macvlans.delete(key(inst, device));
        if (ns === undefined || inst.exited) return;
        await withNetns(inst, async (fd) => {
          if (fstatSync(fd).ino === ns) await shQuiet(inNetns(fdPath(fd), ["ip", "link", "delete", "dev", dev.name || device]));
        }).catch(() => undefined); // init gone: so is the macvlan
        return;
      }
      // Deleting the host end removes the pair (once the container is gone, it went with its namespace).
      const host = hostVeth(inst, device, dev);
      if (linkExists(host)) await shQuiet(["ip", "link", "delete", "dev", host]);
      await networks.clearNicFilter(host);
    },

    // The instance's host entries go (its new name, after a rename, writes its own at start).
    async forget(instance) {
      await networks.forgetHosts(instance);
    },
    async resume(inst, device, dev) {
      // The firewall's per-nic filters live in the daemon's memory: put them back.
      const kind = kindOf(dev);
      if (kind !== "bridged" && kind !== "p2p") return;
      const host = hostVeth(inst, device, dev);
      if (linkExists(host)) await applyLimits(host, kind, dev, nicHwaddr(inst.name, inst.config, device, dev));
    },
  };
}

/** A host interface that is a veth (what a previous run of this nic left), not someone else's device. */
async function isOurVeth(link: string): Promise<boolean> {
  const json = await sh(["ip", "-d", "-j", "link", "show", "dev", link]).catch(() => "[]");
  return (JSON.parse(json) as { linkinfo?: { info_kind?: string } }[])[0]?.linkinfo?.info_kind === "veth";
}
