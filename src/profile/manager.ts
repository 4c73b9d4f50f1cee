// Profiles: checked and written here (config keys, devices, names, the root disk every instance
// using a profile must keep), lifecycle events sent; the REST handler only translates HTTP.
import { ApiError } from "../api/error.ts";
import type { Profile } from "../api/profile.ts";
import { expandDevices, rootDisk } from "../config/expand.ts";
import type { Db } from "../db/index.ts";
import { getInstance } from "../db/instances.ts";
import * as q from "../db/profiles.ts";
import { profileUrl as projectProfileUrl } from "../api/project-names.ts";
import type { ProjectManager } from "../project/manager.ts";
import { validateDevices, validateInstanceConfig, validateProfileName, withoutEmptyDeviceKeys } from "../instance/config.ts";

type StringMap = Record<string, string>;
type Devices = Record<string, StringMap>;
type Events = { send(type: "lifecycle", metadata: Record<string, unknown>, project?: string | null): void };

export type ProfileRow = q.ProfileRow;

export const profileUrl = (name: string, project = "default") => projectProfileUrl(project, name);

/** Empty values mean "unset": LXD never stores them. */
const dropEmpty = (config: StringMap): StringMap => Object.fromEntries(Object.entries(config).filter(([, v]) => v !== ""));

/**
 * Every method takes the request's project; a project without `features.profiles` uses (and
 * changes) default's profiles, as in LXD.
 */
export class ProfileManager {
  constructor(private readonly db: Db, private readonly events: Events, private readonly projects?: ProjectManager) {}

  /** The project whose profiles `project` uses. */
  private home(project: string): string {
    return this.projects?.effective(project, "profiles") ?? "default";
  }

  /** The projects whose instances use `home`'s profiles. */
  private users(home: string): string[] {
    if (!this.projects) return [home];
    return this.projects.list().map((p) => p.name).filter((p) => this.projects!.effective(p, "profiles") === home);
  }

  list(project = "default"): ProfileRow[] {
    return q.listProfiles(this.db, this.home(project));
  }

  get(name: string, project = "default"): ProfileRow {
    const row = q.getProfile(this.db, name, this.home(project));
    if (!row) throw new ApiError(404, `Profile "${name}" not found`);
    return row;
  }

  toApi(row: ProfileRow): Profile {
    return q.profileToApi(this.db, row, this.users(row.project));
  }

  create(req: { name: string; description?: string; config?: StringMap | null; devices?: Devices | null }, project = "default"): ProfileRow {
    const home = this.home(project);
    this.checkName(req.name);
    if (q.getProfile(this.db, req.name, home)) throw new ApiError(409, `Profile "${req.name}" already exists`);
    const config = dropEmpty(req.config ?? {});
    const devices = req.devices ?? {};
    checkContent(config, devices);
    const row = q.createProfile(this.db, req.name, { description: req.description ?? "", config, devices }, home);
    this.lifecycle("profile-created", req.name, home);
    return row;
  }

  /** PUT (`merge` false) replaces all three fields; PATCH merges config by key and devices by name. */
  update(name: string, fields: { description?: string; config?: StringMap | null; devices?: Devices | null }, merge: boolean, project = "default"): void {
    const home = this.home(project);
    const row = this.get(name, project);
    const description = fields.description ?? (merge ? row.description : "");
    const config = dropEmpty(merge ? { ...row.config, ...(fields.config ?? {}) } : (fields.config ?? {}));
    const devices = withoutEmptyDeviceKeys(merge ? { ...row.devices, ...(fields.devices ?? {}) } : (fields.devices ?? {}));
    checkContent(config, devices);
    this.checkUsers(name, devices, home);
    q.updateProfile(this.db, name, { description, config, devices }, home);
    // The instances using it must still fit their projects' limits and restrictions (as in LXD);
    // the change is undone when one does not.
    try {
      for (const user of this.users(home)) this.projects?.checkProject(user);
    } catch (err) {
      q.updateProfile(this.db, name, { description: row.description, config: row.config, devices: row.devices }, home);
      throw new ApiError(400, `Failed checking if profile update allowed: ${(err as Error).message}`);
    }
    this.lifecycle("profile-updated", name, home);
  }

  /** Instances using the profile follow it to its new name. */
  rename(name: string, to: string, project = "default"): void {
    const home = this.home(project);
    this.get(name, project);
    if (name === "default") throw new ApiError(403, `The "default" profile cannot be renamed`);
    this.checkName(to);
    if (q.getProfile(this.db, to, home)) throw new ApiError(409, `Name "${to}" already in use`);
    q.renameProfile(this.db, name, to, home, this.users(home));
    this.lifecycle("profile-renamed", to, home, { old_name: name });
  }

  delete(name: string, project = "default"): void {
    const home = this.home(project);
    this.get(name, project);
    if (name === "default") throw new ApiError(403, `The "default" profile cannot be deleted`);
    if (q.instancesUsingProfile(this.db, name, this.users(home)).length) throw new ApiError(400, "Profile is currently in use");
    q.deleteProfile(this.db, name, home, this.users(home));
    this.lifecycle("profile-deleted", name, home);
  }


  private checkName(name: string): void {
    const err = validateProfileName(name);
    if (err) throw new ApiError(400, `Invalid profile name "${name}": ${err}`);
  }

  /** A changed profile must still give every instance using it a root disk on some pool. */
  private checkUsers(name: string, devices: Devices, home: string): void {
    for (const instName of q.instancesUsingProfile(this.db, name, this.users(home))) {
      const inst = getInstance(this.db, instName);
      if (!inst) continue;
      const profileDevices = inst.profiles.map((p) => (p === name ? devices : q.getProfile(this.db, p, home)?.devices ?? {}));
      if (!rootDisk(expandDevices(profileDevices, inst.devices))) {
        throw new ApiError(400, `Instance "${instName}" would have no root disk device (a disk with path=/ and a pool)`);
      }
    }
  }

  private lifecycle(action: string, name: string, project: string, context: Record<string, unknown> = {}): void {
    this.events.send("lifecycle", { action, source: profileUrl(name, project), context }, project);
  }
}

function checkContent(config: StringMap, devices: Devices): void {
  const configError = validateInstanceConfig(config, { profile: true });
  if (configError) throw new ApiError(400, `Invalid config: ${configError}`);
  const deviceError = validateDevices(devices);
  if (deviceError) throw new ApiError(400, `Invalid devices: ${deviceError}`);
}
