// The `project` of a request. A request naming a project that does not exist must fail, never fall
// back to default (`lxc delete --project other c1` must not delete default's c1): the server checks
// the `project` query parameter of every request (REST, websockets, events) before routing; bodies
// that name a source project check it here too. Instances of other projects are stored under
// `<project>_<name>`: the server rewrites `/1.0/instances/NAME…?project=P` to that name first, so
// every instance handler acts on the right one, and an instance name with `_` never reaches them.
// Custom volumes of a project with `features.storage.volumes` likewise: `/1.0/storage-pools/POOL/
// volumes/custom/NAME…?project=P` is served under NAME's storage name `P_NAME`; and networks of a
// project with `features.networks`: `/1.0/networks/NAME…?project=P`.
import { ApiError } from "../api/error.ts";

export const PROJECT_NOT_FOUND = "Project not found";

/** What the server asks of projects (the ProjectManager). */
export interface ProjectLookup {
  exists(name: string): boolean;
  /** The project whose custom volumes or networks `project` uses. */
  effective(project: string, feature: "storage.volumes" | "networks"): string;
}

/** The first project named in a request's query that does not exist ("" means default, as in LXD). */
export const unknownProject = (params: URLSearchParams, projects?: ProjectLookup): string | undefined =>
  params.getAll("project").find((p) => p !== "" && p !== "default" && !projects?.exists(p));

/** The request's project ("" and absent mean default). */
export const projectOf = (query: { project?: string }): string => query.project || "default";

/** Throws LXD's 404 for a project named in a body that does not exist. */
export function checkProject(name: string | undefined, projects: ProjectLookup): void {
  if (name && name !== "default" && !projects.exists(name)) throw new ApiError(404, PROJECT_NOT_FOUND);
}

/** `/1.0/containers/…` is re-entered as `/1.0/instances/…` by the server, and rewritten then. */
const INSTANCE_PATH = /^\/1\.0\/instances\/([^/]+)(.*)$/;

/**
 * The path a request for one instance is served under: its storage name for a project other than
 * default; null when the name cannot be an instance's (it has `_`, which only storage names have).
 * undefined: the path names no instance, or needs no change.
 */
export function instancePath(pathname: string, project: string): string | null | undefined {
  const m = INSTANCE_PATH.exec(pathname);
  if (!m) return undefined;
  if (decodeURIComponent(m[1]).includes("_")) return null;
  return project === "default" ? undefined : `/1.0/instances/${encodeURIComponent(project)}_${m[1]}${m[2]}`;
}

const OWNED_PATHS = [
  { re: /^(\/1\.0\/storage-pools\/[^/]+\/volumes\/custom\/)([^/]+)(.*)$/, feature: "storage.volumes" },
  { re: /^(\/1\.0\/networks\/)([^/]+)(.*)$/, feature: "networks" },
] as const;

/** The path a request for one custom volume or network is served under: its storage name when the
 *  project has its own; undefined: no change. */
export function ownedPath(pathname: string, project: string, projects?: ProjectLookup): string | undefined {
  for (const { re, feature } of OWNED_PATHS) {
    const m = re.exec(pathname);
    if (!m || !projects) continue;
    const owner = projects.effective(project, feature);
    return owner === "default" ? undefined : `${m[1]}${encodeURIComponent(owner)}_${m[2]}${m[3]}`;
  }
  return undefined;
}
