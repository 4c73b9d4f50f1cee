// /1.0/resources and /1.0/storage-pools/{pool}/resources (LXD's `resources` extensions): the
// host's hardware and a pool's space, in the shapes `lxc info --resources` and `lxc storage info` read.
import { t, type Static } from "elysia";

const Used = t.Object({ used: t.Number(), total: t.Number() });

const Thread = t.Object({ id: t.Number(), numa_node: t.Number(), thread: t.Number(), online: t.Boolean(), isolated: t.Boolean() });
const Core = t.Object({ core: t.Number(), die: t.Number(), frequency: t.Optional(t.Number({ description: "MHz" })), threads: t.Array(Thread) });
const Socket = t.Object({
  socket: t.Number(), name: t.String(), vendor: t.String(),
  cache: t.Array(t.Object({ level: t.Number(), type: t.String(), size: t.Number() })),
  cores: t.Array(Core),
});

const Port = t.Object({
  id: t.String(), address: t.String(), port: t.Number(), protocol: t.String(), port_type: t.String(),
  transceiver_type: t.String(), auto_negotiation: t.Boolean(), link_detected: t.Boolean(),
});
const NetworkCard = t.Object({
  driver: t.String(), driver_version: t.String(), ports: t.Array(Port), numa_node: t.Number(),
  pci_address: t.String(), vendor_id: t.String(), product_id: t.String(),
});
const Partition = t.Object({ id: t.String(), device: t.String(), read_only: t.Boolean(), size: t.Number(), partition: t.Number() });
const Disk = t.Object({
  id: t.String(), device: t.String({ description: "major:minor" }), type: t.String(), read_only: t.Boolean(), size: t.Number(),
  removable: t.Boolean(), numa_node: t.Number(), block_size: t.Number(), rpm: t.Number(), device_id: t.String(),
  partitions: t.Array(Partition), pci_address: t.String(),
});

export const Resources = t.Object({
  cpu: t.Object({ architecture: t.String(), sockets: t.Array(Socket), total: t.Number() }),
  memory: t.Object({
    nodes: t.Array(t.Object({ numa_node: t.Number(), hugepages_used: t.Number(), hugepages_total: t.Number(), used: t.Number(), total: t.Number() })),
    hugepages_total: t.Number(), hugepages_used: t.Number(), hugepages_size: t.Number(), used: t.Number(), total: t.Number(),
  }),
  gpu: t.Object({ cards: t.Array(t.Unknown()), total: t.Number() }),
  network: t.Object({ cards: t.Array(NetworkCard), total: t.Number() }),
  storage: t.Object({ disks: t.Array(Disk), total: t.Number() }),
  usb: t.Object({ devices: t.Array(t.Unknown()), total: t.Number() }),
  pci: t.Object({ devices: t.Array(t.Unknown()), total: t.Number() }),
  system: t.Object({
    uuid: t.String(), vendor: t.String(), product: t.String(), family: t.String(), version: t.String(), sku: t.String(),
    serial: t.String(), type: t.String(), firmware: t.Null(), chassis: t.Null(), motherboard: t.Null(),
  }),
});
export type Resources = Static<typeof Resources>;

export const StoragePoolResources = t.Object({ space: Used, inodes: Used });
export type StoragePoolResources = Static<typeof StoragePoolResources>;
