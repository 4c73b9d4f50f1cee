// Profiles: checked and written here (config keys, devices, names, the root disk every instance
// using a profile must keep), lifecycle events sent; the REST handler only translates HTTP.
import { ApiError } from "../api/error.ts";
import type { Profile } from "../api/profile.ts";
import { expandDevices, rootDisk } from "../config/expand.ts";
import type { Db } from "../db/index.ts";
import { getInstance } from "../db/instances.ts";
import * as q from "../db/profiles.ts";
import { validateDevices, validateInstanceConfig, validateProfileName, withoutEmptyDeviceKeys } from "../instance/config.ts";

type StringMap = Record<string, string>;
type Devices = Record<string, StringMap>;
type Events = { send(type: "lifecycle", metadata: Record<string, unknown>): void };

export type ProfileRow = q.ProfileRow;

export const profileUrl = (name: string) => `/1.0/profiles/${name}`;

/** Empty values mean "unset": LXD never stores them. */
const dropEmpty = (config: StringMap): StringMap => Object.fromEntries(Object.entries(config).filter(([, v]) => v !== ""));

export class ProfileManager {
  constructor(private readonly db: Db, private readonly events: Events) {}

  list(): ProfileRow[] {
    return q.listProfiles(this.db);
  }

  get(name: string): ProfileRow {
    const row = q.getProfile(this.db, name);
    if (!row) throw new ApiError(404, `Profile "${name}" not found`);
    return row;
  }

  toApi(row: ProfileRow): Profile {
    return q.profileToApi(this.db, row);
  }

  create(req: { name: string; description?: string; config?: StringMap | null; devices?: Devices | null }): ProfileRow {
    this.checkName(req.name);
    if (q.getProfile(this.db, req.name)) throw new ApiError(409, `Profile "${req.name}" already exists`);
    const config = dropEmpty(req.config ?? {});
    const devices = req.devices ?? {};
    checkContent(config, devices);
    const row = q.createProfile(this.db, req.name, { description: req.description ?? "", config, devices });
    this.lifecycle("profile-created", req.name);
    return row;
  }

  /** PUT (`merge` false) replaces all three fields; PATCH merges config by key and devices by name. */
  update(name: string, fields: { description?: string; config?: StringMap | null; devices?: Devices | null }, merge: boolean): void {
    const row = this.get(name);
    const description = fields.description ?? (merge ? row.description : "");
    const config = dropEmpty(merge ? { ...row.config, ...(fields.config ?? {}) } : (fields.config ?? {}));
    const devices = withoutEmptyDeviceKeys(merge ? { ...row.devices, ...(fields.devices ?? {}) } : (fields.devices ?? {}));
    checkContent(config, devices);
    this.checkUsers(name, devices);
    q.updateProfile(this.db, name, { description, config, devices });
    this.lifecycle("profile-updated", name);
  }

  /** Instances using the profile follow it to its new name. */
  rename(name: string, to: string): void {
    this.get(name);
    if (name === "default") throw new ApiError(403, `The "default" profile cannot be renamed`);
    this.checkName(to);
    if (q.getProfile(this.db, to)) throw new ApiError(409, `Name "${to}" already in use`);
    q.renameProfile(this.db, name, to);
    this.lifecycle("profile-renamed", to, { old_name: name });
  }

  delete(name: string): void {
    this.get(name);
    if (name === "default") throw new ApiError(403, `The "default" profile cannot be deleted`);
    if (q.instancesUsingProfile(this.db, name).length) throw new ApiError(400, "Profile is currently in use");
    q.deleteProfile(this.db, name);
    this.lifecycle("profile-deleted", name);
  }

  private checkName(name: string): void {
    const err = validateProfileName(name);
    if (err) throw new ApiError(400, `Invalid profile name "${name}": ${err}`);
  }

  /** A changed profile must still give every instance using it a root disk on some pool. */
  private checkUsers(name: string, devices: Devices): void {
    for (const instName of q.instancesUsingProfile(this.db, name)) {
      const inst = getInstance(this.db, instName);
      if (!inst) continue;
      const profileDevices = inst.profiles.map((p) => (p === name ? devices : q.getProfile(this.db, p)?.devices ?? {}));
      if (!rootDisk(expandDevices(profileDevices, inst.devices))) {
        throw new ApiError(400, `Instance "${instName}" would have no root disk device (a disk with path=/ and a pool)`);
      }
    }
  }

  private lifecycle(action: string, name: string, context: Record<string, unknown> = {}): void {
    this.events.send("lifecycle", { action, source: profileUrl(name), context });
  }
}

function checkContent(config: StringMap, devices: Devices): void {
  const configError = validateInstanceConfig(config, { profile: true });
  if (configError) throw new ApiError(400, `Invalid config: ${configError}`);
  const deviceError = validateDevices(devices);
  if (deviceError) throw new ApiError(400, `Invalid devices: ${deviceError}`);
}
