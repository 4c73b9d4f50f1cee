// The host's hardware as LXD's /1.0/resources describes it (CPU sockets, cores and caches,
// memory, network cards, disks), read from /proc and /sys. GPUs, USB and PCI listings are left
// empty: nothing here uses them, and `lxc info --resources` prints nothing for empty lists.
import { readdirSync, readFileSync, readlinkSync, realpathSync, statfsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Resources, StoragePoolResources } from "../api/resources.ts";

const read = (path: string): string => {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
};
const list = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};
const num = (path: string, fallback = 0): number => {
  const n = Number.parseInt(read(path), 10);
  return Number.isFinite(n) ? n : fallback;
};

/** "48K" -> 49152 (sysfs cache sizes). */
const cacheSize = (text: string): number => {
  const m = /^(\d+)([KMG]?)$/.exec(text);
  return m ? Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as "" | "K" | "M" | "G"]) : 0;
};

/** The NUMA node a sysfs device or CPU directory belongs to (0 without NUMA information). */
const numaNode = (dir: string): number => {
  const node = list(dir).find((n) => /^node\d+$/.test(n));
  if (node) return Number(node.slice(4));
  const n = num(join(dir, "numa_node"), 0);
  return Math.max(n, 0);
};

/** The PCI address above a sysfs device (a virtio device sits below its PCI function). */
function pciAddress(device: string): string {
  let dir = device;
  for (let i = 0; i < 6 && dir !== "/"; i++, dir = dirname(dir)) {
    if (/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$/.test(basename(dir))) return basename(dir);
  }
  return "";
}

const hexId = (path: string) => read(path).replace(/^0x/, "");

function cpu() {
  const cpuDir = "/sys/devices/system/cpu";
  const info = read("/proc/cpuinfo").split("\n\n").filter(Boolean).map((block) =>
    Object.fromEntries(block.split("\n").map((l) => l.split(/\s*:\s*/, 2) as [string, string])));
  const ids = list(cpuDir).filter((n) => /^cpu\d+$/.test(n)).map((n) => Number(n.slice(3))).sort((a, b) => a - b);
  type Socket = Resources["cpu"]["sockets"][number];
  type Core = Socket["cores"][number];
  const sockets = new Map<number, Omit<Socket, "cores"> & { cores: Map<string, Core> }>();
  for (const id of ids) {
    const dir = join(cpuDir, `cpu${id}`);
    const socket = num(join(dir, "topology/physical_package_id"), 0);
    const proc = info.find((b) => Number(b.processor) === id) ?? {};
    if (!sockets.has(socket)) {
      const cache = list(join(dir, "cache")).filter((n) => n.startsWith("index")).sort().map((n) => ({
        level: num(join(dir, "cache", n, "level")),
        type: read(join(dir, "cache", n, "type")),
        size: cacheSize(read(join(dir, "cache", n, "size"))),
      }));
      sockets.set(socket, { socket, name: proc["model name"] ?? "", vendor: proc.vendor_id ?? "", cache, cores: new Map() });
    }
    const s = sockets.get(socket)!;
    const [coreId, die] = [num(join(dir, "topology/core_id")), num(join(dir, "topology/die_id"))];
    const key = `${die}/${coreId}`;
    if (!s.cores.has(key)) {
      const khz = num(join(dir, "cpufreq/scaling_cur_freq"));
      s.cores.set(key, { core: coreId, die, ...(khz ? { frequency: Math.round(khz / 1000) } : {}), threads: [] });
    }
    const core = s.cores.get(key)!;
    const online = id === 0 || read(join(dir, "online")) !== "0";
    core.threads.push({ id, numa_node: numaNode(dir), thread: core.threads.length, online, isolated: false });
  }
  return {
    architecture: process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch,
    sockets: [...sockets.values()].map((s) => ({ ...s, cores: [...s.cores.values()] })),
    total: ids.length,
  };
}

function memory() {
  const kb = (key: string, text = read("/proc/meminfo")) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0) * 1024;
  const total = kb("MemTotal");
  const used = total - kb("MemAvailable");
  const hugeSize = kb("Hugepagesize");
  const hugeTotal = kb("HugePages_Total") / 1024 * hugeSize;
  const hugeUsed = hugeTotal - kb("HugePages_Free") / 1024 * hugeSize;
  const nodes = list("/sys/devices/system/node").filter((n) => /^node\d+$/.test(n)).map((n) => {
    const text = read(`/sys/devices/system/node/${n}/meminfo`).replace(/^Node \d+ /gm, "");
    return { numa_node: Number(n.slice(4)), hugepages_used: 0, hugepages_total: 0, used: kb("MemUsed", text), total: kb("MemTotal", text) };
  });
  return { nodes, hugepages_total: hugeTotal, hugepages_used: hugeUsed, hugepages_size: hugeSize, used, total };
}

/** Physical network cards (interfaces with a device behind them), one port each. */
function network() {
  const cards = list("/sys/class/net").filter((n) => list(join("/sys/class/net", n, "device")).length).sort().map((name) => {
    const dir = join("/sys/class/net", name);
    const device = realpathSync(join(dir, "device"));
    let driver = "";
    try {
      driver = basename(readlinkSync(join(device, "driver")));
    } catch {
      // No bound driver.
    }
    const pci = pciAddress(device);
    const pciDir = pci ? join("/sys/bus/pci/devices", pci) : device;
    return {
      driver,
      driver_version: read("/proc/sys/kernel/osrelease"),
      ports: [{
        id: name, address: read(join(dir, "address")), port: 0,
        protocol: read(join(dir, "type")) === "1" ? "ethernet" : "other",
        port_type: "other", transceiver_type: "internal", auto_negotiation: false,
        link_detected: read(join(dir, "carrier")) === "1",
      }],
      numa_node: numaNode(pciDir), pci_address: pci,
      vendor_id: hexId(join(pciDir, "vendor")), product_id: hexId(join(pciDir, "device")),
    };
  });
  return { cards, total: cards.length };
}

/** Whole disks: no loop, ram, zram, device-mapper or nbd devices. */
function storage() {
  const disks = list("/sys/block").filter((n) => !/^(loop|ram|zram|dm-|nbd|md|sr)/.test(n)).sort().map((id) => {
    const dir = join("/sys/block", id);
    const device = (() => {
      try {
        return realpathSync(join(dir, "device"));
      } catch {
        return "";
      }
    })();
    const type = id.startsWith("vd") ? "virtio" : id.startsWith("nvme") ? "nvme" : id.startsWith("mmcblk") ? "mmc" : "scsi";
    const partitions = list(dir).filter((p) => p.startsWith(id)).sort().map((p, i) => ({
      id: p, device: read(join(dir, p, "dev")), read_only: read(join(dir, p, "ro")) === "1",
      size: num(join(dir, p, "size")) * 512, partition: num(join(dir, p, "partition"), i + 1),
    }));
    return {
      id, device: read(join(dir, "dev")), type, read_only: read(join(dir, "ro")) === "1",
      size: num(join(dir, "size")) * 512, removable: read(join(dir, "removable")) === "1",
      numa_node: device ? numaNode(device) : 0, block_size: num(join(dir, "queue/logical_block_size")),
      rpm: read(join(dir, "queue/rotational")) === "1" ? 1 : 0, device_id: "", partitions,
      pci_address: device ? pciAddress(device) : "",
    };
  });
  return { disks, total: disks.length };
}

export function hostResources(): Resources {
  return {
    cpu: cpu(),
    memory: memory(),
    gpu: { cards: [], total: 0 },
    network: network(),
    storage: storage(),
    usb: { devices: [], total: 0 },
    pci: { devices: [], total: 0 },
    system: {
      uuid: "", vendor: read("/sys/class/dmi/id/sys_vendor"), product: read("/sys/class/dmi/id/product_name"),
      family: "", version: "", sku: "", serial: "", type: process.env.container ? "container" : "physical",
      firmware: null, chassis: null, motherboard: null,
    },
  };
}

/** Space and inodes of the filesystem holding `path` (a pool's directory), as LXD reports them. */
export function filesystemUsage(path: string): StoragePoolResources {
  const s = statfsSync(path);
  const total = s.blocks * s.bsize;
  return {
    space: { used: total - s.bfree * s.bsize, total },
    inodes: { used: s.files - s.ffree, total: s.files },
  };
}

/** The host's network interfaces with LXD's type names for unmanaged networks. */
export function hostInterfaces(): { name: string; type: string }[] {
  return list("/sys/class/net").sort().map((name) => {
    const dir = join("/sys/class/net", name);
    const type = name === "lo" || read(join(dir, "type")) === "772" ? "loopback"
      : list(join(dir, "bridge")).length ? "bridge"
      : list(join(dir, "bonding")).length ? "bond"
      : read(`/proc/net/vlan/${name}`) ? "vlan"
      : list(join(dir, "device")).length ? "physical"
      : "unknown";
    return { name, type };
  });
}
