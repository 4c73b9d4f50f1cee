// Names and URLs of what lives in a project, as LXD forms them: an instance (or volume, network)
// outside the default project is stored under `<project>_<name>` and shown by its own name with
// `?project=` in its URLs. Pure string rules shared by the database queries, managers and handlers.

/** An instance's host-unique storage name (the `name` column): LXD's `<project>_<name>` outside default. */
export const storageName = (project: string, name: string): string => (project === "default" ? name : `${project}_${name}`);

/** The instance's name within its project, from its storage name. */
export const nameInProject = (project: string, stored: string): string =>
  project !== "default" && stored.startsWith(`${project}_`) ? stored.slice(project.length + 1) : stored;

/** The project of a storage name (instance names never contain `_`, so the first one splits). */
export const projectOfStored = (stored: string): string => {
  const i = stored.indexOf("_");
  return i < 0 ? "default" : stored.slice(0, i);
};

/** The API URL of an instance (or of something below it: `suffix`) from its storage name. */
export function instanceUrl(stored: string, suffix = ""): string {
  const project = projectOfStored(stored);
  const url = `/1.0/instances/${nameInProject(project, stored)}${suffix}`;
  return project === "default" ? url : `${url}?project=${project}`;
}

/** The legacy `/1.0/containers/...` URL of an instance, from its storage name. */
export const containerUrl = (stored: string, suffix = ""): string => instanceUrl(stored, suffix).replace(/^\/1\.0\/instances\//, "/1.0/containers/");

/** A profile's URL as `used_by` lists it. */
export const profileUrl = (project: string, name: string): string =>
  project === "default" ? `/1.0/profiles/${name}` : `/1.0/profiles/${name}?project=${project}`;
