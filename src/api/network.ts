// Network API shapes (LXD REST API 1.0): validation of requests and the OpenAPI document.
import { t, type Static } from "elysia";
import { StringMap, Description } from "./fields.ts";


export const Network = t.Object({
  name: t.String(),
  description: Description,
  type: t.String({ description: "bridge (managed) or the kernel type of an unmanaged interface" }),
  managed: t.Boolean(),
  config: StringMap,
  status: t.String({ description: "Created, Errored or Unknown (unmanaged)" }),
  used_by: t.Array(t.String(), { description: "URLs of the instances and profiles with a nic on this network" }),
  locations: t.Array(t.String()),
  project: t.String(),
});
export type Network = Static<typeof Network>;

export const NetworksPost = t.Object({
  name: t.String({ description: "Name of the new network (also its bridge's interface name, at most 15 characters)" }),
  type: t.Optional(t.String({ description: "bridge (the only managed type)" })),
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type NetworksPost = Static<typeof NetworksPost>;

export const NetworkPut = t.Object({
  description: t.Optional(Description),
  config: t.Optional(t.Union([StringMap, t.Null()])),
}, { additionalProperties: true });
export type NetworkPut = Static<typeof NetworkPut>;

export const NetworkPost = t.Object({ name: t.String({ description: "New name" }) }, { additionalProperties: true });

export const NetworkName = t.Object({ name: t.String({ description: "Network name" }) });

const Address = t.Object({ family: t.String(), address: t.String(), netmask: t.String(), scope: t.String() });

export const NetworkState = t.Object({
  addresses: t.Array(Address),
  counters: t.Object({
    bytes_received: t.Number(), bytes_sent: t.Number(), packets_received: t.Number(), packets_sent: t.Number(),
  }),
  hwaddr: t.String(),
  mtu: t.Number(),
  state: t.String({ description: "up or down" }),
  type: t.String(),
  bridge: t.Optional(t.Object({
    id: t.String(), stp: t.Boolean(), forward_delay: t.Number(), vlan_default: t.Number(), vlan_filtering: t.Boolean(),
    upper_devices: t.Array(t.String()),
  })),
});
export type NetworkState = Static<typeof NetworkState>;

export const NetworkLease = t.Object({
  hostname: t.String(),
  hwaddr: t.String(),
  address: t.String(),
  type: t.String({ description: "dynamic, static or gateway" }),
  location: t.String(),
  project: t.String(),
});
export type NetworkLease = Static<typeof NetworkLease>;
