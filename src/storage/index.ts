// Storage driver registry: pools name their driver; this maps the name to the implementation.
// Only the pool layer (pools.ts) reads it: everything else reaches a driver through a PoolBackend.
import { btrfsDriver } from "./btrfs.ts";
import type { StorageDriver } from "./driver.ts";
import { dirDriver } from "./dir.ts";

export const DRIVERS: Readonly<Record<string, StorageDriver>> = { dir: dirDriver, btrfs: btrfsDriver };
