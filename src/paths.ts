// Every on-disk location the daemon and client use, derived from LXD_DIR.
import { join } from "node:path";

export const lxdDir = (): string => process.env.LXD_DIR || "/var/lib/lxd";
export const socketPath = (): string => join(lxdDir(), "unix.socket");
export const dbPath = (): string => join(lxdDir(), "database", "lxd.db");
export const imagesDir = (): string => join(lxdDir(), "images");
export const poolDir = (pool: string): string => join(lxdDir(), "storage-pools", pool);
export const containerDir = (name: string): string => join(lxdDir(), "containers", name);
export const logsDir = (): string => join(lxdDir(), "logs");
export const binDir = (): string => join(lxdDir(), "bin");
export const backupsDir = (): string => join(lxdDir(), "backups");
export const instanceBackupsDir = (instance: string): string => join(backupsDir(), "instances", instance);
export const volumeBackupsDir = (pool: string, volume: string): string => join(backupsDir(), "custom", pool, volume);
