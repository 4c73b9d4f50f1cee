// Storage driver registry: pools name their driver; this maps the name to the implementation.
import { btrfsDriver } from "./btrfs.ts";
import type { StorageDriver } from "./driver.ts";
import { dirDriver } from "./dir.ts";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { filesystemUsage } from "../kernel/resources.ts";
import { poolDir } from "../paths.ts";

const drivers: Record<string, StorageDriver> = { dir: dirDriver, btrfs: btrfsDriver };

export const supportedDrivers = (): string[] => Object.keys(drivers);

export function storageDriver(name: string): StorageDriver {
  const driver = drivers[name];
  if (!driver) throw new Error(`unknown storage driver "${name}" (supported: ${supportedDrivers().join(", ")})`);
  return driver;
}

/** A pool's space and inodes: those of the filesystem its directory is on (its own for a btrfs loop). */
export const poolResources = (name: string) => filesystemUsage(poolDir(name));

/** Fingerprints of the images unpacked on a pool (its image volumes). */
export function imageVolumes(name: string): string[] {
  try {
    return readdirSync(join(poolDir(name), "images")).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
  } catch {
    return [];
  }
}
