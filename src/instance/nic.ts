// The `nic` device driver (nictype bridged, or `network=NAME` of a managed bridge): a veth pair whose
// host end joins the bridge and whose other end is created directly inside the container's network
// namespace under its final name, MAC and MTU. Bringing it up in there runs the host's `ip` through
// `nsenter --net` (only the network namespace is entered, so it is the host's binary that runs).
// The host end's name is derived from the instance, so stopping needs no state kept from starting.
import { readFile } from "node:fs/promises";
import { nicNetwork } from "../db/networks.ts";
import { linkExists } from "../network/bridge.ts";
import { nicHwaddr } from "../network/mac.ts";
import type { NetworkManager } from "../network/manager.ts";
import { vethName } from "../network/names.ts";
import { truthy } from "../network/config.ts";
import { contains, parseCidr4, parseIPv4 } from "../network/subnet.ts";
import { sh, shQuiet } from "../network/run.ts";
import type { DeviceDriver, RunningInstance } from "./devices.ts";

type Dev = Record<string, string>;

const inNetns = (pid: number, argv: string[]) => ["nsenter", `--net=/proc/${pid}/ns/net`, "--", ...argv];

/** The host bridge a nic attaches to: a managed network's bridge, or an existing host bridge named by `parent`. */
function parentLink(networks: NetworkManager, dev: Dev): { link: string; network?: string } {
  const nictype = dev.network ? "bridged" : (dev.nictype ?? "");
  if (nictype !== "bridged") throw new Error(`nictype "${nictype}" is not supported yet (only bridged nics and managed networks)`);
  const name = nicNetwork(dev);
  if (!name) throw new Error(`A bridged nic needs "network" or "parent"`);
  const managed = networks.list().some((n) => n.name === name);
  if (dev.network && !managed) throw new Error(`Network "${name}" not found`);
  const link = managed ? networks.link(name) : name;
  if (!linkExists(link)) throw new Error(`Parent bridge "${link}" does not exist on the host`);
  return { link, network: managed ? name : undefined };
}

/** Options the config accepts but this driver cannot honour yet: refused rather than silently ignored. */
const UNSUPPORTED = ["limits.ingress", "limits.egress", "limits.max", "vlan", "vlan.tagged", "ipv6.address", "ipv4.routes", "ipv6.routes"];
const UNSUPPORTED_FLAGS = ["security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering", "security.port_isolation"];

function checkSupported(networks: NetworkManager, dev: Dev, network?: string): void {
  const key = UNSUPPORTED.find((k) => dev[k]) ?? UNSUPPORTED_FLAGS.find((k) => truthy(dev[k]));
  if (key) throw new Error(`nic option "${key}" is not supported yet`);
  const ip = dev["ipv4.address"];
  if (!ip) return;
  const cidr = network ? parseCidr4(networks.get(network).config["ipv4.address"] ?? "") : undefined;
  if (!cidr || !contains(cidr, parseIPv4(ip)!)) throw new Error(`ipv4.address ${ip} is not in the subnet of network "${network ?? dev.parent}"`);
}

/** The host end's name: `host_name`, else derived from the instance's uuid and the device name. */
const hostVeth = (inst: RunningInstance, device: string, dev: Dev) =>
  dev.host_name || vethName(`${inst.config["volatile.uuid"] || inst.name}/${device}`);

export function nicDriver(networks: NetworkManager): DeviceDriver {
  return {
    async start(inst: RunningInstance, device: string, dev: Dev): Promise<void> {
      const { link, network } = parentLink(networks, dev);
      checkSupported(networks, dev, network);
      if (network) await networks.refreshHosts(network, { instance: inst.name, device, dev, config: inst.config });
      const name = dev.name || device;
      const hostName = hostVeth(inst, device, dev);
      // A previous run's pair may linger while its namespace is torn down.
      if (linkExists(hostName)) await shQuiet(["ip", "link", "delete", "dev", hostName]);
      const mac = nicHwaddr(inst.name, inst.config, device, dev);
      const mtu = dev.mtu || (await readFile(`/sys/class/net/${link}/mtu`, "utf8")).trim();
      const fail = (err: unknown) => new Error(`nic "${device}" of instance "${inst.name}": ${(err as Error).message}`);
      // One command: the host end joins the bridge and comes up as it is created.
      await sh(["ip", "link", "add", "dev", hostName, "mtu", mtu, "master", link, "up", "type", "veth",
        "peer", "name", name, "address", mac, "mtu", mtu, "netns", String(inst.initPid)]).catch((err) => {
        throw fail(err);
      });
      try {
        await sh(inNetns(inst.initPid, ["ip", "link", "set", "dev", name, "up"]));
      } catch (err) {
        await shQuiet(["ip", "link", "delete", "dev", hostName]);
        throw fail(err);
      }
    },

    async stop(inst: RunningInstance, device: string, dev: Dev): Promise<void> {
      // Deleting the host end removes the pair (once the container is gone, it went with its namespace).
      const hostName = hostVeth(inst, device, dev);
      if (linkExists(hostName)) await shQuiet(["ip", "link", "delete", "dev", hostName]);
    },
  };
}
