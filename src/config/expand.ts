// Profile expansion: what an instance gets from its profiles and its own config and devices.
// Below the domain layer because the database's "used by" lists need it too.

type Config = Record<string, string>;
type Device = Record<string, string>;
type Devices = Record<string, Device>;

/** Profiles' config in order, then the instance's own keys: later wins key by key. */
export function expandConfig(profileConfigs: Config[], local: Config): Config {
  return Object.assign({}, ...profileConfigs, local);
}

/** Profiles' devices in order, then the instance's: a device with the same name replaces the earlier one whole. */
export function expandDevices(profileDevices: Devices[], local: Devices): Devices {
  const out: Devices = {};
  for (const devices of [...profileDevices, local]) {
    for (const [name, dev] of Object.entries(devices)) out[name] = { ...dev };
  }
  return out;
}

/** The device mounted at / (path "/" disk), if any. */
export function rootDisk(devices: Devices): [string, Device] | undefined {
  return Object.entries(devices).find(([, d]) => d.type === "disk" && d.path === "/");
}
