// Device drivers for instance devices other than the root disk (which storage handles): each type
// (nic, proxy, unix-char, disk mounts...) plugs in here with what happens when a container starts
// or stops, and when a device is added to or removed from a running container.
export interface RunningInstance {
  name: string;
  initPid: number;
  /** A pidfd of init, what helpers act on (-1 once init is gone). Read it right before the helper
   *  is spawned: the fd is closed when the container's exit has been handled. */
  pidfd(): number;
  config: Record<string, string>;
  /** Set when init has already exited: only host-side state is left to tear down. */
  exited?: boolean;
  /** Set when the container has just booted (launch mounts are in place), unset on hot-plug. */
  booting?: boolean;
}

import type { LaunchMount } from "../kernel/monitor.ts";

export interface DeviceDriver {
  /** What the runtime mounts inside the container before init runs (boot only; `start` is then
   *  called with `booting` set and must not mount it again). */
  launchMounts?(instance: string, device: string, config: Record<string, string>): Promise<LaunchMount[]>;
  /** Host-side work a boot needs before `start` that needs no running container (a nic's DHCP
   *  host entry): done while the monitor starts the container. `start` then runs with `booting`. */
  prepare?(inst: Pick<RunningInstance, "name" | "config">, device: string, config: Record<string, string>): Promise<void>;
  /** Sets the device up for a container whose init has just started (its namespaces exist). */
  start(inst: RunningInstance, device: string, config: Record<string, string>): Promise<void>;
  /** Tears the device down; also called after the container is already gone. */
  stop(inst: RunningInstance, device: string, config: Record<string, string>): Promise<void>;
  /** For a container the daemon found running at its start: re-creates what did not survive. */
  resume?(inst: RunningInstance, device: string, config: Record<string, string>): Promise<void>;
  /** Called now and then while the container runs: brings back a host-side helper process that
   *  died (a killed proxy forwarder). Cheap when all is well. */
  supervise?(inst: RunningInstance, device: string, config: Record<string, string>): Promise<void>;
  /** After an instance's row is gone (deleted, or renamed away): drops what the driver keeps
   *  by instance name outside the container (a network's DHCP/DNS host entries). */
  forget?(instance: string): Promise<void>;
}

const drivers: Record<string, DeviceDriver> = {};

/** Plugs a device type in (the daemon registers drivers that need its services at start-up). */
export function registerDeviceDriver(type: string, driver: DeviceDriver): void {
  drivers[type] = driver;
}

const isRootDisk = (c: Record<string, string>) => c.type === "disk" && c.path === "/";

function managed(devices: Record<string, Record<string, string>>) {
  return Object.entries(devices).filter(([, c]) => !isRootDisk(c) && drivers[c.type]);
}

/** Starts every device in name order; on failure, stops those already started and rethrows. */
export async function startDevices(inst: RunningInstance, devices: Record<string, Record<string, string>>): Promise<void> {
  const started: [string, Record<string, string>][] = [];
  try {
    for (const [name, config] of managed(devices).sort(([a], [b]) => a.localeCompare(b))) {
      await drivers[config.type].start(inst, name, config);
      started.push([name, config]);
    }
  } catch (err) {
    await stopDevices(inst, Object.fromEntries(started));
    throw err;
  }
}

/** Every device's `prepare`, side by side. */
export async function prepareDevices(inst: Pick<RunningInstance, "name" | "config">, devices: Record<string, Record<string, string>>): Promise<void> {
  await Promise.all(managed(devices).map(([name, config]) => drivers[config.type].prepare?.(inst, name, config)));
}

/** The launch mounts of every device. */
export async function launchMounts(instance: string, devices: Record<string, Record<string, string>>): Promise<LaunchMount[]> {
  const out: LaunchMount[] = [];
  for (const [name, config] of managed(devices).sort(([a], [b]) => a.localeCompare(b))) {
    out.push(...(await drivers[config.type].launchMounts?.(instance, name, config) ?? []));
  }
  // Parents first, so a mount inside another mount's path lands on top of it.
  return out.sort((a, b) => a.path.split("/").length - b.path.split("/").length);
}

export async function stopDevices(inst: RunningInstance, devices: Record<string, Record<string, string>>): Promise<void> {
  for (const [name, config] of managed(devices).reverse()) {
    await drivers[config.type].stop(inst, name, config).catch(() => {});
  }
}

/** After a daemon restart: lets each device re-create its host-side parts; failures are only reported. */
export async function resumeDevices(inst: RunningInstance, devices: Record<string, Record<string, string>>,
  onError: (device: string, err: Error) => void): Promise<void> {
  for (const [name, config] of managed(devices)) {
    await drivers[config.type].resume?.(inst, name, config).catch((err) => onError(name, err as Error));
  }
}

/** Whether any of the devices has a periodic check: most containers have none, and the check
 *  loop must then cost nothing per container (1000 idle containers took 28 ms/s of the daemon). */
export function supervised(devices: Record<string, Record<string, string>>): boolean {
  return managed(devices).some(([, c]) => drivers[c.type].supervise);
}

/** The periodic check of a running container's devices (see DeviceDriver.supervise). */
export async function superviseDevices(inst: RunningInstance, devices: Record<string, Record<string, string>>,
  onError: (device: string, err: Error) => void): Promise<void> {
  for (const [name, config] of managed(devices)) {
    await drivers[config.type].supervise?.(inst, name, config).catch((err) => onError(name, err as Error));
  }
}

/** Lets every driver drop what it keeps for a deleted or renamed instance; failures are ignored. */
export async function forgetDevices(instance: string): Promise<void> {
  for (const driver of new Set(Object.values(drivers))) await driver.forget?.(instance).catch(() => {});
}
